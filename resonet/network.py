"""The recurrent spiking network over a whole sequence: the readable NumPy reference.

Shapes: T time, B batch, I inputs, H hidden, C classes; arrays are time-major (T, B, ·).

Architecture (docs/derivations/network.md, eqs. (N1)–(N4)), from all-zero states:

    I_t = W_h · concat(x_t, z_{t−1})        (N1)  W_h (H, I+H): columns [0, I) input, [I, I+H) recurrent
    (z_t, state_t) = cell(state_{t−1}, I_t)  (N2)  BRF, BHRF, RF or ALIF (resonet.neurons)
    o_t = α_o·o_{t−1} + (1 − α_o)·W_o z_t    (N3)  leaky-integrator readout (resonet.neurons.li)
    outputs = o_t for t ≥ sub_seq_length     (N4)  (only the last one with label_last)

Parameters are a plain dict in the official state-dict layout (``hidden.linear.weight``,
``hidden.omega``, ``hidden.b_offset`` or ``hidden.tau_mem``/``hidden.tau_adp``,
``out.linear.weight``, ``out.tau_mem``), so golden files and checkpoints map one to one.

:func:`forward` keeps a full tape (every state at every step); :func:`backward` is BPTT over that
tape with the hand-derived step VJPs of the neuron modules (eqs. (N5)–(N9)), optionally truncated.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .errors import ConfigError
from .events import SpikeEvents
from .neurons import get_neuron, li
from .neurons.model import hidden_of, init_hidden, zero_state
from .spec import RESETS, NetworkSpec, check_params, truncation_cuts
from .surrogate import spike_fn

__all__ = ["RESETS", "Forward", "ForwardHooks", "NetworkSpec", "as_dense_input", "backward",
           "check_params", "forward", "init_params", "truncation_cuts"]


def init_params(spec: NetworkSpec, rng: np.random.Generator, init: dict | None = None) -> dict:
    """Official initialisation: Xavier-uniform W_h and W_o, neuron parameters from ``init``.

    ``init`` maps hidden parameter names (``omega``, ``b_offset``, ``tau_mem``, ``tau_adp``) to
    (low, high) for uniform or (mean, std) for normal draws, and ``out_tau`` to (mean, std).
    """
    init = dict(init or {})
    H, I, C = spec.n_hidden, spec.n_in, spec.n_out
    out_tau = init.pop("out_tau", (20.0, 5.0))
    neuron = get_neuron(spec.neuron)
    hidden = init_hidden(neuron, H, rng, **init)
    k = np.sqrt(6.0 / ((I + H) + H))
    w_h = rng.uniform(-k, k, (H, I + H))
    out = li.init_params(C, H, rng, tau=out_tau)
    params = {f"hidden.{n}": hidden[n] for n in neuron.PARAM_NAMES}
    params["hidden.linear.weight"] = w_h
    params["out.tau_mem"] = out["tau_mem"]
    params["out.linear.weight"] = out["weight"]
    return params


def as_dense_input(spec: NetworkSpec, x, dtype=np.float64) -> np.ndarray:
    """Validate an input batch and return it as a dense (T, B, I) array."""
    if isinstance(x, SpikeEvents):
        x = x.to_dense(dtype)
    x = np.asarray(x, dtype=dtype)
    if x.ndim != 3 or x.shape[2] != spec.n_in or x.shape[0] < 1 or x.shape[1] < 1:
        raise ConfigError(f"input must have shape (T, B, I={spec.n_in}), got {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ConfigError("input contains NaN or Inf")
    return x


@dataclass(frozen=True)
class ForwardHooks:
    """Changes an analysis makes to the forward pass (analysis.robustness: low precision, spike
    deletion); the engines never see them.

    - ``consts(c) -> c``: replaces the cell's derived constants (e.g. quantised decays);
    - ``readout_alpha(a) -> a``: replaces the readout's α of eq. (L1);
    - ``after_step(t, new) -> new``: sees the state tuple a step returns and may replace it
      before it is stored, read by the readout (N3) and fed to the next step (N1), (N2).
    """

    consts: Callable | None = None
    readout_alpha: Callable | None = None
    after_step: Callable | None = None


@dataclass
class Forward:
    """Result of :func:`forward`: outputs plus the tape BPTT needs."""

    outputs: np.ndarray  # (T_rec, B, C) recorded readout
    states: dict  # state name -> (T, B, H), the cell's state after each step (z first)
    currents: np.ndarray  # (T, B, H) I_t
    readout: np.ndarray  # (T, B, C) o_t at every step
    readout_in: np.ndarray  # (T, B, C) r_t = W_o z_t
    x: np.ndarray  # (T, B, I) the dense input
    recorded: np.ndarray  # indices of the recorded steps
    spike: object = "heaviside"  # the name of the spike function (or the function)
    init_state: tuple | None = None  # the state before step 0 (None: all zero)
    init_readout: np.ndarray | None = None  # o_{-1} (None: zero)

    @property
    def spikes(self) -> np.ndarray:
        return self.states["z"]

    @property
    def num_spikes(self) -> np.ndarray:
        """Hidden spikes per sample over all T steps (B,); the SOPs of the paper."""
        return self.states["z"].sum(axis=(0, 2))


def forward(
    spec: NetworkSpec,
    params: dict,
    x,
    *,
    spike="heaviside",
    init_state: dict | None = None,
    hooks: ForwardHooks | None = None,
) -> Forward:
    """Run the network over a whole sequence (eqs. (N1)–(N4)) and keep the tape.

    ``x`` is a dense (T, B, I) array or :class:`~resonet.events.SpikeEvents`. ``spike`` chooses
    the forward spike function: ``"heaviside"`` (Θ, the model) or ``"smooth"`` (the model's
    smooth spike S, for exact gradient checks), or is a function s -> spike (the gradient check
    passes S wrapped to see its arguments). ``init_state`` continues from a given state
    instead of zeros: a dict of the neuron's state names (B, H) and ``"o"`` (B, C) -- e.g. the
    last step of a previous chunk; BPTT treats it as a constant (it is where a truncated
    gradient stops). ``hooks`` (:class:`ForwardHooks`) let an analysis change the pass; a tape
    made with hooks is not one :func:`backward` differentiates.
    """
    check_params(spec, params)
    dtype = np.result_type(params["hidden.linear.weight"], np.float32)
    x = as_dense_input(spec, x, dtype)
    T, B, I = x.shape
    H = spec.n_hidden
    neuron = get_neuron(spec.neuron)
    fn = spike if callable(spike) else spike_fn(spike, neuron.SURROGATE)
    hooks = hooks or ForwardHooks()
    c = neuron.derive(hidden_of(neuron, params), spec)
    if hooks.consts is not None:
        c = hooks.consts(c)
    W = params["hidden.linear.weight"]
    w_in, w_rec = W[:, :I], W[:, I:]

    states = {n: np.empty((T, B, H), dtype=dtype) for n in neuron.STATE_NAMES}
    currents = np.empty((T, B, H), dtype=dtype)
    state = zero_state(neuron, B, H, dtype)
    o0 = None
    if init_state is not None:
        try:
            state = tuple(np.asarray(init_state[n], dtype=dtype).reshape(B, H)
                          for n in neuron.STATE_NAMES)
            o0 = np.asarray(init_state["o"], dtype=dtype).reshape(B, spec.n_out)
        except (KeyError, ValueError) as exc:
            raise ConfigError(
                f"init_state needs {neuron.STATE_NAMES + ('o',)} of shapes (B, H) and (B, C): {exc}"
            ) from None
    first = state
    for t in range(T):
        currents[t] = x[t] @ w_in.T + state[0] @ w_rec.T  # (N1)
        state = neuron.step_forward(c, state, currents[t], fn)  # (N2)
        if hooks.after_step is not None:
            state = hooks.after_step(t, state)
        for n, s in zip(neuron.STATE_NAMES, state):
            states[n][t] = s

    a_o = li.alpha(params["out.tau_mem"])
    if hooks.readout_alpha is not None:
        a_o = hooks.readout_alpha(a_o)
    O, R = li.forward(a_o, params["out.linear.weight"], states["z"], o0)  # (N3)
    rec = spec.recorded(T)
    return Forward(O[rec], states, currents, O, R, x, rec, spike,
                   first if init_state is not None else None, o0)


def backward(
    spec: NetworkSpec,
    params: dict,
    fwd: Forward,
    d_outputs: np.ndarray,
    *,
    truncation: int | None = None,
) -> tuple[dict, np.ndarray]:
    """BPTT (eqs. (N5)–(N9)): gradients of every parameter and of the input.

    ``d_outputs`` (T_rec, B, C) is ∂L/∂outputs (from :func:`resonet.loss.nll_loss`).
    ``truncation=k`` drops the adjoint flowing from step t+1 into every state of step t (z, u,
    v, q, a and the readout o) at the end of each chunk of k steps (:func:`truncation_cuts`):
    truncated BPTT; the loss still covers the whole sequence and one gradient is returned.
    Returns ``(grads, dx)`` with ``grads`` keyed like ``params``.
    """
    neuron = get_neuron(spec.neuron)
    x = fwd.x
    T, B, I = x.shape
    H = spec.n_hidden
    W = params["hidden.linear.weight"]
    w_in, w_rec = W[:, :I], W[:, I:]
    if d_outputs.shape != fwd.outputs.shape:
        raise ConfigError(
            f"d_outputs has shape {d_outputs.shape}, expected {fwd.outputs.shape} (the outputs)"
        )
    cut = truncation_cuts(T, truncation)

    # Readout first: it depends on z only, so z̄ᵒ_t is known for every t before the cell loop.
    G = np.zeros_like(fwd.readout)
    G[fwd.recorded] = d_outputs
    a_o = li.alpha(params["out.tau_mem"])
    g_out = {"weight": np.zeros_like(params["out.linear.weight"]), "alpha": np.zeros_like(a_o)}
    dz_out = li.backward(a_o, params["out.linear.weight"], fwd.states["z"], fwd.readout,
                         fwd.readout_in, G, g_out, cut, fwd.init_readout)  # (T, B, H), (N5)

    c = neuron.derive(hidden_of(neuron, params), spec)
    dc = neuron.grad_accumulators(c)
    dW = np.zeros_like(W)
    dx = np.empty_like(x)
    names = neuron.STATE_NAMES
    zeros = np.zeros((B, H), dtype=W.dtype)
    dnext = tuple(zeros for _ in names)  # adjoint of state_t coming from step t+1
    dI_next = zeros  # Ī_{t+1}
    for t in range(T - 1, -1, -1):
        if cut is not None and cut[t]:  # states detached after step t
            dnext = tuple(zeros for _ in names)
            dI_next = zeros
        # eq. (N6): z_t feeds the readout, I_{t+1} (recurrent weights) and, for ALIF, the cell.
        dz = dz_out[t] + dI_next @ w_rec + dnext[0]
        if t > 0:
            prev = tuple(fwd.states[n][t - 1] for n in names)
        else:
            prev = fwd.init_state or zero_state(neuron, B, H, W.dtype)
        new = tuple(fwd.states[n][t] for n in names)
        dprev, dI = neuron.step_backward(c, prev, fwd.currents[t], new, (dz,) + dnext[1:], dc)
        z_prev = prev[0]
        dW[:, :I] += dI.T @ x[t]  # eq. (N7)
        dW[:, I:] += dI.T @ z_prev
        dx[t] = dI @ w_in  # eq. (N8)
        dnext, dI_next = dprev, dI

    grads = {f"hidden.{n}": g for n, g in neuron.raw_grads(hidden_of(neuron, params), dc).items()}  # (N9)
    grads["hidden.linear.weight"] = dW
    grads["out.tau_mem"] = li.tau_grad(params["out.tau_mem"], g_out["alpha"])
    grads["out.linear.weight"] = g_out["weight"]
    return {k: grads[k] for k in spec.param_shapes()}, dx
