"""Neuron models: one module each, holding the equations and the float64 NumPy reference.

Every hidden-neuron module exposes the same small interface (used by :mod:`resonet.network`
and mirrored by the fast kernels):

- ``NAME``, ``PARAM_NAMES`` (hidden parameter names, stored as ``hidden.<name>``),
  ``STATE_NAMES`` (z first), ``DEFAULT_INIT``
- ``init_params(H, rng, **ranges)``, ``derive(params, spec) -> Consts``, ``zero_state(B, H)``
- ``step_forward(c, prev, I, spike) -> new`` and
  ``step_backward(c, prev, I, new, dnew, dc) -> (dprev, dI)`` (accumulates into ``dc``)
- ``grad_accumulators(c)`` and ``raw_grads(params, dc)``

:mod:`.li` is the leaky-integrator readout.
"""

from __future__ import annotations

from types import ModuleType

from ..errors import ConfigError
from . import alif, bhrf, brf, li, rf

NEURONS: dict[str, ModuleType] = {"brf": brf, "bhrf": bhrf, "rf": rf, "alif": alif}

__all__ = ["NEURONS", "get_neuron", "alif", "bhrf", "brf", "li", "rf"]


def get_neuron(name: str) -> ModuleType:
    """The neuron module for ``name`` (``brf``, ``bhrf``, ``rf`` or ``alif``)."""
    try:
        return NEURONS[name]
    except KeyError:
        raise ConfigError(
            f"unknown neuron {name!r}; choose one of {', '.join(NEURONS)}"
        ) from None
