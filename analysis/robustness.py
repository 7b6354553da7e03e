"""Robustness of a trained network (paper A.10, Fig. 12), following reference-spec §9.1–9.4.

Metrics per (level, repeat): loss (mean NLL per recorded step; for label-last tasks the official
``loss.item()``), accuracy (%) and SOPs (hidden spikes per sample over all T steps; /T per step).

1. **Bit precision** (§9.1). Q_f(x) = round(2^f·x)·2^(−f), round half to even, in float32; f is
   the number of fractional bits (the integer part is unbounded). Applied once to **every
   parameter** (W_h, ω_raw, b'_raw / τ_m, τ_a, W_o, τ_out) and to the input, and per step to the
   readout's α = Q_f(exp(−1/|τ_out|)) (and ALIF's α and ρ). States, currents, p(ω), b and the
   thresholds are not quantised. (At small f the readout α rounds to 1, (1 − α) = 0, the output
   stays 0 and every sample is predicted as class 0.)
2. **Input noise** (§9.2). x̃ = x + σ·ε, ε ~ N(0, 1) per element, **no clipping**.
3. **Spike deletion** (§9.3). After the cell update of step t each hidden spike is kept iff
   U[0,1) > p. The kept spikes replace z_t for the readout at t, the recurrent input at t+1, ALIF's
   adaptation a_{t+1} and the SOP count; what the cell already did at t with the undeleted spike
   (BRF's q_t, ALIF's soft reset) stands. This needs its own forward loop
   (:func:`perturbed_forward`, the engine's neuron steps in a readable loop).
4. **Synaptic noise** (§9.4). Every 2-D parameter (W_h, W_o): W ← W·(1 + σ·ε), ε ~ N(0, 1) per
   element; ω, b', τ untouched.

Default levels are the official ones: f ∈ {1, 2, 4, 8, 16, 32}; σ ∈ {0, 0.05, …, 0.35};
p ∈ {0, 0.1, …, 0.9}; σ_rel ∈ {0, 0.1, …, 1.0}; 5 repeats of the random ones (seeded:
``default_rng([seed, level, repeat])``). Input and synaptic noise run on ``--backend``; bit
precision and deletion run the float64 loop of this module.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np

from resonet.cli import run_main
from resonet.errors import ConfigError
from resonet.network import NetworkSpec, as_dense_input, check_params
from resonet.neurons import get_neuron, li
from resonet.surrogate import heaviside

from .common import (
    add_backend_arg,
    add_data_args,
    add_out_arg,
    check_data,
    evaluate,
    float_list,
    load_eval_data,
    load_run,
    make_parser,
    out_dir,
    progress,
    pyplot,
    write_outputs,
)

KINDS = ("bits", "input_noise", "deletion", "synaptic")
DEFAULT_LEVELS = {
    "bits": [1, 2, 4, 8, 16, 32],
    "input_noise": [round(v, 10) for v in np.arange(0, 0.4, 0.05)],
    "deletion": [round(v, 10) for v in np.arange(0, 1, 0.1)],
    "synaptic": [round(v, 10) for v in np.arange(0, 1.1, 0.1)],
}
LEVEL_NAMES = {"bits": "fractional bits f", "input_noise": "input noise σ", "deletion": "deletion rate p",
               "synaptic": "synaptic noise σ_rel"}


# -- perturbations --------------------------------------------------------------------------------
def quantise(x, bits: int) -> np.ndarray:
    """Q_f(x) = round(2^f·x)·2^(−f) in float32, round half to even (§9.1); returns float64."""
    if int(bits) != bits or bits < 0:
        raise ConfigError(f"bits (fractional) must be an integer >= 0, got {bits}")
    scale = np.float32(2.0 ** int(bits))
    xf = np.asarray(x, dtype=np.float32)
    return (np.round(xf * scale) / scale).astype(np.float64)


def quantise_params(params: dict, bits: int) -> dict:
    return {k: quantise(v, bits) for k, v in params.items()}


def synaptic_noise(params: dict, sigma: float, rng: np.random.Generator) -> dict:
    """W·(1 + σ·ε) for every 2-D parameter; the others are returned unchanged (copies)."""
    return {k: (v * (1.0 + sigma * rng.standard_normal(v.shape)) if np.ndim(v) == 2 else np.array(v))
            for k, v in params.items()}


@dataclass
class Run:
    outputs: np.ndarray  # (T_rec, B, C)
    num_spikes: np.ndarray  # (B,) spikes that survived deletion, over all T steps
    states: dict | None = None  # state name -> (T, B, H); "z" = after deletion
    z_cell: np.ndarray | None = None  # (T, B, H) the cell's own (undeleted) spikes


def perturbed_forward(spec: NetworkSpec, params: dict, x, *, delete_p: float = 0.0,
                      rng: np.random.Generator | None = None, alpha_bits: int | None = None,
                      return_states: bool = False) -> Run:
    """The network forward pass (as :func:`resonet.network.forward`, Heaviside spikes, float64)
    with spike deletion at rate ``delete_p`` (§9.3) and, with ``alpha_bits``, the per-step decay
    factors quantised (readout α, ALIF α and ρ; §9.1). With neither it equals the engine's forward.
    """
    check_params(spec, params)
    if not 0.0 <= delete_p <= 1.0:
        raise ConfigError(f"deletion rate must lie in [0, 1], got {delete_p}")
    if delete_p > 0 and rng is None:
        raise ConfigError("spike deletion needs a random generator (rng)")
    x = as_dense_input(spec, x, np.float64)
    T, B, I = x.shape  # noqa: E741
    H = spec.n_hidden
    neuron = get_neuron(spec.neuron)
    c = neuron.derive({n: np.asarray(params[f"hidden.{n}"], dtype=np.float64) for n in neuron.PARAM_NAMES},
                      spec)
    a_o = li.alpha(np.asarray(params["out.tau_mem"], dtype=np.float64))
    if alpha_bits is not None:
        a_o = quantise(a_o, alpha_bits)
        if spec.neuron == "alif":  # ALIFCellBP quantises α and ρ after the exp
            c = c._replace(alpha=quantise(c.alpha, alpha_bits), rho=quantise(c.rho, alpha_bits))
    W = np.asarray(params["hidden.linear.weight"], dtype=np.float64)
    w_in, w_rec = W[:, :I], W[:, I:]
    W_o = np.asarray(params["out.linear.weight"], dtype=np.float64)
    rec = spec.recorded(T)
    is_rec = np.zeros(T, dtype=bool)
    is_rec[rec] = True

    outputs = np.empty((len(rec), B, spec.n_out))
    n_spikes = np.zeros(B)
    states = {n: np.empty((T, B, H)) for n in neuron.STATE_NAMES} if return_states else None
    z_cell = np.empty((T, B, H)) if return_states else None
    state = neuron.zero_state(B, H)
    o = np.zeros((B, spec.n_out))
    k = 0
    for t in range(T):
        I_t = x[t] @ w_in.T + state[0] @ w_rec.T  # (N1), z_{t−1} after deletion
        state = neuron.step_forward(c, state, I_t, heaviside)  # (N2): q_t, soft reset use the cell's z
        z = state[0]
        if return_states:
            z_cell[t] = z
        if delete_p > 0:
            z = z * (rng.random((B, H)) > delete_p)  # kept iff U[0,1) > p
            state = (z,) + tuple(state[1:])
        n_spikes += z.sum(axis=1)
        o = o * a_o + (z @ W_o.T) * (1.0 - a_o)  # (N3), as resonet.neurons.li.forward
        if is_rec[t]:
            outputs[k] = o
            k += 1
        if return_states:
            for n, s_ in zip(neuron.STATE_NAMES, state):
                states[n][t] = s_
    return Run(outputs, n_spikes, states, z_cell)


# -- evaluation per level -------------------------------------------------------------------------
def evaluate_level(kind: str, level: float, spec: NetworkSpec, params: dict, data, *,
                   rng: np.random.Generator | None = None, backend="reference",
                   batch_size: int = 256) -> dict:
    """Loss, accuracy, SOPs at one perturbation level (see the module docstring)."""
    if kind == "bits":
        qp = quantise_params(params, int(level))

        def runner(s, p, x):
            r = perturbed_forward(s, p, quantise(x, int(level)), alpha_bits=int(level))
            return r.outputs, r.num_spikes

        return evaluate(spec, qp, data, runner=runner, batch_size=batch_size)
    if kind == "input_noise":
        if level < 0:
            raise ConfigError(f"input noise sigma must be >= 0, got {level}")
        return evaluate(spec, params, data, backend=backend, batch_size=batch_size,
                        x_transform=lambda x, i: x + level * rng.standard_normal(x.shape))
    if kind == "deletion":

        def runner(s, p, x):
            r = perturbed_forward(s, p, x, delete_p=level, rng=rng)
            return r.outputs, r.num_spikes

        return evaluate(spec, params, data, runner=runner, batch_size=batch_size)
    if kind == "synaptic":
        if level < 0:
            raise ConfigError(f"synaptic noise sigma must be >= 0, got {level}")
        return evaluate(spec, synaptic_noise(params, level, rng), data, backend=backend,
                        batch_size=batch_size)
    raise ConfigError(f"unknown perturbation {kind!r}; choose one of {KINDS}")


def sweep(kind: str, levels, spec: NetworkSpec, params: dict, data, *, repeats: int = 5, seed: int = 0,
          backend="reference", batch_size: int = 256, verbose: bool = False) -> dict:
    """Every level × repeat (bit precision is deterministic: one repeat). Arrays (levels, repeats)."""
    if repeats < 1:
        raise ConfigError(f"repeats must be >= 1, got {repeats}")
    reps = 1 if kind == "bits" else repeats
    res = {"kind": kind, "levels": list(levels), "repeats": reps, "seed": seed}
    keys = ("loss", "accuracy", "accuracy_labelled", "sops", "sops_per_step")
    arr = {k: np.zeros((len(levels), reps)) for k in keys}
    for i, level in enumerate(levels):
        for r in range(reps):
            rng = np.random.default_rng([seed, i, r])
            m = evaluate_level(kind, level, spec, params, data, rng=rng, backend=backend,
                               batch_size=batch_size)
            for k in keys:
                arr[k][i, r] = m[k]
        if verbose:
            progress(f"  {kind} {level:g}: accuracy {arr['accuracy'][i].mean():.2f} % "
                     f"SOPs {arr['sops'][i].mean():.1f}")
    for k in keys:
        res[k] = arr[k]
        res[f"{k}_mean"] = arr[k].mean(axis=1)
        res[f"{k}_std"] = arr[k].std(axis=1)
    return res


# -- CLI ------------------------------------------------------------------------------------------
def _parse_kinds(text: str) -> list[str]:
    kinds = [k.strip().replace("-", "_") for k in text.split(",") if k.strip()]
    if kinds == ["all"]:
        return list(KINDS)
    bad = [k for k in kinds if k not in KINDS]
    if bad or not kinds:
        raise ConfigError(f"--kinds: unknown {bad}; choose from {', '.join(KINDS)} or all")
    return kinds


def build_parser():
    ap = make_parser("python -m analysis.robustness", __doc__.split("\n\n")[0] + """

Evaluates a checkpoint under reduced bit precision, input noise, spike deletion and synaptic
noise (reference-spec §9.1-9.4); writes robustness.png (accuracy and SOPs per level) and
robustness.json (every level and repeat).""")
    add_data_args(ap)
    ap.add_argument("--kinds", default="all",
                    help="comma-separated perturbations: bits, input-noise, deletion, synaptic, "
                         "or all (default)")
    for k in KINDS:
        dflt = ",".join(f"{v:g}" for v in DEFAULT_LEVELS[k])
        ap.add_argument(f"--{k.replace('_', '-')}-levels", type=float_list, default=None, metavar="L,L,...",
                        help=f"levels of {LEVEL_NAMES[k]} (default {dflt})")
    ap.add_argument("--repeats", type=int, default=5, help="repeats of each random level (default 5)")
    ap.add_argument("--seed", type=int, default=0, help="base seed of the noise (default 0)")
    add_backend_arg(ap)
    add_out_arg(ap, "robustness")
    return ap


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    kinds = _parse_kinds(args.kinds)
    levels = {}
    for k in kinds:
        lv = getattr(args, f"{k}_levels") or DEFAULT_LEVELS[k]
        if k == "bits" and any(v < 0 or int(v) != v for v in lv):
            raise ConfigError(f"--bits-levels must be integers >= 0, got {lv}")
        if k == "deletion" and any(not 0 <= v <= 1 for v in lv):
            raise ConfigError(f"--deletion-levels must lie in [0, 1], got {lv}")
        if k in ("input_noise", "synaptic") and any(v < 0 for v in lv):
            raise ConfigError(f"--{k.replace('_', '-')}-levels must be >= 0, got {lv}")
        levels[k] = [int(v) for v in lv] if k == "bits" else lv
    if args.repeats < 1:
        raise ConfigError(f"--repeats must be >= 1, got {args.repeats}")
    spec, params, config = load_run(args.checkpoint)
    data = load_eval_data(args.data, config, args.limit)
    check_data(spec, data)
    results = {}
    for k in kinds:
        progress(f"{k}: {len(levels[k])} levels on {data.n} samples ({data.source})")
        results[k] = sweep(k, levels[k], spec, params, data, repeats=args.repeats, seed=args.seed,
                           backend=args.backend, batch_size=args.batch_size, verbose=True)
    plt = pyplot()
    fig, axes = plt.subplots(1, len(kinds), figsize=(4.5 * len(kinds), 4), squeeze=False)
    for ax, k in zip(axes[0], kinds):
        r = results[k]
        ax.errorbar(r["levels"], r["accuracy_mean"], yerr=r["accuracy_std"], fmt="o-", color="C0")
        ax.set(xlabel=LEVEL_NAMES[k], ylabel="accuracy (%)", ylim=(0, 100))
        if k == "bits":
            ax.set_xscale("log", base=2)
        ax2 = ax.twinx()
        ax2.plot(r["levels"], r["sops_mean"], "s--", color="C1")
        ax2.set_ylabel("SOPs per sample", color="C1")
        ax2.set_ylim(bottom=0)
    fig.suptitle(f"{args.checkpoint} ({spec.neuron}, {data.n} samples)")
    fig.tight_layout()
    out = {"checkpoint": str(args.checkpoint), "spec": spec.to_dict(), "data": data.source,
           "n_samples": data.n, "backend": args.backend, "results": results}
    write_outputs(out_dir(args.out, "robustness"), "robustness", fig, out)
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
