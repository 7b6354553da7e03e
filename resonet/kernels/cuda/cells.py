"""Per-neuron device functions of every model: one step forward, its VJP, and the constants.

These are the CUDA twins of :mod:`resonet.kernels.cpu` ``brf``/``bhrf``/``rf``/``alif`` (same
equations, same association order, same constant layout ideas), written for *one neuron h*: in
the fused kernels of :mod:`.network` every thread owns a set of neurons and calls these for each
of them. Every floating constant comes in through an array of the run's dtype (``cell``, ``k``,
``kc``), never as a Python literal, so a float32 kernel never silently promotes to float64.

Layouts (``R`` = rows of the block's shared state array ``st``, row 0 the spike z; the BPTT
tape keeps rows 1..R−1 of every step, ``tape[t, b, row − 1, h]``):

=====  =========================  ======================  =====================================
model  st rows                    cell rows (4, H)        k
=====  =========================  ======================  =====================================
brf    z, u, v, q                 ω, β, p(ω), p'(ω)       δ, ϑ, 0.9, 1
bhrf   z, u, v, q                 ω, ω², β, 0             δ, ϑ, 0.9, 1, 0.005, 2δ, −2δ
rf     z, u, v, ũ, ṽ              ω, β, −β, 0             δ, ϑ, 1, reset (0 none, 1 soft, 2 hard)
alif   z, u, a, I                 α, ρ, 1 − α, 1 − ρ      θ₀, β_a, 1
=====  =========================  ======================  =====================================

``kc`` (common): 0, 1 and the surrogate constants of eq. (S2), as in the CPU kernels.
"""

from __future__ import annotations

import math

import numpy as np
from numba import cuda

from ...neurons import alif as ref_alif
from ...neurons import bhrf as ref_bhrf
from ...neurons import brf as ref_brf
from ...neurons import rf as ref_rf
from ...surrogate import C1, C2, GAMMA, H_SG, SIGMA1, SIGMA2

BRF, BHRF, RF, ALIF = range(4)
MODEL_IDS = {"brf": BRF, "bhrf": BHRF, "rf": RF, "alif": ALIF}
ROWS = {"brf": 4, "bhrf": 4, "rf": 5, "alif": 4}  # rows of st (z + tape rows)
STATE_ROWS = {  # reference state name -> row of st (z is row 0)
    "brf": {"z": 0, "u": 1, "v": 2, "q": 3},
    "bhrf": {"z": 0, "u": 1, "v": 2, "q": 3},
    "rf": {"z": 0, "u": 1, "v": 2},
    "alif": {"z": 0, "u": 1, "a": 2},
}
RESET_CODES = {"none": 0, "soft": 1, "hard": 2}
NK = 8  # length of the k vector (padded)
KC_ZERO, KC_ONE, KC_C1, KC_C2, KC_S1, KC_S2, KC_H1, KC_H2, KC_GAMMA = range(9)


def common_consts(dtype) -> np.ndarray:
    """``kc``: 0, 1 and the surrogate constants of eq. (S2) in the official association."""
    return np.array([0.0, 1.0, C1, C2, 2.0 * SIGMA1 * SIGMA1, 2.0 * SIGMA2 * SIGMA2,
                     1.0 + H_SG, 2.0 * H_SG, GAMMA], dtype=dtype)


def model_k(spec, dtype) -> np.ndarray:
    """The ``k`` vector of the model of ``spec`` (table above), padded to NK."""
    dt = spec.dt
    if spec.neuron == "brf":
        v = [dt, ref_brf.THETA, ref_brf.Q_DECAY, 1.0]
    elif spec.neuron == "bhrf":
        v = [dt, ref_bhrf.THETA, ref_bhrf.Q_DECAY, 1.0, ref_bhrf.P_COEF, 2.0 * dt, -2.0 * dt]
    elif spec.neuron == "rf":
        v = [dt, ref_rf.THETA, 1.0, RESET_CODES[spec.reset]]
    else:
        v = [ref_alif.THETA0, ref_alif.BETA_ADP, 1.0]
    out = np.zeros(NK, dtype=dtype)
    out[: len(v)] = v
    return out


def pack_cell(neuron: str, c, dtype) -> np.ndarray:
    """(4, H) ``cell`` array from the reference's derived constants (``neuron.derive``)."""
    if neuron == "brf":
        rows = [c.omega, c.beta, c.p, c.dp]
    elif neuron == "bhrf":
        rows = [c.omega, c.omega2, c.beta, np.zeros_like(c.omega)]
    elif neuron == "rf":
        rows = [c.omega, c.beta, -c.beta, np.zeros_like(c.omega)]
    else:
        rows = [c.alpha, c.rho, 1.0 - c.alpha, 1.0 - c.rho]
    return np.ascontiguousarray(np.stack(rows).astype(dtype))


# ----------------------------------------------------------------------------------- helpers
@cuda.jit(device=True)
def dspike(s, kc):
    """σ'(s), eq. (S2), exactly as resonet.surrogate.dspike evaluates it (same association)."""
    s2 = s * s
    g1 = kc[KC_C1] * math.exp(-s2 / kc[KC_S1])
    g2 = kc[KC_C2] * math.exp(-s2 / kc[KC_S2])
    return (kc[KC_H1] * g1 - kc[KC_H2] * g2) * kc[KC_GAMMA]


@cuda.jit(device=True)
def sign(x, one, zero):
    """np.sign in the dtype of ``one`` (NaN stays NaN)."""
    if x > zero:
        return one
    if x < zero:
        return -one
    if x == zero:
        return zero
    return x


# ------------------------------------------------------------------------------------- BRF
@cuda.jit(device=True)
def brf_forward(h, cur, st, H, cell, k):
    """Eqs. (B2)–(B7) for neuron h; updates st in place, returns z."""
    dt = k[0]
    one = k[3]
    zero = one - one
    u = st[H + h]
    v = st[2 * H + h]
    q = st[3 * H + h]
    b = (cell[2, h] - cell[1, h]) - q  # (B2)
    un = ((u + (b * u) * dt) - (cell[0, h] * v) * dt) + cur * dt  # (B3)
    vn = (v + (cell[0, h] * u) * dt) + (b * v) * dt  # (B4)
    s = (un - k[1]) - q  # (B5)
    z = one if s > zero else zero  # (B6)
    st[h] = z
    st[H + h] = un
    st[2 * H + h] = vn
    st[3 * H + h] = q * k[2] + z  # (B7)
    return z


@cuda.jit(device=True)
def brf_backward(h, t, b, tape, dz, dcar, acc, H, cell, k, kc):
    """VJP of one step for neuron h, eqs. (B8)–(B15); dcar rows: adjoints of (z, u, v, q)
    from step t+1 in, those of step t−1 out. Returns Ī_t[h]."""
    dt = k[0]
    one = k[3]
    zero = one - one
    if t > 0:
        u = tape[t - 1, b, 0, h]
        v = tape[t - 1, b, 1, h]
        q = tape[t - 1, b, 2, h]
    else:
        u = zero
        v = zero
        q = zero
    un = tape[t, b, 0, h]
    omega = cell[0, h]
    bb = (cell[2, h] - cell[1, h]) - q
    sp = dspike((un - k[1]) - q, kc)  # σ'(s), (B5)
    du1 = dcar[H + h]
    dv1 = dcar[2 * H + h]
    dq1 = dcar[3 * H + h]
    dz_tot = dz + dq1  # (B8)
    ds = dz_tot * sp  # (B9)
    du_tot = du1 + ds  # (B10)
    db = dt * (du_tot * u + dv1 * v)  # (B11)
    dom = dt * omega
    dcar[h] = zero  # the cell does not read z_{t−1}
    dcar[H + h] = du_tot * (one + dt * bb) + dv1 * dom  # (B12)
    dcar[2 * H + h] = -du_tot * dom + dv1 * (one + dt * bb)  # (B13)
    dcar[3 * H + h] = k[2] * dq1 - ds - db  # (B14)
    acc[h] += dt * (dv1 * u - du_tot * v)  # (B15); the p'(ω) term in finish
    acc[H + h] += db
    return dt * du_tot


# ------------------------------------------------------------------------------------ BHRF
@cuda.jit(device=True)
def bhrf_forward(h, cur, st, H, cell, k):
    """Eqs. (H1)–(H6) for neuron h."""
    dt = k[0]
    one = k[3]
    zero = one - one
    u = st[H + h]
    q = st[3 * H + h]
    om2 = cell[1, h]
    b = (om2 * k[4] + cell[2, h]) + q  # (H1)
    vn = st[2 * H + h] + u * dt  # (H2)
    un = ((u + cur * dt) - (b * u) * k[5]) - (om2 * vn) * dt  # (H3)
    s = (un - k[1]) - q  # (H4)
    z = one if s > zero else zero  # (H5)
    st[h] = z
    st[H + h] = un
    st[2 * H + h] = vn
    st[3 * H + h] = q * k[2] + z  # (H6)
    return z


@cuda.jit(device=True)
def bhrf_backward(h, t, b, tape, dz, dcar, acc, H, cell, k, kc):
    """VJP of one step for neuron h, eqs. (H7)–(H14)."""
    dt = k[0]
    one = k[3]
    zero = one - one
    if t > 0:
        u = tape[t - 1, b, 0, h]
        q = tape[t - 1, b, 2, h]
    else:
        u = zero
        q = zero
    un = tape[t, b, 0, h]
    vn = tape[t, b, 1, h]
    om2 = cell[1, h]
    bb = (om2 * k[4] + cell[2, h]) + q
    sp = dspike((un - k[1]) - q, kc)  # (H4)
    du1 = dcar[H + h]
    dv1 = dcar[2 * H + h]
    dq1 = dcar[3 * H + h]
    ds = (dz + dq1) * sp  # (H7)
    du_tot = du1 + ds  # (H8)
    dv_tot = dv1 - (dt * om2) * du_tot  # (H9)
    db = k[6] * u * du_tot  # (H10)
    dcar[h] = zero
    dcar[H + h] = du_tot * (one - k[5] * bb) + dt * dv_tot  # (H11)
    dcar[2 * H + h] = dv_tot  # (H12)
    dcar[3 * H + h] = k[2] * dq1 - ds + db  # (H13)
    acc[h] += db  # (H14)
    acc[H + h] += vn * du_tot
    return dt * du_tot


# -------------------------------------------------------------------------------------- RF
@cuda.jit(device=True)
def rf_forward(h, cur, st, H, cell, k):
    """Eqs. (R1)–(R6) for neuron h; st rows z, u, v, ũ, ṽ."""
    dt = k[0]
    theta = k[1]
    one = k[2]
    reset = k[3]
    zero = one - one
    u = st[H + h]
    v = st[2 * H + h]
    b = cell[2, h]  # (R1) b = −β
    ut = ((u + (b * u) * dt) - (cell[0, h] * v) * dt) + cur * dt  # (R2)
    vt = (v + (cell[0, h] * u) * dt) + (b * v) * dt  # (R3)
    z = one if ut - theta > zero else zero  # (R4)–(R5)
    st[h] = z
    st[3 * H + h] = ut
    st[4 * H + h] = vt
    if reset == one:  # (R6) soft
        st[H + h] = ut - z * theta
        st[2 * H + h] = vt - z * theta
    elif reset > one:  # (R6) hard
        st[H + h] = (one - z) * ut
        st[2 * H + h] = (one - z) * vt
    else:
        st[H + h] = ut
        st[2 * H + h] = vt
    return z


@cuda.jit(device=True)
def rf_backward(h, t, b, tape, zt, dz, dcar, acc, H, cell, k, kc):
    """VJP of one step for neuron h, eqs. (R7)–(R12); ``zt`` is z_t[h]."""
    dt = k[0]
    theta = k[1]
    one = k[2]
    reset = k[3]
    zero = one - one
    if t > 0:
        u = tape[t - 1, b, 0, h]
        v = tape[t - 1, b, 1, h]
    else:
        u = zero
        v = zero
    ut = tape[t, b, 2, h]
    vt = tape[t, b, 3, h]
    sp = dspike(ut - theta, kc)  # (R4)
    du1 = dcar[H + h]
    dv1 = dcar[2 * H + h]
    if reset == one:  # (R7) soft
        du_t = du1
        dv_t = dv1
        dz_tot = dz - theta * (du1 + dv1)
    elif reset > one:  # (R7) hard
        du_t = (one - zt) * du1
        dv_t = (one - zt) * dv1
        dz_tot = dz - du1 * ut - dv1 * vt
    else:
        du_t = du1
        dv_t = dv1
        dz_tot = dz
    du_t = du_t + dz_tot * sp  # (R8)
    bb = cell[2, h]
    db = dt * (du_t * u + dv_t * v)  # (R9)
    dom = dt * cell[0, h]
    dcar[h] = zero
    dcar[H + h] = du_t * (one + dt * bb) + dv_t * dom  # (R10)
    dcar[2 * H + h] = -du_t * dom + dv_t * (one + dt * bb)  # (R11)
    acc[h] += dt * (dv_t * u - du_t * v)  # (R12)
    acc[H + h] += db
    return dt * du_t


# ------------------------------------------------------------------------------------ ALIF
@cuda.jit(device=True)
def alif_forward(h, cur, st, H, cell, k):
    """Eqs. (A1)–(A6) for neuron h; st rows z, u, a, I (row 0 holds z_{t−1} on entry)."""
    th0 = k[0]
    badp = k[1]
    one = k[2]
    zero = one - one
    an = st[2 * H + h] * cell[1, h] + st[h] * cell[3, h]  # (A1)
    theta = th0 + an * badp  # (A2)
    ut = st[H + h] * cell[0, h] + cur * cell[2, h]  # (A3)
    z = one if ut - theta > zero else zero  # (A4)–(A5)
    st[h] = z
    st[H + h] = ut - z * theta  # (A6)
    st[2 * H + h] = an
    st[3 * H + h] = cur
    return z


@cuda.jit(device=True)
def alif_backward(h, t, b, tape, zt, zp, dz, dcar, acc, H, cell, k, kc):
    """VJP of one step for neuron h, eqs. (A7)–(A14); ``zt``, ``zp`` are z_t[h], z_{t−1}[h]."""
    th0 = k[0]
    badp = k[1]
    one = k[2]
    zero = one - one
    if t > 0:
        u0 = tape[t - 1, b, 0, h]
        a0 = tape[t - 1, b, 1, h]
    else:
        u0 = zero
        a0 = zero
    a1 = tape[t, b, 1, h]
    i1 = tape[t, b, 2, h]
    alpha = cell[0, h]
    rho = cell[1, h]
    theta = th0 + a1 * badp  # (A2)
    sp = dspike((u0 * alpha + i1 * cell[2, h]) - theta, kc)  # s = ũ − θ, (A4)
    du1 = dcar[H + h]
    da1 = dcar[2 * H + h]
    dz_tot = dz - du1 * theta  # (A7)
    ds = dz_tot * sp  # (A8)
    du_t = du1 + ds  # (A9)
    dtheta = -du1 * zt - ds  # (A10)
    da_tot = da1 + badp * dtheta  # (A11)
    dcar[H + h] = alpha * du_t  # (A12)
    dcar[2 * H + h] = rho * da_tot  # (A13)
    dcar[h] = cell[3, h] * da_tot
    acc[h] += du_t * (u0 - i1)  # (A14)
    acc[H + h] += da_tot * (a0 - zp)
    return cell[2, h] * du_t


# -------------------------------------------------------------------------------- dispatch
@cuda.jit(device=True)
def cell_forward(model, h, cur, st, H, cell, k):
    """One step of neuron h (eq. (N2)); returns its spike z_t[h] (0 or 1 in the dtype)."""
    if model == BRF:
        return brf_forward(h, cur, st, H, cell, k)
    if model == BHRF:
        return bhrf_forward(h, cur, st, H, cell, k)
    if model == RF:
        return rf_forward(h, cur, st, H, cell, k)
    return alif_forward(h, cur, st, H, cell, k)


@cuda.jit(device=True)
def cell_backward(model, h, t, b, tape, zt, zp, dz, dcar, acc, H, cell, k, kc):
    """VJP of the step t of neuron h; returns Ī_t[h] and updates dcar/acc (see the models)."""
    if model == BRF:
        return brf_backward(h, t, b, tape, dz, dcar, acc, H, cell, k, kc)
    if model == BHRF:
        return bhrf_backward(h, t, b, tape, dz, dcar, acc, H, cell, k, kc)
    if model == RF:
        return rf_backward(h, t, b, tape, zt, dz, dcar, acc, H, cell, k, kc)
    return alif_backward(h, t, b, tape, zt, zp, dz, dcar, acc, H, cell, k, kc)


@cuda.jit(device=True)
def derive(model, h, raw0, raw1, cell, pk):
    """Cell constants of neuron h from the raw parameters (``neuron.derive`` of the reference,
    same association), for the device-resident session. ``pk``: p_dt, 1, −1 (dtype)."""
    one = pk[1]
    if model == BRF:
        omega = abs(raw0)
        x = pk[0] * omega
        r = math.sqrt(one - x * x)
        cell[0, h] = omega
        cell[1, h] = abs(raw1)
        cell[2, h] = (pk[2] + r) / pk[0]  # (B1)
        cell[3, h] = (-pk[0]) * omega / r  # (B15) p'(ω)
    elif model == BHRF:
        omega = abs(raw0)
        cell[0, h] = omega
        cell[1, h] = omega * omega
        cell[2, h] = abs(raw1)
    elif model == RF:
        beta = abs(raw1)
        cell[0, h] = abs(raw0)
        cell[1, h] = beta
        cell[2, h] = -beta
    else:
        alpha = math.exp(pk[2] / abs(raw0))
        rho = math.exp(pk[2] / abs(raw1))
        cell[0, h] = alpha
        cell[1, h] = rho
        cell[2, h] = one - alpha
        cell[3, h] = one - rho


@cuda.jit(device=True)
def finish(model, h, acc0, acc1, raw0, raw1, cell, k):
    """Raw-parameter gradients of neuron h from the sums of (B15)/(H14)/(R12)/(A14) over the
    batch and time, through abs() (eq. (N9)); returns (d raw0, d raw1)."""
    one = k[3] if model <= BHRF else k[2]
    zero = one - one
    s0 = sign(raw0, one, zero)
    s1 = sign(raw1, one, zero)
    if model == BRF:
        return (acc0 + cell[3, h] * acc1) * s0, (-acc1) * s1
    if model == BHRF:
        two_p = k[4] + k[4]  # 2·0.005 (exact)
        dom = (two_p * cell[0, h]) * acc0 - (k[5] * cell[0, h]) * acc1
        return dom * s0, acc0 * s1
    if model == RF:
        return acc0 * s0, (-acc1) * s1
    return (acc0 * cell[0, h]) / (raw0 * raw0) * s0, (acc1 * cell[1, h]) / (raw1 * raw1) * s1
