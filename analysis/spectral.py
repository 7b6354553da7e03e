"""Spectral radius of the per-step state-transition Jacobian: of one neuron and of a whole network.

**One neuron** (free dynamics, I = 0, no spike in the step). The (u, v) transition matrices:

    BRF   M = [[1 + δb, −δω], [δω, 1 + δb]],  b = p(ω) − b' − q       (a scaled rotation)
    RF    the same with b = −b'
    BHRF  A = [[1 − 2δb − δ²ω², −δω²], [δ, 1]],  b = 0.005ω² + b' + q  (the coded symplectic step)

With the refractory variable as a state the BRF/BHRF block on (u, v, q) is
[[M, ∂(u', v')/∂q], [0, 0.9]] (block triangular: q' = 0.9q + z does not see u, v when the spike
is held fixed), so its spectral radius is max(ρ(M), 0.9). Each model declares its blocks in
closed form (``frozen_jacobian`` of its module, :class:`resonet.neurons.model.FrozenJacobian`)
and its exact stable intervals (``stability``, :mod:`analysis.divergence`); here the radii are
computed numerically (eigenvalues of the blocks), which the tests compare with the closed forms.

**A whole network**, linearised at a state (z_{t−1}, u, v, q) and an input x_t, maps the state
to (z_t, u', v', q') through I_t = W_in x_t + W_rec z_{t−1}. Two Jacobians:

- ``mode="frozen"``: spikes are piecewise constant, Θ' = 0 (the true derivative away from the
  threshold). The z rows are zero, so J is block lower-triangular and its eigenvalues are {0} and
  those of the per-neuron blocks: ρ(J) = max over neurons -- the recurrent weights drop out.
- ``mode="surrogate"``: Θ' replaced by the surrogate σ' (what BPTT back-propagates through).
  This includes the recurrent spike path z_{t−1} → I_t → s_t → z_t and the spike's feedback into
  q; it is built row by row from the engine's own step VJPs (``step_backward``), so it is exactly
  the one-step Jacobian BPTT uses. Its radius can exceed 1 with strong recurrent weights near
  threshold even when every neuron is inside its stable interval.

For a model without a closed form (:func:`closed_forms` lists those with one) the frozen-spike
Jacobian is assembled like the surrogate one, from the model's step VJP with σ' = 0 (the true
derivative away from the threshold), so every model of the registry is analysed; the tests check
that this equals the closed forms where both exist.

The paper's A.11 claim (spectral radius at or below 1 under the boundary) is a statement about
the neuron's free dynamics, i.e. the frozen Jacobian; it holds exactly within the interval of
``damping_band`` of the model's module (not merely "below the boundary").
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from resonet.cli import run_main
from resonet.errors import ConfigError
from resonet.network import NetworkSpec, as_dense_input, check_params, forward, init_params
from resonet.neurons import DEFAULT_NEURON, NEURONS, get_neuron
from resonet.neurons.model import FrozenJacobian, frozen_jacobian, zero_state
from resonet.surrogate import spike_fn

from .common import add_out_arg, load_run, make_parser, out_dir, progress, pyplot, write_outputs
from .divergence import Q_MAX


# -- single neurons -------------------------------------------------------------------------------
def radius(m: np.ndarray) -> float:
    """Spectral radius max |eig(m)|."""
    return float(np.max(np.abs(np.linalg.eigvals(m))))


def closed_forms() -> tuple[str, ...]:
    """The registered models that declare their frozen-spike Jacobian in closed form."""
    return tuple(n for n, m in NEURONS.items() if isinstance(m, FrozenJacobian))


def _hidden(spec: NetworkSpec, params: dict):
    neuron = get_neuron(spec.neuron)
    c = neuron.derive({n: np.asarray(params[f"hidden.{n}"], dtype=np.float64)
                       for n in neuron.PARAM_NAMES}, spec)
    return neuron, c


def neuron_blocks(spec: NetworkSpec, params: dict, state: tuple | None = None) -> np.ndarray:
    """Per-neuron Jacobians (H, k, k) of the cell state (without z) with spikes held fixed.

    ``state`` is the previous state tuple of (H,) (or (1, H)) arrays in ``STATE_NAMES`` order;
    default: zeros (for BRF/BHRF q = 0). Variables: the model's ``STATE_NAMES[1:]`` (BRF/BHRF
    u, v, q; RF u, v; ALIF u, a). Where the current spike z_t enters (ALIF's and LIF's soft reset,
    hard resets) it is recomputed from the state with Θ and zero input current unless given via
    :func:`network_jacobian`. The model's closed form where it declares one, else its VJP.
    """
    neuron, c = _hidden(spec, params)
    H = spec.n_hidden
    if state is None:
        state = zero_state(neuron, 1, H)
    state = tuple(np.asarray(s, dtype=np.float64).reshape(H) for s in state)
    return frozen_jacobian(neuron, c, state, np.zeros(H))[0]


def neuron_radii(spec: NetworkSpec, params: dict, q: float = 0.0, with_q: bool = False) -> np.ndarray:
    """(H,) spectral radius of each neuron's free transition at refractory level q (the model's
    ``REFRACTORY`` state; BRF/BHRF: of (u, v), ALIF: of (u, a)). ``with_q=True`` includes the
    refractory variable as a state variable (BRF/BHRF: max(ρ, 0.9))."""
    neuron, _ = _hidden(spec, params)
    H = spec.n_hidden
    state = list(zero_state(neuron, 1, H))
    refr = neuron.REFRACTORY
    if refr is not None:
        state[neuron.STATE_NAMES.index(refr)] = np.full((1, H), float(q))
    J = neuron_blocks(spec, params, tuple(state))
    if not with_q and refr is not None:
        keep = [i for i, n in enumerate(neuron.STATE_NAMES[1:]) if n != refr]
        J = J[:, keep][:, :, keep]
    return np.abs(np.linalg.eigvals(J)).max(axis=-1)


# -- whole network --------------------------------------------------------------------------------
def network_step(spec: NetworkSpec, params: dict, state: tuple, x_t: np.ndarray, spike: str = "heaviside"):
    """One hidden-layer step of the engine: state (z, ...) (B, H) each, x_t (B, I) -> new state."""
    neuron, c = _hidden(spec, params)
    W = np.asarray(params["hidden.linear.weight"], dtype=np.float64)
    I_t = x_t @ W[:, :spec.n_in].T + state[0] @ W[:, spec.n_in:].T
    return neuron.step_forward(c, state, I_t, spike_fn(spike, neuron.SURROGATE))


def network_jacobian(spec: NetworkSpec, params: dict, state: tuple, x_t: np.ndarray | None = None,
                     mode: str = "frozen", spike: str = "heaviside") -> np.ndarray:
    """Jacobian (S·H, S·H) of one network step at ``state`` (tuple of (H,) arrays in the neuron's
    ``STATE_NAMES`` order, z first) and input ``x_t`` (I,) (default 0).

    Variables are ordered by state name, then neuron: [z_0..z_{H−1}, u_0.., v_0.., q_0..].
    ``mode``: ``"frozen"`` (Θ' = 0: the model's closed form, or its VJP with σ' = 0) or
    ``"surrogate"`` (Θ' := σ', from the engine's step VJPs). ``spike``: the forward spike
    function at which coefficients that contain z are evaluated (``"smooth"`` makes the
    surrogate Jacobian the exact Jacobian of the smooth-spike step).
    """
    check_params(spec, params)
    neuron, c = _hidden(spec, params)
    H, I = spec.n_hidden, spec.n_in
    S = len(neuron.STATE_NAMES)
    W = np.asarray(params["hidden.linear.weight"], dtype=np.float64)
    w_in, w_rec = W[:, :I], W[:, I:]
    state = tuple(np.asarray(s, dtype=np.float64).reshape(H) for s in state)
    if len(state) != S:
        raise ConfigError(f"state needs {S} arrays {neuron.STATE_NAMES}, got {len(state)}")
    x_t = np.zeros(I) if x_t is None else np.asarray(x_t, dtype=np.float64).reshape(I)
    I_t = x_t @ w_in.T + state[0] @ w_rec.T
    n = S * H
    fn = spike_fn(spike, neuron.SURROGATE)
    if mode == "surrogate":
        prev = tuple(np.broadcast_to(s, (n, H)).copy() for s in state)
        I_rep = np.broadcast_to(I_t, (n, H)).copy()
        new = neuron.step_forward(c, prev, I_rep, fn)
        eye = np.eye(n).reshape(n, S, H)  # row j = unit adjoint of output variable j
        dnew = tuple(eye[:, k, :] for k in range(S))
        dprev, dI = neuron.step_backward(c, prev, I_rep, new, dnew, neuron.grad_accumulators(c))
        rows = [dprev[0] + dI @ w_rec] + [dprev[k] for k in range(1, S)]  # z̄_prev gets Ī·W_rec
        return np.concatenate(rows, axis=1)  # (n, n): J[j, :] = ∂new_j / ∂prev
    if mode != "frozen":
        raise ConfigError(f"mode must be 'frozen' or 'surrogate', got {mode!r}")
    blocks, g_in, g_z, _ = frozen_jacobian(neuron, c, state, I_t, fn)
    J = np.zeros((n, n))
    idx = np.arange(H)
    for a in range(S - 1):
        for b in range(S - 1):
            J[(a + 1) * H + idx, (b + 1) * H + idx] = blocks[:, a, b]
    # ∂(cell var)/∂z_prev: through the current I_t = W_in x + W_rec z_prev, and the neuron's
    # own z_prev where the cell reads it (ALIF's adaptation)
    for a in range(S - 1):
        if np.any(g_in[:, a]):
            J[(a + 1) * H:(a + 2) * H, :H] = g_in[:, a][:, None] * w_rec
        if np.any(g_z[:, a]):
            J[(a + 1) * H + idx, idx] += g_z[:, a]
    return J


def run_states(spec: NetworkSpec, params: dict, x: np.ndarray, steps) -> list[tuple]:
    """The states *before* the given steps of a run on x (1, ·): [(state tuple of (H,), x_t)]."""
    x = as_dense_input(spec, x, np.float64)
    fwd = forward(spec, params, x)
    neuron = get_neuron(spec.neuron)
    out = []
    for t in steps:
        if t == 0:
            st = tuple(s[0] for s in zero_state(neuron, 1, spec.n_hidden))
        else:
            st = tuple(fwd.states[n][t - 1, 0] for n in neuron.STATE_NAMES)
        out.append((st, x[t, 0]))
    return out


def spectral_report(spec: NetworkSpec, params: dict, x: np.ndarray, n_states: int = 8,
                    q_max: float = Q_MAX, verbose: bool = False) -> dict:
    """Neuron radii at q = 0 and q_max, and network Jacobian radii along a run on ``x`` (T, 1, I)."""
    T = x.shape[0]
    steps = np.unique(np.linspace(0, T - 1, n_states).astype(int))
    res: dict[str, Any] = {"steps": steps, "frozen": [], "surrogate": [],
                           "max_neuron_radius_at_state": []}
    for k, (st, xt) in enumerate(run_states(spec, params, x, steps)):
        if verbose:
            progress(f"  Jacobian {k + 1}/{len(steps)} (step {steps[k]})")
        jf = network_jacobian(spec, params, st, xt, "frozen")
        js = network_jacobian(spec, params, st, xt, "surrogate")
        res["frozen"].append(radius(jf))
        res["surrogate"].append(radius(js))
        res["last_eigs_frozen"] = np.linalg.eigvals(jf)
        res["last_eigs_surrogate"] = np.linalg.eigvals(js)
    radii0 = neuron_radii(spec, params, 0.0)
    radii1 = neuron_radii(spec, params, q_max) if spec.model.REFRACTORY else radii0
    res.update(neuron_radius_q0=radii0, neuron_radius_qmax=radii1,
               max_neuron_radius_q0=float(radii0.max()), max_neuron_radius_qmax=float(radii1.max()),
               max_frozen=float(max(res["frozen"])), max_surrogate=float(max(res["surrogate"])))
    return res


# -- CLI ------------------------------------------------------------------------------------------
def build_parser():
    ap = make_parser("python -m analysis.spectral", __doc__.split("\n\n")[0] + """

Per-neuron radii of the free dynamics (at q = 0 and q = --q-max), and the spectral radius of the
frozen-spike and surrogate network Jacobians at states sampled along one run. Writes
spectral.png and spectral.json. Without a checkpoint a network is drawn with init_params.""")
    ap.add_argument("checkpoint", nargs="?", help="run directory or best.npz (default: a random network)")
    ap.add_argument("--neuron", default=DEFAULT_NEURON, choices=list(NEURONS),
                    help=f"neuron of the random network (default {DEFAULT_NEURON})")
    ap.add_argument("--hidden", type=int, default=32, help="hidden size of the random network (default 32)")
    ap.add_argument("--inputs", type=int, default=4, help="inputs of the random network (default 4)")
    ap.add_argument("--T", type=int, default=200, help="length of the run the states come from (default 200)")
    ap.add_argument("--rate", type=float, default=0.1,
                    help="input: Bernoulli spikes with this probability per step and channel "
                         "(default 0.1; 0 = none)")
    ap.add_argument("--gain", type=float, default=50.0, help="input spike amplitude (default 50)")
    ap.add_argument("--states", type=int, default=8, help="number of states to linearise at (default 8)")
    ap.add_argument("--q-max", type=float, default=Q_MAX,
                    help="refractory level for the second radius (default 10)")
    ap.add_argument("--seed", type=int, default=0, help="random seed (network and input)")
    add_out_arg(ap, "spectral")
    return ap


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.T < 1 or args.states < 1 or args.hidden < 1 or args.inputs < 1:
        raise ConfigError("--T, --states, --hidden and --inputs must be >= 1")
    if not 0.0 <= args.rate <= 1.0:
        raise ConfigError(f"--rate must lie in [0, 1], got {args.rate}")
    rng = np.random.default_rng(args.seed)
    if args.checkpoint:
        spec, params, _ = load_run(args.checkpoint)
        source = str(args.checkpoint)
    else:
        spec = NetworkSpec(args.neuron, args.inputs, args.hidden, 2)
        params = init_params(spec, rng)
        source = f"init_params(seed={args.seed})"
    x = args.gain * (rng.random((args.T, 1, spec.n_in)) < args.rate).astype(np.float64)
    progress(f"linearising {spec.neuron} network ({spec.n_hidden} hidden) at {args.states} states")
    rep = spectral_report(spec, params, x, args.states, args.q_max, verbose=True)
    plt = pyplot()
    fig, ax = plt.subplots(1, 3, figsize=(15, 4.5))
    ax[0].hist(rep["neuron_radius_q0"], bins=30, alpha=0.6, label="q = 0")
    if spec.model.REFRACTORY:
        ax[0].hist(rep["neuron_radius_qmax"], bins=30, alpha=0.6, label=f"q = {args.q_max:g}")
    ax[0].axvline(1.0, color="k", ls="--")
    ax[0].set(xlabel="spectral radius of the free transition", ylabel="neurons", title=source)
    ax[0].legend()
    th = np.linspace(0, 2 * np.pi, 400)
    ax[1].plot(np.cos(th), np.sin(th), "k", lw=0.5)
    for key, mk in (("last_eigs_frozen", "o"), ("last_eigs_surrogate", "x")):
        ev = rep[key]
        ax[1].scatter(ev.real, ev.imag, s=10, marker=mk, label=key.split("_")[-1])
    ax[1].set(aspect="equal", title="network Jacobian eigenvalues (last state)")
    ax[1].legend()
    ax[2].plot(rep["steps"], rep["frozen"], "o-", label="frozen spikes")
    ax[2].plot(rep["steps"], rep["surrogate"], "x-", label="surrogate")
    ax[2].axhline(1.0, color="k", ls="--")
    ax[2].set(xlabel="step", ylabel="spectral radius", title="network Jacobian along the run")
    ax[2].legend()
    fig.tight_layout()
    data = {"source": source, "spec": spec.to_dict(), "input_rate": args.rate, "input_gain": args.gain,
            **{k: v for k, v in rep.items() if not k.startswith("last_eigs")},
            "last_eigs_frozen": {"re": rep["last_eigs_frozen"].real, "im": rep["last_eigs_frozen"].imag},
            "last_eigs_surrogate": {"re": rep["last_eigs_surrogate"].real,
                                    "im": rep["last_eigs_surrogate"].imag}}
    write_outputs(out_dir(args.out, "spectral"), "spectral", fig, data)
    print(f"max neuron radius: {rep['max_neuron_radius_q0']:.6f} (q=0), {rep['max_neuron_radius_qmax']:.6f} "
          f"(q={args.q_max:g}); network Jacobian: frozen {rep['max_frozen']:.6f}, "
          f"surrogate {rep['max_surrogate']:.6f}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
