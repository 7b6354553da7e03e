"""What a neuron model declares (:class:`NeuronModel`), and the generic helpers that read the
declaration.

A model is a module of :mod:`resonet.neurons` (``brf.py``, ``alif.py``, …); the registry
(:data:`resonet.neurons.NEURONS`) maps its name to it. Everything the rest of resonet needs to
know about a model is a name in that module, declared once:

=================  ================================================================================
``NAME``           the name (``--neuron``, ``NetworkSpec.neuron``, golden files)
``PARAMS``         :class:`Param` per per-neuron parameter, shape (H,), stored as ``hidden.<name>``,
                   in the official ``named_parameters()`` order, with its initial distribution
``PARAM_NAMES``    their names (``tuple(p.name for p in PARAMS)``)
``STATE_NAMES``    the state the cell returns each step, z first (golden files: hidden_state_order)
``RESETS``         the reset variants the model has (``NetworkSpec.reset``)
``SURROGATE``      its :class:`resonet.surrogate.Surrogate` (σ' of the backward, S of gradcheck)
``BOUNDS``         :class:`Bound` rules: |p| ≤ limit(spec), enforced after every optimizer step
``PRESETS``        per task, the training settings that differ from the task's defaults
                   (:mod:`resonet.presets`): initial ranges, optimizer, learning rate, …
``SPIKING_INIT``   initial ranges at which a small random network of the model, driven by strong
                   input spikes, is lively: it spikes, it neither dies nor explodes (gradient
                   checks, analysis.toy, the bit-identity benchmark, tests)
``DECAYS``         the fields of ``Consts`` that are per-step decay factors a low-precision cell
                   would quantise after computing them (analysis.robustness, bit precision)
``REFRACTORY``     the state that raises the threshold after spikes (q), or None; analyses look
                   at the free dynamics with it at 0 and at its supremum
``ACC_ROWS``       the per-neuron sums the fused kernels accumulate over batch and time
``derive``         ``derive(params, spec) -> Consts``: the cell's constants from the raw parameters
``finish``         ``finish(params, consts, acc) -> grads``: ``acc`` (len(ACC_ROWS), H) → the raw
                   parameters' gradients (the chain rule the reference does in ``raw_grads``)
``step_forward``,  the NumPy float64 reference of one step and its hand-derived VJP (see
``step_backward``  :mod:`resonet.neurons`)
=================  ================================================================================

Optional: ``ABLATIONS``, name → one line, the mechanisms a run may remove from the model
(``--ablate``, ``NetworkSpec.ablate``; BRF's refractory period, smooth reset and divergence
boundary, the paper's Fig. 10); ``derive`` reads ``spec.ablate``.

Optional closed forms of the analyses (a model without them is analysed numerically, from its
step VJP): :class:`FrozenJacobian` (``frozen_jacobian``, analysis.spectral), :class:`Stability`
(``stability``, analysis.divergence) and, for the resonators with an (ω, b) plane,
:class:`Resonator` (``effective_damping``, ``damping_band``, ``free_eigenvalues``: the ω–b
figures, analysis.freqresp).

The fast kernels of a model are the modules with the same file name in the mirrored engine trees
(``<package>/kernels/cpu/<file>.py`` and ``<package>/kernels/cuda/<file>.py`` beside
``<package>/neurons/<file>.py``); each engine finds them there
(:func:`resonet.kernels.kernel_module`), so the registry never imports an engine.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple, Protocol, runtime_checkable

import numpy as np

from ..errors import ConfigError
from ..surrogate import Surrogate, heaviside

INITS = ("uniform", "normal")


def ablations(model) -> dict[str, str]:
    """The model's ``ABLATIONS`` (name → what removing it does), empty for a model without."""
    return dict(getattr(model, "ABLATIONS", {}))


class Param(NamedTuple):
    """A per-neuron parameter (H,), stored as ``hidden.<name>``."""

    name: str
    init: str  # "uniform": default = (low, high); "normal": default = (mean, std)
    default: tuple[float, float]  # the SHD preset's range (paper Table 3)
    symbol: str  # for figures: "ω", "τ_m", …


class Bound(NamedTuple):
    """|hidden.<param>| ≤ limit(spec), enforced by projection after every optimizer step."""

    param: str
    limit: Callable[[Any], float]  # NetworkSpec -> float (cast to the run's dtype when used)
    reason: str  # one line for the log


class NeuronModel(Protocol):
    """The contract of a hidden-neuron module (PEP 544: a module satisfies it by its names).

    ``c`` is the model's ``Consts`` (from ``derive``), ``prev``/``new`` the state tuples of (B, H)
    arrays in ``STATE_NAMES`` order, ``I`` the input current (B, H), ``spike`` the forward spike
    function (Θ, or the smooth S of the gradient check), ``dc`` the adjoint accumulators of
    ``grad_accumulators`` (added to, summed over the batch).
    """

    # read-only members (a module's constants satisfy them with their narrower types)
    @property
    def NAME(self) -> str: ...

    @property
    def PARAMS(self) -> tuple[Param, ...]: ...

    @property
    def PARAM_NAMES(self) -> tuple[str, ...]: ...

    @property
    def STATE_NAMES(self) -> tuple[str, ...]: ...

    @property
    def RESETS(self) -> tuple[str, ...]: ...

    @property
    def SURROGATE(self) -> Surrogate: ...

    @property
    def BOUNDS(self) -> tuple[Bound, ...]: ...

    @property
    def PRESETS(self) -> dict[str, dict]: ...

    @property
    def SPIKING_INIT(self) -> dict[str, tuple[float, float]]: ...

    @property
    def DECAYS(self) -> tuple[str, ...]: ...

    @property
    def REFRACTORY(self) -> str | None: ...

    @property
    def ACC_ROWS(self) -> tuple[str, ...]: ...

    def derive(self, params: dict, spec: Any) -> Any: ...

    def step_forward(self, c: Any, prev: tuple, I: np.ndarray, spike: Callable) -> tuple: ...

    def step_backward(self, c: Any, prev: tuple, I: np.ndarray, new: tuple,
                      dnew: tuple, dc: dict, dspike: Callable = ...) -> tuple: ...

    def grad_accumulators(self, c: Any) -> dict: ...

    def raw_grads(self, params: dict, dc: dict) -> dict: ...

    def finish(self, params: dict, c: Any, acc: np.ndarray) -> dict: ...


@runtime_checkable
class FrozenJacobian(Protocol):
    """A closed form of the one-step Jacobian with the spikes held fixed (Θ' = 0).

    ``frozen_jacobian(c, state, z_new) -> (A, g_in, g_z)`` for the previous ``state`` (tuple of
    (H,) arrays, ``STATE_NAMES`` order) and the step's spikes ``z_new`` (H,): ``A`` (H, S−1, S−1)
    the per-neuron Jacobian of the continuous state (the rows and columns of STATE_NAMES[1:]),
    ``g_in`` (H, S−1) its derivative by the input current I, ``g_z`` (H, S−1) by the neuron's
    own previous spike beyond the current (ALIF's adaptation reads z_{t−1}).
    """

    def frozen_jacobian(self, c: Any, state: tuple, z_new: np.ndarray
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...


@runtime_checkable
class Stability(Protocol):
    """A closed form of the per-neuron stability of the free dynamics (I = 0, no spike).

    ``stability(params, spec, q_max) -> dict`` of per-neuron arrays: ``radius_q0``,
    ``radius_qmax`` (spectral radius at the refractory variable 0 and ``q_max``; equal for
    models without one) and ``margin`` (how far the parameters are inside the stable region,
    negative outside), plus whatever else the model can say (e.g. BRF's p(ω))."""

    def stability(self, params: dict, spec: Any, q_max: float) -> dict: ...


@runtime_checkable
class Resonator(Protocol):
    """A model with an (ω, b) plane: the damped oscillator of the resonate-and-fire family.

    - ``effective_damping(params, spec) -> (ω, b)`` per neuron at q = 0 (``params`` the full
      dict, ``hidden.<name>``);
    - ``damping_band(omega, spec) -> (b_lo, b_hi)``: the b for which the free (u, v) step has
      spectral radius ≤ 1;
    - ``free_eigenvalues(omega, b_offset, spec) -> (..., 2)`` complex: both eigenvalues of the
      free (u, v) step at q = 0 for the raw parameters (ω, b').
    """

    def effective_damping(self, params: dict, spec: Any) -> tuple[np.ndarray, np.ndarray]: ...

    def damping_band(self, omega: Any, spec: Any) -> tuple[np.ndarray, np.ndarray]: ...

    def free_eigenvalues(self, omega: Any, b_offset: Any, spec: Any) -> np.ndarray: ...


def param_names(params: tuple[Param, ...]) -> tuple[str, ...]:
    return tuple(p.name for p in params)


def init_hidden(model: NeuronModel, H: int, rng: np.random.Generator, **ranges) -> dict:
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


def hidden_of(model: NeuronModel, params: dict, prefix: str = "hidden") -> dict:
    """``{name: params["<prefix>.<name>"]}`` of the model's per-neuron parameters (``prefix``:
    ``hidden``, or ``hidden1``, ``hidden2``, … of stacked layers, NetworkSpec.prefix)."""
    return {n: params[f"{prefix}.{n}"] for n in model.PARAM_NAMES}


def derive_layer(model: NeuronModel, spec, params: dict, layer: int = 0) -> Any:
    """The model's ``derive`` for hidden layer ``layer`` of ``spec`` (its parameters
    ``<prefix>.<name>`` of ``params``); a refusal names that layer's parameter (``hidden2.omega``
    rather than the model's generic ``hidden.omega``)."""
    pre = spec.prefix(layer)
    try:
        return model.derive(hidden_of(model, params, pre), spec)
    except ConfigError as exc:
        if pre == "hidden":
            raise
        raise ConfigError(str(exc).replace("hidden.", f"{pre}.")) from None


def project(model: NeuronModel, spec, params: dict) -> int:
    """Apply the model's ``BOUNDS`` to ``params`` (the full parameter dict, every hidden layer of
    ``spec``) in place: every |p| > limit becomes sign(p)·limit. Returns the number of entries
    changed."""
    count = 0
    for layer in range(spec.n_layers):
        for bound in model.BOUNDS:
            w = params[f"{spec.prefix(layer)}.{bound.param}"]
            lim = bound.limit(spec)
            over = np.abs(w) > lim
            if over.any():
                count += int(over.sum())
                w[over] = np.sign(w[over]) * lim
    return count


def zero_state(model: NeuronModel, B: int, H: int, dtype=np.float64) -> tuple:
    """All-zero state (B, H) per state name (the state before the first step)."""
    return tuple(np.zeros((B, H), dtype=dtype) for _ in model.STATE_NAMES)


def _no_surrogate(s):
    """σ' = 0: the VJP of a step is then its Jacobian with the spikes held fixed (frozen)."""
    return np.zeros_like(s)


def frozen_jacobian(model: NeuronModel, c, state: tuple, I, spike: Callable = heaviside
                    ) -> tuple:
    """``(A, g_in, g_z, z_new)`` of :class:`FrozenJacobian` at the previous ``state`` (tuple of
    (H,) arrays) and input current ``I`` (H,), with ``z_new`` the step's spikes (``spike``, Θ
    unless a caller evaluates the coefficients at the smooth spike): the model's
    closed form where it declares one, else assembled from its step VJP with σ' = 0 (the true
    derivative away from the threshold). Row a of the VJP form is the adjoint of the unit vector
    on state variable a (neurons are independent within a step)."""
    H = state[0].shape[0]
    prev = tuple(np.asarray(s, dtype=np.float64).reshape(1, H) for s in state)
    I = np.asarray(I, dtype=np.float64).reshape(1, H)
    new = model.step_forward(c, prev, I, spike)
    z_new = new[0][0]
    if isinstance(model, FrozenJacobian):
        return (*model.frozen_jacobian(c, tuple(s[0] for s in prev), z_new), z_new)
    S = len(model.STATE_NAMES)
    A = np.zeros((H, S - 1, S - 1))
    g_in = np.zeros((H, S - 1))
    g_z = np.zeros((H, S - 1))
    for a in range(1, S):
        dnew = tuple(np.full((1, H), float(k == a)) for k in range(S))
        dprev, dI = model.step_backward(c, prev, I, new, dnew, model.grad_accumulators(c),
                                        dspike=_no_surrogate)
        for b in range(1, S):
            A[:, a - 1, b - 1] = dprev[b][0]
        g_in[:, a - 1] = dI[0]
        g_z[:, a - 1] = dprev[0][0]
    return A, g_in, g_z, z_new
