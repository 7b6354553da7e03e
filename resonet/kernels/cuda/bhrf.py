"""BHRF on the device: one step of neuron h and its VJP (resonet/neurons/bhrf.py, eqs. (H1)–(H14)).

The CUDA twin of resonet/kernels/cpu/bhrf.py; the contract of the names is in :mod:`.common`.
State rows z, u, v, q; ``cell`` rows ω, ω², β; ``k``: δ, ϑ, 0.9, 1, 0.005, 2δ, −2δ; ``acc`` rows
Σ b̄, Σ v'·ū_tot (the model's ACC_ROWS).
"""

from __future__ import annotations

import numpy as np
from numba import cuda

from ...neurons import bhrf as ref
from .common import dspike, pad_k, sign, tape_row

ROW_Z, ROW_U, ROW_V, ROW_Q = range(4)
ROWS = 4
STATE_ROWS = {"z": ROW_Z, "u": ROW_U, "v": ROW_V, "q": ROW_Q}  # = ref.STATE_NAMES
TAPE_U, TAPE_V, TAPE_Q = tape_row(ROW_U), tape_row(ROW_V), tape_row(ROW_Q)
CELL_OMEGA, CELL_OMEGA2, CELL_BETA = range(3)
NCELL = 3
K_DT, K_THETA, K_QDEC, K_ONE, K_P, K_2DT, K_M2DT = range(7)
ACC_DB, ACC_VU = range(2)  # ref.ACC_ROWS
NACC = len(ref.ACC_ROWS)
P_OMEGA, P_BOFF = range(2)  # hidden parameters, ref.PARAM_NAMES


def consts_k(spec, dtype) -> np.ndarray:
    dt = spec.dt
    return pad_k([dt, ref.THETA, ref.Q_DECAY, 1.0, ref.P_COEF, 2.0 * dt, -2.0 * dt], dtype)


def pack_cell(c: ref.Consts, dtype) -> np.ndarray:
    return np.ascontiguousarray(np.stack([c.omega, c.omega2, c.beta]).astype(dtype))


@cuda.jit(device=True)
def cell_forward(h, cur, st, H, cell, k):
    """Eqs. (H1)–(H6) for neuron h."""
    dt = k[K_DT]
    one = k[K_ONE]
    zero = one - one
    u = st[ROW_U * H + h]
    q = st[ROW_Q * H + h]
    om2 = cell[CELL_OMEGA2, h]
    b = (om2 * k[K_P] + cell[CELL_BETA, h]) + q  # (H1)
    vn = st[ROW_V * H + h] + u * dt  # (H2)
    un = ((u + cur * dt) - (b * u) * k[K_2DT]) - (om2 * vn) * dt  # (H3)
    s = (un - k[K_THETA]) - q  # (H4)
    z = one if s > zero else zero  # (H5)
    st[ROW_Z * H + h] = z
    st[ROW_U * H + h] = un
    st[ROW_V * H + h] = vn
    st[ROW_Q * H + h] = q * k[K_QDEC] + z  # (H6)
    return z


@cuda.jit(device=True)
def cell_backward(h, t, b, tape, zt, zp, dz, dcar, acc, H, cell, k, kc):
    """VJP of one step for neuron h, eqs. (H7)–(H14)."""
    dt = k[K_DT]
    one = k[K_ONE]
    zero = one - one
    if t > 0:
        u = tape[t - 1, b, TAPE_U, h]
        q = tape[t - 1, b, TAPE_Q, h]
    else:
        u = zero
        q = zero
    un = tape[t, b, TAPE_U, h]
    vn = tape[t, b, TAPE_V, h]
    om2 = cell[CELL_OMEGA2, h]
    bb = (om2 * k[K_P] + cell[CELL_BETA, h]) + q
    sp = dspike((un - k[K_THETA]) - q, kc)  # (H4)
    du1 = dcar[ROW_U * H + h]
    dv1 = dcar[ROW_V * H + h]
    dq1 = dcar[ROW_Q * H + h]
    ds = (dz + dq1) * sp  # (H7)
    du_tot = du1 + ds  # (H8)
    dv_tot = dv1 - (dt * om2) * du_tot  # (H9)
    db = k[K_M2DT] * u * du_tot  # (H10)
    dcar[ROW_Z * H + h] = zero
    dcar[ROW_U * H + h] = du_tot * (one - k[K_2DT] * bb) + dt * dv_tot  # (H11)
    dcar[ROW_V * H + h] = dv_tot  # (H12)
    dcar[ROW_Q * H + h] = k[K_QDEC] * dq1 - ds + db  # (H13)
    acc[ACC_DB * H + h] += db  # (H14)
    acc[ACC_VU * H + h] += vn * du_tot
    return dt * du_tot


@cuda.jit(device=True)
def derive(h, P, H, cell, pk):
    """ω, ω², β of neuron h (bhrf.derive)."""
    omega = abs(P[P_OMEGA * H + h])
    cell[CELL_OMEGA, h] = omega
    cell[CELL_OMEGA2, h] = omega * omega
    cell[CELL_BETA, h] = abs(P[P_BOFF * H + h])


@cuda.jit(device=True)
def finish(h, s, P, H, cell, k, G):
    """dω_raw, db'_raw of neuron h from the summed acc rows s (bhrf.finish, (H14))."""
    one = k[K_ONE]
    zero = one - one
    two_p = k[K_P] + k[K_P]  # 2·0.005 (exact)
    omega = cell[CELL_OMEGA, h]
    dom = (two_p * omega) * s[ACC_DB] - (k[K_2DT] * omega) * s[ACC_VU]
    G[P_OMEGA * H + h] = dom * sign(P[P_OMEGA * H + h], one, zero)
    G[P_BOFF * H + h] = s[ACC_DB] * sign(P[P_BOFF * H + h], one, zero)
