"""ALIF cell kernels: one step and its VJP for one sample (resonet/neurons/alif.py).

Arguments as in every model module of this package (see :mod:`.brf`):
``cell_forward(cur, old, new, cell, k, kc)`` (eqs. (A1)–(A6)) and
``cell_backward(old, new, dz, dn, dp, dI, acc, cell, k, kc)`` (eqs. (A7)–(A14)).

Rows of the state array: ``z, u, a`` and the input current I_t of the step (kept because
dα needs it, (A14)); rows 1..2 are checkpointed. Unlike the resonators the cell reads the
previous spike (row 0 of ``old``), so ``dp[0]`` is nonzero and the network adds it to z̄_{t−1}.
``cell`` rows: α, ρ, 1 − α, 1 − ρ; ``k``: θ₀, β_a.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ...neurons import alif as ref
from .common import dspike, surrogate_tuple
from .config import FASTMATH

STATE_NAMES = ref.STATE_NAMES  # z, u, a
ROWS = 4  # z, u, a, I
CKPT_ROWS = 2  # u, a
K_THETA0, K_BETA = range(2)


def pack(c: ref.Consts, dtype) -> tuple[np.ndarray, np.ndarray]:
    cell = np.stack([c.alpha, c.rho, 1.0 - c.alpha, 1.0 - c.rho]).astype(dtype)
    k = np.array([ref.THETA0, ref.BETA_ADP], dtype=dtype)
    return cell, k


def finish(params: dict, c: ref.Consts, acc: np.ndarray) -> dict:
    """Eqs. (A14)–(A15): ``acc[0]`` = Σ dα terms, ``acc[1]`` = Σ dρ terms."""
    return ref.raw_grads(params, {"alpha": acc[0].copy(), "rho": acc[1].copy()})


@njit(fastmath=FASTMATH)
def cell_forward(cur, old, new, cell, k, kc):
    """Eqs. (A1)–(A6) for one sample."""
    alpha = cell[0]
    rho = cell[1]
    om_alpha = cell[2]
    om_rho = cell[3]
    th0 = k[K_THETA0]
    badp = k[K_BETA]
    zero = th0 - th0
    one = kc[1]
    z0 = old[0]
    u0 = old[1]
    a0 = old[2]
    z1 = new[0]
    u1 = new[1]
    a1 = new[2]
    i1 = new[3]
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
def cell_backward(old, new, dz, dn, dp, dI, acc, cell, k, kc):
    """VJP of one step, eqs. (A7)–(A14), for one sample.

    With θ = θ₀ + a'β_a and ũ = uα + I(1 − α):
    ds = (z̄ − ū'θ) σ'(ũ − θ) (A7)–(A8), ū_t = ū' + ds (A9), θ̄ = −ū'z' − ds (A10),
    ā_tot = ā' + β_a θ̄ (A11), ū = α ū_t, Ī = (1 − α) ū_t (A12), ā = ρ ā_tot,
    z̄ = (1 − ρ) ā_tot (A13), acc += (ū_t(u − I), ā_tot(a − z)) (A14).

    One loop per output row, as in :func:`.brf.cell_backward` (a single loop storing 6 rows
    while reading 13 stays scalar). ds, then ū_t, is kept in the ū row of ``dp`` and ā_tot
    in its ā row, both scaled in place last; every value is the same expression as in the
    single loop, rounded to the same dtype when stored, so the results are bit-identical.
    """
    alpha = cell[0]
    rho = cell[1]
    om_alpha = cell[2]
    om_rho = cell[3]
    th0 = k[K_THETA0]
    badp = k[K_BETA]
    H = dz.shape[0]
    z0 = old[0]
    u0 = old[1]
    a0 = old[2]
    z1 = new[0]
    a1 = new[2]
    i1 = new[3]
    g = surrogate_tuple(kc)
    du1 = dn[1]
    da1 = dn[2]
    dz0 = dp[0]
    du0 = dp[1]
    da0 = dp[2]
    a_al = acc[0]
    a_rho = acc[1]
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
