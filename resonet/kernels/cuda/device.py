"""The device layer both CUDA front ends build on: the :class:`Engine` (one network spec's kernels
and launch configurations), the :class:`Workspace` (device buffers of one batch shape), the
parameter layout on the device (:func:`param_layout`, :class:`DevParams`) and the uploads of
inputs (:func:`host_inputs` for a host batch, :func:`dataset_inputs` for a whole data set).
:class:`~resonet.kernels.cuda.backend.CudaBackend` (host arrays in and out) and
:class:`~resonet.kernels.cuda.session.DeviceSession` (a training run resident on the device)
both drive an Engine; neither imports the other.

Input layouts the kernels read (one block per sample b, storage row ``srows[idx[b]]``):

- events (``MODE_EVENTS``): per storage row the events sorted by step, ``ev_off`` (N+1,),
  ``ev_step``/``ev_chan`` (nnz,), ``ev_val`` (nnz,) unless ``binary``. This is the layout of
  :class:`resonet.data.EventDataset` (SHD, a user's events), so the training set is uploaded once
  as it is stored;
  a :class:`resonet.events.SpikeEvents` batch (CSR over rows t·B + b) is reordered to it on the
  host, keeping the order of each row's channels.
- dense (``MODE_DENSE``): ``xd`` (N, T, I) in its stored dtype (int8 ECG spikes, uint8 pixels),
  read as ``x̃ = dtype(xd[row, perm[t], i]) / scale`` like :class:`resonet.data.DenseDataset`
  (scale 0 = none); zeros are skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any  # device arrays (numba.cuda has no type stubs)

import numpy as np
from numba import cuda

from ...contract import DTYPES
from ...errors import ConfigError
from ...events import SpikeEvents
from ...spec import NetworkSpec
from .. import kernel_module
from . import config
from .common import common_consts, param_consts
from .network import (
    MODE_DENSE,
    MODE_EVENTS,
    N_STATS,
    backward_shared_bytes,
    forward_shared_bytes,
    get_kernels,
    rec_chunks,
)

SHARED_LIMIT = 48 * 1024  # bytes of (dynamic) shared memory a block may use without opt-in
EVENT_DTYPE = np.int32  # the one type of event steps and channels on the device (one compile)


def cells_for(spec: NetworkSpec):
    """The CUDA module of the spec's neuron model (kernels/cuda/<model>.py; contract in
    :mod:`.common`)."""
    return kernel_module("cuda", spec.model)


# --------------------------------------------------------------------------------- layouts
def param_layout(spec: NetworkSpec) -> list[tuple[str, int, tuple[int, ...]]]:
    """(name, offset, shape) of every parameter in the flat vector, official order."""
    out, off = [], 0
    for name, shape in spec.param_shapes().items():
        out.append((name, off, shape))
        off += int(np.prod(shape))
    return out


def pack_params(spec: NetworkSpec, params: dict, dtype) -> np.ndarray:
    return np.concatenate([np.asarray(params[n], dtype=dtype).ravel()
                           for n, _, _ in param_layout(spec)])


def unpack_params(spec: NetworkSpec, flat: np.ndarray) -> dict:
    return {n: flat[o:o + int(np.prod(s))].reshape(s).copy() for n, o, s in param_layout(spec)}


@dataclass
class DevInputs:
    """Input storage on the device (see the module docstring), plus labels and row map."""

    mode: int
    binary: int
    ev_off: Any
    ev_step: Any
    ev_chan: Any
    ev_val: Any
    xd: Any
    perm: Any
    xscale: Any
    srows: Any  # int64 (N_split,): storage row of each sample of the split
    labels: Any  # int64 (N_split, L): L = 1 (per sequence) or T (per step, −1 unlabelled)
    arange: Any  # int64 (N_split,): 0..N−1, sliced for evaluation batches (no copies)
    T: int
    N: int
    per_step: bool


def _dummies(dtype):
    return dict(ev_off=cuda.to_device(np.zeros(2, np.int64)),
                ev_step=cuda.to_device(np.zeros(1, EVENT_DTYPE)),
                ev_chan=cuda.to_device(np.zeros(1, EVENT_DTYPE)),
                ev_val=cuda.to_device(np.zeros(1, dtype)),
                xd=cuda.to_device(np.zeros((1, 1, 1), dtype)),
                perm=cuda.to_device(np.zeros(1, np.int64)))


def host_inputs(spec: NetworkSpec, x, dtype) -> tuple[DevInputs, int, int]:
    """Validate a host batch (SpikeEvents or dense (T, B, I)) and upload it; returns
    (inputs, T, B). The labels are a (B, 1) placeholder; :meth:`CudaBackend.run` sets them."""
    dtype = np.dtype(dtype)
    d = _dummies(dtype)
    if isinstance(x, SpikeEvents):
        if x.I != spec.n_in or x.T < 1 or x.B < 1:
            raise ConfigError(f"input must have shape (T, B, I={spec.n_in}), got {x.shape}")
        T, B = x.T, x.B
        counts = np.diff(x.indptr)
        r = np.repeat(np.arange(T * B, dtype=np.int64), counts)
        t, b = r // B, r % B
        order = np.argsort(b * T + t, kind="stable")  # per sample, by step; rows keep their order
        off = np.zeros(B + 1, np.int64)
        np.cumsum(np.bincount(b, minlength=B), out=off[1:])
        binary = x.values is None
        if not binary:
            vals = np.asarray(x.values, dtype=dtype)
            if vals.size and not np.all(np.isfinite(vals)):
                raise ConfigError("input contains NaN or Inf")
            d["ev_val"] = cuda.to_device(np.ascontiguousarray(vals[order]) if vals.size
                                         else np.zeros(1, dtype))
        if r.size:
            d["ev_step"] = cuda.to_device(np.ascontiguousarray(t[order].astype(EVENT_DTYPE)))
            d["ev_chan"] = cuda.to_device(np.ascontiguousarray(
                np.asarray(x.indices)[order].astype(EVENT_DTYPE)))
        d["ev_off"] = cuda.to_device(off)
        mode = MODE_EVENTS
    else:
        x = np.asarray(x)
        if x.ndim != 3 or x.shape[2] != spec.n_in or x.shape[0] < 1 or x.shape[1] < 1:
            raise ConfigError(f"input must have shape (T, B, I={spec.n_in}), got {x.shape}")
        T, B = x.shape[0], x.shape[1]
        xc = x.astype(dtype)
        if not np.all(np.isfinite(xc)):
            raise ConfigError("input contains NaN or Inf")
        d["xd"] = cuda.to_device(np.ascontiguousarray(xc.transpose(1, 0, 2)))  # (B, T, I)
        d["perm"] = cuda.to_device(np.arange(T, dtype=np.int64))
        mode, binary = MODE_DENSE, True
    ar = cuda.to_device(np.arange(B, dtype=np.int64))
    inp = DevInputs(mode, int(binary), xscale=cuda.to_device(np.zeros(1, dtype)), srows=ar,
                    labels=cuda.to_device(np.zeros((B, 1), np.int64)), arange=ar, T=T, N=B,
                    per_step=False, **d)
    return inp, T, B


def dataset_inputs(spec: NetworkSpec, ds, dtype, cache: dict) -> DevInputs:
    """Upload one split of a :mod:`resonet.data` dataset; storage arrays shared between splits
    (train/validation views of one file) are uploaded once (``cache`` keyed by array id)."""
    from ...data import DenseDataset, EventDataset

    dtype = np.dtype(dtype)
    if ds.n_in != spec.n_in or ds.n_out != spec.n_out:
        raise ConfigError(f"{ds.name}: dataset has I={ds.n_in}, C={ds.n_out}; the network "
                          f"expects I={spec.n_in}, C={spec.n_out}")

    def up(a, dt=None):
        key = (id(a), dt)
        if key not in cache:
            cache[key] = (a, cuda.to_device(np.ascontiguousarray(a if dt is None else a.astype(dt))))
        return cache[key][1]

    d = _dummies(dtype)
    ds = ds.resident()  # a split read from disk batch by batch: its samples, read once
    if isinstance(ds, EventDataset):
        # int32 on the device whatever the storage type (SHD stores int16): one compiled kernel
        # for data sets and host batches alike
        d.update(ev_off=up(ds.offsets, np.int64), ev_step=up(ds.steps, EVENT_DTYPE),
                 ev_chan=up(ds.chans, EVENT_DTYPE))
        if ds.steps.size == 0:
            d.update(ev_step=cuda.to_device(np.zeros(1, EVENT_DTYPE)),
                     ev_chan=cuda.to_device(np.zeros(1, EVENT_DTYPE)))
        mode, binary, scale = MODE_EVENTS, 1, 0.0
        if ds.values is not None and ds.values.size:  # valued events (a user's counts, ...)
            d["ev_val"] = up(ds.values, dtype)
            binary = 0
    elif isinstance(ds, DenseDataset):
        d["xd"] = up(ds.x)
        perm = ds.time_perm if ds.time_perm is not None else np.arange(ds.T, dtype=np.int64)
        d["perm"] = cuda.to_device(np.asarray(perm, np.int64))
        mode, binary = MODE_DENSE, 1
        scale = 0.0 if ds.divisor is None else ds.divisor
    else:
        raise ConfigError(f"{ds.name}: the cuda session needs an EventDataset or DenseDataset, "
                          f"got {type(ds).__name__}")
    labels = np.asarray(ds.labels, np.int64)
    labels = labels.reshape(len(ds), 1) if labels.ndim == 1 else np.ascontiguousarray(labels)
    rows = ds.storage_rows  # the split's view -> rows of the storage uploaded above
    return DevInputs(mode, binary, xscale=cuda.to_device(np.array([scale], dtype)),
                     srows=cuda.to_device(rows), labels=cuda.to_device(labels),
                     arange=cuda.to_device(np.arange(len(ds), dtype=np.int64)), T=ds.T, N=len(ds),
                     per_step=bool(ds.per_step_labels), **d)


# ---------------------------------------------------------------------------- device state
@dataclass
class DevParams:
    """Flat parameters P on the device and the layouts the kernels read."""

    P: Any  # (n,) official order
    cell: Any  # (NCELL, H)
    a_o: Any  # (C,)
    b_o: Any  # (C,)
    WT: Any  # (I+H, H) = W_hᵀ
    w_oT: Any  # (H, C)
    W: Any  # (H, I+H) view of P
    w_o: Any  # (C, H) view of P
    w_inT: Any = None  # views made once (slicing a device array costs host time per launch)
    w_recT: Any = None
    w_in: Any = None
    w_rec: Any = None

    def __post_init__(self):
        I = self.WT.shape[0] - self.WT.shape[1]
        self.w_inT, self.w_recT = self.WT[:I], self.WT[I:]
        self.w_in, self.w_rec = self.W[:, :I], self.W[:, I:]


def workspace_bytes(spec: NetworkSpec, T: int, B: int, itemsize: int, keep: bool,
                    want_dx: bool = False) -> int:
    """Device memory of a :class:`Workspace` (bytes, without its five vectors of B or 8
    entries): the outputs, ∂L/∂o, the per-step loss terms and the state scratch always; with
    ``keep`` the tape (R−1 state rows, spike bitmasks, r_t, Ī_t per step and sample), the
    per-sample dW_in, dW_o, carries and sums, and the dW_rec chunk partials
    (:func:`.network.rec_chunks`); x̄ with ``want_dx``."""
    H, I, C = spec.n_hidden, spec.n_in, spec.n_out
    cells = cells_for(spec)
    R, nacc = cells.ROWS, max(cells.NACC, 1)
    Tr = T - int(spec.recorded(T)[0])
    n = T * B * C + Tr * B * C + Tr * B + B * R * H  # O, d_out, lbt, stg
    n += T * B * I if want_dx else 1  # dx
    words = Tr * B  # flags (int32)
    if keep:
        nch, _ = rec_chunks(B, H, config.recurrent_threads(H))
        n += T * B * (R - 1) * H + T * B * C + T * B * H  # tape, Rr, dIt
        n += B * I * H + B * H * C + B * R * H + B * nacc * H + B * C  # gin gout car acc dao
        n += nch * H * H  # part
        words += T * B * ((H + 31) // 32)  # zmask
    else:
        n += 1 + 1  # the placeholders of tape and Rr
        words += 1  # and of zmask
    return n * itemsize + 4 * words


class Workspace:
    """Device buffers of one batch shape (T, B); ``keep`` adds the BPTT tape and the
    per-sample gradient buffers (sizes: :func:`workspace_bytes`)."""

    def __init__(self, spec: NetworkSpec, T: int, B: int, dtype, keep: bool, want_dx: bool):
        r0 = int(spec.recorded(T)[0])
        H, I, C = spec.n_hidden, spec.n_in, spec.n_out
        cells = cells_for(spec)
        R = cells.ROWS
        TR = R - 1  # tape rows: the state rows but the spike
        Wd = (H + 31) // 32
        z = cuda.device_array
        self.T, self.B, self.keep = T, B, keep
        self.O = z((T, B, C), dtype)
        self.stg = z((B, R * H), dtype)  # forward state scratch (single-owner rows)
        self.nspk = z(B, np.int64)
        self.d_out = z((T - r0, B, C), dtype)  # ∂L/∂o of the recorded steps t ≥ r0
        self.part_loss = z(B, dtype)  # per-sample losses of loss_sample
        self.lbt = z((T - r0, B), dtype)  # per-step log-likelihood terms
        self.flags = z((T - r0, B), np.int32)  # per-step hit/labelled bits (per-step labels)
        self.cnt = z((B, 4), np.int64)
        self.stats = cuda.to_device(np.zeros(N_STATS))
        self.idx = z(B, np.int64)
        if keep:
            self.tape = z((T, B, TR, H), dtype)
            self.zmask = z((T, B, Wd), np.uint32)
            self.Rr = z((T, B, C), dtype)
            self.dIt = z((T, B, H), dtype)  # Ī_t of every step, for grad_rec
            self.gin = z((B, I, H), dtype)
            self.gout = z((B, H, C), dtype)
            self.car = z((B, R * H), dtype)  # backward adjoint carries (single-owner rows)
            self.acc_b = z((B, max(cells.NACC, 1) * H), dtype)
            self.dao_b = z((B, C), dtype)
            self.n_chunks, self.spc = rec_chunks(B, H, config.recurrent_threads(H))
            self.part = z((self.n_chunks, H, H), dtype)  # dW_rec partials per sample chunk
        else:
            self.tape = z((1, 1, 1, 1), dtype)
            self.zmask = z((1, 1, 1), np.uint32)
            self.Rr = z((1, 1, 1), dtype)
        self.dx = z((T, B, I) if want_dx else (1, 1, 1), dtype)


class Engine:
    """The kernels of one network spec and dtype, with their launch configurations."""

    def __init__(self, spec: NetworkSpec, dtype):
        self.spec = spec
        self.dtype = np.dtype(dtype)
        if self.dtype.name not in DTYPES:
            raise ConfigError(f"dtype must be float32 or float64, got {self.dtype}")
        self.cells = cells = cells_for(spec)
        self.n_hidden_params = len(spec.model.PARAM_NAMES)
        self.ks = get_kernels(self.dtype, cells, self.n_hidden_params)
        self.R = cells.ROWS
        H, I, C = spec.n_hidden, spec.n_in, spec.n_out
        self.H, self.I, self.C = H, I, C
        self.k = cuda.to_device(cells.consts_k(spec, self.dtype))
        self.kc = cuda.to_device(common_consts(self.dtype))
        self.pk = cuda.to_device(param_consts(spec, self.dtype))
        self.layout = param_layout(spec)
        self.n = sum(int(np.prod(s)) for _, _, s in self.layout)
        self.seg = cuda.to_device(np.array([o for _, o, _ in self.layout] + [self.n], np.int64))
        self.o_w = self.n_hidden_params * H
        self.o_wo = self.o_w + H * (I + H) + C
        isz = self.dtype.itemsize
        self.shm_f = forward_shared_bytes(H, C, isz)
        self.shm_b = backward_shared_bytes(H, C, isz)
        if max(self.shm_f, self.shm_b) > SHARED_LIMIT:
            raise ConfigError(
                f"the cuda kernels need {max(self.shm_f, self.shm_b)} bytes of shared memory per "
                f"block for H={H}, C={C} in {self.dtype} (limit {SHARED_LIMIT}); use float32, a "
                "smaller layer, or the cpu backend")
        self._limits: dict[str, int] = {}

    def _threads(self, name: str, kernel, args, want: int, **how) -> int:
        """Threads per block for kernel ``name``: the wish ``want`` clamped to what the kernel
        can launch with (:func:`.config.clamp`; the limit is read once per kernel)."""
        if name not in self._limits:
            self._limits[name] = config.kernel_limit(kernel, args)
        return config.clamp(want, self._limits[name], **how)

    # -- parameters --------------------------------------------------------------------------
    def new_params(self) -> DevParams:
        H, I, C = self.H, self.I, self.C
        dt = self.dtype
        P = cuda.device_array(self.n, dt)
        W = P[self.o_w:self.o_w + H * (I + H)].reshape(H, I + H)
        w_o = P[self.o_wo:self.o_wo + C * H].reshape(C, H)
        return DevParams(P, cuda.device_array((max(self.cells.NCELL, 1), H), dt),
                         cuda.device_array(C, dt),
                         cuda.device_array(C, dt), cuda.device_array((I + H, H), dt),
                         cuda.device_array((H, C), dt), W, w_o)

    def prepare(self, dp: DevParams, derive: bool) -> None:
        n = max(self.H * (self.I + self.H), self.C * self.H, self.H, self.C)
        args = (self.H, self.I, self.C, dp.P, self.pk, int(derive), dp.cell, dp.a_o, dp.b_o,
                dp.WT, dp.w_oT)
        tpb = self._threads("prepare", self.ks.prepare, args, config.flat_threads())
        self.ks.prepare[-(-n // tpb), tpb](*args)

    # -- the passes --------------------------------------------------------------------------
    def forward(self, dp: DevParams, inp: DevInputs, ws: Workspace, idx, B: int, keep: bool):
        args = (self.R, idx, inp.srows, inp.mode, inp.binary, inp.ev_off, inp.ev_step,
                inp.ev_chan, inp.ev_val, inp.xd, inp.perm, inp.xscale, dp.w_inT, dp.w_recT,
                dp.w_oT, dp.a_o, dp.b_o, dp.cell, self.k, int(keep), ws.tape, ws.zmask, ws.O,
                ws.Rr, ws.nspk, ws.stg)
        tpb = self._threads("forward", self.ks.forward, args, config.recurrent_threads(self.H))
        self.ks.forward[B, tpb, 0, self.shm_f](*args)

    def loss(self, inp: DevInputs, ws: Workspace, idx, r0: int, stats, accumulate: bool):
        args = (ws.O, r0, idx, inp.labels, ws.d_out, ws.lbt, ws.flags, ws.part_loss, ws.cnt)
        Tr = ws.O.shape[0] - r0
        # threads over the recorded steps of a sample: one warp for a few, up to the flat count
        want = min(config.flat_threads(), max(32, -(-Tr // 32) * 32))
        tpb = self._threads("loss_sample", self.ks.loss_sample, args, want)
        self.ks.loss_sample[ws.B, tpb, 0, self.C * self.dtype.itemsize](*args)
        self.ks.loss_batch[1, 1](Tr, ws.part_loss, ws.cnt, ws.nspk, stats, int(accumulate))

    def backward(self, dp: DevParams, inp: DevInputs, ws: Workspace, idx, B: int, r0: int,
                 trunc: int, want_dx: bool):
        args = (self.R, idx, inp.srows, inp.mode, inp.binary, inp.ev_off, inp.ev_step,
                inp.ev_chan, inp.ev_val, inp.xd, inp.perm, inp.xscale, dp.w_rec, dp.w_o,
                dp.w_in, dp.a_o, dp.b_o, dp.cell, self.k, self.kc, ws.tape, ws.zmask, ws.O,
                ws.Rr, ws.d_out, r0, int(trunc), int(want_dx), ws.dx, ws.gin, ws.dIt, ws.gout,
                ws.car, ws.acc_b, ws.dao_b)
        tpb = self._threads("backward", self.ks.backward, args, config.recurrent_threads(self.H))
        self.ks.backward[B, tpb, 0, self.shm_b](*args)
        # dW_rec from the Ī tape (no B·H² buffer): grid (words × h-tiles, sample chunks)
        want = config.recurrent_threads(self.H)
        htiles = -(-self.H // want)
        rargs: tuple = (ws.dIt, ws.zmask, htiles, ws.spc, ws.part)
        tpb = self._threads("grad_rec", self.ks.grad_rec, rargs, want)
        if tpb != want:  # the kernel cannot run that many threads: more, smaller tiles
            htiles = -(-self.H // tpb)
            rargs = (ws.dIt, ws.zmask, htiles, ws.spc, ws.part)
        Wd = (self.H + 31) // 32
        self.ks.grad_rec[(Wd * htiles, ws.n_chunks), tpb](*rargs)

    def reduce(self, dp: DevParams, ws: Workspace, G) -> None:
        nh = self.H if self.n_hidden_params else 0  # one thread per neuron for its parameters
        n = nh + self.H * (self.I + self.H) + self.C + self.C * self.H
        args = (self.H, self.I, self.C, dp.P, dp.cell, self.k, dp.a_o, ws.gin, ws.part, ws.gout,
                ws.acc_b, ws.dao_b, G)
        tpb = self._threads("reduce", self.ks.reduce, args, config.flat_threads())
        self.ks.reduce[-(-n // tpb), tpb](*args)

    # -- host helpers ------------------------------------------------------------------------
    def states(self, ws: Workspace, B: int) -> dict:
        """Every state (T, B, H) of the last forward with ``keep`` (the reference's names)."""
        H = self.H
        tape = ws.tape.copy_to_host()
        zm = ws.zmask.copy_to_host()
        h = np.arange(H)
        z = ((zm[:, :, h >> 5] >> (h & 31).astype(np.uint32)) & 1).astype(self.dtype)
        out = {}
        for name, r in self.cells.STATE_ROWS.items():
            out[name] = z if r == 0 else np.ascontiguousarray(tape[:, :, r - 1, :])  # tape row
        return out
