"""BRF on the device: one step of neuron h and its VJP (resonet/neurons/brf.py, eqs. (B1)–(B16)).

The CUDA twin of resonet/kernels/cpu/brf.py (same equations, same association order, same state
rows); the contract of the names is in :mod:`.common`. State rows z, u, v, q; ``cell`` rows ω,
β, p(ω), p'(ω); ``k``: δ, ϑ, 0.9, 1, κ_d, κ_r, κ_s (the ablation factors of (B2)/(B5), 1 for
BRF itself); ``acc`` rows Σ δ(v̄'u − ū_tot v), Σ b̄ (the model's ACC_ROWS).
"""

from __future__ import annotations

import math

import numpy as np
from numba import cuda

from ...neurons import brf as ref
from .common import PK_DT, PK_MONE, PK_ONE, dspike, pad_k, sign, tape_row

ROW_Z, ROW_U, ROW_V, ROW_Q = range(4)
ROWS = 4
STATE_ROWS = {"z": ROW_Z, "u": ROW_U, "v": ROW_V, "q": ROW_Q}  # = ref.STATE_NAMES
TAPE_U, TAPE_V, TAPE_Q = tape_row(ROW_U), tape_row(ROW_V), tape_row(ROW_Q)
CELL_OMEGA, CELL_BETA, CELL_P, CELL_DP = range(4)
NCELL = 4
K_DT, K_THETA, K_QDEC, K_ONE, K_KD, K_KR, K_KS = range(7)
ACC_OMEGA, ACC_DB = range(2)  # ref.ACC_ROWS
NACC = len(ref.ACC_ROWS)
P_OMEGA, P_BOFF = range(2)  # hidden parameters, ref.PARAM_NAMES


def consts_k(spec, dtype) -> np.ndarray:
    return pad_k([spec.dt, ref.THETA, ref.Q_DECAY, 1.0, *ref.factors(spec)], dtype)


def pack_cell(c: ref.Consts, dtype) -> np.ndarray:
    return np.ascontiguousarray(np.stack([c.omega, c.beta, c.p, c.dp]).astype(dtype))


@cuda.jit(device=True)
def cell_forward(h, cur, st, H, cell, k):
    """Eqs. (B2)–(B7) for neuron h; updates st in place, returns z."""
    dt = k[K_DT]
    one = k[K_ONE]
    zero = one - one
    u = st[ROW_U * H + h]
    v = st[ROW_V * H + h]
    q = st[ROW_Q * H + h]
    omega = cell[CELL_OMEGA, h]
    b = (k[K_KD] * cell[CELL_P, h] - cell[CELL_BETA, h]) - k[K_KS] * q  # (B2)
    un = ((u + (b * u) * dt) - (omega * v) * dt) + cur * dt  # (B3)
    vn = (v + (omega * u) * dt) + (b * v) * dt  # (B4)
    s = (un - k[K_THETA]) - k[K_KR] * q  # (B5)
    z = one if s > zero else zero  # (B6)
    st[ROW_Z * H + h] = z
    st[ROW_U * H + h] = un
    st[ROW_V * H + h] = vn
    st[ROW_Q * H + h] = q * k[K_QDEC] + z  # (B7)
    return z


@cuda.jit(device=True)
def cell_backward(h, t, b, tape, zt, zp, dz, dcar, acc, H, cell, k, kc):
    """VJP of one step for neuron h, eqs. (B8)–(B15); dcar rows: adjoints of (z, u, v, q)
    from step t+1 in, those of step t−1 out. Returns Ī_t[h]."""
    dt = k[K_DT]
    one = k[K_ONE]
    zero = one - one
    if t > 0:
        u = tape[t - 1, b, TAPE_U, h]
        v = tape[t - 1, b, TAPE_V, h]
        q = tape[t - 1, b, TAPE_Q, h]
    else:
        u = zero
        v = zero
        q = zero
    un = tape[t, b, TAPE_U, h]
    omega = cell[CELL_OMEGA, h]
    bb = (k[K_KD] * cell[CELL_P, h] - cell[CELL_BETA, h]) - k[K_KS] * q
    sp = dspike((un - k[K_THETA]) - k[K_KR] * q, kc)  # σ'(s), (B5)
    du1 = dcar[ROW_U * H + h]
    dv1 = dcar[ROW_V * H + h]
    dq1 = dcar[ROW_Q * H + h]
    dz_tot = dz + dq1  # (B8)
    ds = dz_tot * sp  # (B9)
    du_tot = du1 + ds  # (B10)
    db = dt * (du_tot * u + dv1 * v)  # (B11)
    dom = dt * omega
    dcar[ROW_Z * H + h] = zero  # the cell does not read z_{t−1}
    dcar[ROW_U * H + h] = du_tot * (one + dt * bb) + dv1 * dom  # (B12)
    dcar[ROW_V * H + h] = -du_tot * dom + dv1 * (one + dt * bb)  # (B13)
    dcar[ROW_Q * H + h] = k[K_QDEC] * dq1 - k[K_KR] * ds - k[K_KS] * db  # (B14)
    acc[ACC_OMEGA * H + h] += dt * (dv1 * u - du_tot * v)  # (B15); the p'(ω) term in finish
    acc[ACC_DB * H + h] += db
    return dt * du_tot


@cuda.jit(device=True)
def derive(h, P, H, cell, pk):
    """ω = |ω_raw|, β = |b'_raw|, p(ω) (B1) and p'(ω) (B15) of neuron h (brf.derive)."""
    omega = abs(P[P_OMEGA * H + h])
    x = pk[PK_DT] * omega
    r = math.sqrt(pk[PK_ONE] - x * x)
    cell[CELL_OMEGA, h] = omega
    cell[CELL_BETA, h] = abs(P[P_BOFF * H + h])
    cell[CELL_P, h] = (pk[PK_MONE] + r) / pk[PK_DT]  # (B1)
    cell[CELL_DP, h] = (-pk[PK_DT]) * omega / r  # (B15) p'(ω)


@cuda.jit(device=True)
def finish(h, s, P, H, cell, k, G):
    """dω_raw, db'_raw of neuron h from the summed acc rows s (brf.finish, (B15)–(B16))."""
    one = k[K_ONE]
    zero = one - one
    G[P_OMEGA * H + h] = (s[ACC_OMEGA] + (k[K_KD] * cell[CELL_DP, h]) * s[ACC_DB]) * sign(
        P[P_OMEGA * H + h], one, zero)
    G[P_BOFF * H + h] = (-s[ACC_DB]) * sign(P[P_BOFF * H + h], one, zero)
