"""What the three resonator models (BRF, BHRF, RF) share: parameters (ω_raw, b'_raw) used
through their absolute values, the same initialisation and the same chain rule through abs()."""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError

PARAM_NAMES = ("omega", "b_offset")


def init_params(H: int, rng: np.random.Generator, default: dict, omega=None, b_offset=None) -> dict:
    """ω ~ U(a, b), b' ~ U(a, b) (official init; ranges per task in :mod:`resonet.presets`)."""
    wa, wb = omega or default["omega"]
    ba, bb = b_offset or default["b_offset"]
    return {"omega": rng.uniform(wa, wb, H), "b_offset": rng.uniform(ba, bb, H)}


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
