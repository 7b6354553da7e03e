"""LIF on the device: one step of neuron h and its VJP (resonet/neurons/lif.py, eqs. (F1)–(F10)).

The CUDA twin of resonet/kernels/cpu/lif.py; the contract of the names is in :mod:`.common`.
State rows z, u and the step's input current I (for dα, (F9)); ``cell`` rows α, 1 − α; ``k``:
ϑ, 1, reset (0: the soft reset (F5); 1: reset-to-mod, the graded spike of eq. (S6)); ``acc``
row Σ ũ̄(u − I) (the model's ACC_ROWS). The surrogate is the linear one (S4).
"""

from __future__ import annotations

import math

import numpy as np
from numba import cuda

from ...neurons import lif as ref
from ...surrogate import MOD_LEVELS
from .common import PK_MONE, PK_ONE, dgraded_linear, dspike_linear, graded_count, pad_k, sign, tape_row

ROW_Z, ROW_U, ROW_I = range(3)
ROWS = 3
STATE_ROWS = {"z": ROW_Z, "u": ROW_U}  # = ref.STATE_NAMES
TAPE_U, TAPE_I = tape_row(ROW_U), tape_row(ROW_I)
CELL_ALPHA, CELL_OM_ALPHA = range(2)
NCELL = 2
K_THETA, K_ONE, K_RESET = range(3)
RESET_CODES = {"none": 0, "mod": 1}
ACC_ALPHA = 0  # ref.ACC_ROWS
NACC = len(ref.ACC_ROWS)
P_TAU_MEM = 0  # hidden parameters, ref.PARAM_NAMES


def consts_k(spec, dtype) -> np.ndarray:
    return pad_k([ref.THETA, 1.0, RESET_CODES[spec.reset]], dtype)


def pack_cell(c: ref.Consts, dtype) -> np.ndarray:
    return np.ascontiguousarray(np.stack([c.alpha, 1.0 - c.alpha]).astype(dtype))


@cuda.jit(device=True)
def cell_forward(h, cur, st, H, cell, k):
    """Eqs. (F2)–(F5) for neuron h."""
    theta = k[K_THETA]
    one = k[K_ONE]
    zero = one - one
    ut = st[ROW_U * H + h] * cell[CELL_ALPHA, h] + cur * cell[CELL_OM_ALPHA, h]  # (F2)
    if k[K_RESET] != zero:  # (F3)–(F4) with the graded spike (S6)
        z = graded_count(ut, theta, one, zero, MOD_LEVELS)
    else:
        z = one if ut - theta > zero else zero  # (F3)–(F4)
    st[ROW_Z * H + h] = z
    st[ROW_U * H + h] = ut - z * theta  # (F5)
    st[ROW_I * H + h] = cur
    return z


@cuda.jit(device=True)
def cell_backward(h, t, b, tape, zt, zp, dz, dcar, acc, H, cell, k, kc):
    """VJP of one step for neuron h, eqs. (F6)–(F9)."""
    theta = k[K_THETA]
    one = k[K_ONE]
    zero = one - one
    u0 = tape[t - 1, b, TAPE_U, h] if t > 0 else zero
    i1 = tape[t, b, TAPE_I, h]
    alpha = cell[CELL_ALPHA, h]
    ut = u0 * alpha + i1 * cell[CELL_OM_ALPHA, h]  # (F2)
    du1 = dcar[ROW_U * H + h]
    if k[K_RESET] != zero:  # dz/dũ of (S7)
        sp = dgraded_linear(ut, theta, kc, MOD_LEVELS)
    else:
        sp = dspike_linear(ut - theta, kc)
    du_t = du1 + (dz - theta * du1) * sp  # (F6)–(F7)
    dcar[ROW_Z * H + h] = zero  # the cell does not read z_{t−1}
    dcar[ROW_U * H + h] = alpha * du_t  # (F8)
    acc[ACC_ALPHA * H + h] += du_t * (u0 - i1)  # (F9)
    return cell[CELL_OM_ALPHA, h] * du_t


@cuda.jit(device=True)
def derive(h, P, H, cell, pk):
    """α = exp(−1/|τ_m|) and 1 − α of neuron h (lif.derive, (F1))."""
    alpha = math.exp(pk[PK_MONE] / abs(P[P_TAU_MEM * H + h]))
    cell[CELL_ALPHA, h] = alpha
    cell[CELL_OM_ALPHA, h] = pk[PK_ONE] - alpha


@cuda.jit(device=True)
def finish(h, s, P, H, cell, k, G):
    """dτ_m of neuron h from the summed acc row: dα/dτ = α/τ²·sign(τ) (F10)."""
    one = k[K_ONE]
    zero = one - one
    tm = P[P_TAU_MEM * H + h]
    G[P_TAU_MEM * H + h] = (s[ACC_ALPHA] * cell[CELL_ALPHA, h]) / (tm * tm) * sign(tm, one, zero)
