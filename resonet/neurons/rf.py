"""RF: the vanilla resonate-and-fire neuron, with an optional reset (NumPy float64 reference).

State (z, u, v), each (B, H); parameters ω_raw (``hidden.omega``) and b'_raw
(``hidden.b_offset``). One step (docs/derivations/rf.md, eqs. (R1)–(R6)):

    ω = |ω_raw|,  b = −|b'_raw|                     (R1)  constant damping, no boundary, no q
    ũ = u + δ·(b·u − ω·v + I)                       (R2)
    ṽ = v + δ·(ω·u + b·v)                           (R3)
    s = ũ − ϑ,  ϑ = 1                               (R4)
    z = Θ(s)                                        (R5)
    reset (R6):  none  u' = ũ,           v' = ṽ          (the paper's Table 1 "RF", the default)
                 soft  u' = ũ − z·ϑ,     v' = ṽ − z·ϑ
                 hard  u' = (1 − z)·ũ,   v' = (1 − z)·ṽ  (both parts return to zero)
                 mod   as soft, with the graded signed spike z = trunc(ũ/ϑ) of eq. (S6)
                       (reset-to-mod: u' = ũ mod ϑ); the backward uses (S7)

The official code carries soft and hard reset as commented-out lines (paper Appendix A.1); the
golden vectors use no reset. Gradients flow through the reset (z is not detached), so the smooth
spike of the gradient check gives exact gradients for every variant.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..errors import ConfigError
from ..surrogate import DOUBLE_GAUSSIAN, dgraded, dspike, graded_spike
from . import _resonator
from .model import param_names

NAME = "rf"
PARAMS = _resonator.params(omega=(5.0, 10.0), b_offset=(2.0, 3.0))
PARAM_NAMES = param_names(PARAMS)
STATE_NAMES = ("z", "u", "v")
RESETS = ("none", "soft", "hard", "mod")
SURROGATE = DOUBLE_GAUSSIAN
BOUNDS = ()  # constant damping −|b'|: no boundary to keep ω inside
THETA = 1.0
PRESETS = _resonator.PRESETS  # "Same hyperparameters applied for BRF- and RF-BPTT models"
# b' ≥ 1: |1 + δ(b + iω)| ≤ 1 needs b' ≥ −p(ω) (≈ 0.5 at ω = 10), so the BRF ranges would grow
SPIKING_INIT = {"omega": (5.0, 10.0), "b_offset": (1.0, 2.0)}
DECAYS = ()
REFRACTORY = None
ACC_ROWS = ("omega", "b")  # Σ δ(v̄_t u − ū_t v) and Σ b̄ over batch and time (R12)


class Consts(NamedTuple):
    omega: np.ndarray  # ω = |ω_raw|
    beta: np.ndarray  # β = |b'_raw|, b = −β
    dt: float
    reset: str


def derive(params: dict, spec) -> Consts:
    if spec.reset not in RESETS:
        raise ConfigError(f"reset={spec.reset!r} is not one of {RESETS}")
    _resonator.check_finite(params)
    return Consts(np.abs(params["omega"]), np.abs(params["b_offset"]), spec.dt, spec.reset)


def _pre_reset(c: Consts, u, v, I):
    """ũ, ṽ of eqs. (R2)–(R3), in the official association order."""
    dt = c.dt
    b = -c.beta
    u_t = ((u + (b * u) * dt) - (c.omega * v) * dt) + I * dt
    v_t = (v + (c.omega * u) * dt) + (b * v) * dt
    return u_t, v_t


def step_forward(c: Consts, prev: tuple, I: np.ndarray, spike) -> tuple:
    _, u, v = prev
    u_t, v_t = _pre_reset(c, u, v, I)
    if c.reset == "mod":  # (R4)–(R6) with the graded spike (S6)
        z = graded_spike(spike, u_t, THETA)
        return z, u_t - z * THETA, v_t - z * THETA
    z = spike(u_t - THETA)  # (R4)–(R5)
    if c.reset == "soft":  # (R6)
        return z, u_t - z * THETA, v_t - z * THETA
    if c.reset == "hard":
        return z, (1.0 - z) * u_t, (1.0 - z) * v_t
    return z, u_t, v_t


def step_backward(
    c: Consts, prev: tuple, I: np.ndarray, new: tuple, dnew: tuple, dc: dict,
    dspike=dspike,
) -> tuple:
    """VJP of one step (docs/derivations/rf.md, eqs. (R7)–(R12)); returns ``(dprev, Ī)``."""
    _, u, v = prev
    dz, du_new, dv_new = dnew
    dt = c.dt
    u_t, v_t = _pre_reset(c, u, v, I)
    s = u_t - THETA
    if c.reset in ("soft", "mod"):  # (R7) adjoints through the reset
        du_t, dv_t = du_new, dv_new
        dz_tot = dz - THETA * (du_new + dv_new)
    elif c.reset == "hard":
        z = new[0]
        du_t, dv_t = (1.0 - z) * du_new, (1.0 - z) * dv_new
        dz_tot = dz - du_new * u_t - dv_new * v_t
    else:
        du_t, dv_t, dz_tot = du_new, dv_new, dz
    du_t = du_t + dz_tot * (dgraded(dspike, u_t, THETA) if c.reset == "mod" else dspike(s))  # (R8)
    b = -c.beta
    db = dt * (du_t * u + dv_t * v)  # (R9)
    du = du_t * (1.0 + dt * b) + dv_t * (dt * c.omega)  # (R10)
    dv = -du_t * (dt * c.omega) + dv_t * (1.0 + dt * b)  # (R11)
    dI = dt * du_t
    dc["omega"] += (dt * (dv_t * u - du_t * v)).sum(axis=0)  # (R12)
    dc["beta"] -= db.sum(axis=0)  # b = −β
    return (np.zeros_like(u), du, dv), dI


grad_accumulators = _resonator.grad_accumulators
raw_grads = _resonator.raw_grads


def finish(params: dict, c: Consts, acc: np.ndarray) -> dict:
    """Eq. (R12) from the kernels' sums: ``acc[0]`` = Σ δ(v̄ u − ū v) (adjoints after the reset
    VJP), ``acc[1]`` = Σ b̄ (b = −β, so β̄ = −Σ b̄)."""
    return raw_grads(params, {"omega": acc[0].copy(), "beta": -acc[1]})


# -- the free dynamics (analysis.spectral, analysis.divergence, analysis.freqresp) ---------------
# The explicit-Euler step of _resonator with the constant b = −b': ρ² = (1 − δb')² + (δω)²,
# stable iff −p(ω) ≤ b' ≤ (1 + r)/δ (docs/analysis.md, eqs. (D1)–(D3)).

def effective_damping(params: dict, spec) -> tuple[np.ndarray, np.ndarray]:
    """(ω, b) per neuron: the constant damping b = −|b'| (the ω–b figure)."""
    return np.abs(params["hidden.omega"]), -np.abs(params["hidden.b_offset"])


def damping_band(omega, spec):
    """(b_lo, b_hi) with ρ ≤ 1 (eq. (D3)): the band of the explicit-Euler step."""
    return _resonator.euler_band(omega, spec.dt)


def radius(omega, b_offset, dt: float = 0.01):
    """ρ = √((1 − δb')² + (δω)²) (b = −b')."""
    return _resonator.euler_radius(omega, -np.asarray(b_offset, dtype=np.float64), dt)


def offset_band(omega, dt: float = 0.01):
    """(lo, hi) of b': stable iff −p(ω) ≤ b' ≤ (1 + r)/δ."""
    lo, hi = _resonator.euler_band(omega, dt)
    return -hi, -lo


def free_eigenvalues(omega, b_offset, spec) -> np.ndarray:
    """1 − δb' ± iδω."""
    return _resonator.euler_eigenvalues(omega, -np.asarray(b_offset, dtype=np.float64), spec.dt)


def stability(params: dict, spec, q_max: float) -> dict:
    """Per neuron: ρ (no refractory variable: the same at every q) and the margin of b' to the
    stable interval of :func:`offset_band`."""
    w, beta = _resonator.offsets(params)
    rho = radius(w, beta, spec.dt)
    lo, hi = offset_band(w, spec.dt)
    return {"omega": w, "b_offset": beta, "radius_q0": rho, "radius_qmax": rho,
            "margin": np.minimum(beta - lo, hi - beta)}


def frozen_jacobian(c: Consts, state: tuple, z_new: np.ndarray) -> tuple:
    """On (u, v): the explicit-Euler rotation, times (1 − z) after a hard reset; I enters u'
    with δ (times the same factor)."""
    H = state[1].shape[0]
    keep = (1.0 - z_new) if c.reset == "hard" else np.ones(H)
    a = 1.0 - c.dt * c.beta
    J = np.zeros((H, 2, 2))
    J[:, 0, 0] = J[:, 1, 1] = keep * a
    J[:, 0, 1] = -keep * c.dt * c.omega
    J[:, 1, 0] = keep * c.dt * c.omega
    g_in = np.zeros((H, 2))
    g_in[:, 0] = keep * c.dt
    return J, g_in, np.zeros((H, 2))
