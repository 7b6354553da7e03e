"""LIF: the leaky integrate-and-fire neuron of the official code (``LIFCell``, snn/modules/lif.py).

State (z, u), each (B, H); parameter τ_m,raw (``hidden.tau_mem``), (H,), in units of one time
step (no dt). One step from the previous state (z, u) and the input current I
(docs/derivations/lif.md, eqs. (F1)–(F5)):

    α  = exp(−1/|τ_m|)                            (F1)
    ũ  = α·u + (1 − α)·I                          (F2)
    s  = ũ − ϑ,  ϑ = 1                            (F3)
    z' = Θ(s)                                     (F4)  backward: the linear surrogate (S4)
    u' = ũ − z'·ϑ                                 (F5)  soft reset (gradient flows through z')

``reset="mod"`` (reset-to-mod, the spike-quantisation papers' LIF): z' is the graded, signed
spike of eq. (S6), z' = trunc(ũ/ϑ) clipped to ±K, and (F5) unchanged then leaves u' = ũ mod ϑ
(|u'| ≤ ϑ while |ũ| ≤ (K + 1)ϑ); the backward replaces σ'(ũ − ϑ) by (S7)
(docs/derivations/lif.md, "Reset-to-mod").

The surrogate is the official ``StepLinearGrad``, σ'(s) = max(0, 1 − |s|), not the double
Gaussian of the other models. The official code ships this cell but no network using it; the
golden vector lif_seed1.npz runs it inside the official RSNN wrapper (concat(x_t, z_{t−1}), LI
readout), which is resonet's network.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from ..errors import ConfigError
from ..surrogate import LINEAR, dgraded, graded_spike
from .model import Param, param_names

NAME = "lif"
PARAMS = (Param("tau_mem", "normal", (20.0, 5.0), "τ_m"),)  # LIFCell's init N(20, 5)
PARAM_NAMES = param_names(PARAMS)
STATE_NAMES = ("z", "u")
RESETS = ("none", "mod")  # "none": the model's own soft reset (F5); "mod": graded spikes (S6)
SURROGATE = LINEAR
BOUNDS = ()  # α = exp(−1/|τ|) lies in (0, 1) for every finite nonzero τ
THETA = 1.0
ACC_ROWS = ("alpha",)  # Σ ũ̄ (u − I) over batch and time (F9)
SPIKING_INIT = {"tau_mem": (20.0, 5.0)}  # LIFCell's own init
DECAYS = ()  # the official code has no low-precision LIF cell: α stays as computed
REFRACTORY = None

# No official script trains LIF. resonet trains it like ALIF, its adaptive sibling with the same
# membrane (α = exp(−1/|τ|), the same optimizer, learning rate, batch, epochs and readout per
# task), with LIFCell's own τ_m ~ N(20, 5) and every step recorded (the official ALIF scripts'
# sub-sequence of 10 unrecorded steps is not carried over): docs/training.md.
_TRAIN = {  # lr, batch, epochs, readout τ_o N(mean, std)
    "shd": (0.075, 32, 20, (20.0, 5.0)),
    "ecg": (0.05, 64, 400, (20.0, 0.5)),
    "smnist": (0.001, 256, 300, (20.0, 5.0)),
    "psmnist": (0.001, 256, 300, (20.0, 5.0)),
}
PRESETS: dict[str, dict[str, Any]] = {
    task: dict(init={"tau_mem": (20.0, 5.0), "out_tau": out_tau}, lr=lr, batch=batch,
               epochs=epochs, best_rule="<=", source="resonet")
    for task, (lr, batch, epochs, out_tau) in _TRAIN.items()
}


class Consts(NamedTuple):
    alpha: np.ndarray  # α = exp(−1/|τ_m|), (H,)
    reset: str = "none"  # "mod": graded spikes (S6)


def derive(params: dict, spec) -> Consts:
    t = params["tau_mem"]
    if not np.all(np.isfinite(t)) or np.any(t == 0):
        raise ConfigError("hidden.tau_mem must be finite and nonzero (a time constant in steps)")
    return Consts(np.exp(-1.0 / np.abs(t)), spec.reset)  # (F1)


def step_forward(c: Consts, prev: tuple, I: np.ndarray, spike) -> tuple:
    """One step, eqs. (F2)–(F5), in the official association order."""
    _, u = prev
    u_t = u * c.alpha + I * (1.0 - c.alpha)  # (F2)
    z = graded_spike(spike, u_t, THETA) if c.reset == "mod" else spike(u_t - THETA)  # (F3)–(F4)
    return z, u_t - z * THETA  # (F5)


def step_backward(
    c: Consts, prev: tuple, I: np.ndarray, new: tuple, dnew: tuple, dc: dict,
    dspike=SURROGATE.dspike,
) -> tuple:
    """VJP of one step (docs/derivations/lif.md, eqs. (F6)–(F9)); returns ``(dprev, Ī)``.

    The cell does not read z_{t−1}, so ``dprev[0]`` is zero; ``dspike`` is σ' (the model's
    surrogate unless a caller, e.g. the frozen-spike Jacobian of analysis.spectral, passes
    another).
    """
    _, u = prev
    dz, du_new = dnew
    u_t = u * c.alpha + I * (1.0 - c.alpha)
    dz_tot = dz - THETA * du_new  # (F6)   u' = ũ − z'ϑ
    dzdu = dgraded(dspike, u_t, THETA) if c.reset == "mod" else dspike(u_t - THETA)  # (S7)
    du_t = du_new + dz_tot * dzdu  # (F7)
    du = c.alpha * du_t  # (F8)
    dI = (1.0 - c.alpha) * du_t
    dc["alpha"] += (du_t * (u - I)).sum(axis=0)  # (F9)
    return (np.zeros_like(u), du), dI


def grad_accumulators(c: Consts) -> dict:
    return {"alpha": np.zeros_like(c.alpha)}


def raw_grads(params: dict, dc: dict) -> dict:
    """dα/dτ = α/τ² · sign(τ_raw), eq. (F10)."""
    tm = params["tau_mem"]
    alpha = np.exp(-1.0 / np.abs(tm))
    return {"tau_mem": dc["alpha"] * alpha / (tm * tm) * np.sign(tm)}


def finish(params: dict, c: Consts, acc: np.ndarray) -> dict:
    """Eqs. (F9)–(F10) from the kernels' sums: ``acc[0]`` = Σ ũ̄ (u − I)."""
    return raw_grads(params, {"alpha": acc[0].copy()})
