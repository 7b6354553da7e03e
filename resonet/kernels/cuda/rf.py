"""RF (none/soft/hard reset) on the device: one step of neuron h and its VJP
(resonet/neurons/rf.py, eqs. (R1)–(R12)).

The CUDA twin of resonet/kernels/cpu/rf.py; the contract of the names is in :mod:`.common`.
State rows z, u, v (after the reset), ũ, ṽ (before it); ``cell`` rows ω, β, −β; ``k``: δ, ϑ, 1,
reset (0 none, 1 soft, 2 hard, 3 mod: soft with the graded spike of eq. (S6)); ``acc`` rows
Σ δ(v̄_t u − ū_t v), Σ b̄ (the model's ACC_ROWS).
"""

from __future__ import annotations

import numpy as np
from numba import cuda

from ...neurons import rf as ref
from ...surrogate import MOD_LEVELS
from .common import dgraded, dspike, graded_count, pad_k, sign, tape_row

ROW_Z, ROW_U, ROW_V, ROW_UT, ROW_VT = range(5)
ROWS = 5
STATE_ROWS = {"z": ROW_Z, "u": ROW_U, "v": ROW_V}  # = ref.STATE_NAMES
TAPE_U, TAPE_V, TAPE_UT, TAPE_VT = (tape_row(ROW_U), tape_row(ROW_V), tape_row(ROW_UT),
                                    tape_row(ROW_VT))
CELL_OMEGA, CELL_BETA, CELL_NBETA = range(3)
NCELL = 3
K_DT, K_THETA, K_ONE, K_RESET = range(4)
RESET_CODES = {"none": 0, "soft": 1, "hard": 2, "mod": 3}
ACC_OMEGA, ACC_DB = range(2)  # ref.ACC_ROWS
NACC = len(ref.ACC_ROWS)
P_OMEGA, P_BOFF = range(2)  # hidden parameters, ref.PARAM_NAMES


def consts_k(spec, dtype) -> np.ndarray:
    return pad_k([spec.dt, ref.THETA, 1.0, RESET_CODES[spec.reset]], dtype)


def pack_cell(c: ref.Consts, dtype) -> np.ndarray:
    return np.ascontiguousarray(np.stack([c.omega, c.beta, -c.beta]).astype(dtype))


@cuda.jit(device=True)
def cell_forward(h, cur, st, H, cell, k):
    """Eqs. (R1)–(R6) for neuron h."""
    dt = k[K_DT]
    theta = k[K_THETA]
    one = k[K_ONE]
    reset = k[K_RESET]
    zero = one - one
    u = st[ROW_U * H + h]
    v = st[ROW_V * H + h]
    omega = cell[CELL_OMEGA, h]
    b = cell[CELL_NBETA, h]  # (R1) b = −β
    ut = ((u + (b * u) * dt) - (omega * v) * dt) + cur * dt  # (R2)
    vt = (v + (omega * u) * dt) + (b * v) * dt  # (R3)
    two = one + one
    if reset > two:  # (R4)–(R5) with the graded spike (S6)
        z = graded_count(ut, theta, one, zero, MOD_LEVELS)
    else:
        z = one if ut - theta > zero else zero  # (R4)–(R5)
    st[ROW_Z * H + h] = z
    st[ROW_UT * H + h] = ut
    st[ROW_VT * H + h] = vt
    if reset == one or reset > two:  # (R6) soft, mod
        st[ROW_U * H + h] = ut - z * theta
        st[ROW_V * H + h] = vt - z * theta
    elif reset == two:  # (R6) hard
        st[ROW_U * H + h] = (one - z) * ut
        st[ROW_V * H + h] = (one - z) * vt
    else:
        st[ROW_U * H + h] = ut
        st[ROW_V * H + h] = vt
    return z


@cuda.jit(device=True)
def cell_backward(h, t, b, tape, zt, zp, dz, dcar, acc, H, cell, k, kc):
    """VJP of one step for neuron h, eqs. (R7)–(R12); ``zt`` is z_t[h]."""
    dt = k[K_DT]
    theta = k[K_THETA]
    one = k[K_ONE]
    reset = k[K_RESET]
    zero = one - one
    if t > 0:
        u = tape[t - 1, b, TAPE_U, h]
        v = tape[t - 1, b, TAPE_V, h]
    else:
        u = zero
        v = zero
    ut = tape[t, b, TAPE_UT, h]
    vt = tape[t, b, TAPE_VT, h]
    two = one + one
    if reset > two:  # dz/dũ of (S7)
        sp = dgraded(ut, theta, kc, MOD_LEVELS)
    else:
        sp = dspike(ut - theta, kc)  # (R4)
    du1 = dcar[ROW_U * H + h]
    dv1 = dcar[ROW_V * H + h]
    if reset == one or reset > two:  # (R7) soft, mod
        du_t = du1
        dv_t = dv1
        dz_tot = dz - theta * (du1 + dv1)
    elif reset == two:  # (R7) hard
        du_t = (one - zt) * du1
        dv_t = (one - zt) * dv1
        dz_tot = dz - du1 * ut - dv1 * vt
    else:
        du_t = du1
        dv_t = dv1
        dz_tot = dz
    du_t = du_t + dz_tot * sp  # (R8)
    bb = cell[CELL_NBETA, h]
    db = dt * (du_t * u + dv_t * v)  # (R9)
    dom = dt * cell[CELL_OMEGA, h]
    dcar[ROW_Z * H + h] = zero
    dcar[ROW_U * H + h] = du_t * (one + dt * bb) + dv_t * dom  # (R10)
    dcar[ROW_V * H + h] = -du_t * dom + dv_t * (one + dt * bb)  # (R11)
    acc[ACC_OMEGA * H + h] += dt * (dv_t * u - du_t * v)  # (R12)
    acc[ACC_DB * H + h] += db
    return dt * du_t


@cuda.jit(device=True)
def derive(h, P, H, cell, pk):
    """ω, β, −β of neuron h (rf.derive)."""
    beta = abs(P[P_BOFF * H + h])
    cell[CELL_OMEGA, h] = abs(P[P_OMEGA * H + h])
    cell[CELL_BETA, h] = beta
    cell[CELL_NBETA, h] = -beta


@cuda.jit(device=True)
def finish(h, s, P, H, cell, k, G):
    """dω_raw, db'_raw of neuron h from the summed acc rows s (rf.finish, (R12))."""
    one = k[K_ONE]
    zero = one - one
    G[P_OMEGA * H + h] = s[ACC_OMEGA] * sign(P[P_OMEGA * H + h], one, zero)
    G[P_BOFF * H + h] = (-s[ACC_DB]) * sign(P[P_BOFF * H + h], one, zero)
