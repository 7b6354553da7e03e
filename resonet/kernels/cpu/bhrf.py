"""BHRF cell kernels: one step forward and its VJP for one sample (resonet/neurons/bhrf.py).

Arguments as in every model module of this package (see :mod:`.brf`):
``cell_forward(cur, old, new, cell, k, kc)`` (eqs. (H1)–(H6)) and
``cell_backward(old, new, dz, dn, dp, dI, acc, cell, k, kc)`` (eqs. (H7)–(H14)).

Rows of the state array: ``z, u, v, q``; rows 1..3 are checkpointed. ``cell`` rows: ω, ω², β
(``resonet.neurons.bhrf.derive``); ``k``: δ, ϑ, 0.9, 1, 0.005, 2δ, −2δ.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ...neurons import bhrf as ref
from .common import dspike, surrogate_tuple
from .config import FASTMATH

STATE_NAMES = ref.STATE_NAMES  # z, u, v, q
ROWS = 4
CKPT_ROWS = 3  # u, v, q
K_DT, K_THETA, K_QDEC, K_ONE, K_P, K_2DT, K_M2DT = range(7)


def pack(c: ref.Consts, dtype) -> tuple[np.ndarray, np.ndarray]:
    cell = np.stack([c.omega, c.omega2, c.beta]).astype(dtype)
    k = np.array([c.dt, ref.THETA, ref.Q_DECAY, 1.0, ref.P_COEF, 2.0 * c.dt, -2.0 * c.dt],
                 dtype=dtype)
    return cell, k


def finish(params: dict, c: ref.Consts, acc: np.ndarray) -> dict:
    """Eq. (H14): ``acc[0]`` = Σ b̄, ``acc[1]`` = Σ v'·ū'_tot (over batch and time)."""
    dc = {"omega": (2.0 * ref.P_COEF) * c.omega * acc[0] - (2.0 * c.dt) * c.omega * acc[1],
          "beta": acc[0].copy()}
    return ref.raw_grads(params, dc)


@njit(fastmath=FASTMATH)
def cell_forward(cur, old, new, cell, k, kc):
    """Eqs. (H1)–(H6) for one sample."""
    omega2 = cell[1]
    beta = cell[2]
    dt = k[K_DT]
    theta = k[K_THETA]
    qdec = k[K_QDEC]
    one = k[K_ONE]
    pc = k[K_P]
    two_dt = k[K_2DT]
    zero = one - one
    u0 = old[1]
    v0 = old[2]
    q0 = old[3]
    z1 = new[0]
    u1 = new[1]
    v1 = new[2]
    q1 = new[3]
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
def cell_backward(old, new, dz, dn, dp, dI, acc, cell, k, kc):
    """VJP of one step, eqs. (H7)–(H14), for one sample.

    With b = (ω²p + β) + q and s = (u' − ϑ) − q:
    ds = (z̄ + q̄') σ'(s) (H7), ū_tot = ū' + ds (H8), v̄ = v̄' − (δω²) ū_tot (H9, H12),
    b̄ = −2δ u ū_tot (H10), ū = ū_tot(1 − 2δb) + δ v̄ (H11), q̄ = 0.9 q̄' − ds + b̄ (H13),
    Ī = δ ū_tot, acc += (b̄, v' ū_tot) (H14).

    One loop per output row, as in :func:`.brf.cell_backward` (a single loop storing 6 rows
    while reading 11 stays scalar). ds and ū_tot are kept in the rows of q̄ and z̄ of ``dp``
    (overwritten last); every value is the same expression as in the single loop, rounded to
    the same dtype when stored, so the results are bit-identical.
    """
    omega2 = cell[1]
    beta = cell[2]
    dt = k[K_DT]
    theta = k[K_THETA]
    qdec = k[K_QDEC]
    one = k[K_ONE]
    pc = k[K_P]
    two_dt = k[K_2DT]
    m2dt = k[K_M2DT]
    H = dz.shape[0]
    u0 = old[1]
    q0 = old[3]
    u1 = new[1]
    v1 = new[2]
    g = surrogate_tuple(kc)
    du1 = dn[1]
    dv1 = dn[2]
    dq1 = dn[3]
    dz0 = dp[0]
    du0 = dp[1]
    dv0 = dp[2]
    dq0 = dp[3]
    a_db = acc[0]
    a_vu = acc[1]
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
