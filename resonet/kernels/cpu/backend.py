"""``CpuBackend``: the :class:`resonet.contract.Backend` contract on the fused CPU kernels.

It declares what it takes and needs: spike events as they are (``accepts_events``), float32 for
training, the memory a run allocates (:meth:`CpuBackend.estimate_memory`, from the same layout
:func:`allocate_tape` allocates), and a host training session.

Everything that is not a hot loop stays in NumPy here: parameter checks (the reference's own
``check_params`` and the neurons' ``derive``, so invalid parameters raise the same
ConfigErrors), input conversion to CSR events, the per-chunk gradient reduction and the chain
rule through the raw parameters (``finish`` of the model, resonet.neurons). The hot loops are
the entry points ``forward``/``backward`` of the model's kernel module (:func:`cells`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from ...contract import Result, Session
from ...errors import ConfigError, NumericalError
from ...events import SpikeEvents
from ...loss import step_targets
from ...neurons import li
from ...neurons.model import hidden_of
from ...session import HostSession
from ...spec import NetworkSpec, truncation_cuts
from .. import check_targets, kernel_module, prepare_run
from .config import checkpoint_interval
from .csr import dense_to_csr
from .network import TILE
from .readout import nll_loss, pad_classes
from .surrogate import common_consts


def cells(spec: NetworkSpec):
    """The CPU kernel module of the spec's neuron model (kernels/cpu/<model>.py)."""
    return kernel_module("cpu", spec.model)


@dataclass
class Events:
    """Input as CSR over rows t*B + b (resonet.events layout); ``values`` empty = binary."""

    indptr: np.ndarray  # int64 (T*B + 1,)
    indices: np.ndarray  # int32 (nnz,)
    values: np.ndarray  # dtype (nnz,) or (0,)
    T: int
    B: int


@dataclass
class Tape:
    """What the forward keeps for BPTT (docs/cpu-kernels.md, "Tape")."""

    zbits: np.ndarray  # uint8 (B, T, ⌈H/8⌉): every hidden spike, one bit
    ckpt: np.ndarray  # dtype (B, ⌈T/K⌉, CKPT_ROWS, H): continuous state every K steps
    O: np.ndarray  # dtype (B, T, C): readout at every step (the outputs; o_{t−1} for dα_o)
    K: int  # checkpoint interval

    @property
    def nbytes(self) -> int:
        return int(self.zbits.nbytes + self.ckpt.nbytes + self.O.nbytes)


def allocate_tape(spec: NetworkSpec, T: int, B: int, dtype, keep: bool = True,
                  K: int | None = None) -> Tape:
    """The arrays the model's ``forward`` fills. ``keep=False`` (inference) allocates no
    spike bits or checkpoints, only O."""
    H, C = spec.n_hidden, spec.n_out
    K = checkpoint_interval(T) if K is None else int(K)
    rows = cells(spec).CKPT_ROWS
    nseg = -(-T // K) if keep else 0
    zbits = np.empty((B, T if keep else 0, (H + 7) // 8), dtype=np.uint8)
    ckpt = np.empty((B, nseg, rows, H), dtype=dtype)
    O = np.empty((B, T, C), dtype=dtype)  # sample-major: each sample writes contiguously
    return Tape(zbits, ckpt, O, K)


def tape_bytes_per_sample(spec: NetworkSpec, T: int, dtype=np.float32, K: int | None = None) -> int:
    """Bytes the forward keeps for BPTT per sample (spike bits, checkpoints and readout): the
    arrays of :func:`allocate_tape`, counted without allocating them."""
    H, C = spec.n_hidden, spec.n_out
    K = checkpoint_interval(T) if K is None else int(K)
    item = np.dtype(dtype).itemsize
    return T * ((H + 7) // 8) + -(-T // K) * cells(spec).CKPT_ROWS * H * item + T * C * item


def _writable(a, dtype) -> np.ndarray:
    """C-contiguous, writeable array (numba compiles read-only arrays as a separate type)."""
    return np.require(a, dtype=dtype, requirements=["C", "W"])


def as_events(spec: NetworkSpec, x, dtype) -> Events:
    """Validate the input (dense (T, B, I) or SpikeEvents) and return CSR events in ``dtype``."""
    if isinstance(x, SpikeEvents):
        if x.I != spec.n_in or x.T < 1 or x.B < 1:
            raise ConfigError(f"input must have shape (T, B, I={spec.n_in}), got {x.shape}")
        vals = np.empty(0, dtype) if x.values is None else np.asarray(x.values, dtype=dtype)
        if vals.size and not np.all(np.isfinite(vals)):
            raise ConfigError("input contains NaN or Inf")
        return Events(_writable(x.indptr, np.int64), _writable(x.indices, np.int32),
                      _writable(vals, dtype), x.T, x.B)
    x = np.asarray(x)
    if x.ndim != 3 or x.shape[2] != spec.n_in or x.shape[0] < 1 or x.shape[1] < 1:
        raise ConfigError(f"input must have shape (T, B, I={spec.n_in}), got {x.shape}")
    if x.dtype == np.bool_:
        x = x.view(np.uint8)
    elif x.dtype.kind not in "iuf":
        x = x.astype(dtype)
    indptr, indices, values, binary, finite = dense_to_csr(_writable(x, x.dtype), np.empty(0, dtype))
    if not finite:
        raise ConfigError("input contains NaN or Inf")
    if binary:
        values = values[:0]
    return Events(indptr, indices, values, x.shape[0], x.shape[1])


def kernel_args(ev: Events, net: tuple, consts: tuple, tape: Tape) -> tuple:
    """The argument bundles every model's entry points take (``forward(ev, net, consts, tape,
    nspk, states)``, ``backward(ev, net, consts, tape, grad, nchunk)``), tuples numba passes as
    they are:

    - ``ev`` = (indptr, indices, values): the input as CSR events;
    - ``net`` = (w_inT, w_recT, w_oT, a_o, b_o): the weights in the kernels' layouts and the
      readout's α, 1 − α;
    - ``consts`` = (cell, k, kc): the model's per-neuron and scalar constants, the common ones;
    - ``tape`` = (K, zbits, ckpt, O): the checkpoint interval and the BPTT tape;
    - ``grad`` = (w_in, w_cat, d_out, r0, trunc, dx): what the backward reads besides (the
      forward's weights, ∂L/∂o, the first recorded step, the truncation, the input gradient).
    """
    return ((ev.indptr, ev.indices, ev.values), net, consts, (tape.K, tape.zbits, tape.ckpt, tape.O))


class CpuBackend:
    """Fused numba kernels, float32 or float64 (``dtype``), parallel over the batch."""

    name = "cpu"
    accepts_events = True  # CSR input rows: only the nonzero inputs are added
    train_dtype = "float32"
    on_device = False

    @staticmethod
    def estimate_memory(spec: NetworkSpec, *, T: int, batch: int, eval_batch: int, dtype,
                        threads: int | None = None) -> dict[str, int]:
        """The tape of :func:`allocate_tape` for a training batch (spike bits, checkpoints every
        K ≈ √T steps, readout), the gradient with the working copies of the weights and one set
        of partial sums per chunk of the batch (a chunk of whole tiles per thread, as ``run``
        splits it)."""
        item = np.dtype(dtype).itemsize
        nchunk = max(1, min(-(-batch // TILE), threads or numba.config.NUMBA_NUM_THREADS))
        return {"gradients": (3 + nchunk) * spec.n_params() * item,
                "BPTT tape": batch * tape_bytes_per_sample(spec, T, dtype), "batches": 0}

    @staticmethod
    def free_device_memory() -> int | None:
        return None

    def session(self, spec, params, optimizer, datasets, dtype, *, clip=None, truncation=None,
                masks=None) -> Session:
        return HostSession(self, spec, params, optimizer, datasets, dtype, clip=clip,
                           truncation=truncation, masks=masks)

    def run(self, spec, params, x, y=None, *, grads=True, dtype=np.float64, truncation=None,
            return_states=False, return_dx=False, spike="heaviside") -> Result:
        dtype, p, consts, a_o = prepare_run("cpu", spec, params, dtype, spike)
        b_o = 1.0 - a_o
        ev = as_events(spec, x, dtype)
        T, B = ev.T, ev.B
        H, C, I = spec.n_hidden, spec.n_out, spec.n_in
        rec = spec.recorded(T)
        r0 = int(rec[0])
        targets = None
        if y is not None:
            targets = _writable(step_targets(y, rec, T), np.int64)
            check_targets(targets, C)
        need_grads = grads and y is not None
        if need_grads:
            truncation_cuts(T, truncation)  # validates truncation >= 1
        mod = cells(spec)
        cell, k = mod.pack(consts, dtype)
        kc = common_consts(dtype)
        W = p["hidden.linear.weight"]
        w_inT = np.ascontiguousarray(W[:, :I].T)
        w_recT = np.ascontiguousarray(W[:, I:].T)
        w_o = np.ascontiguousarray(p["out.linear.weight"])
        Cp = pad_classes(C, dtype)
        w_oT = np.zeros((H, Cp), dtype=dtype)  # W_oᵀ, zero columns up to whole vectors
        w_oT[:, :C] = w_o.T
        tape = allocate_tape(spec, T, B, dtype, keep=need_grads)
        nspk = np.empty(B, dtype=np.int64)
        names = spec.model.STATE_NAMES  # rows 0 … len − 1 of the kernels' state array
        ns = len(names)
        states = np.empty((ns, T, B, H) if return_states else (ns, 0, 0, 0), dtype=dtype)
        bundles = kernel_args(ev, (w_inT, w_recT, w_oT, a_o, b_o), (cell, k, kc), tape)
        mod.forward(*bundles, nspk, states)
        res = Result(tape.O.transpose(1, 0, 2)[r0:], nspk.astype(dtype))  # (T_rec, B, C) view
        if return_states:
            res.states = {n: states[mod.STATE_ROWS[n]] for n in names}
        if targets is None:
            return res
        d_out = np.empty((B, T - r0, C), dtype=dtype)
        loss = nll_loss(tape.O, r0, targets, d_out, kc)
        res.loss = float(loss)
        if not need_grads:
            return res
        # one chunk of whole tiles per thread, summed in chunk order (deterministic for a given
        # thread count). numba's dynamic scheduling (set_parallel_chunksize) was measured 10x
        # slower here, so the split is static.
        nchunk = max(1, min(-(-B // TILE), numba.get_num_threads()))
        dx = np.zeros((T, B, I) if return_dx else (0, 0, 0), dtype=dtype)
        w_in = np.ascontiguousarray(W[:, :I])
        w_cat = np.zeros((H + Cp, H), dtype=dtype)  # [W_rec; W_o; 0]
        w_cat[:H] = W[:, I:]
        w_cat[H:H + C] = w_o
        grad = (w_in, w_cat, d_out, r0, int(truncation or 0), dx)
        dw_inT, gcat, acc, dao, bad = mod.backward(*bundles, grad, nchunk)
        if bad:
            raise NumericalError(
                f"cpu backend: {bad} recomputed spike steps differ from the forward pass "
                "(non-deterministic arithmetic?); gradients would be wrong")
        g = {}
        acc = acc.sum(axis=0)  # (NACC, H): the model's ACC_ROWS
        for n, v in spec.model.finish(hidden_of(spec.model, p), consts, acc).items():
            g[f"hidden.{n}"] = v
        dW = np.empty((H, I + H), dtype=dtype)
        dW[:, :I] = dw_inT.sum(axis=0).T
        gcat = gcat.sum(axis=0)  # [dW_recᵀ | dW_oᵀ | 0] (H, H + Cp)
        dW[:, I:] = gcat[:, :H].T
        g["hidden.linear.weight"] = dW
        g["out.tau_mem"] = li.tau_grad(p["out.tau_mem"], dao.sum(axis=0))
        g["out.linear.weight"] = np.ascontiguousarray(gcat[:, H:H + C].T)
        res.grads = {n: np.asarray(g[n], dtype=dtype) for n in spec.param_shapes()}
        if return_dx:
            res.dx = dx
        return res
