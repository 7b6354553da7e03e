"""BHRF cell kernels: one step forward and its VJP for one sample (resonet/neurons/bhrf.py).

Arguments as in every model module of this package (see :mod:`.brf`):
``cell_forward(cur, old, new, cell, k, kc)`` (eqs. (H1)–(H6)) and
``cell_backward(old, new, dz, dnew, dold, dI, acc, cell, k, kc)`` (eqs. (H7)–(H14)), and the
same constants and entry points.

Rows of the state array: ``z, u, v, q``; rows 1..3 are checkpointed. ``cell`` rows: ω, ω², β
(``resonet.neurons.bhrf.derive``); ``k``: δ, ϑ, 0.9, 1, 0.005, 2δ, −2δ; ``acc`` rows Σ b̄,
Σ v'·ū_tot.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ...neurons import bhrf as ref
from . import network
from .config import CACHE, FASTMATH
from .surrogate import dspike, surrogate_tuple

ROW_Z, ROW_U, ROW_V, ROW_Q = range(4)
ROWS = 4
CKPT_ROWS = 3  # u, v, q
STATE_ROWS = {"z": ROW_Z, "u": ROW_U, "v": ROW_V, "q": ROW_Q}  # = ref.STATE_NAMES
CELL_OMEGA, CELL_OMEGA2, CELL_BETA = range(3)
K_DT, K_THETA, K_QDEC, K_ONE, K_P, K_2DT, K_M2DT = range(7)
ACC_DB, ACC_VU = range(2)  # ref.ACC_ROWS
NACC = len(ref.ACC_ROWS)
READS_Z = False


def pack(c: ref.Consts, dtype) -> tuple[np.ndarray, np.ndarray]:
    cell = np.stack([c.omega, c.omega2, c.beta]).astype(dtype)
    k = np.array([c.dt, ref.THETA, ref.Q_DECAY, 1.0, ref.P_COEF, 2.0 * c.dt, -2.0 * c.dt],
                 dtype=dtype)
    return cell, k


@njit(fastmath=FASTMATH)
def cell_forward(cur, old, new, cell, k, kc):
    """Eqs. (H1)–(H6) for one sample."""
    omega2 = cell[CELL_OMEGA2]
    beta = cell[CELL_BETA]
    dt = k[K_DT]
    theta = k[K_THETA]
    qdec = k[K_QDEC]
    one = k[K_ONE]
    pc = k[K_P]
    two_dt = k[K_2DT]
    zero = one - one
    u0 = old[ROW_U]
    v0 = old[ROW_V]
    q0 = old[ROW_Q]
    z1 = new[ROW_Z]
    u1 = new[ROW_U]
    v1 = new[ROW_V]
    q1 = new[ROW_Q]
    for h in range(cur.shape[0]):
        u = u0[h]
        q = q0[h]
        b = (omega2[h] * pc + beta[h]) + q  # (H1)
        vn = v0[h] + u * dt  # (H2)
        un = ((u + cur[h] * dt) - (b * u) * two_dt) - (omega2[h] * vn) * dt  # (H3)
        s = (un - theta) - q  # (H4)
        z = one if s > zero else zero  # (H5)
        z1[h] = z
        u1[h] = un
        v1[h] = vn
        q1[h] = q * qdec + z  # (H6)


@njit(fastmath=FASTMATH)
def cell_backward(old, new, dz, dnew, dold, dI, acc, cell, k, kc):
    """VJP of one step, eqs. (H7)–(H14), for one sample.

    With b = (ω²p + β) + q and s = (u' − ϑ) − q:
    ds = (z̄ + q̄') σ'(s) (H7), ū_tot = ū' + ds (H8), v̄ = v̄' − (δω²) ū_tot (H9, H12),
    b̄ = −2δ u ū_tot (H10), ū = ū_tot(1 − 2δb) + δ v̄ (H11), q̄ = 0.9 q̄' − ds + b̄ (H13),
    Ī = δ ū_tot, acc += (b̄, v' ū_tot) (H14).

    One loop per output row, as in :func:`.brf.cell_backward` (a single loop storing 6 rows
    while reading 11 stays scalar). ds and ū_tot are kept in the rows of q̄ and z̄ of ``dold``
    (overwritten last); every value is the same expression as in the single loop, rounded to
    the same dtype when stored, so the results are bit-identical.
    """
    omega2 = cell[CELL_OMEGA2]
    beta = cell[CELL_BETA]
    dt = k[K_DT]
    theta = k[K_THETA]
    qdec = k[K_QDEC]
    one = k[K_ONE]
    pc = k[K_P]
    two_dt = k[K_2DT]
    m2dt = k[K_M2DT]
    H = dz.shape[0]
    u0 = old[ROW_U]
    q0 = old[ROW_Q]
    u1 = new[ROW_U]
    v1 = new[ROW_V]
    g = surrogate_tuple(kc)
    du1 = dnew[ROW_U]
    dv1 = dnew[ROW_V]
    dq1 = dnew[ROW_Q]
    dz0 = dold[ROW_Z]
    du0 = dold[ROW_U]
    dv0 = dold[ROW_V]
    dq0 = dold[ROW_Q]
    a_db = acc[ACC_DB]
    a_vu = acc[ACC_VU]
    # b̄ of (H10) is recomputed where (H13) needs it, as b and b̄ in brf.cell_backward.
    ds = dq0  # scratch: ds of (H7) until (H13) overwrites it
    du_tot = dz0  # scratch: ū_tot of (H8) until it is zeroed at the end
    for h in range(H):
        s = (u1[h] - theta) - q0[h]  # (H4)
        ds[h] = (dz[h] + dq1[h]) * dspike(s, g)  # (H7)
    for h in range(H):
        du_tot[h] = du1[h] + ds[h]  # (H8)
    for h in range(H):
        dv0[h] = dv1[h] - (dt * omega2[h]) * du_tot[h]  # (H9), (H12): v̄ = v̄_tot
    for h in range(H):
        b = (omega2[h] * pc + beta[h]) + q0[h]
        du0[h] = du_tot[h] * (one - two_dt * b) + dt * dv0[h]  # (H11)
    for h in range(H):
        a_db[h] += m2dt * u0[h] * du_tot[h]  # (H10), (H14)
    for h in range(H):
        dq0[h] = qdec * dq1[h] - ds[h] + m2dt * u0[h] * du_tot[h]  # (H13) with b̄ of (H10)
    for h in range(H):
        a_vu[h] += v1[h] * du_tot[h]  # (H14)
    for h in range(H):
        dI[h] = dt * du_tot[h]
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
