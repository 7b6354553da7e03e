"""Neuron models: one module each, holding the equations and the float64 NumPy reference, and the
registry of them (:data:`NEURONS`) -- the one place that lists the models.

Every hidden-neuron module satisfies :class:`resonet.neurons.model.NeuronModel` (its names are
listed there) with the reference step used by :mod:`resonet.network` (mirrored by the fast
kernels):

- ``step_forward(c, prev, I, spike) -> new`` and
  ``step_backward(c, prev, I, new, dnew, dc, dspike=σ') -> (dprev, dI)`` (accumulates into
  ``dc``; ``dspike`` defaults to the model's surrogate, the frozen-spike Jacobian passes 0)
- ``derive(params, spec) -> Consts``, ``grad_accumulators(c)``, ``raw_grads(params, dc)`` and
  ``finish(params, c, acc)``

and, where it has them, the closed forms of the analyses (``frozen_jacobian``, ``stability``,
and for the resonators ``effective_damping``, ``damping_band``, ``free_eigenvalues``).
:mod:`.li` is the leaky-integrator readout.

Adding a model: its module here, its kernels in ``kernels/cpu/`` and ``kernels/cuda/`` under the
same file name, and one :func:`register` line below. A model that lives in another package
(``pkg/neurons/x.py`` with ``pkg/kernels/cpu/x.py`` and ``pkg/kernels/cuda/x.py``) is added the
same way: ``resonet.neurons.register(pkg.neurons.x)``.
"""

from __future__ import annotations

from ..errors import ConfigError
from . import alif, bhrf, brf, if_, li, lif, rf
from .model import NeuronModel

NEURONS: dict[str, NeuronModel] = {}


def register(model: NeuronModel) -> NeuronModel:
    """Add a model module to the registry (in registration order); ConfigError if its name is
    taken by another module. Type checkers check the module against the contract here."""
    other = NEURONS.get(model.NAME)
    if other is not None and other is not model:
        raise ConfigError(f"a neuron model named {model.NAME!r} is registered already "
                          f"({getattr(other, '__name__', other)})")
    NEURONS[model.NAME] = model
    return model


def unregister(name: str) -> None:
    """Remove a model from the registry (tests that register a model of their own)."""
    NEURONS.pop(name, None)


# The registry, in the order of the paper's tables and the CLIs' listings.
register(brf)
register(bhrf)
register(rf)
register(alif)
register(lif)
register(if_)

DEFAULT_NEURON = brf.NAME  # the model of the BRF paper: the default of every entry point

__all__ = ["DEFAULT_NEURON", "NEURONS", "get_neuron", "neuron_names", "register", "unregister",
           "alif", "bhrf", "brf", "if_", "li", "lif", "rf"]


def neuron_names() -> tuple[str, ...]:
    """The registered models' names, in registry order (read at call time: a model registered
    later is included)."""
    return tuple(NEURONS)


def get_neuron(name: str) -> NeuronModel:
    """The neuron module for ``name`` (one of :data:`NEURONS`)."""
    try:
        return NEURONS[name]
    except KeyError:
        raise ConfigError(
            f"unknown neuron {name!r}; choose one of {', '.join(NEURONS)}"
        ) from None
