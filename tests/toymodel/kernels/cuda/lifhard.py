"""LIF-hard on the device: one step of neuron h and its VJP (toymodel/neurons/lifhard.py; the
contract: resonet.kernels.contract.CudaKernels, the conventions: resonet.kernels.cuda.common).

State rows z, u and the step's input current I; ``cell`` rows α, 1 − α; ``k``: ϑ, 1; ``acc``
row Σ ũ̄(u − I).
"""

from __future__ import annotations

import math

import numpy as np
from numba import cuda

from resonet.kernels.cuda.common import PK_MONE, PK_ONE, dspike, pad_k, sign, tape_row

from ...neurons import lifhard as ref

ROW_Z, ROW_U, ROW_I = range(3)
ROWS = 3
STATE_ROWS = {"z": ROW_Z, "u": ROW_U}
TAPE_U, TAPE_I = tape_row(ROW_U), tape_row(ROW_I)
CELL_ALPHA, CELL_OM_ALPHA = range(2)
NCELL = 2
K_THETA, K_ONE = range(2)
ACC_ALPHA = 0
NACC = len(ref.ACC_ROWS)
P_TAU = 0  # hidden parameter 0: tau


def consts_k(spec, dtype) -> np.ndarray:
    return pad_k([ref.THETA, 1.0], dtype)


def pack_cell(c: ref.Consts, dtype) -> np.ndarray:
    return np.ascontiguousarray(np.stack([c.alpha, 1.0 - c.alpha]).astype(dtype))


@cuda.jit(device=True)
def cell_forward(h, cur, st, H, cell, k):
    theta = k[K_THETA]
    one = k[K_ONE]
    zero = one - one
    ut = st[ROW_U * H + h] * cell[CELL_ALPHA, h] + cur * cell[CELL_OM_ALPHA, h]  # (K1)
    z = one if ut - theta > zero else zero  # (K2)–(K3)
    st[ROW_Z * H + h] = z
    st[ROW_U * H + h] = (one - z) * ut  # (K4)
    st[ROW_I * H + h] = cur
    return z


@cuda.jit(device=True)
def cell_backward(h, t, b, tape, zt, zp, dz, dcar, acc, H, cell, k, kc):
    theta = k[K_THETA]
    one = k[K_ONE]
    zero = one - one
    u0 = tape[t - 1, b, TAPE_U, h] if t > 0 else zero
    i1 = tape[t, b, TAPE_I, h]
    alpha = cell[CELL_ALPHA, h]
    ut = u0 * alpha + i1 * cell[CELL_OM_ALPHA, h]  # (K1)
    du1 = dcar[ROW_U * H + h]
    du_t = (one - zt) * du1 + (dz - du1 * ut) * dspike(ut - theta, kc)  # (K5)–(K6)
    dcar[ROW_Z * H + h] = zero  # the cell does not read z_{t−1}
    dcar[ROW_U * H + h] = alpha * du_t  # (K7)
    acc[ACC_ALPHA * H + h] += du_t * (u0 - i1)  # (K8)
    return cell[CELL_OM_ALPHA, h] * du_t


@cuda.jit(device=True)
def derive(h, P, H, cell, pk):
    alpha = math.exp(pk[PK_MONE] / abs(P[P_TAU * H + h]))
    cell[CELL_ALPHA, h] = alpha
    cell[CELL_OM_ALPHA, h] = pk[PK_ONE] - alpha


@cuda.jit(device=True)
def finish(h, s, P, H, cell, k, G):
    one = k[K_ONE]
    zero = one - one
    tau = P[P_TAU * H + h]
    G[P_TAU * H + h] = (s[ACC_ALPHA] * cell[CELL_ALPHA, h]) / (tau * tau) * sign(tau, one, zero)
