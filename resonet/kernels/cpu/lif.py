"""LIF cell kernels: one step and its VJP for one sample (resonet/neurons/lif.py).

Arguments as in every model module of this package (see :mod:`.brf`):
``cell_forward(cur, old, new, cell, k, kc)`` (eqs. (F1)–(F5)) and
``cell_backward(old, new, dz, dnew, dold, dI, acc, cell, k, kc)`` (eqs. (F6)–(F9)), and the
same constants and entry points.

Rows of the state array: ``z, u`` and the input current I_t of the step (kept because dα needs
it, (F9)); row 1 is checkpointed. ``cell`` rows: α, 1 − α; ``k``: ϑ, 1, reset (0: the soft
reset (F5); 1: reset-to-mod, the graded spike of eq. (S6), whose values the network templates
read, ``kc[KC_GRADED]``); ``acc`` row Σ ũ̄(u − I).
The surrogate is the linear one of eq. (S4) (surrogate.dspike_linear), as the model declares.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ...neurons import lif as ref
from ...surrogate import MOD_LEVELS
from . import network
from .config import CACHE, FASTMATH
from .surrogate import dgraded_linear, dspike_linear, graded_count

ROW_Z, ROW_U, ROW_I = range(3)
ROWS = 3
CKPT_ROWS = 1  # u
STATE_ROWS = {"z": ROW_Z, "u": ROW_U}  # = ref.STATE_NAMES
CELL_ALPHA, CELL_OM_ALPHA = range(2)  # α, 1 − α
K_THETA, K_ONE, K_RESET = range(3)
RESET_CODES = {"none": 0, "mod": 1}
ACC_ALPHA = 0  # ref.ACC_ROWS
NACC = len(ref.ACC_ROWS)
READS_Z = False


def pack(c: ref.Consts, dtype) -> tuple[np.ndarray, np.ndarray]:
    cell = np.stack([c.alpha, 1.0 - c.alpha]).astype(dtype)
    k = np.array([ref.THETA, 1.0, RESET_CODES[c.reset]], dtype=dtype)
    return cell, k


@njit(fastmath=FASTMATH)
def cell_forward(cur, old, new, cell, k, kc):
    """Eqs. (F2)–(F5) for one sample."""
    alpha = cell[CELL_ALPHA]
    om_alpha = cell[CELL_OM_ALPHA]
    theta = k[K_THETA]
    one = k[K_ONE]
    mod = k[K_RESET] != 0
    zero = one - one
    u0 = old[ROW_U]
    z1 = new[ROW_Z]
    u1 = new[ROW_U]
    i1 = new[ROW_I]
    for h in range(cur.shape[0]):
        ut = u0[h] * alpha[h] + cur[h] * om_alpha[h]  # (F2)
        if mod:  # (F3)–(F4) with the graded spike (S6)
            z = graded_count(ut, theta, one, zero, MOD_LEVELS)
        else:
            z = one if ut - theta > zero else zero  # (F3)–(F4)
        z1[h] = z
        u1[h] = ut - z * theta  # (F5)
        i1[h] = cur[h]


@njit(fastmath=FASTMATH)
def cell_backward(old, new, dz, dnew, dold, dI, acc, cell, k, kc):
    """VJP of one step, eqs. (F6)–(F9), for one sample.

    With ũ = uα + I(1 − α): ũ̄ = ū' + (z̄ − ϑū') σ'(ũ − ϑ) (F6)–(F7), ū = α ũ̄,
    Ī = (1 − α) ũ̄ (F8), acc += ũ̄(u − I) (F9). ũ̄ is kept in the ū row of ``dold`` and scaled in
    place last (one loop per output row, as in :func:`.brf.cell_backward`).
    """
    alpha = cell[CELL_ALPHA]
    om_alpha = cell[CELL_OM_ALPHA]
    theta = k[K_THETA]
    one = k[K_ONE]
    zero = one - one
    H = dz.shape[0]
    u0 = old[ROW_U]
    i1 = new[ROW_I]
    du1 = dnew[ROW_U]
    dz0 = dold[ROW_Z]
    du0 = dold[ROW_U]
    a_al = acc[ACC_ALPHA]
    du_t = du0  # scratch: ũ̄ of (F7) until (F8) scales it in place
    if k[K_RESET] != 0:  # reset-to-mod: dz/dũ of (S7)
        for h in range(H):
            ut = u0[h] * alpha[h] + i1[h] * om_alpha[h]  # (F2)
            du_t[h] = du1[h] + (dz[h] - theta * du1[h]) * dgraded_linear(ut, theta, one, zero,
                                                                         MOD_LEVELS)
    else:
        for h in range(H):
            ut = u0[h] * alpha[h] + i1[h] * om_alpha[h]  # (F2)
            du_t[h] = du1[h] + (dz[h] - theta * du1[h]) * dspike_linear(ut - theta, one, zero)  # (F6)–(F7)
    for h in range(H):
        a_al[h] += du_t[h] * (u0[h] - i1[h])  # (F9)
    for h in range(H):
        dI[h] = om_alpha[h] * du_t[h]  # (F8)
    for h in range(H):
        du0[h] = alpha[h] * du_t[h]  # (F8), in place
    for h in range(H):
        dz0[h] = 0  # the cell does not read z_{t−1}


# ------------------------------------------------------------------- entry points (this model)
@njit(parallel=True, cache=CACHE, fastmath=FASTMATH)
def forward(ev, net, consts, tape, nspk, states):
    """Eqs. (N1)–(N3) for every sample with this cell; see :func:`.network.forward_sample` and,
    for the argument bundles, :func:`resonet.kernels.cpu.backend.kernel_args`."""
    for b in prange(tape[3].shape[0]):
        network.forward_sample(cell_forward, ROWS, b, ev, net, consts, tape, nspk, states)


@njit(parallel=True, cache=CACHE, fastmath=FASTMATH)
def backward(ev, net, consts, tape, grad, nchunk):
    """BPTT, eqs. (N5)–(N9), with this cell, one chunk of the batch per thread; see
    :func:`.network.backward_chunk`. Returns the per-chunk buffers (summed by the caller; the
    recompute check summed: the number of recomputed steps whose spikes differ from the
    forward's, must be 0)."""
    buffers = network.gradient_buffers(nchunk, net[0], grad[1], tape[3], NACC)
    for c in prange(nchunk):
        network.backward_chunk(cell_forward, cell_backward, ROWS, READS_Z, c, nchunk, ev, net,
                               consts, tape, grad, buffers)
    dw_inT, gcat, acc, dao, bad, db, dbo = buffers
    return dw_inT, gcat, acc, dao, bad.sum(), db, dbo
