"""IF: the non-leaky integrate-and-fire neuron of the leak paper ("Towards understanding the effect
of leak in spiking neural networks"), the τ_m → ∞ end of its LIF/IF comparison.

State (z, u), each (B, H); no per-neuron parameter (the threshold is fixed and there is no time
constant). One step from the previous state and the input current I
(docs/derivations/if.md, eqs. (I1)–(I4)):

    ũ  = u + I                                    (I1)  integration without leak
    s  = ũ − ϑ,  ϑ = 1                            (I2)
    z' = Θ(s)                                     (I3)  backward: the linear surrogate (S4)
    u' = (1 − z')·ũ                               (I4)  hard reset to the resting potential 0

Taken from the paper (its Algorithm 2, the τ_m = ∞ case of "U[t] = U[t−1] + W·O[t]; if U > V_th:
spike, U = 0; else U = e^{−1/τ_m}·U"): one step per time step with the whole weighted input
added (no dt, no (1 − α) factor), the strict threshold crossing, and the reset to the resting
potential 0 (a hard reset; gradients flow through z' as in every resonet model). resonet's
choices, documented in docs/derivations/if.md: the hidden layer is the RSNN of the other models
(input concat(x_t, z_{t−1}), LI readout) rather than the paper's feed-forward layers, and the
surrogate is LIF's linear one rather than the paper's straight-through 1/ϑ at spikes, so that
IF and LIF differ in the leak only.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..surrogate import LINEAR
from . import lif
from .model import param_names

NAME = "if"
PARAMS = ()  # nothing per neuron to learn
PARAM_NAMES = param_names(PARAMS)
STATE_NAMES = ("z", "u")
RESETS = ("none",)  # the hard reset (I4) is part of the model
SURROGATE = LINEAR
BOUNDS = ()
THETA = 1.0
ACC_ROWS = ()  # no per-neuron parameter, nothing to accumulate
SPIKING_INIT: dict = {}  # nothing to initialise
DECAYS = ()
REFRACTORY = None

# The leak comparison trains IF exactly like LIF (resonet.neurons.lif: ALIF's settings per task),
# so that the two differ in the leak only; the init has no τ_m (docs/training.md).
PRESETS = {task: {**p, "init": {"out_tau": p["init"]["out_tau"]}} for task, p in lif.PRESETS.items()}


class Consts(NamedTuple):
    """No per-neuron constants."""


def derive(params: dict, spec) -> Consts:
    return Consts()


def step_forward(c: Consts, prev: tuple, I: np.ndarray, spike) -> tuple:
    """One step, eqs. (I1)–(I4)."""
    _, u = prev
    u_t = u + I  # (I1)
    z = spike(u_t - THETA)  # (I2)–(I3)
    return z, (1.0 - z) * u_t  # (I4)


def step_backward(
    c: Consts, prev: tuple, I: np.ndarray, new: tuple, dnew: tuple, dc: dict,
    dspike=SURROGATE.dspike,
) -> tuple:
    """VJP of one step (docs/derivations/if.md, eqs. (I5)–(I7)); returns ``(dprev, Ī)``.

    The cell does not read z_{t−1} (``dprev[0]`` is zero) and has no parameter (``dc`` is
    untouched); ``dspike`` is σ' (see :func:`resonet.neurons.lif.step_backward`).
    """
    _, u = prev
    z = new[0]
    dz, du_new = dnew
    u_t = u + I
    dz_tot = dz - du_new * u_t  # (I5)   u' = (1 − z')ũ
    du_t = (1.0 - z) * du_new + dz_tot * dspike(u_t - THETA)  # (I6)
    return (np.zeros_like(u), du_t), du_t.copy()  # (I7): ũ = u + I, ∂ũ/∂u = ∂ũ/∂I = 1


def grad_accumulators(c: Consts) -> dict:
    return {}


def raw_grads(params: dict, dc: dict) -> dict:
    return {}


def finish(params: dict, c: Consts, acc: np.ndarray) -> dict:
    return {}
