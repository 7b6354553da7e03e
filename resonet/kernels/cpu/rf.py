"""RF cell kernels (none/soft/hard reset): one step and its VJP for one sample
(resonet/neurons/rf.py).

Arguments as in every model module of this package (see :mod:`.brf`):
``cell_forward(cur, old, new, cell, k, kc)`` (eqs. (R1)–(R6)) and
``cell_backward(old, new, dz, dn, dp, dI, acc, cell, k, kc)`` (eqs. (R7)–(R12)).

Rows of the state array: ``z, u, v`` (after the reset) and ``ũ, ṽ`` (before it, kept so the
backward step needs no second evaluation of (R2)–(R3)); rows 1..2 are checkpointed. ``cell``
rows: ω, β, −β; ``k``: δ, ϑ, 1, reset (0 none, 1 soft, 2 hard).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ...neurons import rf as ref
from .common import dspike, surrogate_tuple
from .config import FASTMATH

STATE_NAMES = ref.STATE_NAMES  # z, u, v
ROWS = 5  # z, u, v, ũ, ṽ
CKPT_ROWS = 2  # u, v
K_DT, K_THETA, K_ONE, K_RESET = range(4)
RESET_CODES = {"none": 0, "soft": 1, "hard": 2}


def pack(c: ref.Consts, dtype) -> tuple[np.ndarray, np.ndarray]:
    cell = np.stack([c.omega, c.beta, -c.beta]).astype(dtype)
    k = np.array([c.dt, ref.THETA, 1.0, RESET_CODES[c.reset]], dtype=dtype)
    return cell, k


def finish(params: dict, c: ref.Consts, acc: np.ndarray) -> dict:
    """Eq. (R12): ``acc[0]`` = Σ δ(v̄ u − ū v) (adjoints after the reset VJP), ``acc[1]`` = Σ b̄
    (b = −β, so β̄ = −Σ b̄); sums over batch and time."""
    return ref.raw_grads(params, {"omega": acc[0].copy(), "beta": -acc[1]})


@njit(fastmath=FASTMATH)
def cell_forward(cur, old, new, cell, k, kc):
    """Eqs. (R1)–(R6) for one sample."""
    omega = cell[0]
    nbeta = cell[2]
    dt = k[K_DT]
    theta = k[K_THETA]
    one = k[K_ONE]
    reset = int(k[K_RESET])
    zero = one - one
    u0 = old[1]
    v0 = old[2]
    z1 = new[0]
    u1 = new[1]
    v1 = new[2]
    ut1 = new[3]
    vt1 = new[4]
    for h in range(cur.shape[0]):
        u = u0[h]
        v = v0[h]
        b = nbeta[h]  # (R1)
        ut = ((u + (b * u) * dt) - (omega[h] * v) * dt) + cur[h] * dt  # (R2)
        vt = (v + (omega[h] * u) * dt) + (b * v) * dt  # (R3)
        z = one if ut - theta > zero else zero  # (R4)–(R5)
        z1[h] = z
        ut1[h] = ut
        vt1[h] = vt
        if reset == 1:  # (R6) soft
            u1[h] = ut - z * theta
            v1[h] = vt - z * theta
        elif reset == 2:  # (R6) hard
            u1[h] = (one - z) * ut
            v1[h] = (one - z) * vt
        else:
            u1[h] = ut
            v1[h] = vt


@njit(fastmath=FASTMATH)
def cell_backward(old, new, dz, dn, dp, dI, acc, cell, k, kc):
    """VJP of one step, eqs. (R7)–(R12), for one sample."""
    omega = cell[0]
    nbeta = cell[2]
    dt = k[K_DT]
    theta = k[K_THETA]
    one = k[K_ONE]
    reset = int(k[K_RESET])
    H = dz.shape[0]
    u0 = old[1]
    v0 = old[2]
    z1 = new[0]
    ut1 = new[3]
    vt1 = new[4]
    g = surrogate_tuple(kc)
    du1 = dn[1]
    dv1 = dn[2]
    dz0 = dp[0]
    du0 = dp[1]
    dv0 = dp[2]
    a_om = acc[0]
    a_db = acc[1]
    for h in range(H):
        if reset == 1:  # (R7) soft
            du_t = du1[h]
            dv_t = dv1[h]
            dz_tot = dz[h] - theta * (du1[h] + dv1[h])
        elif reset == 2:  # (R7) hard
            du_t = (one - z1[h]) * du1[h]
            dv_t = (one - z1[h]) * dv1[h]
            dz_tot = dz[h] - du1[h] * ut1[h] - dv1[h] * vt1[h]
        else:
            du_t = du1[h]
            dv_t = dv1[h]
            dz_tot = dz[h]
        du_t = du_t + dz_tot * dspike(ut1[h] - theta, g)  # (R8), s of (R4)
        u = u0[h]
        v = v0[h]
        b = nbeta[h]
        db = dt * (du_t * u + dv_t * v)  # (R9)
        dom = dt * omega[h]
        du0[h] = du_t * (one + dt * b) + dv_t * dom  # (R10)
        dv0[h] = -du_t * dom + dv_t * (one + dt * b)  # (R11)
        dz0[h] = 0
        dI[h] = dt * du_t
        a_om[h] += dt * (dv_t * u - du_t * v)  # (R12)
        a_db[h] += db
