"""Optimizer step on the device: finiteness check, global-norm clipping, Adam / RAdam / RMSprop
and the projection onto the model's bounds (BRF: |ω| < 1/δ_p), matching :mod:`resonet.optim` and
the host training path exactly.

Kernels per dtype (:func:`get_optim_kernels`), working on the flat parameter vector P, the
flat gradient G and the flat optimizer state M, V (official parameter order, segment offsets
``seg``):

- ``norm_part`` (grid NB × tensors) and ``norm_final`` (one block): per tensor, Σ g² in float64
  (the host's ``np.square(g, dtype=float64)``) and the number of non-finite entries, first per
  block over a fixed slice of the tensor, then over the NB block partials, each by a fixed-shape
  tree in shared memory (deterministic: NB depends on the sizes and the thread count only,
  :func:`norm_blocks`; the whole GPU reads the gradient, not one multiprocessor); then
  ‖g‖ = √Σ and the clipping factor min(1, max_norm / (‖g‖ + 1e-6)) (torch's
  ``clip_grad_norm_``), stored in the run's dtype as the host's ``g *= coef`` rounds it.
- ``update`` (one thread per parameter): skips everything when the loss or any gradient is not
  finite (the trainer's "stopped before the update"), clips, applies the optimizer with the
  host's association order and scalar roundings (every Python-float coefficient is rounded to
  the dtype first, as NumPy does with a scalar and a float32 array), and clamps the parameters
  the model bounds (``BOUNDS``: |p| ≤ limit, e.g. BRF |ω| ≤ 0.999/δ_p) as
  resonet.neurons.model.project does. The clamp count is an *integer* atomic add: its result does
  not depend on the order of the additions, so it stays deterministic.

One more kernel, ``mask`` (one thread per parameter), sets the gradients of pruned weights to 0
before ``norm_part`` reads them (``--prune-recurrent``, resonet.pruning.mask_grads): an assignment, as
on the host.

The bias corrections and RAdam's rectification are computed on the host in Python float64 with
the exact expressions of resonet.optim and passed as kernel arguments (no copy).
"""

from __future__ import annotations

import math
from typing import Any

import numba as nb
import numpy as np
from numba import cuda

from ...errors import ConfigError
from . import _numpy_compat, config
from .common import sign
from .config import CACHE, FASTMATH, MAX_TPB

_numpy_compat.ensure()  # before any kernel of this module compiles (numpy >= 2.5)

ADAM, RADAM, RMSPROP = range(3)
OPT_IDS = {"adam": ADAM, "radam": RADAM, "rmsprop": RMSPROP}
_KERNELS: dict = {}


def get_optim_kernels(dtype):
    dtype = np.dtype(dtype)
    if dtype not in _KERNELS:
        _KERNELS[dtype] = _build(nb.float32 if dtype == np.float32 else nb.float64)
    return _KERNELS[dtype]


def coefficients(opt, k: int, lr: float) -> tuple:
    """(opt id, h0..h8) for step number ``k`` (1-based) of the host optimizer ``opt``, with the
    expressions of :mod:`resonet.optim` evaluated in Python float64."""
    name = opt.name
    if name == "adam":
        bc1 = 1.0 - opt.b1**k
        bc2_sqrt = math.sqrt(1.0 - opt.b2**k)
        return (ADAM, 1.0 - opt.b1, opt.b2, 1.0 - opt.b2, lr / bc1, bc2_sqrt, opt.eps, 0.0, 0.0, 0.0)
    if name == "radam":
        bc1 = 1.0 - opt.b1**k
        rho_inf = 2.0 / (1.0 - opt.b2) - 1.0
        rho_k = rho_inf - 2.0 * k * opt.b2**k / (1.0 - opt.b2**k)
        rect = 0.0
        on = 0.0
        if rho_k > 5.0:
            rect = math.sqrt((rho_k - 4) * (rho_k - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_k))
            on = 1.0
        return (RADAM, 1.0 - opt.b1, opt.b2, 1.0 - opt.b2, bc1, lr, opt.eps,
                math.sqrt(1.0 - opt.b2**k), rect, on)
    if name == "rmsprop":
        return (RMSPROP, 0.0, opt.alpha, 1.0 - opt.alpha, 0.0, lr, opt.eps, 0.0, 0.0, 0.0)
    raise ValueError(f"no device kernel for optimizer {name!r}")


def bounds_layout(spec, layout) -> tuple[Any, Any]:
    """The model's ``BOUNDS`` as device arrays for ``update``: ``bseg`` int64 (n, 2), the flat
    index range [lo, hi) of each bounded tensor of every hidden layer (``layout`` from
    ``device.param_layout``), and ``blim`` float64 (n,), the limit |p| ≤ lim (the same Python
    float the host uses)."""
    offsets = {name: (off, off + int(np.prod(shape))) for name, off, shape in layout}
    bounds = [b for _ in range(spec.n_layers) for b in spec.model.BOUNDS]
    seg = np.array([offsets[f"{spec.prefix(l)}.{b.param}"] for l in range(spec.n_layers)
                    for b in spec.model.BOUNDS], np.int64).reshape(-1, 2)
    lim = np.array([b.limit(spec) for b in bounds], np.float64)
    if not bounds:  # no zero-length device arrays: one empty range [0, 0) instead
        seg, lim = np.zeros((1, 2), np.int64), np.zeros(1, np.float64)
    return cuda.to_device(seg), cuda.to_device(lim)


NORM_BLOCKS = 64  # at most this many blocks per tensor in ``norm_part`` (a fixed number)


def norm_blocks(sizes, tpb: int) -> int:
    """Blocks per tensor of ``norm_part``: enough to spread the largest tensor over the GPU,
    never more than NORM_BLOCKS; a function of the sizes and the thread count only, so the
    summation order, and the norm, do not depend on the GPU."""
    return max(1, min(NORM_BLOCKS, -(-max(sizes) // max(1, tpb))))


def norm_workspace(seg_host, tpb: int | None = None) -> tuple:
    """(psum, pbad): the per-block partials of ``norm_part`` for the tensors delimited by the
    offsets ``seg_host`` (host array, n_tensors + 1)."""
    sizes = np.diff(np.asarray(seg_host))
    nbk = norm_blocks(sizes, config.clamp(tpb or config.flat_threads(), MAX_TPB, pow2=True))
    return (cuda.device_array((len(sizes), nbk), np.float64),
            cuda.device_array((len(sizes), nbk), np.int64))


def launch_step(opt, k: int, lr: float, P, G, M, V, seg, stats, nout, istat, scal,
                clip: float | None, bseg, blim, work=None) -> None:
    """Enqueue ``norm_part``, ``norm_final`` and ``update`` for optimizer step ``k`` of the host
    optimizer ``opt`` (its name and hyper-parameters; its state lives in the device arrays M, V).

    ``stats[0]`` is the batch loss (a non-finite loss skips the update), ``seg`` the tensor
    offsets of the flat vectors, ``bseg``/``blim`` the model's bounds (:func:`bounds_layout`).
    ``nout``, ``istat``, ``scal`` receive the norm, the clip flag, the clamp and non-finite
    counts and the clip coefficient (see the kernels). ``work``: the buffers of
    :func:`norm_workspace` (allocated here when not given, e.g. by a test).
    """
    oks = get_optim_kernels(P.dtype)
    if work is None:
        work = norm_workspace(seg.copy_to_host())
    psum, pbad = work
    want = config.flat_threads()
    tpb = config.clamp(want, _limit(oks, "norm_part", (G, seg, psum, pbad)), pow2=True)
    oks.norm_part[(psum.shape[1], psum.shape[0]), tpb](G, seg, psum, pbad)
    args = (psum, pbad, float(clip or 0.0), nout, istat, scal)
    tpb = config.clamp(want, _limit(oks, "norm_final", args), pow2=True)
    oks.norm_final[1, tpb](*args)
    h = coefficients(opt, k, lr)
    args = (h[0], P, G, M, V, stats, istat, nout, scal, int(clip is not None), *h[1:], bseg, blim)
    tpb = config.clamp(want, _limit(oks, "update", args))
    oks.update[-(-P.shape[0] // tpb), tpb](*args)


def _limit(oks, name: str, args) -> int:
    """The kernel's launch limit (threads per block), read once per dtype and kernel."""
    lim = oks.limits.get(name)
    if lim is None:
        lim = oks.limits[name] = config.kernel_limit(getattr(oks, name), args)
    return lim


def flat_keep(spec, layout, masks: dict | None) -> np.ndarray | None:
    """The masks (parameter name -> bool array, False = pruned) as one uint8 vector over the flat
    parameter layout (1 = keep), or None when nothing is masked."""
    if not masks:
        return None
    keep = np.ones(sum(int(np.prod(s)) for _, _, s in layout), np.uint8)
    for name, off, shape in layout:
        if name in masks:
            m = np.asarray(masks[name], dtype=bool)
            if m.shape != tuple(shape):
                raise ConfigError(f"mask of {name} has shape {m.shape}, expected {tuple(shape)}")
            keep[off:off + m.size] = m.ravel()
    return keep


def launch_mask(G, keep) -> None:
    """Enqueue ``mask``: G[i] = 0 where keep[i] == 0 (keep from :func:`flat_keep`, on the
    device)."""
    oks = get_optim_kernels(G.dtype)
    tpb = config.clamp(config.flat_threads(), _limit(oks, "mask", (G, keep)))
    oks.mask[-(-G.shape[0] // tpb), tpb](G, keep)


@cuda.jit(device=True)
def _tree_sum(shs, shb, tid, nt):
    """shs[0] = Σ shs[0:nt], shb[0] = Σ shb[0:nt] by a fixed pairwise tree (nt a power of two),
    every thread of the block taking part: the same order whatever the launch, so the norm is
    deterministic."""
    cuda.syncthreads()
    stride = nt // 2
    while stride > 0:
        if tid < stride:
            shs[tid] += shs[tid + stride]
            shb[tid] += shb[tid + stride]
        cuda.syncthreads()
        stride //= 2


def _build(ft):
    @cuda.jit(fastmath=FASTMATH, cache=CACHE)
    def mask(G, keep):
        """G[i] = 0 where the weight is pruned (keep[i] == 0)."""
        i = cuda.grid(1)
        if i < G.shape[0] and keep[i] == 0:
            G[i] = ft(0)

    @cuda.jit(fastmath=FASTMATH, cache=CACHE)
    def norm_part(G, seg, psum, pbad):
        """Block (k, s): Σ g² (float64) and the non-finite count of the k-th of the NB slices of
        tensor s (element i of the tensor goes to block (i // blockDim) mod NB, thread
        i mod blockDim: a fixed assignment), by a fixed tree; psum[s, k], pbad[s, k]."""
        tid = cuda.threadIdx.x
        nt = cuda.blockDim.x
        k = cuda.blockIdx.x
        nblk = cuda.gridDim.x
        s = cuda.blockIdx.y
        shs = cuda.shared.array(MAX_TPB, nb.float64)
        shb = cuda.shared.array(MAX_TPB, nb.int64)
        a = 0.0
        bad = 0
        for i in range(seg[s] + k * nt + tid, seg[s + 1], nblk * nt):
            g = nb.float64(G[i])
            if math.isnan(g) or math.isinf(g):
                bad += 1
            a += g * g
        shs[tid] = a
        shb[tid] = bad
        _tree_sum(shs, shb, tid, nt)
        if tid == 0:
            psum[s, k] = shs[0]
            pbad[s, k] = shb[0]

    @cuda.jit(fastmath=FASTMATH, cache=CACHE)
    def norm_final(psum, pbad, max_norm, out, istat, scal):
        """One block: per tensor the NB partials by a fixed tree, the tensors added in order:
        out[0] = ‖G‖₂, out[1] = 1 if clipping applies; istat[1 + s] = non-finite entries of
        tensor s; istat[0] (the clamp counter of ``update``) is reset; scal[0] = coefficient."""
        tid = cuda.threadIdx.x
        nt = cuda.blockDim.x
        shs = cuda.shared.array(MAX_TPB, nb.float64)
        shb = cuda.shared.array(MAX_TPB, nb.int64)
        total = 0.0
        for s in range(psum.shape[0]):
            a = 0.0
            bad = 0
            for k in range(tid, psum.shape[1], nt):
                a += psum[s, k]
                bad += pbad[s, k]
            shs[tid] = a
            shb[tid] = bad
            _tree_sum(shs, shb, tid, nt)
            if tid == 0:
                total += shs[0]
                istat[1 + s] = shb[0]
            cuda.syncthreads()
        if tid == 0:
            istat[0] = 0
            tot = math.sqrt(total)
            out[0] = tot
            coef = max_norm / (tot + 1e-6)
            if max_norm > 0.0 and coef < 1.0:
                out[1] = 1.0
                scal[0] = coef
            else:
                out[1] = 0.0
                scal[0] = 1.0

    @cuda.jit(fastmath=FASTMATH, cache=CACHE)
    def update(opt, P, G, M, V, stats, istat, out, scal, use_clip,
               h0, h1, h2, h3, h4, h5, h6, h7, h8, bseg, blim):
        """One optimizer step of parameter i (see the module docstring and resonet.optim)."""
        i = cuda.grid(1)
        if i >= P.shape[0]:
            return
        loss = stats[0]
        if math.isnan(loss) or math.isinf(loss):
            return
        for s in range(1, istat.shape[0]):
            if istat[s] != 0:
                return
        g = G[i]
        if use_clip and out[1] != 0.0:
            g = g * scal[0]  # clip_grad_norm: g *= coef
        p = P[i]
        if opt == RMSPROP:
            v = V[i] * ft(h1)
            v = v + (ft(h2) * g) * g
            p = p - (ft(h4) * g) / (math.sqrt(v) + ft(h5))
            V[i] = v
        else:
            m = M[i]
            m = m + (g - m) * ft(h0)  # m ← m + (1 − β₁)(g − m)
            v = V[i] * ft(h1)
            v = v + (ft(h2) * g) * g  # v ← β₂v + (1 − β₂)g²
            if opt == ADAM:
                denom = math.sqrt(v) / ft(h4) + ft(h5)
                p = p - (ft(h3) * m) / denom
            else:
                m_hat = m / ft(h3)
                if h8 != 0.0:
                    adaptive = ft(h6) / (math.sqrt(v) + ft(h5))
                    p = p - ((m_hat * ft(h4)) * adaptive) * ft(h7)
                else:
                    p = p - m_hat * ft(h4)
            M[i] = m
            V[i] = v
        for r in range(bseg.shape[0]):  # the model's bounds (BRF: |ω| < 1/δ_p, where p(ω) exists)
            if bseg[r, 0] <= i and i < bseg[r, 1]:
                lf = ft(blim[r])
                if abs(p) > lf:
                    p = sign(p, ft(1), ft(0)) * lf
                    cuda.atomic.add(istat, 0, 1)
        P[i] = p

    class Kernels:
        pass

    ks = Kernels()
    ks.norm_part = norm_part
    ks.norm_final = norm_final
    ks.limits = {}  # name -> threads per block the compiled kernel can launch with
    ks.update = update
    ks.mask = mask
    return ks
