"""BRF: the balanced resonate-and-fire neuron (NumPy float64 reference).

State (z, u, v, q), each (B, H); parameters ω_raw (``hidden.omega``) and b'_raw
(``hidden.b_offset``), each (H,), used through their absolute values. One step, from the previous
state (u, v, q) and the input current I (docs/derivations/brf.md, eqs. (B1)–(B7)):

    ω = |ω_raw|,  β = |b'_raw|
    p(ω) = (−1 + √(1 − (δ_p·ω)²)) / δ_p           (B1)  divergence boundary, δ_p = 0.01
    b  = κ_d·p(ω) − β − κ_s·q                       (B2)  q of the previous step
    u' = u + δ·(b·u − ω·v + I)                      (B3)
    v' = v + δ·(ω·u + b·v)                          (B4)  explicit Euler: old u and v
    s  = u' − ϑ − κ_r·q,  ϑ = 1                     (B5)
    z  = Θ(s)                                       (B6)
    q' = 0.9·q + z                                  (B7)

κ_d = κ_s = κ_r = 1 is the BRF neuron (multiplying by 1 is exact: the same numbers as without
the factors). The ablations of the paper's Fig. 10 (``--ablate``, :data:`ABLATIONS`) set one or
more of them to 0: ``boundary`` κ_d = 0 (b_c = −β: no divergence boundary, eq. (20) of the paper
removed), ``smooth_reset`` κ_s = 0 (b = b_c: q leaves the damping, eq. (12) removed),
``refractory`` κ_r = 0 (ϑ(t) = ϑ_c: q leaves the threshold, eq. (9) removed). q itself still
follows (B7) (unused when both are removed).

δ = dt (0.01 by default). The official code evaluates p(ω) with δ_p = 0.01 whatever the cell's
dt; resonet keeps that as the default (``NetworkSpec.p_dt``). There is no reset of u or v: the
refractory variable q raises the threshold and the damping instead.

For δ_p·ω ≥ 1 the square root has no real value (the official code silently produces NaN
states and gradients). resonet refuses such ω with a :class:`~resonet.errors.ConfigError`.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..errors import ConfigError
from ..surrogate import DOUBLE_GAUSSIAN, dspike
from . import _resonator
from .model import Bound, param_names

NAME = "brf"
PARAMS = _resonator.params(omega=(5.0, 10.0), b_offset=(2.0, 3.0))  # SHD preset (paper Table 3)
PARAM_NAMES = param_names(PARAMS)
STATE_NAMES = ("z", "u", "v", "q")
RESETS = ("none",)
SURROGATE = DOUBLE_GAUSSIAN
THETA = 1.0  # ϑ, the base threshold
Q_DECAY = 0.9  # γ of the refractory variable, hard-coded in the official code
PRESETS = _resonator.PRESETS
SPIKING_INIT = {"omega": (5.0, 10.0), "b_offset": (0.1, 1.0)}  # damped, below the boundary
DECAYS = ()  # the refractory decay 0.9 is a constant of the model, not a parameter
REFRACTORY = "q"
ABLATIONS = {  # --ablate NAME: the factor of (B2)/(B5) set to 0 (docs/derivations/brf.md)
    "boundary": "kappa_d = 0 in (B2): b_c = -|b'| instead of p(omega) - |b'| (no divergence boundary)",
    "refractory": "kappa_r = 0 in (B5): the threshold stays at theta (no refractory period)",
    "smooth_reset": "kappa_s = 0 in (B2): q does not raise the damping (no smooth reset)",
}
ACC_ROWS = ("omega", "b")  # Σ δ(v̄'u − ū_tot v) and Σ b̄ over batch and time (B15)


def omega_limit(spec) -> float:
    """0.999/δ_p: p(ω) of (B1) exists only for |ω|·δ_p < 1; the projection keeps ω inside."""
    return 0.999 / spec.p_dt


BOUNDS = (Bound("omega", omega_limit, "|omega| was clamped below 1/dt (where p(omega) exists)"),)


class Consts(NamedTuple):
    """Per-neuron quantities derived from the raw parameters, all (H,) except dt."""

    omega: np.ndarray  # ω = |ω_raw|
    beta: np.ndarray  # β = |b'_raw|
    p: np.ndarray  # p(ω), eq. (B1)
    dp: np.ndarray  # p'(ω) = −δ_p²·ω / (δ_p·√(1 − (δ_p·ω)²)), eq. (B15)
    dt: float
    kd: float = 1.0  # κ_d of (B2): 0 with the ablation "boundary"
    kr: float = 1.0  # κ_r of (B5): 0 with "refractory"
    ks: float = 1.0  # κ_s of (B2): 0 with "smooth_reset"


def boundary(omega: np.ndarray, p_dt: float = 0.01) -> np.ndarray:
    """p(ω) of eq. (B1), evaluated in the association order of the official code."""
    return (-1.0 + np.sqrt(1.0 - np.square(p_dt * omega))) / p_dt


def boundary_derivative(omega: np.ndarray, p_dt: float = 0.01) -> np.ndarray:
    """p'(ω) = −δ_p·ω / √(1 − (δ_p·ω)²), eq. (B15)."""
    return -p_dt * omega / np.sqrt(1.0 - np.square(p_dt * omega))


def check_omega(omega_raw: np.ndarray, p_dt: float) -> None:
    """Refuse |ω|·δ_p ≥ 1, where p(ω) is undefined (NaN) or p'(ω) infinite."""
    w = np.abs(np.asarray(omega_raw))
    if not np.all(np.isfinite(w)):
        raise ConfigError("hidden.omega contains NaN or Inf")
    bad = np.nonzero(w * p_dt >= 1.0)[0]
    if bad.size:
        raise ConfigError(
            f"hidden.omega: |omega| = {w[bad[0]]:.6g} (neuron {bad[0]}, {bad.size} in all) is at or "
            f"beyond 1/dt = {1.0 / p_dt:.6g}, where the divergence boundary p(omega) has no real "
            "value; keep |omega| < 1/dt (resonet refuses instead of producing NaN)"
        )


def derive(params: dict, spec) -> Consts:
    """Consts from the raw parameters ``params['omega']``, ``params['b_offset']``."""
    check_omega(params["omega"], spec.p_dt)
    omega = np.abs(params["omega"])
    kd, kr, ks = factors(spec)
    return Consts(
        omega=omega,
        beta=np.abs(params["b_offset"]),
        p=boundary(omega, spec.p_dt),
        dp=boundary_derivative(omega, spec.p_dt),
        dt=spec.dt,
        kd=kd, kr=kr, ks=ks,
    )


def factors(spec) -> tuple[float, float, float]:
    """(κ_d, κ_r, κ_s) of (B2)/(B5): 1, or 0 for each mechanism in ``spec.ablate``."""
    off = getattr(spec, "ablate", ())
    kd, kr, ks = (0.0 if name in off else 1.0 for name in ("boundary", "refractory", "smooth_reset"))
    return kd, kr, ks


def step_forward(c: Consts, prev: tuple, I: np.ndarray, spike) -> tuple:
    """One step, eqs. (B2)–(B7); ``spike`` is Θ or the smooth spike S."""
    _, u, v, q = prev
    dt = c.dt
    b = (c.kd * c.p - c.beta) - c.ks * q  # (B2)
    u_new = ((u + (b * u) * dt) - (c.omega * v) * dt) + I * dt  # (B3)
    v_new = (v + (c.omega * u) * dt) + (b * v) * dt  # (B4)
    s = (u_new - THETA) - c.kr * q  # (B5)
    z = spike(s)  # (B6)
    q_new = q * Q_DECAY + z  # (B7)
    return z, u_new, v_new, q_new


def step_backward(
    c: Consts, prev: tuple, I: np.ndarray, new: tuple, dnew: tuple, dc: dict,
    dspike=dspike,
) -> tuple:
    """Vector-Jacobian product of one step (docs/derivations/brf.md, eqs. (B8)–(B14)).

    ``dnew = (z̄, ū', v̄', q̄')`` are the total adjoints of the step's outputs (z̄ includes the
    readout and the recurrent input of the next step). Returns ``(dprev, Ī)`` with
    ``dprev = (0, ū, v̄, q̄)`` (the cell does not read z_{t-1}) and accumulates the adjoints of
    ω and β (summed over the batch) into ``dc['omega']``, ``dc['beta']``.
    """
    _, u, v, q = prev
    u_new = new[1]
    dz, du_new, dv_new, dq_new = dnew
    dt = c.dt
    b = (c.kd * c.p - c.beta) - c.ks * q
    s = (u_new - THETA) - c.kr * q
    dz_tot = dz + dq_new  # (B8)   q' = 0.9 q + z
    ds = dz_tot * dspike(s)  # (B9)
    du_tot = du_new + ds  # (B10)  s = u' − ϑ − q
    db = dt * (du_tot * u + dv_new * v)  # (B11)
    du = du_tot * (1.0 + dt * b) + dv_new * (dt * c.omega)  # (B12)
    dv = -du_tot * (dt * c.omega) + dv_new * (1.0 + dt * b)  # (B13)
    dq = Q_DECAY * dq_new - c.kr * ds - c.ks * db  # (B14)
    dI = dt * du_tot
    # (B15): ω enters (B3), (B4) and p(ω) in (B2); β enters (B2) with a minus sign.
    dc["omega"] += (dt * (dv_new * u - du_tot * v)).sum(axis=0) + c.kd * c.dp * db.sum(axis=0)
    dc["beta"] -= db.sum(axis=0)
    return (np.zeros_like(u), du, dv, dq), dI


grad_accumulators = _resonator.grad_accumulators
raw_grads = _resonator.raw_grads


def finish(params: dict, c: Consts, acc: np.ndarray) -> dict:
    """Raw-parameter gradients from the kernels' accumulated sums (eqs. (B15)–(B16)).

    ``acc[0]`` = Σ δ(v̄'u − ū'_tot v), ``acc[1]`` = Σ b̄ (over batch and time).
    """
    dc = {"omega": acc[0] + (c.kd * c.dp) * acc[1], "beta": -acc[1]}
    return raw_grads(params, dc)


# -- the free dynamics (analysis.spectral, analysis.divergence, analysis.freqresp) ---------------
# b = p(ω; δ_p) − c with c = b' + q ≥ 0 on the explicit-Euler step of _resonator, eqs. (D1)–(D3):
# ρ² = 1 − δc(2r − δc) at δ_p = δ, so ρ ≤ 1 iff 0 ≤ c ≤ 2r/δ: "below the boundary" is not
# sufficient, and near δω → 1 the interval shrinks to a point.

def effective_damping(params: dict, spec) -> tuple[np.ndarray, np.ndarray]:
    """(ω, b) per neuron at q = 0: b = κ_d·p(ω) − |b'| (the ω–b figure)."""
    omega = np.abs(params["hidden.omega"])
    kd = factors(spec)[0]
    return omega, kd * boundary(omega, spec.p_dt) - np.abs(params["hidden.b_offset"])


def damping_band(omega, spec):
    """(b_lo, b_hi) with ρ ≤ 1 at the cell's δ (eq. (D3)); b_hi = p(ω; δ)."""
    return _resonator.euler_band(omega, spec.dt)


def offset_band(omega, dt: float = 0.01, p_dt: float | None = None):
    """(c_lo, c_hi): with b = p(ω; δ_p) − c, ρ ≤ 1 iff c_lo ≤ c ≤ c_hi (δ_p = dt by default);
    [p(ω; δ_p) − p(ω; δ), p(ω; δ_p) + (1 + r)/δ]."""
    lo, hi = _resonator.euler_band(omega, dt)
    p = _resonator.euler_band(omega, dt if p_dt is None else p_dt)[1]
    return p - hi, p - lo


def radius_c(omega, c, dt: float = 0.01):
    """ρ = √(1 − δc(2r − δc)) for b = p(ω) − c (the same δ in p and in the step)."""
    r = _resonator.root(omega, dt)
    c = np.asarray(c, dtype=np.float64)
    return np.sqrt(np.maximum(1.0 - dt * c * (2.0 * r - dt * c), 0.0))


def free_eigenvalues(omega, b_offset, spec) -> np.ndarray:
    """1 + δ(b ± iω) at q = 0, b = p(ω; δ_p) − b'."""
    omega = np.asarray(omega, dtype=np.float64)
    b = boundary(omega, spec.p_dt) - np.asarray(b_offset, dtype=np.float64)
    return _resonator.euler_eigenvalues(omega, b, spec.dt)


def stability(params: dict, spec, q_max: float) -> dict:
    """Per neuron: ρ at q = 0 and q = q_max, and the margin of the worst c ∈ [β, β + q_max] to
    the nearer end of the stable c interval (ρ² is convex in c, so the worst case is at an end)."""
    w, beta = _resonator.offsets(params)
    p = _resonator.euler_band(w, spec.p_dt)[1]
    c_lo, c_hi = offset_band(w, spec.dt, spec.p_dt)
    return {"omega": w, "b_offset": beta, "p": p, "c_lo": c_lo, "c_hi": c_hi,
            "radius_q0": _resonator.euler_radius(w, p - beta, spec.dt),
            "radius_qmax": _resonator.euler_radius(w, p - beta - q_max, spec.dt),
            "margin": np.minimum(beta - c_lo, c_hi - (beta + q_max)),
            "omega_ok": w * spec.p_dt < 1.0}


def frozen_jacobian(c: Consts, state: tuple, z_new: np.ndarray) -> tuple:
    """On (u, v, q): [[1 + δb, −δω, −κ_s δu], [δω, 1 + δb, −κ_s δv], [0, 0, 0.9]] (b depends
    on q through κ_s); I enters u' with δ."""
    _, u, v, q = state
    H = u.shape[0]
    dt = c.dt
    b = (c.kd * c.p - c.beta) - c.ks * q
    J = np.zeros((H, 3, 3))
    J[:, 0, 0] = J[:, 1, 1] = 1.0 + dt * b
    J[:, 0, 1] = -dt * c.omega
    J[:, 1, 0] = dt * c.omega
    J[:, 0, 2] = -dt * u * c.ks
    J[:, 1, 2] = -dt * v * c.ks
    J[:, 2, 2] = Q_DECAY
    g_in = np.zeros((H, 3))
    g_in[:, 0] = dt
    return J, g_in, np.zeros((H, 3))
