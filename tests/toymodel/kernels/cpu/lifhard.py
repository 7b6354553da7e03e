"""LIF-hard on the CPU: one step of one sample and its VJP (toymodel/neurons/lifhard.py), and the
model's compiled entry points (the contract: resonet.kernels.contract.CpuKernels).

State rows z, u and the step's input current I (dᾱ needs it, (K8)); ``cell`` rows α, 1 − α;
``k``: ϑ, 1; ``acc`` row Σ ũ̄(u − I).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from resonet.kernels.cpu import network
from resonet.kernels.cpu.config import FASTMATH
from resonet.kernels.cpu.surrogate import dspike, surrogate_tuple

from ...neurons import lifhard as ref

ROW_Z, ROW_U, ROW_I = range(3)
ROWS = 3
CKPT_ROWS = 1  # u
STATE_ROWS = {"z": ROW_Z, "u": ROW_U}
CELL_ALPHA, CELL_OM_ALPHA = range(2)
K_THETA, K_ONE = range(2)
ACC_ALPHA = 0
NACC = len(ref.ACC_ROWS)
READS_Z = False


def pack(c: ref.Consts, dtype) -> tuple[np.ndarray, np.ndarray]:
    cell = np.stack([c.alpha, 1.0 - c.alpha]).astype(dtype)
    k = np.array([ref.THETA, 1.0], dtype=dtype)
    return cell, k


@njit(fastmath=FASTMATH)
def cell_forward(cur, old, new, cell, k, kc):
    alpha = cell[CELL_ALPHA]
    om_alpha = cell[CELL_OM_ALPHA]
    theta = k[K_THETA]
    one = k[K_ONE]
    zero = one - one
    u0 = old[ROW_U]
    for h in range(cur.shape[0]):
        ut = u0[h] * alpha[h] + cur[h] * om_alpha[h]  # (K1)
        z = one if ut - theta > zero else zero  # (K2)–(K3)
        new[ROW_Z, h] = z
        new[ROW_U, h] = (one - z) * ut  # (K4)
        new[ROW_I, h] = cur[h]


@njit(fastmath=FASTMATH)
def cell_backward(old, new, dz, dnew, dold, dI, acc, cell, k, kc):
    alpha = cell[CELL_ALPHA]
    om_alpha = cell[CELL_OM_ALPHA]
    theta = k[K_THETA]
    one = k[K_ONE]
    g = surrogate_tuple(kc)
    u0 = old[ROW_U]
    for h in range(dz.shape[0]):
        i1 = new[ROW_I, h]
        ut = u0[h] * alpha[h] + i1 * om_alpha[h]  # (K1)
        z = new[ROW_Z, h]
        du1 = dnew[ROW_U, h]
        du_t = (one - z) * du1 + (dz[h] - du1 * ut) * dspike(ut - theta, g)  # (K5)–(K6)
        acc[ACC_ALPHA, h] += du_t * (u0[h] - i1)  # (K8)
        dI[h] = om_alpha[h] * du_t  # (K7)
        dold[ROW_U, h] = alpha[h] * du_t
        dold[ROW_Z, h] = 0  # the cell does not read z_{t−1}


@njit(parallel=True, fastmath=FASTMATH)
def forward(ev, net, consts, tape, nspk, states):
    w_inT, w_recT, w_oT, a_o, b_o = net
    cell, k, kc = consts
    K, zbits, ckpt, O = tape
    for b in prange(O.shape[0]):
        network.forward_sample(cell_forward, ROWS, b, ev, w_inT, w_recT, w_oT, a_o, b_o, cell, k,
                               kc, K, zbits, ckpt, O, nspk, states)


@njit(parallel=True, fastmath=FASTMATH)
def backward(ev, net, consts, tape, grad, nchunk):
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
