"""The recurrent spiking network over a whole sequence: the readable NumPy reference.

Shapes: T time, B batch, I inputs, H hidden, C classes; arrays are time-major (T, B, ·).

Architecture (docs/derivations/network.md, eqs. (N1)–(N4), (N13)–(N14)), from all-zero states:

    I_t = W_h · concat(x_t, z_{t−1}) + b      (N1)  W_h (H, I+H): columns [0, I) input, [I, I+H)
                                                    recurrent; b only with ``bias``
    (z_t, state_t) = cell(state_{t−1}, I_t)  (N2)  BRF, BHRF, RF, ALIF, … (resonet.neurons)
    o_t = α_o·o_{t−1} + (1 − α_o)·(W_o z_t + b_o)   (N3)  leaky-integrator readout (resonet.neurons.li)
    outputs = o_t for t ≥ sub_seq_length     (N4)  (only the last one with label_last)

Stacked layers (``n_hidden=(H_1, …, H_L)``, the official ``DoubleALIFRNN`` wiring): layer l runs
(N1)–(N2) with the spikes of layer l − 1 *of the same step* as its input x (N13), and the readout
reads the last layer (N14). A layer's recurrence over the whole sequence depends only on its input
train, so the layers run one after the other over all T steps (the same values as the official
loop, which interleaves them step by step).

Parameters are a plain dict in the official state-dict layout (``hidden.linear.weight``,
``hidden.omega``, ``hidden.b_offset`` or ``hidden.tau_mem``/``hidden.tau_adp``,
``hidden.linear.bias``, ``out.linear.weight``, ``out.linear.bias``, ``out.tau_mem``; stacked:
``hidden1.*``, ``hidden2.*``, …), so golden files and checkpoints map one to one.

:func:`forward` keeps a full tape (every state at every step); :func:`backward` is BPTT over that
tape with the hand-derived step VJPs of the neuron modules (eqs. (N5)–(N9)), layer by layer from
the readout down (N15)–(N16), optionally truncated.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .errors import ConfigError
from .events import SpikeEvents
from .neurons import get_neuron, li
from .neurons.model import derive_layer, hidden_of, init_hidden, zero_state
from .spec import RESETS, NetworkSpec, check_params, layer_params, truncation_cuts
from .surrogate import spike_fn

__all__ = ["RESETS", "Forward", "ForwardHooks", "NetworkSpec", "as_dense_input", "backward",
           "check_params", "forward", "init_params", "layer_backward", "layer_forward",
           "truncation_cuts"]


def init_params(spec: NetworkSpec, rng: np.random.Generator, init: dict | None = None) -> dict:
    """Official initialisation: per layer the neuron parameters from ``init``, Xavier-uniform W_h
    and (``bias``) b ~ U(±1/√(I_l + H_l)) (``torch.nn.Linear``'s default, which the official cells
    keep); Xavier-uniform W_o and (``bias``) b_o = 0 (the official ``LICell``), τ_o from ``init``.

    ``init`` maps hidden parameter names (``omega``, ``b_offset``, ``tau_mem``, ``tau_adp``) to
    (low, high) for uniform or (mean, std) for normal draws, and ``out_tau`` to (mean, std).
    Draws go layer by layer in that order, then the readout, so a one-layer network without
    biases draws exactly what it always did.
    """
    init = dict(init or {})
    C = spec.n_out
    out_tau = init.pop("out_tau", (20.0, 5.0))
    neuron = get_neuron(spec.neuron)
    params: dict = {}
    for l, (I, H) in enumerate(zip(spec.layer_inputs, spec.layers)):
        pre = spec.prefix(l)
        hidden = init_hidden(neuron, H, rng, **init)
        k = np.sqrt(6.0 / ((I + H) + H))
        params.update({f"{pre}.{n}": hidden[n] for n in neuron.PARAM_NAMES})
        params[f"{pre}.linear.weight"] = rng.uniform(-k, k, (H, I + H))
        if spec.bias:
            kb = 1.0 / np.sqrt(I + H)
            params[f"{pre}.linear.bias"] = rng.uniform(-kb, kb, H)
    out = li.init_params(C, spec.layers[-1], rng, tau=out_tau)
    params["out.tau_mem"] = out["tau_mem"]
    params["out.linear.weight"] = out["weight"]
    if spec.bias:
        params["out.linear.bias"] = np.zeros(C)
    return {k: params[k] for k in spec.param_shapes()}


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

    With stacked layers every layer's cell gets them.
    """

    consts: Callable | None = None
    readout_alpha: Callable | None = None
    after_step: Callable | None = None


@dataclass
class Forward:
    """Result of :func:`forward`: outputs plus the tape BPTT needs."""

    outputs: np.ndarray  # (T_rec, B, C) recorded readout
    states: dict  # state key (NetworkSpec.state_key) -> (T, B, H_l): each cell's state after each step
    currents: tuple  # per layer (T, B, H_l): I_t
    readout: np.ndarray  # (T, B, C) o_t at every step
    readout_in: np.ndarray  # (T, B, C) r_t = W_o z_t (+ b_o)
    x: np.ndarray  # (T, B, I) the dense input
    recorded: np.ndarray  # indices of the recorded steps
    spec: NetworkSpec  # the network that ran
    spike: object = "heaviside"  # the name of the spike function (or the function)
    init_state: tuple | None = None  # per layer, the state before step 0 (None: all zero)
    init_readout: np.ndarray | None = None  # o_{-1} (None: zero)

    def layer_states(self, layer: int) -> tuple:
        """The state traces of layer ``layer`` in STATE_NAMES order, each (T, B, H_l)."""
        return tuple(self.states[self.spec.state_key(layer, n)] for n in self.spec.model.STATE_NAMES)

    def layer_input(self, layer: int) -> np.ndarray:
        """The input train of layer ``layer`` (T, B, I_l): x, or the spikes of the layer below."""
        return self.x if layer == 0 else self.states[self.spec.state_key(layer - 1, "z")]

    @property
    def spikes(self) -> np.ndarray:
        """The spikes the readout reads (the last layer's), (T, B, H_L)."""
        return self.states[self.spec.state_key(self.spec.n_layers - 1, "z")]

    @property
    def num_spikes(self) -> np.ndarray:
        """Hidden spikes per sample over all T steps and all layers (B,); the SOPs of the paper.
        A graded spike z (reset-to-mod, eq. (S6)) counts |z| spikes."""
        return sum(np.abs(self.states[self.spec.state_key(l, "z")]).sum(axis=(0, 2))
                   for l in range(self.spec.n_layers))


def layer_forward(neuron, c, w: np.ndarray, bias, x: np.ndarray, state: tuple, fn,
                  after_step: Callable | None = None) -> tuple[tuple, np.ndarray]:
    """One recurrent layer over the whole sequence (eqs. (N1)–(N2)) from ``state`` (a tuple of
    (B, H) arrays): returns (states in STATE_NAMES order, each (T, B, H); currents (T, B, H)).
    ``w`` (H, I + H) = [W_in | W_rec], ``bias`` (H,) or None, ``x`` (T, B, I) the layer's input."""
    T, B, I = x.shape
    H = w.shape[0]
    w_in, w_rec = w[:, :I], w[:, I:]
    states = tuple(np.empty((T, B, H), dtype=x.dtype) for _ in neuron.STATE_NAMES)
    currents = np.empty((T, B, H), dtype=x.dtype)
    for t in range(T):
        currents[t] = x[t] @ w_in.T + state[0] @ w_rec.T  # (N1)
        if bias is not None:
            currents[t] += bias
        state = neuron.step_forward(c, state, currents[t], fn)  # (N2)
        if after_step is not None:
            state = after_step(t, state)
        for trace, s in zip(states, state):
            trace[t] = s
    return states, currents


def forward(
    spec: NetworkSpec,
    params: dict,
    x,
    *,
    spike="heaviside",
    init_state: dict | None = None,
    hooks: ForwardHooks | None = None,
) -> Forward:
    """Run the network over a whole sequence (eqs. (N1)–(N4), (N13)–(N14)) and keep the tape.

    ``x`` is a dense (T, B, I) array or :class:`~resonet.events.SpikeEvents`. ``spike`` chooses
    the forward spike function: ``"heaviside"`` (Θ, the model) or ``"smooth"`` (the model's
    smooth spike S, for exact gradient checks), or is a function s -> spike (the gradient check
    passes S wrapped to see its arguments). ``init_state`` continues from a given state
    instead of zeros: a dict of every layer's states (B, H_l) by their keys
    (``NetworkSpec.state_key``: the neuron's state names for one layer) and ``"o"`` (B, C) --
    e.g. the last step of a previous chunk; BPTT treats it as a constant (it is where a
    truncated gradient stops). ``hooks`` (:class:`ForwardHooks`) let an analysis change the
    pass; a tape made with hooks is not one :func:`backward` differentiates.
    """
    check_params(spec, params)
    dtype = np.result_type(params[f"{spec.prefix(0)}.linear.weight"], np.float32)
    x = as_dense_input(spec, x, dtype)
    T, B, _ = x.shape
    neuron = get_neuron(spec.neuron)
    fn = spike if callable(spike) else spike_fn(spike, neuron.SURROGATE)
    hooks = hooks or ForwardHooks()
    firsts, o0 = _initial(spec, neuron, init_state, B, dtype)
    states: dict = {}
    currents = []
    inp = x
    for l in range(spec.n_layers):  # (N13): layer l reads the spikes of layer l − 1
        c = derive_layer(neuron, spec, params, l)
        if hooks.consts is not None:
            c = hooks.consts(c)
        lp = layer_params(spec, params, l)
        first = firsts[l] if firsts is not None else zero_state(neuron, B, spec.layers[l], dtype)
        traces, cur = layer_forward(neuron, c, lp["weight"], lp["bias"], inp, first, fn,
                                    hooks.after_step)
        states.update({spec.state_key(l, n): s for n, s in zip(neuron.STATE_NAMES, traces)})
        currents.append(cur)
        inp = traces[0]

    a_o = li.alpha(params["out.tau_mem"], spec.readout)
    if hooks.readout_alpha is not None:
        a_o = hooks.readout_alpha(a_o)
    O, R = li.forward(a_o, params["out.linear.weight"], inp, o0,
                      params.get("out.linear.bias") if spec.bias else None)  # (N3), (N14)
    rec = spec.recorded(T)
    return Forward(O[rec], states, tuple(currents), O, R, x, rec, spec, spike, firsts, o0)


def _initial(spec: NetworkSpec, neuron, init_state: dict | None, B: int, dtype):
    """(per-layer state tuples, o_{−1}) from ``init_state`` of :func:`forward`, or (None, None)."""
    if init_state is None:
        return None, None
    keys = [spec.state_key(l, n) for l in range(spec.n_layers) for n in neuron.STATE_NAMES]
    try:
        firsts = tuple(tuple(np.asarray(init_state[spec.state_key(l, n)], dtype=dtype)
                             .reshape(B, H) for n in neuron.STATE_NAMES)
                       for l, H in enumerate(spec.layers))
        o0 = np.asarray(init_state["o"], dtype=dtype).reshape(B, spec.n_out)
    except (KeyError, ValueError) as exc:
        raise ConfigError(f"init_state needs {tuple(keys) + ('o',)} of shapes (B, H_l) and "
                          f"(B, C): {exc}") from None
    return firsts, o0


def layer_backward(neuron, c, w: np.ndarray, x: np.ndarray, states: tuple, currents: np.ndarray,
                   dz_ext: np.ndarray, init: tuple | None, cut: np.ndarray | None,
                   want_dx: bool = True) -> tuple[dict, np.ndarray, np.ndarray, np.ndarray]:
    """BPTT of one layer (eqs. (N6)–(N9)) given the adjoint its spikes receive from outside the
    layer at every step, ``dz_ext`` (T, B, H): the readout's z̄ᵒ (N5) for the last layer, the
    layer above's x̄ (N15) for the others. ``states`` (STATE_NAMES order, each (T, B, H)),
    ``currents`` and ``x`` are the layer's tape, ``init`` its state before step 0 (None: zero).

    Returns (the cell's accumulated adjoints ``dc``, dW (H, I + H), db = Σ Ī (H,) (N16),
    x̄ (T, B, I) of (N8), or an empty array without ``want_dx``).
    """
    T, B, I = x.shape
    H = w.shape[0]
    w_in, w_rec = w[:, :I], w[:, I:]
    dc = neuron.grad_accumulators(c)
    dW = np.zeros_like(w)
    db = np.zeros(H, dtype=w.dtype)
    dx = np.empty_like(x) if want_dx else np.empty((0, 0, 0), dtype=x.dtype)
    zeros = np.zeros((B, H), dtype=w.dtype)
    dnext = tuple(zeros for _ in neuron.STATE_NAMES)  # adjoint of state_t coming from step t+1
    dI_next = zeros  # Ī_{t+1}
    first = init or zero_state(neuron, B, H, w.dtype)
    for t in range(T - 1, -1, -1):
        if cut is not None and cut[t]:  # states detached after step t
            dnext = tuple(zeros for _ in neuron.STATE_NAMES)
            dI_next = zeros
        # eq. (N6): z_t feeds the readout or the layer above, I_{t+1} (recurrent weights) and,
        # for ALIF, the cell.
        dz = dz_ext[t] + dI_next @ w_rec + dnext[0]
        prev = tuple(s[t - 1] for s in states) if t > 0 else first
        new = tuple(s[t] for s in states)
        dprev, dI = neuron.step_backward(c, prev, currents[t], new, (dz,) + dnext[1:], dc)
        dW[:, :I] += dI.T @ x[t]  # eq. (N7)
        dW[:, I:] += dI.T @ prev[0]
        db += dI.sum(axis=0)  # eq. (N16)
        if want_dx:
            dx[t] = dI @ w_in  # eq. (N8)
        dnext, dI_next = dprev, dI
    return dc, dW, db, dx


def backward(
    spec: NetworkSpec,
    params: dict,
    fwd: Forward,
    d_outputs: np.ndarray,
    *,
    truncation: int | None = None,
) -> tuple[dict, np.ndarray]:
    """BPTT (eqs. (N5)–(N9), (N15)–(N16)): gradients of every parameter and of the input.

    ``d_outputs`` (T_rec, B, C) is ∂L/∂outputs (from :func:`resonet.loss.nll_loss`).
    ``truncation=k`` drops the adjoint flowing from step t+1 into every state of step t (z, u,
    v, q, a and the readout o, in every layer) at the end of each chunk of k steps
    (:func:`truncation_cuts`): truncated BPTT; the loss still covers the whole sequence and one
    gradient is returned. The adjoint between layers flows within a step and is never cut.
    Returns ``(grads, dx)`` with ``grads`` keyed like ``params``.
    """
    neuron = get_neuron(spec.neuron)
    T = fwd.x.shape[0]
    if d_outputs.shape != fwd.outputs.shape:
        raise ConfigError(
            f"d_outputs has shape {d_outputs.shape}, expected {fwd.outputs.shape} (the outputs)"
        )
    cut = truncation_cuts(T, truncation)

    # Readout first: it depends on the last layer's z only, so z̄ᵒ_t is known for every t
    # before the cell loops.
    G = np.zeros_like(fwd.readout)
    G[fwd.recorded] = d_outputs
    a_o = li.alpha(params["out.tau_mem"], spec.readout)
    g_out = {"weight": np.zeros_like(params["out.linear.weight"]), "alpha": np.zeros_like(a_o)}
    if spec.bias:
        g_out["bias"] = np.zeros_like(params["out.linear.bias"])
    dz = li.backward(a_o, params["out.linear.weight"], fwd.spikes, fwd.readout,
                     fwd.readout_in, G, g_out, cut, fwd.init_readout)  # (T, B, H_L), (N5)

    grads: dict = {}
    for l in range(spec.n_layers - 1, -1, -1):  # (N15): each layer's x̄ is z̄ of the one below
        pre = spec.prefix(l)
        c = derive_layer(neuron, spec, params, l)
        lp = layer_params(spec, params, l)
        init = fwd.init_state[l] if fwd.init_state is not None else None
        dc, dW, db, dz = layer_backward(neuron, c, lp["weight"], fwd.layer_input(l),
                                        fwd.layer_states(l), fwd.currents[l], dz, init, cut)
        raw = neuron.raw_grads(hidden_of(neuron, params, pre), dc)  # (N9)
        grads.update({f"{pre}.{n}": g for n, g in raw.items()})
        grads[f"{pre}.linear.weight"] = dW
        if spec.bias:
            grads[f"{pre}.linear.bias"] = db
    grads["out.tau_mem"] = li.tau_grad(params["out.tau_mem"], g_out["alpha"], spec.readout)
    grads["out.linear.weight"] = g_out["weight"]
    if spec.bias:
        grads["out.linear.bias"] = g_out["bias"]
    return {k: grads[k] for k in spec.param_shapes()}, dz
