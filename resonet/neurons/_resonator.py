"""What the three resonator models (BRF, BHRF, RF) share: parameters (ω_raw, b'_raw) used
through their absolute values, the same initialisation, the same chain rule through abs(), the
BRF/RF training presets (paper Table 3: "Same hyperparameters applied for BRF- and RF-BPTT
models"), and the free dynamics of the explicit-Euler step that BRF and RF both take.

**The explicit-Euler step** of BRF and RF (no input, no spike in the step) multiplies u + iv by
λ = 1 + δ(b + iω), a scaled rotation (docs/analysis.md, "Divergence boundary", eqs. (D1)–(D3)):

    M = [[1 + δb, −δω], [δω, 1 + δb]],   ρ = |λ| = √((1 + δb)² + (δω)²)          (D1)
    ρ ≤ 1  ⇔  (−1 − r)/δ ≤ b ≤ (−1 + r)/δ = p(ω),   r = √(1 − (δω)²)              (D3)

(no real p(ω) for δω > 1: r is NaN there).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConfigError
from .model import Param

PARAM_NAMES = ("omega", "b_offset")


def params(omega: tuple[float, float], b_offset: tuple[float, float]) -> tuple[Param, ...]:
    """ω ~ U(a, b), b' ~ U(a, b) (official init; ranges per task in ``PRESETS``)."""
    return (Param("omega", "uniform", omega, "ω"), Param("b_offset", "uniform", b_offset, "b'"))


# BRF and RF, per task (paper Table 3 and the official scripts; resonet.presets adds the sizes).
PRESETS: dict[str, dict[str, Any]] = {
    "shd": dict(init={"omega": (5.0, 10.0), "b_offset": (2.0, 3.0), "out_tau": (20.0, 5.0)},
                lr=0.075, batch=32, epochs=20, best_rule="<"),
    "ecg": dict(init={"omega": (3.0, 5.0), "b_offset": (0.1, 1.0), "out_tau": (20.0, 1.0)},
                lr=0.1, batch=16, eval_batch=256, epochs=400, best_rule="<="),
    "smnist": dict(init={"omega": (15.0, 50.0), "b_offset": (0.1, 1.0), "out_tau": (20.0, 5.0)},
                   lr=0.1, batch=256, epochs=300, clip=1.0, best_rule="<"),
    "psmnist": dict(init={"omega": (15.0, 85.0), "b_offset": (0.1, 1.0), "out_tau": (20.0, 1.0)},
                    lr=0.1, batch=256, epochs=300, clip=1.0, best_rule="<"),
}


def check_finite(params: dict) -> None:
    for name in PARAM_NAMES:
        if not np.all(np.isfinite(params[name])):
            raise ConfigError(f"hidden.{name} contains NaN or Inf")


def grad_accumulators(c) -> dict:
    """Adjoint accumulators of |ω| and β = |b'| (summed over the batch and time)."""
    return {"omega": np.zeros_like(c.omega), "beta": np.zeros_like(c.beta)}


def raw_grads(params: dict, dc: dict) -> dict:
    """Chain through the absolute values: d/dx_raw = d/d|x| · sign(x_raw) (brf.md (B16))."""
    return {
        "omega": dc["omega"] * np.sign(params["omega"]),
        "b_offset": dc["beta"] * np.sign(params["b_offset"]),
    }


# -- the free dynamics of the explicit-Euler step (BRF, RF) ---------------------------------------
def root(omega, dt: float):
    """r = √(1 − (δω)²); NaN where δω > 1 (no real boundary)."""
    x = 1.0 - np.square(dt * np.asarray(omega, dtype=np.float64))
    with np.errstate(invalid="ignore"):
        return np.where(x >= 0, np.sqrt(np.maximum(x, 0.0)), np.nan)


def euler_band(omega, dt: float):
    """(b_lo, b_hi) of eq. (D3): ρ ≤ 1 iff b_lo ≤ b ≤ b_hi = p(ω). NaN where δω > 1."""
    r = root(omega, dt)
    return (-1.0 - r) / dt, (-1.0 + r) / dt


def euler_radius(omega, b, dt: float):
    """ρ = |1 + δ(b + iω)| (eq. (D1))."""
    return np.hypot(1.0 + dt * np.asarray(b, dtype=np.float64),
                    dt * np.asarray(omega, dtype=np.float64))


def euler_transition(omega: float, b: float, dt: float = 0.01) -> np.ndarray:
    """M (2, 2) of the explicit-Euler (u, v) step with damping b (eq. (D1))."""
    a = 1.0 + dt * b
    return np.array([[a, -dt * omega], [dt * omega, a]], dtype=np.float64)


def euler_eigenvalues(omega, b, dt: float) -> np.ndarray:
    """Both eigenvalues 1 + δb ± iδω of M, shape (..., 2), the one with Im ≥ 0 first."""
    re = 1.0 + dt * np.asarray(b, dtype=np.float64)
    im = dt * np.asarray(omega, dtype=np.float64)
    return np.stack([re + 1j * im, re - 1j * im], axis=-1)


def offsets(params: dict) -> tuple[np.ndarray, np.ndarray]:
    """(ω, β) = (|ω_raw|, |b'_raw|) per neuron from the full parameter dict."""
    return (np.abs(np.asarray(params["hidden.omega"], dtype=np.float64)),
            np.abs(np.asarray(params["hidden.b_offset"], dtype=np.float64)))
