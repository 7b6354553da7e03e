"""Neuron models: one module each, holding the equations and the float64 NumPy reference, and the
registry of them (:data:`NEURONS`).

Every hidden-neuron module declares the names listed in :mod:`resonet.neurons.model` (``NAME``,
``ID``, ``PARAMS``, ``STATE_NAMES``, ``RESETS``, ``SURROGATE``, ``BOUNDS``, ``PRESETS``,
``ACC_ROWS``, ``derive``, ``finish``) and the reference step used by :mod:`resonet.network`
(mirrored by the fast kernels):

- ``zero_state(B, H)``
- ``step_forward(c, prev, I, spike) -> new`` and
  ``step_backward(c, prev, I, new, dnew, dc, dspike=σ') -> (dprev, dI)`` (accumulates into
  ``dc``; ``dspike`` defaults to the model's surrogate, analysis.spectral passes 0 for the
  frozen-spike Jacobian)
- ``grad_accumulators(c)`` and ``raw_grads(params, dc)``

Resonators also give ``effective_damping(params, spec) -> (ω, b)`` (the ω–b figure).
:mod:`.li` is the leaky-integrator readout. Adding a model: its module here, its kernels under
``resonet/kernels/cpu/`` and ``resonet/kernels/cuda/`` (same file name), and one entry below.
"""

from __future__ import annotations

from types import ModuleType

from ..errors import ConfigError
from . import alif, bhrf, brf, if_, li, lif, rf

# The registry: every hidden-neuron model (one entry each), by name in ID order.
_MODELS = (brf, bhrf, rf, alif, lif, if_)
NEURONS: dict[str, ModuleType] = {m.NAME: m for m in sorted(_MODELS, key=lambda m: m.ID)}

__all__ = ["NEURONS", "get_neuron", "alif", "bhrf", "brf", "if_", "li", "lif", "rf"]


def get_neuron(name: str) -> ModuleType:
    """The neuron module for ``name`` (one of :data:`NEURONS`)."""
    try:
        return NEURONS[name]
    except KeyError:
        raise ConfigError(
            f"unknown neuron {name!r}; choose one of {', '.join(NEURONS)}"
        ) from None
