"""BRF cell kernels: one step forward and its VJP for one sample (resonet/neurons/brf.py).

Same arguments, in the same order, in every model module of this package:

- ``cell_forward(cur, old, new, cell, k, kc)``: eqs. (B2)–(B7). ``cur`` (H,) is I_t; ``old``
  and ``new`` (ROWS, H) are the state before and after the step, row 0 the spike z (0/1).
- ``cell_backward(old, new, dz, dn, dp, dI, acc, cell, k, kc)``: eqs. (B8)–(B15). ``dz`` (H,)
  is z̄_t from the readout and the next step's recurrent current (N6); ``dn`` (ROWS, H) holds
  the adjoints of the state components of ``new`` coming from step t+1, ``dp`` receives those
  of ``old``; ``dI`` receives Ī_t; ``acc`` (2, H) accumulates the per-neuron sums of (B15).
  ``kc`` holds the common constants (resonet.kernels.cpu.common), here the surrogate's.

Rows of the state array: ``z, u, v, q`` (= STATE_NAMES of the reference); rows 1..3 are the
continuous state kept at checkpoints. ``cell`` rows: ω, β, p(ω), p'(ω) (from
``resonet.neurons.brf.derive``); ``k``: δ, ϑ, 0.9, 1.

The arithmetic is written in the reference's association order and fastmath is off, so float64
states agree with the reference to the rounding of I_t (reference-spec §0.1). The surrogate's
exp is the kernels' own vectorisable one (common.exp_neg, ≤ 1 ulp from np.exp in float64).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ...neurons import brf as ref
from .common import dspike, surrogate_tuple
from .config import FASTMATH

STATE_NAMES = ref.STATE_NAMES  # z, u, v, q
ROWS = 4  # rows of the state array
CKPT_ROWS = 3  # u, v, q
K_DT, K_THETA, K_QDEC, K_ONE = range(4)


def pack(c: ref.Consts, dtype) -> tuple[np.ndarray, np.ndarray]:
    """(cell, k) arrays in ``dtype`` from the reference's derived constants."""
    cell = np.stack([c.omega, c.beta, c.p, c.dp]).astype(dtype)
    k = np.array([c.dt, ref.THETA, ref.Q_DECAY, 1.0], dtype=dtype)
    return cell, k


def finish(params: dict, c: ref.Consts, acc: np.ndarray) -> dict:
    """Raw-parameter gradients from the accumulated sums (eqs. (B15)–(B16)).

    ``acc[0]`` = Σ δ(v̄'u − ū'_tot v), ``acc[1]`` = Σ b̄ (over batch and time).
    """
    dc = {"omega": acc[0] + c.dp * acc[1], "beta": -acc[1]}
    return ref.raw_grads(params, dc)


@njit(fastmath=FASTMATH)
def cell_forward(cur, old, new, cell, k, kc):
    """Eqs. (B2)–(B7) for one sample."""
    omega = cell[0]
    beta = cell[1]
    p = cell[2]
    dt = k[K_DT]
    theta = k[K_THETA]
    qdec = k[K_QDEC]
    one = k[K_ONE]
    zero = one - one
    u0 = old[1]
    v0 = old[2]
    q0 = old[3]
    z1 = new[0]
    u1 = new[1]
    v1 = new[2]
    q1 = new[3]
    for h in range(cur.shape[0]):
        u = u0[h]
        v = v0[h]
        q = q0[h]
        b = (p[h] - beta[h]) - q  # (B2)
        un = ((u + (b * u) * dt) - (omega[h] * v) * dt) + cur[h] * dt  # (B3)
        vn = (v + (omega[h] * u) * dt) + (b * v) * dt  # (B4)
        s = (un - theta) - q  # (B5)
        z = one if s > zero else zero  # (B6)
        z1[h] = z
        u1[h] = un
        v1[h] = vn
        q1[h] = q * qdec + z  # (B7)


@njit(fastmath=FASTMATH)
def cell_backward(old, new, dz, dn, dp, dI, acc, cell, k, kc):
    """VJP of one step, eqs. (B8)–(B15), for one sample.

    With b = (p − β) − q and s = (u' − ϑ) − q:
    ds = (z̄ + q̄') σ'(s) (B8)–(B9), ū_tot = ū' + ds (B10), b̄ = δ(ū_tot u + v̄' v) (B11),
    ū = ū_tot(1 + δb) + v̄' δω (B12), v̄ = −ū_tot δω + v̄'(1 + δb) (B13),
    q̄ = 0.9 q̄' − ds − b̄ (B14), Ī = δ ū_tot, acc += (δ(v̄' u − ū_tot v), b̄) (B15).

    Written as one loop per output row rather than one loop over h: LLVM vectorises a loop over
    these many array views only after run-time overlap checks between every stored array and
    every other one, and it gives up when there are more than a handful (one loop storing 7
    rows while reading 12 stayed scalar: 0.8 µs per 256 neurons in float32; split: 0.52 µs).
    ds and ū_tot are kept in the rows of q̄ and z̄ of ``dp`` (overwritten last), so no scratch
    is needed. Every value is the same expression as in the single loop, rounded to the same
    dtype when stored, so the results are bit-identical.
    """
    omega = cell[0]
    beta = cell[1]
    p = cell[2]
    dt = k[K_DT]
    theta = k[K_THETA]
    qdec = k[K_QDEC]
    one = k[K_ONE]
    H = dz.shape[0]
    u0 = old[1]
    v0 = old[2]
    q0 = old[3]
    u1 = new[1]
    g = surrogate_tuple(kc)
    du1 = dn[1]
    dv1 = dn[2]
    dq1 = dn[3]
    dz0 = dp[0]
    du0 = dp[1]
    dv0 = dp[2]
    dq0 = dp[3]
    a_om = acc[0]
    a_db = acc[1]
    # b and b̄ are recomputed in each loop that needs them: keeping them in a scratch row
    # measured no faster (docs/cpu-kernels.md, "Things tried and dropped").
    ds = dq0  # scratch: ds of (B9) until (B14) overwrites it
    du_tot = dz0  # scratch: ū_tot of (B10) until it is zeroed at the end
    for h in range(H):
        s = (u1[h] - theta) - q0[h]  # (B5)
        ds[h] = (dz[h] + dq1[h]) * dspike(s, g)  # (B8)–(B9), σ'(s) of (S2)
    for h in range(H):
        du_tot[h] = du1[h] + ds[h]  # (B10)
    for h in range(H):
        b = (p[h] - beta[h]) - q0[h]
        du0[h] = du_tot[h] * (one + dt * b) + dv1[h] * (dt * omega[h])  # (B12)
    for h in range(H):
        b = (p[h] - beta[h]) - q0[h]
        dv0[h] = -du_tot[h] * (dt * omega[h]) + dv1[h] * (one + dt * b)  # (B13)
    for h in range(H):
        a_db[h] += dt * (du_tot[h] * u0[h] + dv1[h] * v0[h])  # (B11), (B15)
    for h in range(H):
        db = dt * (du_tot[h] * u0[h] + dv1[h] * v0[h])  # (B11)
        dq0[h] = qdec * dq1[h] - ds[h] - db  # (B14)
    for h in range(H):
        a_om[h] += dt * (dv1[h] * u0[h] - du_tot[h] * v0[h])  # (B15), p'(ω) term in finish()
    for h in range(H):
        dI[h] = dt * du_tot[h]
    for h in range(H):
        dz0[h] = 0  # the cell does not read z_{t−1}
