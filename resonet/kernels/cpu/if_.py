"""IF cell kernels: one step and its VJP for one sample (resonet/neurons/if_.py).

Arguments as in every model module of this package (see :mod:`.brf`):
``cell_forward(cur, old, new, cell, k, kc)`` (eqs. (I1)–(I4)) and
``cell_backward(old, new, dz, dnew, dold, dI, acc, cell, k, kc)`` (eqs. (I5)–(I7)), and the
same constants and entry points.

Rows of the state array: ``z, u`` (after the reset) and ``ũ`` (before it, kept so the backward
step needs no second evaluation of (I1)); row 1 is checkpointed. No per-neuron constants
(``cell`` has no rows) and nothing to accumulate (NACC = 0); ``k``: ϑ, 1. The surrogate is the
linear one of eq. (S4) (surrogate.dspike_linear), as the model declares.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ...neurons import if_ as ref
from . import network
from .config import CACHE, FASTMATH
from .surrogate import dspike_linear

ROW_Z, ROW_U, ROW_UT = range(3)  # ũ: before the reset
ROWS = 3
CKPT_ROWS = 1  # u
STATE_ROWS = {"z": ROW_Z, "u": ROW_U}  # = ref.STATE_NAMES
K_THETA, K_ONE = range(2)
NACC = len(ref.ACC_ROWS)
READS_Z = False


def pack(c: ref.Consts, dtype) -> tuple[np.ndarray, np.ndarray]:
    cell = np.zeros((0, 1), dtype=dtype)  # no per-neuron constants
    k = np.array([ref.THETA, 1.0], dtype=dtype)
    return cell, k


@njit(fastmath=FASTMATH)
def cell_forward(cur, old, new, cell, k, kc):
    """Eqs. (I1)–(I4) for one sample."""
    theta = k[K_THETA]
    one = k[K_ONE]
    zero = one - one
    u0 = old[ROW_U]
    z1 = new[ROW_Z]
    u1 = new[ROW_U]
    ut1 = new[ROW_UT]
    for h in range(cur.shape[0]):
        ut = u0[h] + cur[h]  # (I1)
        z = one if ut - theta > zero else zero  # (I2)–(I3)
        z1[h] = z
        ut1[h] = ut
        u1[h] = (one - z) * ut  # (I4)


@njit(fastmath=FASTMATH)
def cell_backward(old, new, dz, dnew, dold, dI, acc, cell, k, kc):
    """VJP of one step, eqs. (I5)–(I7), for one sample: with u' = (1 − z')ũ,
    ũ̄ = (1 − z')ū' + (z̄ − ū'ũ) σ'(ũ − ϑ) (I5)–(I6), ū = Ī = ũ̄ (I7)."""
    theta = k[K_THETA]
    one = k[K_ONE]
    zero = one - one
    H = dz.shape[0]
    z1 = new[ROW_Z]
    ut1 = new[ROW_UT]
    du1 = dnew[ROW_U]
    dz0 = dold[ROW_Z]
    du0 = dold[ROW_U]
    for h in range(H):
        dz_tot = dz[h] - du1[h] * ut1[h]  # (I5)
        du0[h] = (one - z1[h]) * du1[h] + dz_tot * dspike_linear(ut1[h] - theta, one, zero)  # (I6)
    for h in range(H):
        dI[h] = du0[h]  # (I7)
    for h in range(H):
        dz0[h] = 0  # the cell does not read z_{t−1}


# ------------------------------------------------------------------- entry points (this model)
@njit(parallel=True, cache=CACHE, fastmath=FASTMATH)
def forward(ev, net, consts, tape, nspk, states):
    """Eqs. (N1)–(N3) for every sample with this cell; see :func:`.network.forward_sample` and,
    for the argument bundles, :func:`resonet.kernels.cpu.backend.kernel_args`."""
    w_inT, w_recT, w_oT, a_o, b_o = net
    cell, k, kc = consts
    K, zbits, ckpt, O = tape
    for b in prange(O.shape[0]):
        network.forward_sample(cell_forward, ROWS, b, ev, w_inT, w_recT, w_oT, a_o, b_o, cell, k,
                               kc, K, zbits, ckpt, O, nspk, states)


@njit(parallel=True, cache=CACHE, fastmath=FASTMATH)
def backward(ev, net, consts, tape, grad, nchunk):
    """BPTT, eqs. (N5)–(N9), with this cell, one chunk of the batch per thread; see
    :func:`.network.backward_chunk`. Returns the per-chunk buffers (summed by the caller) and the
    number of recomputed steps whose spikes differ from the forward's (must be 0)."""
    w_inT, w_recT, w_oT, a_o, b_o = net
    cell, k, kc = consts
    K, zbits, ckpt, O = tape
    w_in, w_cat, d_out, r0, trunc, dx = grad
    buffers = network.gradient_buffers(nchunk, w_inT, w_cat, O, NACC)
    for c in prange(nchunk):
        network.backward_chunk(cell_forward, cell_backward, ROWS, READS_Z, c, nchunk, ev, w_inT,
                               w_recT, w_oT, a_o, b_o, cell, k, kc, K, zbits, ckpt, O, w_in, w_cat,
                               d_out, r0, trunc, dx, buffers)
    dw_inT, gcat, acc, dao, bad = buffers
    return dw_inT, gcat, acc, dao, bad.sum()
