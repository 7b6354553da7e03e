"""BRF cell kernels: one step forward and its VJP for one sample (resonet/neurons/brf.py).

Same arguments, in the same order, in every model module of this package:

- ``cell_forward(cur, old, new, cell, k, kc)``: eqs. (B2)–(B7). ``cur`` (H,) is I_t; ``old``
  and ``new`` (ROWS, H) are the state before and after the step, row 0 the spike z (0/1).
- ``cell_backward(old, new, dz, dnew, dold, dI, acc, cell, k, kc)``: eqs. (B8)–(B15). ``dz``
  (H,) is z̄_t from the readout and the next step's recurrent current (N6); ``dnew`` (ROWS, H)
  holds the adjoints of the state components of ``new`` coming from step t+1, ``dold``
  receives those of ``old``; ``dI`` receives Ī_t; ``acc`` (NACC, H) accumulates the per-neuron
  sums of (B15) (the model's ACC_ROWS). ``kc`` holds the common constants
  (resonet.kernels.cpu.surrogate), here the surrogate's.

and the same constants: ``ROWS``/``ROW_*`` (the state array, row 0 the spike z; rows 1 …
CKPT_ROWS are the continuous state kept at checkpoints), ``STATE_ROWS`` (reference state name →
row), ``CELL_*`` (rows of ``cell``, per-neuron constants from the reference's ``derive``), ``K_*``
(entries of ``k``), ``ACC_*``, ``NACC``, ``READS_Z`` (the cell reads z_{t−1}), ``pack``, and the
entry points ``forward``/``backward`` (:mod:`.network`).

Here: state rows z, u, v, q (= STATE_NAMES of the reference); ``cell`` rows ω, β, p(ω), p'(ω);
``k``: δ, ϑ, 0.9, 1, κ_d, κ_r, κ_s (the ablation factors of (B2)/(B5), 1 for BRF itself);
``acc`` rows Σ δ(v̄'u − ū_tot v), Σ b̄.

The arithmetic is written in the reference's association order and fastmath is off, so float64
states agree with the reference to the rounding of I_t (docs/official-code.md §1). The surrogate's
exp is the kernels' own vectorisable one (surrogate.exp_neg, ≤ 1 ulp from np.exp in float64).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ...neurons import brf as ref
from . import network
from .config import CACHE, FASTMATH
from .surrogate import dspike, surrogate_tuple

ROW_Z, ROW_U, ROW_V, ROW_Q = range(4)
ROWS = 4  # rows of the state array
CKPT_ROWS = 3  # u, v, q
STATE_ROWS = {"z": ROW_Z, "u": ROW_U, "v": ROW_V, "q": ROW_Q}  # = ref.STATE_NAMES
CELL_OMEGA, CELL_BETA, CELL_P, CELL_DP = range(4)
K_DT, K_THETA, K_QDEC, K_ONE, K_KD, K_KR, K_KS = range(7)
ACC_OMEGA, ACC_DB = range(2)  # ref.ACC_ROWS
NACC = len(ref.ACC_ROWS)
READS_Z = False


def pack(c: ref.Consts, dtype) -> tuple[np.ndarray, np.ndarray]:
    """(cell, k) arrays in ``dtype`` from the reference's derived constants."""
    cell = np.stack([c.omega, c.beta, c.p, c.dp]).astype(dtype)
    k = np.array([c.dt, ref.THETA, ref.Q_DECAY, 1.0, c.kd, c.kr, c.ks], dtype=dtype)
    return cell, k


@njit(fastmath=FASTMATH)
def cell_forward(cur, old, new, cell, k, kc):
    """Eqs. (B2)–(B7) for one sample."""
    omega = cell[CELL_OMEGA]
    beta = cell[CELL_BETA]
    p = cell[CELL_P]
    dt = k[K_DT]
    theta = k[K_THETA]
    qdec = k[K_QDEC]
    one = k[K_ONE]
    kd = k[K_KD]
    kr = k[K_KR]
    ks = k[K_KS]
    zero = one - one
    u0 = old[ROW_U]
    v0 = old[ROW_V]
    q0 = old[ROW_Q]
    z1 = new[ROW_Z]
    u1 = new[ROW_U]
    v1 = new[ROW_V]
    q1 = new[ROW_Q]
    for h in range(cur.shape[0]):
        u = u0[h]
        v = v0[h]
        q = q0[h]
        b = (kd * p[h] - beta[h]) - ks * q  # (B2)
        un = ((u + (b * u) * dt) - (omega[h] * v) * dt) + cur[h] * dt  # (B3)
        vn = (v + (omega[h] * u) * dt) + (b * v) * dt  # (B4)
        s = (un - theta) - kr * q  # (B5)
        z = one if s > zero else zero  # (B6)
        z1[h] = z
        u1[h] = un
        v1[h] = vn
        q1[h] = q * qdec + z  # (B7)


@njit(fastmath=FASTMATH)
def cell_backward(old, new, dz, dnew, dold, dI, acc, cell, k, kc):
    """VJP of one step, eqs. (B8)–(B15), for one sample.

    With b = (κ_d p − β) − κ_s q and s = (u' − ϑ) − κ_r q:
    ds = (z̄ + q̄') σ'(s) (B8)–(B9), ū_tot = ū' + ds (B10), b̄ = δ(ū_tot u + v̄' v) (B11),
    ū = ū_tot(1 + δb) + v̄' δω (B12), v̄ = −ū_tot δω + v̄'(1 + δb) (B13),
    q̄ = 0.9 q̄' − κ_r ds − κ_s b̄ (B14), Ī = δ ū_tot, acc += (δ(v̄' u − ū_tot v), b̄) (B15).

    Written as one loop per output row rather than one loop over h: LLVM vectorises a loop over
    these many array views only after run-time overlap checks between every stored array and
    every other one, and it gives up when there are more than a handful (one loop storing 7
    rows while reading 12 stayed scalar: 0.8 µs per 256 neurons in float32; split: 0.52 µs).
    ds and ū_tot are kept in the rows of q̄ and z̄ of ``dold`` (overwritten last), so no scratch
    is needed. Every value is the same expression as in the single loop, rounded to the same
    dtype when stored, so the results are bit-identical.
    """
    omega = cell[CELL_OMEGA]
    beta = cell[CELL_BETA]
    p = cell[CELL_P]
    dt = k[K_DT]
    theta = k[K_THETA]
    qdec = k[K_QDEC]
    one = k[K_ONE]
    kd = k[K_KD]
    kr = k[K_KR]
    ks = k[K_KS]
    H = dz.shape[0]
    u0 = old[ROW_U]
    v0 = old[ROW_V]
    q0 = old[ROW_Q]
    u1 = new[ROW_U]
    g = surrogate_tuple(kc)
    du1 = dnew[ROW_U]
    dv1 = dnew[ROW_V]
    dq1 = dnew[ROW_Q]
    dz0 = dold[ROW_Z]
    du0 = dold[ROW_U]
    dv0 = dold[ROW_V]
    dq0 = dold[ROW_Q]
    a_om = acc[ACC_OMEGA]
    a_db = acc[ACC_DB]
    # b and b̄ are recomputed in each loop that needs them: keeping them in a scratch row
    # measured no faster (docs/cpu-kernels.md, "Things tried and dropped").
    ds = dq0  # scratch: ds of (B9) until (B14) overwrites it
    du_tot = dz0  # scratch: ū_tot of (B10) until it is zeroed at the end
    for h in range(H):
        s = (u1[h] - theta) - kr * q0[h]  # (B5)
        ds[h] = (dz[h] + dq1[h]) * dspike(s, g)  # (B8)–(B9), σ'(s) of (S2)
    for h in range(H):
        du_tot[h] = du1[h] + ds[h]  # (B10)
    for h in range(H):
        b = (kd * p[h] - beta[h]) - ks * q0[h]
        du0[h] = du_tot[h] * (one + dt * b) + dv1[h] * (dt * omega[h])  # (B12)
    for h in range(H):
        b = (kd * p[h] - beta[h]) - ks * q0[h]
        dv0[h] = -du_tot[h] * (dt * omega[h]) + dv1[h] * (one + dt * b)  # (B13)
    for h in range(H):
        a_db[h] += dt * (du_tot[h] * u0[h] + dv1[h] * v0[h])  # (B11), (B15)
    for h in range(H):
        db = dt * (du_tot[h] * u0[h] + dv1[h] * v0[h])  # (B11)
        dq0[h] = qdec * dq1[h] - kr * ds[h] - ks * db  # (B14)
    for h in range(H):
        a_om[h] += dt * (dv1[h] * u0[h] - du_tot[h] * v0[h])  # (B15), p'(ω) term in finish()
    for h in range(H):
        dI[h] = dt * du_tot[h]
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
