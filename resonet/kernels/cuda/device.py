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
- spike bits (``MODE_BITS``): a layer above the first of a stack reads the spike bitmasks
  ``zmask`` (T, B, ⌈I/32⌉) that the layer below wrote in the same workspace (eq. (N13)).

Stacked layers: every hidden layer has its own slice of the flat parameters
(:class:`LayerParams`, :func:`layer_slices`), its own buffers (:class:`LayerBuffers`; the
:class:`Workspace` is the last layer's, with the loss buffers, and keeps those of the layers
below in ``below``), and the Engine runs the kernels once per layer: the forward from the first
layer up, BPTT from the last down, each layer's x̄ added to the z̄ of the one below (N15).
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
    MODE_BITS,
    MODE_DENSE,
    MODE_EVENTS,
    N_STATS,
    backward_shared_bytes,
    forward_shared_bytes,
    get_kernels,
    layer_offsets,
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
def layer_slices(spec: NetworkSpec) -> list[tuple[int, int]]:
    """[start, end) of every hidden layer's slice of the flat parameters: its neuron parameters,
    W_h and b; the last layer's slice runs on through the readout (τ_o, W_o, b_o), so that each
    slice has the one-layer layout the kernels read (:func:`.network.layer_offsets`)."""
    NP = len(spec.model.PARAM_NAMES)
    out, off = [], 0
    for I, H in zip(spec.layer_inputs, spec.layers):
        size = NP * H + H * (I + H) + (H if spec.bias else 0)
        out.append((off, off + size))
        off += size
    n = sum(int(np.prod(s)) for s in spec.param_shapes().values())
    out[-1] = (out[-1][0], n)
    return out


@dataclass
class LayerParams:
    """One hidden layer's views of the flat parameters P and the layouts the kernels read."""

    P: Any  # the layer's slice of the flat parameters (the last layer's includes the readout)
    cell: Any  # (NCELL, H)
    a_o: Any  # (C,), C = 0 below the last layer
    b_o: Any  # (C,)
    WT: Any  # (I+H, H) = W_hᵀ
    w_oT: Any  # (H, C)
    W: Any  # (H, I+H) view of P
    w_o: Any  # (C, H) view of P
    bias: Any  # (H,) view of P, or zeros without biases
    rbias: Any  # (C,) view of P, or zeros
    w_inT: Any = None  # views made once (slicing a device array costs host time per launch)
    w_recT: Any = None
    w_in: Any = None
    w_rec: Any = None

    def __post_init__(self):
        I = self.WT.shape[0] - self.WT.shape[1]
        self.w_inT, self.w_recT = self.WT[:I], self.WT[I:]
        self.w_in, self.w_rec = self.W[:, :I], self.W[:, I:]


@dataclass
class DevParams:
    """The flat parameters P on the device (official order) and every layer's views of them."""

    P: Any  # (n,)
    layers: list  # [LayerParams], input side first

    @property
    def last(self) -> LayerParams:
        return self.layers[-1]


def workspace_bytes(spec: NetworkSpec, T: int, B: int, itemsize: int, keep: bool,
                    want_dx: bool = False) -> int:
    """Device memory of a :class:`Workspace` (bytes, without its five vectors of B or 8
    entries): the outputs, ∂L/∂o and the per-step loss terms of the last layer, and per layer
    (:class:`LayerBuffers`) the state scratch always; with ``keep`` the tape (R−1 state rows,
    spike bitmasks, r_t, Ī_t per step and sample), the per-sample dW_in, dW_o, carries and sums,
    db, db_o, the dW_rec chunk partials (:func:`.network.rec_chunks`); x̄ with ``want_dx`` (and,
    during BPTT of a stack, for every layer above the first); spike bitmasks of a layer below
    the last also without ``keep`` (the next layer reads them)."""
    C = spec.n_out
    Tr = T - int(spec.recorded(T)[0])
    n = Tr * B * C + Tr * B  # d_out, lbt (the last layer's O counts below)
    words = Tr * B  # flags (int32)
    for l, (I, H) in enumerate(zip(spec.layer_inputs, spec.layers)):
        nl, wl = _layer_elems(spec, l, T, B, I, H, keep, want_dx or (keep and l > 0))
        n += nl
        words += wl
    return n * itemsize + 4 * words


def _layer_elems(spec: NetworkSpec, l: int, T: int, B: int, I: int, H: int, keep: bool,
                 dx: bool) -> tuple[int, int]:
    """(float elements, 32-bit words) of one layer's :class:`LayerBuffers`."""
    cells = cells_for(spec)
    R, nacc = cells.ROWS, max(cells.NACC, 1)
    C = spec.n_out if l == spec.n_layers - 1 else 0
    n = T * B * C + B * R * H  # O, stg
    n += T * B * I if dx else 1  # dx
    words = 0
    if keep:
        nch, _ = rec_chunks(B, H, config.recurrent_threads(H))
        n += T * B * (R - 1) * H + T * B * C + T * B * H  # tape, Rr, dIt
        n += B * I * H + B * H * C + B * R * H + B * nacc * H + B * C  # gin gout car acc dao
        n += B * H + B * C  # gb dbo
        n += nch * H * H  # part
    else:
        n += 1 + 1  # the placeholders of tape and Rr
    n += T * B * H if spec.reset == "mod" else 1  # zv: graded spikes' values
    if keep or l < spec.n_layers - 1:
        words += T * B * ((H + 31) // 32)  # zmask
    else:
        words += 1  # its placeholder
    return n, words


class LayerBuffers:
    """Device buffers of one hidden layer for one batch shape (T, B); ``keep`` adds its BPTT tape
    and per-sample gradient buffers, ``want_dx`` its x̄ (T, B, I)."""

    def __init__(self, spec: NetworkSpec, l: int, T: int, B: int, dtype, keep: bool,
                 want_dx: bool):
        I, H = spec.layer_inputs[l], spec.layers[l]
        C = spec.n_out if l == spec.n_layers - 1 else 0
        cells = cells_for(spec)
        R = cells.ROWS
        TR = R - 1  # tape rows: the state rows but the spike
        Wd = (H + 31) // 32
        z = cuda.device_array
        self.O = z((T, B, C), dtype)
        self.stg = z((B, R * H), dtype)  # forward state scratch (single-owner rows)
        if keep:
            self.tape = z((T, B, TR, H), dtype)
            self.Rr = z((T, B, C), dtype)
            self.dIt = z((T, B, H), dtype)  # Ī_t of every step, for grad_rec
            self.gin = z((B, I, H), dtype)
            self.gout = z((B, H, C), dtype)
            self.car = z((B, R * H), dtype)  # backward adjoint carries (single-owner rows)
            self.acc_b = z((B, max(cells.NACC, 1) * H), dtype)
            self.dao_b = z((B, C), dtype)
            self.gb = z((B, H), dtype)  # db per sample (N16)
            self.dbo_b = z((B, C), dtype)  # db_o per sample (L9)
            self.n_chunks, self.spc = rec_chunks(B, H, config.recurrent_threads(H))
            self.part = z((self.n_chunks, H, H), dtype)  # dW_rec partials per sample chunk
        else:
            self.tape = z((1, 1, 1, 1), dtype)
            self.Rr = z((1, 1, 1), dtype)
        # the spikes: BPTT's tape, and the input of the layer above (also for inference)
        self.zmask = z((T, B, Wd) if keep or C == 0 else (1, 1, 1), np.uint32)
        # graded spikes (reset-to-mod, eq. (S6)): their values, read by every pass
        self.graded = int(spec.reset == "mod")
        self.zv = z((T, B, H) if self.graded else (1, 1, 1), dtype)
        self.dx = z((T, B, I) if want_dx else (1, 1, 1), dtype)


class Workspace(LayerBuffers):
    """Device buffers of one batch shape (T, B): the last layer's :class:`LayerBuffers` with the
    loss buffers, and ``below``, the buffers of the layers below it (sizes:
    :func:`workspace_bytes`). ``keep`` adds the BPTT tape and per-sample gradient buffers."""

    def __init__(self, spec: NetworkSpec, T: int, B: int, dtype, keep: bool, want_dx: bool):
        L = spec.n_layers
        super().__init__(spec, L - 1, T, B, dtype, keep, want_dx or (keep and L > 1))
        self.below = [LayerBuffers(spec, l, T, B, dtype, keep, want_dx or (keep and l > 0))
                      for l in range(L - 1)]
        r0 = int(spec.recorded(T)[0])
        z = cuda.device_array
        self.T, self.B, self.keep = T, B, keep
        self.nspk = z(B, np.int64)  # hidden spikes per sample, all layers
        self.d_out = z((T - r0, B, spec.n_out), dtype)  # ∂L/∂o of the recorded steps t ≥ r0
        self.part_loss = z(B, dtype)  # per-sample losses of loss_sample
        self.lbt = z((T - r0, B), dtype)  # per-step log-likelihood terms
        self.flags = z((T - r0, B), np.int32)  # per-step hit/labelled bits (per-step labels)
        self.cnt = z((B, 4), np.int64)
        self.stats = cuda.to_device(np.zeros(N_STATS))
        self.idx = z(B, np.int64)

    def layer(self, l: int) -> LayerBuffers:
        """The buffers of hidden layer ``l`` (the workspace itself for the last)."""
        return self if l == len(self.below) else self.below[l]


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
        self.L = spec.n_layers
        self.H, self.I, self.C = spec.layers[-1], spec.n_in, spec.n_out  # the last layer's H
        self.dims = [(I, H, spec.n_out if l == self.L - 1 else 0)
                     for l, (I, H) in enumerate(zip(spec.layer_inputs, spec.layers))]
        self.bias = int(spec.bias)
        self.k = cuda.to_device(cells.consts_k(spec, self.dtype))
        self.kc = cuda.to_device(common_consts(self.dtype))
        self.pk = cuda.to_device(param_consts(spec, self.dtype))
        self.layout = param_layout(spec)
        self.n = sum(int(np.prod(s)) for _, _, s in self.layout)
        self.slices = layer_slices(spec)
        self.seg = cuda.to_device(np.array([o for _, o, _ in self.layout] + [self.n], np.int64))
        isz = self.dtype.itemsize
        self.shm_f = max(forward_shared_bytes(H, C, isz) for _, H, C in self.dims)
        self.shm_b = max(backward_shared_bytes(H, C, isz) for _, H, C in self.dims)
        if max(self.shm_f, self.shm_b) > SHARED_LIMIT:
            H = max(spec.layers)
            raise ConfigError(
                f"the cuda kernels need {max(self.shm_f, self.shm_b)} bytes of shared memory per "
                f"block for H={H}, C={self.C} in {self.dtype} (limit {SHARED_LIMIT}); use float32, "
                "a smaller layer, or the cpu backend")
        self._limits: dict[str, int] = {}
        self._zin = cuda.device_array((1, 1, 1), np.uint32)  # the first layer reads no bits

    def _threads(self, name: str, kernel, args, want: int, **how) -> int:
        """Threads per block for kernel ``name``: the wish ``want`` clamped to what the kernel
        can launch with (:func:`.config.clamp`; the limit is read once per kernel)."""
        if name not in self._limits:
            self._limits[name] = config.kernel_limit(kernel, args)
        return config.clamp(want, self._limits[name], **how)

    # -- parameters --------------------------------------------------------------------------
    def new_params(self) -> DevParams:
        dt = self.dtype
        P = cuda.device_array(self.n, dt)
        return DevParams(P, [self._layer_params(P, l) for l in range(self.L)])

    def _layer_params(self, P, l: int) -> LayerParams:
        I, H, C = self.dims[l]
        dt = self.dtype
        a, e = self.slices[l]
        Pl = P[a:e]
        o_w, o_b, o_tau, o_wo, o_bo = layer_offsets(self.n_hidden_params, H, I, C, self.bias)
        W = Pl[o_w:o_w + H * (I + H)].reshape(H, I + H)
        w_o = Pl[o_wo:o_wo + C * H].reshape(C, H) if C else cuda.device_array((0, H), dt)
        if self.bias:
            bias = Pl[o_b:o_b + H]
            rbias = Pl[o_bo:o_bo + C] if C else cuda.device_array(0, dt)
        else:
            bias = cuda.to_device(np.zeros(H, dt))
            rbias = cuda.to_device(np.zeros(C, dt))
        return LayerParams(Pl, cuda.device_array((max(self.cells.NCELL, 1), H), dt),
                           cuda.device_array(C, dt), cuda.device_array(C, dt),
                           cuda.device_array((I + H, H), dt), cuda.device_array((H, C), dt), W,
                           w_o, bias, rbias)

    def prepare(self, dp: DevParams, derive: bool) -> None:
        for (I, H, C), lp in zip(self.dims, dp.layers):
            n = max(H * (I + H), C * H, H, C)
            args = (H, I, C, lp.P, self.pk, int(derive), self.bias, lp.cell, lp.a_o, lp.b_o,
                    lp.WT, lp.w_oT)
            tpb = self._threads("prepare", self.ks.prepare, args, config.flat_threads())
            self.ks.prepare[-(-n // tpb), tpb](*args)

    # -- the passes --------------------------------------------------------------------------
    def _inputs(self, inp: DevInputs, ws: Workspace, l: int) -> tuple:
        """The input arguments of layer ``l``'s kernels: the data set's for the first layer, the
        spike bitmasks of the layer below for the others (MODE_BITS; the rest unused)."""
        mode, zin = (inp.mode, self._zin) if l == 0 else (MODE_BITS, ws.layer(l - 1).zmask)
        return (mode, inp.binary, inp.ev_off, inp.ev_step, inp.ev_chan, inp.ev_val, inp.xd,
                inp.perm, inp.xscale, zin)

    def forward(self, dp: DevParams, inp: DevInputs, ws: Workspace, idx, B: int, keep: bool):
        for l, lp in enumerate(dp.layers):  # (N13): from the input side up
            lb = ws.layer(l)
            args = (self.R, idx, inp.srows) + self._inputs(inp, ws, l) + (
                lp.w_inT, lp.w_recT, lp.w_oT, lp.a_o, lp.b_o, lp.bias, lp.rbias, lp.cell, self.k,
                int(keep), int(l < self.L - 1), lb.tape, lb.zmask, lb.O, lb.Rr, ws.nspk, lb.stg,
                int(l == 0), lb.graded, lb.zv)
            H = self.dims[l][1]
            tpb = self._threads("forward", self.ks.forward, args, config.recurrent_threads(H))
            shm = forward_shared_bytes(H, self.dims[l][2], self.dtype.itemsize)
            self.ks.forward[B, tpb, 0, shm](*args)

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
        for l in range(self.L - 1, -1, -1):  # (N15): from the readout down
            lp, lb = dp.layers[l], ws.layer(l)
            I, H, C = self.dims[l]
            ext = l < self.L - 1
            dz_ext = ws.layer(l + 1).dx if ext else lb.dx
            args = (self.R, idx, inp.srows) + self._inputs(inp, ws, l) + (
                lp.w_rec, lp.w_o, lp.w_in, lp.a_o, lp.b_o, lp.cell, self.k, self.kc, lb.tape,
                lb.zmask, lb.O, lb.Rr, ws.d_out, r0, int(trunc), int(want_dx or l > 0), lb.dx,
                int(ext), dz_ext, lb.gin, lb.dIt, lb.gout, lb.car, lb.acc_b, lb.dao_b, lb.gb,
                lb.dbo_b, lb.graded, lb.zv)
            tpb = self._threads("backward", self.ks.backward, args, config.recurrent_threads(H))
            self.ks.backward[B, tpb, 0, backward_shared_bytes(H, C, self.dtype.itemsize)](*args)
            # dW_rec from the Ī tape (no B·H² buffer): grid (words × h-tiles, sample chunks)
            want = config.recurrent_threads(H)
            htiles = -(-H // want)
            rargs: tuple = (lb.dIt, lb.zmask, htiles, lb.spc, lb.part, lb.graded, lb.zv)
            tpb = self._threads("grad_rec", self.ks.grad_rec, rargs, want)
            if tpb != want:  # the kernel cannot run that many threads: more, smaller tiles
                htiles = -(-H // tpb)
                rargs = (lb.dIt, lb.zmask, htiles, lb.spc, lb.part, lb.graded, lb.zv)
            Wd = (H + 31) // 32
            self.ks.grad_rec[(Wd * htiles, lb.n_chunks), tpb](*rargs)

    def reduce(self, dp: DevParams, ws: Workspace, G) -> None:
        for l, ((I, H, C), lp) in enumerate(zip(self.dims, dp.layers)):
            lb = ws.layer(l)
            a, e = self.slices[l]
            nh = H if self.n_hidden_params else 0  # one thread per neuron for its parameters
            n = nh + H * (I + H) + C + C * H + self.bias * (H + C)
            args = (H, I, C, lp.P, lp.cell, self.k, self.pk, lp.a_o, lb.gin, lb.part, lb.gout, lb.acc_b,
                    lb.dao_b, lb.gb, lb.dbo_b, self.bias, G[a:e])
            tpb = self._threads("reduce", self.ks.reduce, args, config.flat_threads())
            self.ks.reduce[-(-n // tpb), tpb](*args)

    # -- host helpers ------------------------------------------------------------------------
    def states(self, ws: Workspace, B: int) -> dict:
        """Every state (T, B, H) of every layer of the last forward with ``keep``, by the keys of
        ``NetworkSpec.state_key`` (the reference's names)."""
        out = {}
        for l, H in enumerate(self.spec.layers):
            lb = ws.layer(l)
            tape = lb.tape.copy_to_host()
            zm = lb.zmask.copy_to_host()
            h = np.arange(H)
            z = ((zm[:, :, h >> 5] >> (h & 31).astype(np.uint32)) & 1).astype(self.dtype)
            if lb.graded:
                z = lb.zv.copy_to_host()
            for name, r in self.cells.STATE_ROWS.items():
                out[self.spec.state_key(l, name)] = (
                    z if r == 0 else np.ascontiguousarray(tape[:, :, r - 1, :]))  # tape row
        return out
