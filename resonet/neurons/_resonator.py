"""What the three resonator models (BRF, BHRF, RF) share: parameters (ω_raw, b'_raw) used
through their absolute values, the same initialisation, the same chain rule through abs(), and
the BRF/RF training presets (paper Table 3: "Same hyperparameters applied for BRF- and RF-BPTT
models")."""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from .model import Param

PARAM_NAMES = ("omega", "b_offset")


def params(omega: tuple[float, float], b_offset: tuple[float, float]) -> tuple[Param, ...]:
    """ω ~ U(a, b), b' ~ U(a, b) (official init; ranges per task in ``PRESETS``)."""
    return (Param("omega", "uniform", omega, "ω"), Param("b_offset", "uniform", b_offset, "b'"))


# BRF and RF, per task (paper Table 3 and the official scripts; resonet.presets adds the sizes).
PRESETS = {
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
