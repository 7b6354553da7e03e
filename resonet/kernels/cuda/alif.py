"""ALIF on the device: one step of neuron h and its VJP (resonet/neurons/alif.py, eqs. (A1)–(A15)).

The CUDA twin of resonet/kernels/cpu/alif.py; the contract of the names is in :mod:`.common`.
State rows z, u, a and the step's input current I (for dα, (A14)); row z holds z_{t−1} on entry
(the cell reads it, (A1)). ``cell`` rows α, ρ, 1 − α, 1 − ρ; ``k``: θ₀, β_a, 1; ``acc`` rows
Σ dα terms, Σ dρ terms (the model's ACC_ROWS).
"""

from __future__ import annotations

import math

import numpy as np
from numba import cuda

from ...neurons import alif as ref
from .common import PK_MONE, PK_ONE, dspike, pad_k, sign, tape_row

ROW_Z, ROW_U, ROW_A, ROW_I = range(4)
ROWS = 4
STATE_ROWS = {"z": ROW_Z, "u": ROW_U, "a": ROW_A}  # = ref.STATE_NAMES
TAPE_U, TAPE_A, TAPE_I = tape_row(ROW_U), tape_row(ROW_A), tape_row(ROW_I)
CELL_ALPHA, CELL_RHO, CELL_OM_ALPHA, CELL_OM_RHO = range(4)
NCELL = 4
K_THETA0, K_BETA, K_ONE = range(3)
ACC_ALPHA, ACC_RHO = range(2)  # ref.ACC_ROWS
NACC = len(ref.ACC_ROWS)
P_TAU_MEM, P_TAU_ADP = range(2)  # hidden parameters, ref.PARAM_NAMES


def consts_k(spec, dtype) -> np.ndarray:
    return pad_k([ref.THETA0, ref.BETA_ADP, 1.0], dtype)


def pack_cell(c: ref.Consts, dtype) -> np.ndarray:
    return np.ascontiguousarray(np.stack([c.alpha, c.rho, 1.0 - c.alpha, 1.0 - c.rho]).astype(dtype))


@cuda.jit(device=True)
def cell_forward(h, cur, st, H, cell, k):
    """Eqs. (A1)–(A6) for neuron h (row z holds z_{t−1} on entry)."""
    th0 = k[K_THETA0]
    badp = k[K_BETA]
    one = k[K_ONE]
    zero = one - one
    an = st[ROW_A * H + h] * cell[CELL_RHO, h] + st[ROW_Z * H + h] * cell[CELL_OM_RHO, h]  # (A1)
    theta = th0 + an * badp  # (A2)
    ut = st[ROW_U * H + h] * cell[CELL_ALPHA, h] + cur * cell[CELL_OM_ALPHA, h]  # (A3)
    z = one if ut - theta > zero else zero  # (A4)–(A5)
    st[ROW_Z * H + h] = z
    st[ROW_U * H + h] = ut - z * theta  # (A6)
    st[ROW_A * H + h] = an
    st[ROW_I * H + h] = cur
    return z


@cuda.jit(device=True)
def cell_backward(h, t, b, tape, zt, zp, dz, dcar, acc, H, cell, k, kc):
    """VJP of one step for neuron h, eqs. (A7)–(A14); ``zt``, ``zp`` are z_t[h], z_{t−1}[h]."""
    th0 = k[K_THETA0]
    badp = k[K_BETA]
    one = k[K_ONE]
    zero = one - one
    if t > 0:
        u0 = tape[t - 1, b, TAPE_U, h]
        a0 = tape[t - 1, b, TAPE_A, h]
    else:
        u0 = zero
        a0 = zero
    a1 = tape[t, b, TAPE_A, h]
    i1 = tape[t, b, TAPE_I, h]
    alpha = cell[CELL_ALPHA, h]
    rho = cell[CELL_RHO, h]
    theta = th0 + a1 * badp  # (A2)
    sp = dspike((u0 * alpha + i1 * cell[CELL_OM_ALPHA, h]) - theta, kc)  # s = ũ − θ, (A4)
    du1 = dcar[ROW_U * H + h]
    da1 = dcar[ROW_A * H + h]
    dz_tot = dz - du1 * theta  # (A7)
    ds = dz_tot * sp  # (A8)
    du_t = du1 + ds  # (A9)
    dtheta = -du1 * zt - ds  # (A10)
    da_tot = da1 + badp * dtheta  # (A11)
    dcar[ROW_U * H + h] = alpha * du_t  # (A12)
    dcar[ROW_A * H + h] = rho * da_tot  # (A13)
    dcar[ROW_Z * H + h] = cell[CELL_OM_RHO, h] * da_tot
    acc[ACC_ALPHA * H + h] += du_t * (u0 - i1)  # (A14)
    acc[ACC_RHO * H + h] += da_tot * (a0 - zp)
    return cell[CELL_OM_ALPHA, h] * du_t


@cuda.jit(device=True)
def derive(h, P, H, cell, pk):
    """α = exp(−1/|τ_m|), ρ = exp(−1/|τ_a|) and their complements of neuron h (alif.derive)."""
    one = pk[PK_ONE]
    alpha = math.exp(pk[PK_MONE] / abs(P[P_TAU_MEM * H + h]))
    rho = math.exp(pk[PK_MONE] / abs(P[P_TAU_ADP * H + h]))
    cell[CELL_ALPHA, h] = alpha
    cell[CELL_RHO, h] = rho
    cell[CELL_OM_ALPHA, h] = one - alpha
    cell[CELL_OM_RHO, h] = one - rho


@cuda.jit(device=True)
def finish(h, s, P, H, cell, k, G):
    """dτ_m, dτ_a of neuron h from the summed acc rows s: dα/dτ = α/τ²·sign(τ) (A15)."""
    one = k[K_ONE]
    zero = one - one
    tm = P[P_TAU_MEM * H + h]
    ta = P[P_TAU_ADP * H + h]
    G[P_TAU_MEM * H + h] = (s[ACC_ALPHA] * cell[CELL_ALPHA, h]) / (tm * tm) * sign(tm, one, zero)
    G[P_TAU_ADP * H + h] = (s[ACC_RHO] * cell[CELL_RHO, h]) / (ta * ta) * sign(ta, one, zero)
