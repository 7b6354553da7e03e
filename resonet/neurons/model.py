"""What a neuron model declares, and the few generic helpers that read the declaration.

A model is a module of :mod:`resonet.neurons` (``brf.py``, ``alif.py``, …); the registry
(:data:`resonet.neurons.NEURONS`) maps its name to it. Everything the rest of resonet needs to
know about a model is a name in that module, declared once:

=================  ================================================================================
``NAME``, ``ID``   the name (``--neuron``, ``NetworkSpec.neuron``, golden files) and a stable
                   small integer (the registry's order)
``PARAMS``         :class:`Param` per per-neuron parameter, shape (H,), stored as ``hidden.<name>``,
                   in the official ``named_parameters()`` order, with its initial distribution
``PARAM_NAMES``    their names (``tuple(p.name for p in PARAMS)``)
``STATE_NAMES``    the state the cell returns each step, z first (golden files: hidden_state_order)
``RESETS``         the reset variants the model has (``NetworkSpec.reset``)
``SURROGATE``      its :class:`resonet.surrogate.Surrogate` (σ' of the backward, S of gradcheck)
``BOUNDS``         :class:`Bound` rules: |p| ≤ limit(spec), enforced after every optimizer step
``PRESETS``        per task, the training settings that differ from the task's defaults
                   (:mod:`resonet.presets`): initial ranges, optimizer, learning rate, …
``ACC_ROWS``       the per-neuron sums the fused kernels accumulate over batch and time
``derive``         ``derive(params, spec) -> Consts``: the cell's constants from the raw parameters
``finish``         ``finish(params, consts, acc) -> grads``: ``acc`` (len(ACC_ROWS), H) → the raw
                   parameters' gradients (the chain rule the reference does in ``raw_grads``)
``step_forward``,  the NumPy float64 reference of one step and its hand-derived VJP (see
``step_backward``  :mod:`resonet.neurons`)
=================  ================================================================================

The fast kernels of a model are the modules with the same file name under
``resonet/kernels/cpu/`` and ``resonet/kernels/cuda/`` (mirrored trees); each engine finds them
there by that name, so the registry never imports an engine.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import NamedTuple

import numpy as np

from ..errors import ConfigError

INITS = ("uniform", "normal")


class Param(NamedTuple):
    """A per-neuron parameter (H,), stored as ``hidden.<name>``."""

    name: str
    init: str  # "uniform": default = (low, high); "normal": default = (mean, std)
    default: tuple[float, float]  # the SHD preset's range (paper Table 3)
    symbol: str  # for figures: "ω", "τ_m", …


class Bound(NamedTuple):
    """|hidden.<param>| ≤ limit(spec), enforced by projection after every optimizer step."""

    param: str
    limit: Callable  # NetworkSpec -> float (a Python float, cast to the run's dtype when used)
    reason: str  # one line for the log


def param_names(params: tuple[Param, ...]) -> tuple[str, ...]:
    return tuple(p.name for p in params)


def init_hidden(model: ModuleType, H: int, rng: np.random.Generator, **ranges) -> dict:
    """Draw the per-neuron parameters of ``model`` in ``PARAMS`` order: U(low, high) or
    N(mean, std), each range from ``ranges[name]`` or the parameter's default."""
    unknown = sorted(set(ranges) - set(model.PARAM_NAMES))
    if unknown:
        raise ConfigError(f"{model.NAME} has no parameter(s) {unknown} to initialise; it has "
                          f"{list(model.PARAM_NAMES) or 'none'}")
    out = {}
    for p in model.PARAMS:
        a, b = ranges.get(p.name) or p.default
        out[p.name] = rng.uniform(a, b, H) if p.init == "uniform" else rng.normal(a, b, H)
    return out


def hidden_of(model: ModuleType, params: dict) -> dict:
    """``{name: params["hidden.<name>"]}`` of the model's per-neuron parameters."""
    return {n: params[f"hidden.{n}"] for n in model.PARAM_NAMES}


def project(model: ModuleType, spec, params: dict) -> int:
    """Apply the model's ``BOUNDS`` to ``params`` (the full parameter dict) in place: every
    |p| > limit becomes sign(p)·limit. Returns the number of entries changed."""
    count = 0
    for bound in model.BOUNDS:
        w = params[f"hidden.{bound.param}"]
        lim = bound.limit(spec)
        over = np.abs(w) > lim
        if over.any():
            count += int(over.sum())
            w[over] = np.sign(w[over]) * lim
    return count


def zero_state(model: ModuleType, B: int, H: int, dtype=np.float64) -> tuple:
    """All-zero state (B, H) per state name."""
    return tuple(np.zeros((B, H), dtype=dtype) for _ in model.STATE_NAMES)
