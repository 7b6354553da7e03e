"""LIF-hard: a leaky integrate-and-fire neuron with a hard reset (NumPy float64 reference).

State (z, u), each (B, H); parameter τ_raw (``hidden.tau``), (H,), in steps. One step from the
previous state and the input current I (eqs. (K1)–(K4) of this example):

    α  = exp(−1/|τ|)
    ũ  = α·u + (1 − α)·I                          (K1)
    s  = ũ − ϑ,  ϑ = 1                            (K2)
    z' = Θ(s)                                     (K3)  backward: the double Gaussian σ'
    u' = (1 − z')·ũ                               (K4)  hard reset to 0

Backward, with the adjoints z̄, ū' of the step's outputs:

    z̄_tot = z̄ − ū'·ũ                              (K5)
    ũ̄ = (1 − z')·ū' + z̄_tot·σ'(s)                 (K6)
    ū = α·ũ̄,  Ī = (1 − α)·ũ̄                       (K7)
    ᾱ += Σ ũ̄·(u − I),  τ̄ = ᾱ·α/τ²·sign(τ)         (K8)
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from resonet.errors import ConfigError
from resonet.neurons.model import Param, param_names
from resonet.surrogate import DOUBLE_GAUSSIAN, dspike

NAME = "lifhard"
PARAMS = (Param("tau", "normal", (20.0, 5.0), "τ"),)
PARAM_NAMES = param_names(PARAMS)
STATE_NAMES = ("z", "u")
RESETS = ("none",)  # the hard reset (K4) is part of the model
SURROGATE = DOUBLE_GAUSSIAN
BOUNDS = ()
THETA = 1.0
ACC_ROWS = ("alpha",)
SPIKING_INIT = {"tau": (20.0, 5.0)}
DECAYS = ("alpha",)
REFRACTORY = None
_TRAIN = {"shd": (0.075, 32, 20), "ecg": (0.05, 64, 400), "smnist": (0.001, 256, 300),
          "psmnist": (0.001, 256, 300)}
PRESETS: dict[str, dict[str, Any]] = {
    task: dict(init={"tau": (20.0, 5.0), "out_tau": (20.0, 5.0)}, lr=lr, batch=batch,
               epochs=epochs, best_rule="<=", source="example")
    for task, (lr, batch, epochs) in _TRAIN.items()
}


class Consts(NamedTuple):
    alpha: np.ndarray  # α = exp(−1/|τ|), (H,)


def derive(params: dict, spec) -> Consts:
    t = params["tau"]
    if not np.all(np.isfinite(t)) or np.any(t == 0):
        raise ConfigError("hidden.tau must be finite and nonzero (a time constant in steps)")
    return Consts(np.exp(-1.0 / np.abs(t)))


def step_forward(c: Consts, prev: tuple, I: np.ndarray, spike) -> tuple:
    _, u = prev
    u_t = u * c.alpha + I * (1.0 - c.alpha)  # (K1)
    z = spike(u_t - THETA)  # (K2)–(K3)
    return z, (1.0 - z) * u_t  # (K4)


def step_backward(c: Consts, prev: tuple, I: np.ndarray, new: tuple, dnew: tuple, dc: dict,
                  dspike=dspike) -> tuple:
    _, u = prev
    z = new[0]
    dz, du_new = dnew
    u_t = u * c.alpha + I * (1.0 - c.alpha)
    dz_tot = dz - du_new * u_t  # (K5)
    du_t = (1.0 - z) * du_new + dz_tot * dspike(u_t - THETA)  # (K6)
    dc["alpha"] += (du_t * (u - I)).sum(axis=0)  # (K8)
    return (np.zeros_like(u), c.alpha * du_t), (1.0 - c.alpha) * du_t  # (K7)


def grad_accumulators(c: Consts) -> dict:
    return {"alpha": np.zeros_like(c.alpha)}


def raw_grads(params: dict, dc: dict) -> dict:
    t = params["tau"]
    alpha = np.exp(-1.0 / np.abs(t))
    return {"tau": dc["alpha"] * alpha / (t * t) * np.sign(t)}  # (K8)


def finish(params: dict, c: Consts, acc: np.ndarray) -> dict:
    return raw_grads(params, {"alpha": acc[0].copy()})
