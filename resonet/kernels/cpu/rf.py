"""RF cell kernels (none/soft/hard reset): one step and its VJP for one sample
(resonet/neurons/rf.py).

Arguments as in every model module of this package (see :mod:`.brf`):
``cell_forward(cur, old, new, cell, k, kc)`` (eqs. (R1)–(R6)) and
``cell_backward(old, new, dz, dnew, dold, dI, acc, cell, k, kc)`` (eqs. (R7)–(R12)), and the
same constants and entry points.

Rows of the state array: ``z, u, v`` (after the reset) and ``ũ, ṽ`` (before it, kept so the
backward step needs no second evaluation of (R2)–(R3)); rows 1..2 are checkpointed. ``cell``
rows: ω, β, −β; ``k``: δ, ϑ, 1, reset (0 none, 1 soft, 2 hard, 3 mod: the soft reset with the
graded spike of eq. (S6), whose values the network templates read, ``kc[KC_GRADED]``).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ...neurons import rf as ref
from ...surrogate import MOD_LEVELS
from . import network
from .config import CACHE, FASTMATH
from .surrogate import dspike, graded_count, surrogate_tuple

ROW_Z, ROW_U, ROW_V, ROW_UT, ROW_VT = range(5)  # ũ, ṽ: before the reset
ROWS = 5
CKPT_ROWS = 2  # u, v
STATE_ROWS = {"z": ROW_Z, "u": ROW_U, "v": ROW_V}  # = ref.STATE_NAMES
CELL_OMEGA, CELL_BETA, CELL_NBETA = range(3)
K_DT, K_THETA, K_ONE, K_RESET = range(4)
ACC_OMEGA, ACC_DB = range(2)  # ref.ACC_ROWS
NACC = len(ref.ACC_ROWS)
READS_Z = False
RESET_CODES = {"none": 0, "soft": 1, "hard": 2, "mod": 3}


def pack(c: ref.Consts, dtype) -> tuple[np.ndarray, np.ndarray]:
    cell = np.stack([c.omega, c.beta, -c.beta]).astype(dtype)
    k = np.array([c.dt, ref.THETA, 1.0, RESET_CODES[c.reset]], dtype=dtype)
    return cell, k


@njit(fastmath=FASTMATH)
def cell_forward(cur, old, new, cell, k, kc):
    """Eqs. (R1)–(R6) for one sample."""
    omega = cell[CELL_OMEGA]
    nbeta = cell[CELL_NBETA]
    dt = k[K_DT]
    theta = k[K_THETA]
    one = k[K_ONE]
    reset = int(k[K_RESET])
    zero = one - one
    u0 = old[ROW_U]
    v0 = old[ROW_V]
    z1 = new[ROW_Z]
    u1 = new[ROW_U]
    v1 = new[ROW_V]
    ut1 = new[ROW_UT]
    vt1 = new[ROW_VT]
    for h in range(cur.shape[0]):
        u = u0[h]
        v = v0[h]
        b = nbeta[h]  # (R1)
        ut = ((u + (b * u) * dt) - (omega[h] * v) * dt) + cur[h] * dt  # (R2)
        vt = (v + (omega[h] * u) * dt) + (b * v) * dt  # (R3)
        if reset == 3:  # (R4)–(R5) with the graded spike (S6)
            z = graded_count(ut, theta, one, zero, MOD_LEVELS)
        else:
            z = one if ut - theta > zero else zero  # (R4)–(R5)
        z1[h] = z
        ut1[h] = ut
        vt1[h] = vt
        if reset == 1 or reset == 3:  # (R6) soft, mod
            u1[h] = ut - z * theta
            v1[h] = vt - z * theta
        elif reset == 2:  # (R6) hard
            u1[h] = (one - z) * ut
            v1[h] = (one - z) * vt
        else:
            u1[h] = ut
            v1[h] = vt


@njit(fastmath=FASTMATH)
def cell_backward(old, new, dz, dnew, dold, dI, acc, cell, k, kc):
    """VJP of one step, eqs. (R7)–(R12), for one sample.

    Through the reset (R7): none: ū_t = ū', v̄_t = v̄', z̄_tot = z̄; soft: ū_t = ū', v̄_t = v̄',
    z̄_tot = z̄ − ϑ(ū' + v̄'); hard: ū_t = (1 − z')ū', v̄_t = (1 − z')v̄',
    z̄_tot = z̄ − ū'ũ' − v̄'ṽ'. Then ū_t += z̄_tot σ'(ũ' − ϑ) (R8), b̄ = δ(ū_t u + v̄_t v) (R9),
    ū = ū_t(1 + δb) + v̄_t δω (R10), v̄ = −ū_t δω + v̄_t(1 + δb) (R11), Ī = δ ū_t,
    acc += (δ(v̄_t u − ū_t v), b̄) (R12).

    One loop per output row, as in :func:`.brf.cell_backward` (a single loop storing 6 rows
    while reading 12 stays scalar), with the reset branch outside the loops. ū_t is kept in
    the z̄ row of ``dold`` (zeroed last) and v̄_t in ``dI`` (overwritten by Ī last); every value
    is the same expression as in the single loop, rounded to the same dtype when stored, so
    the results are bit-identical.
    """
    omega = cell[CELL_OMEGA]
    nbeta = cell[CELL_NBETA]
    dt = k[K_DT]
    theta = k[K_THETA]
    one = k[K_ONE]
    reset = int(k[K_RESET])
    H = dz.shape[0]
    u0 = old[ROW_U]
    v0 = old[ROW_V]
    z1 = new[ROW_Z]
    ut1 = new[ROW_UT]
    vt1 = new[ROW_VT]
    g = surrogate_tuple(kc)
    du1 = dnew[ROW_U]
    dv1 = dnew[ROW_V]
    dz0 = dold[ROW_Z]
    du0 = dold[ROW_U]
    dv0 = dold[ROW_V]
    a_om = acc[ACC_OMEGA]
    a_db = acc[ACC_DB]
    du_t = dz0  # scratch: ū_t of (R8) until it is zeroed at the end
    dv_t = dI  # scratch: v̄_t of (R7) until Ī overwrites it at the end
    if reset == 1:  # (R7) soft; (R8) with s of (R4)
        for h in range(H):
            dv_t[h] = dv1[h]
        for h in range(H):
            du_t[h] = du1[h] + (dz[h] - theta * (du1[h] + dv1[h])) * dspike(ut1[h] - theta, g)
    elif reset == 3:  # (R7) as soft; (R8) with dz/dũ of (S7)
        for h in range(H):
            dv_t[h] = dv1[h]
        # (S7) term pair by term pair over all neurons (each loop vectorises like the binary
        # surrogate's; one loop per neuron over the 2K terms would not), summed per neuron in
        # resonet.surrogate.dgraded's order; ū_t's row holds the sum until (R8) reads it
        for h in range(H):
            du_t[h] = dspike(ut1[h] - theta, g) + dspike(-ut1[h] - theta, g)
        kt = theta
        for _ in range(1, MOD_LEVELS):
            kt = kt + theta
            for h in range(H):
                du_t[h] += dspike(ut1[h] - kt, g) + dspike(-ut1[h] - kt, g)
        for h in range(H):
            du_t[h] = du1[h] + (dz[h] - theta * (du1[h] + dv1[h])) * du_t[h]
    elif reset == 2:  # (R7) hard
        for h in range(H):
            dv_t[h] = (one - z1[h]) * dv1[h]
        for h in range(H):
            dz_tot = dz[h] - du1[h] * ut1[h] - dv1[h] * vt1[h]
            du_t[h] = (one - z1[h]) * du1[h] + dz_tot * dspike(ut1[h] - theta, g)
    else:
        for h in range(H):
            dv_t[h] = dv1[h]
        for h in range(H):
            du_t[h] = du1[h] + dz[h] * dspike(ut1[h] - theta, g)
    for h in range(H):
        du0[h] = du_t[h] * (one + dt * nbeta[h]) + dv_t[h] * (dt * omega[h])  # (R10)
    for h in range(H):
        dv0[h] = -du_t[h] * (dt * omega[h]) + dv_t[h] * (one + dt * nbeta[h])  # (R11)
    for h in range(H):
        a_om[h] += dt * (dv_t[h] * u0[h] - du_t[h] * v0[h])  # (R12)
    for h in range(H):
        a_db[h] += dt * (du_t[h] * u0[h] + dv_t[h] * v0[h])  # (R9), (R12)
    for h in range(H):
        dI[h] = dt * du_t[h]  # overwrites v̄_t, read last above
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
