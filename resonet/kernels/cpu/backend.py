"""``CpuBackend``: the :class:`resonet.contract.Backend` contract on the fused CPU kernels.

It declares what it takes and needs: spike events as they are (``accepts_events``), float32 for
training, the memory a run allocates (:meth:`CpuBackend.estimate_memory`, from the same layout
:func:`allocate_tape` allocates), and a host training session.

Everything that is not a hot loop stays in NumPy here: parameter checks (the reference's own
``check_params`` and the neurons' ``derive``, so invalid parameters raise the same
ConfigErrors), input conversion to CSR events, the per-chunk gradient reduction and the chain
rule through the raw parameters (``finish`` of the model, resonet.neurons). The hot loops are
the entry points ``forward``/``backward`` of the model's kernel module (:func:`cells`).

Stacked layers (eqs. (N13)–(N16)) are a chain of those entry points, one call per layer: the
forward of layer l reads the spikes of layer l − 1 as binary events (:func:`.csr.bits_to_csr`
of its spike bits), a layer below the last has no readout (C = 0); BPTT runs from the last
layer down, each layer's x̄ (N8) becoming the adjoint ``dz_ext`` of the layer below (N15).
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
from ...spec import NetworkSpec, layer_params, truncation_cuts
from .. import check_targets, kernel_module, prepare_run
from .config import checkpoint_interval, keeps_currents, lockstep
from .csr import bits_to_csr, dense_to_csr
from .network import TILE
from .readout import nll_loss, pad_classes
from .surrogate import common_consts


def cells(spec: NetworkSpec):
    """The CPU kernel module of the spec's neuron model (kernels/cpu/<model>.py)."""
    return kernel_module("cpu", spec.model)


def ckpt_rows(spec: NetworkSpec) -> int:
    """Rows of a checkpoint: the model's CKPT_ROWS, and z_{t−1} with graded spikes (reset-to-mod:
    the spike bits do not give the recompute its values, kernels/cpu/network.py)."""
    return cells(spec).CKPT_ROWS + (1 if spec.reset == "mod" else 0)


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
    """What the forward of one layer keeps for BPTT (docs/cpu-kernels.md, "Tape")."""

    zbits: np.ndarray  # uint8 (B, T, ⌈H/8⌉): every hidden spike, one bit
    ckpt: np.ndarray  # dtype (B, ⌈T/K⌉, CKPT_ROWS, H): continuous state every K steps
    O: np.ndarray  # dtype (B, T, C): readout at every step (the outputs; o_{t−1} for dα_o)
    K: int  # checkpoint interval
    cur: np.ndarray  # dtype (B, T, H): the input current I_t of wide layers, (B, 0, H) otherwise

    @property
    def nbytes(self) -> int:
        return int(self.zbits.nbytes + self.ckpt.nbytes + self.O.nbytes + self.cur.nbytes)


def allocate_tape(spec: NetworkSpec, T: int, B: int, dtype, keep: bool = True,
                  K: int | None = None, layer: int = -1) -> Tape:
    """The arrays the model's ``forward`` fills for hidden layer ``layer`` (default the last,
    the one with the readout). ``keep=False`` (inference) allocates no checkpoints, and spike
    bits only for a layer below the last (the next layer reads them); only the last layer has a
    readout O (a layer below it has C = 0). A wide layer (:func:`.config.keeps_currents`) also
    keeps its input currents, which BPTT's recompute then reads instead of gathering them again."""
    layer %= spec.n_layers
    H = spec.layers[layer]
    last = layer == spec.n_layers - 1
    C = spec.n_out if last else 0
    K = checkpoint_interval(T) if K is None else int(K)
    rows = ckpt_rows(spec)
    nseg = -(-T // K) if keep else 0
    zbits = np.empty((B, T if keep or not last else 0, (H + 7) // 8), dtype=np.uint8)
    ckpt = np.empty((B, nseg, rows, H), dtype=dtype)
    O = np.empty((B, T, C), dtype=dtype)  # sample-major: each sample writes contiguously
    cur = np.empty((B, T if keep and keeps_currents(H) else 0, H), dtype=dtype)
    return Tape(zbits, ckpt, O, K, cur)


def tape_bytes_per_sample(spec: NetworkSpec, T: int, dtype=np.float32, K: int | None = None) -> int:
    """Bytes the forward keeps for BPTT per sample (spike bits and checkpoints of every layer,
    the input currents of wide ones, the readout): the arrays of :func:`allocate_tape`, counted
    without allocating them."""
    K = checkpoint_interval(T) if K is None else int(K)
    item = np.dtype(dtype).itemsize
    rows = ckpt_rows(spec)
    per_layer = sum(T * ((H + 7) // 8) + -(-T // K) * rows * H * item
                    + (T * H * item if keeps_currents(H) else 0) for H in spec.layers)
    return per_layer + T * spec.n_out * item


def between_layers_bytes_per_sample(spec: NetworkSpec, T: int, dtype=np.float32) -> int:
    """Bytes per sample of the adjoint handed from a layer to the one below during BPTT of a stack
    (x̄ of (N15), (T, H_{l−1}) per sample; one at a time, the largest counted); 0 for one layer."""
    return T * max(spec.layers[:-1], default=0) * np.dtype(dtype).itemsize


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

    - ``ev`` = (indptr, indices, values): the layer's input as CSR events;
    - ``net`` = (w_inT, w_recT, w_oT, a_o, b_o, bias, r_bias): the weights in the kernels'
      layouts, the readout's α, 1 − α, the layer's bias and the readout's (zeros without
      biases; the readout's empty for a layer below the last);
    - ``consts`` = (cell, k, kc): the model's per-neuron and scalar constants, the common ones;
    - ``tape`` = (K, zbits, ckpt, O, cur): the checkpoint interval and the BPTT tape;
    - ``grad`` = (w_in, w_cat, d_out, r0, trunc, dx, dz_ext, group): what the backward reads
      besides (the forward's weights as packed column blocks (:func:`pack_columns`), ∂L/∂o, the
      first recorded step, the truncation, the input gradient, the adjoint from the layer above,
      the lockstep walk of wide layers).
    """
    return ((ev.indptr, ev.indices, ev.values), net, consts, (tape.K, tape.zbits, tape.ckpt, tape.O,
                                                               tape.cur))


def pack_columns(w: np.ndarray, cols: int) -> np.ndarray:
    """w (K, N) as its column blocks (⌈N/cols⌉, K, cols), block b = w[:, b·cols:(b+1)·cols], the
    last one zero-padded: the right operand of the backward's dense products
    (resonet.kernels.cpu.network.product). Each block is then one contiguous stretch of memory
    that a tile streams through, where a block of w itself is K short rows a whole row of w
    apart: 1024 + 20 rows 4 KB apart fall into a few of the L1/L2 cache sets, so the block did
    not stay in cache while the tiles passed over it (docs/cpu-kernels.md, "Wide layers"). A
    narrow layer's cols = N: one block, w itself (a view)."""
    K, N = w.shape
    if cols >= N:
        return w[None]
    nblk = -(-N // cols)
    out = np.zeros((nblk, K, cols), dtype=w.dtype)
    for b in range(nblk):
        block = w[:, b * cols:(b + 1) * cols]
        out[b, :, :block.shape[1]] = block
    return out


@dataclass
class _Layer:
    """One hidden layer of a run: its input events, kernel arguments and tape."""

    ev: Events
    net: tuple
    consts: tuple
    tape: Tape
    w: np.ndarray  # (H, I + H) = [W_in | W_rec]
    nspk: np.ndarray  # (B,)


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
        K ≈ √T steps, readout; every layer), with a stack's adjoint between layers, the gradient
        with the working copies of the weights and one set of partial sums per chunk of the batch
        (a chunk of whole tiles per thread, as ``run`` splits it)."""
        item = np.dtype(dtype).itemsize
        nchunk = max(1, min(-(-batch // TILE), threads or numba.config.NUMBA_NUM_THREADS))
        tape = tape_bytes_per_sample(spec, T, dtype) + between_layers_bytes_per_sample(spec, T, dtype)
        return {"gradients": (3 + nchunk) * spec.n_params() * item,
                "BPTT tape": batch * tape, "batches": 0}

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
        ev = as_events(spec, x, dtype)
        T, B = ev.T, ev.B
        C = spec.n_out
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
        names = spec.model.STATE_NAMES  # rows 0 … len − 1 of the kernels' state array
        layers: list[_Layer] = []
        states_out: dict = {}
        for l in range(spec.n_layers):  # (N13): layer l reads the spikes of layer l − 1
            if l > 0:
                indptr, indices = bits_to_csr(layers[-1].tape.zbits)
                ev = Events(indptr, indices, np.empty(0, dtype), T, B)
            layer = self._layer(spec, p, l, consts[l], a_o, ev, dtype, need_grads)
            states = np.empty((len(names), T, B, spec.layers[l]) if return_states
                              else (len(names), 0, 0, 0), dtype=dtype)
            mod.forward(*kernel_args(layer.ev, layer.net, layer.consts, layer.tape), layer.nspk,
                        states)
            if return_states:
                states_out.update({spec.state_key(l, n): states[mod.STATE_ROWS[n]] for n in names})
            layers.append(layer)
        O = layers[-1].tape.O
        nspk = np.add.reduce([layer.nspk for layer in layers])  # spikes of every layer
        res = Result(O.transpose(1, 0, 2)[r0:], nspk.astype(dtype))  # (T_rec, B, C) view
        if return_states:
            res.states = states_out
        if targets is None:
            return res
        d_out = np.empty((B, T - r0, C), dtype=dtype)
        loss = nll_loss(O, r0, targets, d_out, common_consts(dtype))
        res.loss = float(loss)
        if not need_grads:
            return res
        res.grads, dx = self._backward(spec, p, consts, layers, d_out, r0, truncation, return_dx,
                                       dtype)
        if return_dx:
            res.dx = dx
        return res

    @staticmethod
    def _layer(spec: NetworkSpec, p: dict, l: int, consts, a_o, ev: Events, dtype,
               keep: bool) -> _Layer:
        """The kernel arguments and the tape of hidden layer ``l`` (the readout only on the last)."""
        last = l == spec.n_layers - 1
        T, B = ev.T, ev.B
        I, H = spec.layer_inputs[l], spec.layers[l]
        lp = layer_params(spec, p, l)
        W = lp["weight"]
        cell, k = cells(spec).pack(consts, dtype)
        w_inT = np.ascontiguousarray(W[:, :I].T)
        w_recT = np.ascontiguousarray(W[:, I:].T)
        bias = np.zeros(H, dtype) if lp["bias"] is None else _writable(lp["bias"], dtype)
        if last:
            C = spec.n_out
            Cp = pad_classes(C, dtype)
            w_oT = np.zeros((H, Cp), dtype=dtype)  # W_oᵀ, zero columns up to whole vectors
            w_oT[:, :C] = p["out.linear.weight"].T
            r_bias = np.zeros(Cp, dtype)
            if spec.bias:
                r_bias[:C] = p["out.linear.bias"]
            ao, bo = _writable(a_o, dtype), _writable(1.0 - a_o, dtype)
        else:  # no readout: C = 0
            w_oT = np.zeros((H, 0), dtype=dtype)
            r_bias = ao = bo = np.zeros(0, dtype)
        net = (w_inT, w_recT, w_oT, ao, bo, bias, r_bias)
        tape = allocate_tape(spec, T, B, dtype, keep=keep, layer=l)
        return _Layer(ev, net, (cell, k, common_consts(dtype, spec.reset == "mod")), tape, W,
                      np.empty(B, dtype=np.int64))

    @staticmethod
    def _backward(spec: NetworkSpec, p: dict, consts: list, layers: list[_Layer], d_out, r0: int,
                  truncation, return_dx: bool, dtype) -> tuple[dict, np.ndarray]:
        """BPTT of every layer from the last down (N15); the gradients by parameter name and x̄."""
        mod = cells(spec)
        T, B = layers[0].ev.T, layers[0].ev.B
        C = spec.n_out
        # one chunk of whole tiles per thread, summed in chunk order (deterministic for a given
        # thread count). numba's dynamic scheduling (set_parallel_chunksize) was measured 10x
        # slower here, so the split is static.
        nchunk = max(1, min(-(-B // TILE), numba.get_num_threads()))
        g: dict = {}
        dz_ext = np.zeros((0, 0, 0), dtype=dtype)
        no_out = np.zeros((B, 0, 0), dtype=dtype)
        for l in range(spec.n_layers - 1, -1, -1):
            last = l == spec.n_layers - 1
            layer = layers[l]
            I, H = spec.layer_inputs[l], spec.layers[l]
            pre = spec.prefix(l)
            W = layer.w
            want_dx = l > 0 or return_dx
            dx = np.zeros((T, B, I) if want_dx else (0, 0, 0), dtype=dtype)
            w_in = np.ascontiguousarray(W[:, :I])
            Cl = C if last else 0
            Cp = layer.net[2].shape[1]
            w_cat = np.zeros((H + Cp, H), dtype=dtype)  # [W_rec; W_o; 0]
            w_cat[:H] = W[:, I:]
            if last:
                w_cat[H:H + C] = p["out.linear.weight"]
            tiles = -(-B // TILE)  # ceil(B / TILE)
            group, cols = lockstep(H, H + Cl, np.dtype(dtype).itemsize, -(-tiles // nchunk))
            grad = (pack_columns(w_in, cols), pack_columns(w_cat, cols),
                    d_out if last else no_out, r0, int(truncation or 0), dx, dz_ext, group)
            dw_inT, gcat, acc, dao, bad, db, dbo = mod.backward(
                *kernel_args(layer.ev, layer.net, layer.consts, layer.tape), grad, nchunk)
            if bad:
                raise NumericalError(
                    f"cpu backend: {bad} recomputed spike steps differ from the forward pass "
                    "(non-deterministic arithmetic?); gradients would be wrong")
            acc = acc.sum(axis=0)  # (NACC, H): the model's ACC_ROWS
            for n, v in spec.model.finish(hidden_of(spec.model, p, pre), consts[l], acc).items():
                g[f"{pre}.{n}"] = v
            dW = np.empty((H, I + H), dtype=dtype)
            dW[:, :I] = dw_inT.sum(axis=0).T
            gcat = gcat.sum(axis=0)  # [dW_recᵀ | dW_oᵀ | 0] (H, H + Cp)
            dW[:, I:] = gcat[:, :H].T
            g[f"{pre}.linear.weight"] = dW
            if spec.bias:
                g[f"{pre}.linear.bias"] = db.sum(axis=0)  # (N16)
            if last:
                g["out.tau_mem"] = li.tau_grad(p["out.tau_mem"], dao.sum(axis=0), spec.readout)
                g["out.linear.weight"] = np.ascontiguousarray(gcat[:, H:H + C].T)
                if spec.bias:
                    g["out.linear.bias"] = dbo.sum(axis=0)  # (L9)
            dz_ext = dx  # (N15): x̄ of this layer is z̄ of the one below
        grads = {n: np.asarray(g[n], dtype=dtype) for n in spec.param_shapes()}
        return grads, dz_ext
