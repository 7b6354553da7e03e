"""ALIF cell kernels: one step and its VJP for one sample (resonet/neurons/alif.py).

Arguments as in every model module of this package (see :mod:`.brf`):
``cell_forward(cur, old, new, cell, k, kc)`` (eqs. (A1)–(A6)) and
``cell_backward(old, new, dz, dnew, dold, dI, acc, cell, k, kc)`` (eqs. (A7)–(A14)), and the
same constants and entry points.

Rows of the state array: ``z, u, a`` and the input current I_t of the step (kept because
dα needs it, (A14)); rows 1..2 are checkpointed. Unlike the resonators the cell reads the
previous spike (row 0 of ``old``), so ``dold[ROW_Z]`` is nonzero and the network adds it to z̄_{t−1}.
``cell`` rows: α, ρ, 1 − α, 1 − ρ; ``k``: θ₀, β_a.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ...neurons import alif as ref
from . import network
from .config import CACHE, FASTMATH
from .surrogate import KC_ONE, dspike, surrogate_tuple

ROW_Z, ROW_U, ROW_A, ROW_I = range(4)  # I: the step's input current, for dα (A14)
ROWS = 4
CKPT_ROWS = 2  # u, a
STATE_ROWS = {"z": ROW_Z, "u": ROW_U, "a": ROW_A}  # = ref.STATE_NAMES
CELL_ALPHA, CELL_RHO, CELL_OM_ALPHA, CELL_OM_RHO = range(4)  # α, ρ, 1 − α, 1 − ρ
K_THETA0, K_BETA = range(2)
ACC_ALPHA, ACC_RHO = range(2)  # ref.ACC_ROWS
NACC = len(ref.ACC_ROWS)
READS_Z = True  # (A1): the adaptation is driven by the previous spike


def pack(c: ref.Consts, dtype) -> tuple[np.ndarray, np.ndarray]:
    cell = np.stack([c.alpha, c.rho, 1.0 - c.alpha, 1.0 - c.rho]).astype(dtype)
    k = np.array([ref.THETA0, ref.BETA_ADP], dtype=dtype)
    return cell, k


@njit(fastmath=FASTMATH)
def cell_forward(cur, old, new, cell, k, kc):
    """Eqs. (A1)–(A6) for one sample."""
    alpha = cell[CELL_ALPHA]
    rho = cell[CELL_RHO]
    om_alpha = cell[CELL_OM_ALPHA]
    om_rho = cell[CELL_OM_RHO]
    th0 = k[K_THETA0]
    badp = k[K_BETA]
    zero = th0 - th0
    one = kc[KC_ONE]
    z0 = old[ROW_Z]
    u0 = old[ROW_U]
    a0 = old[ROW_A]
    z1 = new[ROW_Z]
    u1 = new[ROW_U]
    a1 = new[ROW_A]
    i1 = new[ROW_I]
    for h in range(cur.shape[0]):
        an = a0[h] * rho[h] + z0[h] * om_rho[h]  # (A1)
        theta = th0 + an * badp  # (A2)
        ut = u0[h] * alpha[h] + cur[h] * om_alpha[h]  # (A3)
        z = one if ut - theta > zero else zero  # (A4)–(A5)
        z1[h] = z
        u1[h] = ut - z * theta  # (A6)
        a1[h] = an
        i1[h] = cur[h]


@njit(fastmath=FASTMATH)
def cell_backward(old, new, dz, dnew, dold, dI, acc, cell, k, kc):
    """VJP of one step, eqs. (A7)–(A14), for one sample.

    With θ = θ₀ + a'β_a and ũ = uα + I(1 − α):
    ds = (z̄ − ū'θ) σ'(ũ − θ) (A7)–(A8), ū_t = ū' + ds (A9), θ̄ = −ū'z' − ds (A10),
    ā_tot = ā' + β_a θ̄ (A11), ū = α ū_t, Ī = (1 − α) ū_t (A12), ā = ρ ā_tot,
    z̄ = (1 − ρ) ā_tot (A13), acc += (ū_t(u − I), ā_tot(a − z)) (A14).

    One loop per output row, as in :func:`.brf.cell_backward` (a single loop storing 6 rows
    while reading 13 stays scalar). ds, then ū_t, is kept in the ū row of ``dold`` and ā_tot
    in its ā row, both scaled in place last; every value is the same expression as in the
    single loop, rounded to the same dtype when stored, so the results are bit-identical.
    """
    alpha = cell[CELL_ALPHA]
    rho = cell[CELL_RHO]
    om_alpha = cell[CELL_OM_ALPHA]
    om_rho = cell[CELL_OM_RHO]
    th0 = k[K_THETA0]
    badp = k[K_BETA]
    H = dz.shape[0]
    z0 = old[ROW_Z]
    u0 = old[ROW_U]
    a0 = old[ROW_A]
    z1 = new[ROW_Z]
    a1 = new[ROW_A]
    i1 = new[ROW_I]
    g = surrogate_tuple(kc)
    du1 = dnew[ROW_U]
    da1 = dnew[ROW_A]
    dz0 = dold[ROW_Z]
    du0 = dold[ROW_U]
    da0 = dold[ROW_A]
    a_al = acc[ACC_ALPHA]
    a_rho = acc[ACC_RHO]
    ds = du0  # scratch: ds of (A8), then ū_t of (A9), until (A12) scales it in place
    da_tot = da0  # scratch: ā_tot of (A11) until (A13) scales it in place
    for h in range(H):
        theta = th0 + a1[h] * badp  # (A2)
        ut = u0[h] * alpha[h] + i1[h] * om_alpha[h]  # (A3)
        ds[h] = (dz[h] - du1[h] * theta) * dspike(ut - theta, g)  # (A7)–(A8), s of (A4)
    for h in range(H):
        da_tot[h] = da1[h] + badp * (-du1[h] * z1[h] - ds[h])  # (A10)–(A11)
    for h in range(H):
        dz0[h] = om_rho[h] * da_tot[h]  # (A13)
    for h in range(H):
        a_rho[h] += da_tot[h] * (a0[h] - z0[h])  # (A14)
    for h in range(H):
        da0[h] = rho[h] * da_tot[h]  # (A13), in place
    du_t = ds
    for h in range(H):
        du_t[h] = du1[h] + ds[h]  # (A9), in place
    for h in range(H):
        a_al[h] += du_t[h] * (u0[h] - i1[h])  # (A14)
    for h in range(H):
        dI[h] = om_alpha[h] * du_t[h]  # (A12)
    for h in range(H):
        du0[h] = alpha[h] * du_t[h]  # (A12), in place


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
