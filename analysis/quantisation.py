"""Spiking as quantisation of spike trains (Moser & Lunglmayr): the leaky Alexiewicz norm and LIF.

Source: B. A. Moser and M. Lunglmayr, "Quantization in Spiking Neural Networks" (arXiv:2305.08012,
ESANN 2023/24) and "On Leaky-Integrate-and-Fire as Spike-Train-Quantization Operator on
Dirac-Superimposed Continuous-Time Signals" (arXiv:2402.07954). A spike train is a finite
sequence η = (η_1, …, η_N) of real weights of Dirac pulses at times t_1 < … < t_N: the integer
times 1, …, N unless times are given.

**α: a per-step factor here, a rate in the paper.** The paper writes the leak as a rate α ≥ 0:
the potential decays as e^{−α(t − t')}. This module's α is the factor by which it decays from
one pulse to the next, so the two are related by

    α_factor = e^{−α_rate·Δt},      α_rate = −ln(α_factor)/Δt                             (Q0)

with Δt = t_n − t_{n−1} (1 on the integer grid): the paper's α = 1 and 0.1 are the factors
e^{−1} ≈ 0.368 and e^{−0.1} ≈ 0.905, and its α = 0 (no leak, the plain Alexiewicz norm) is the
factor 1. At irregular times the factor differs from pulse to pulse, α_n = e^{−α_rate(t_n − t_{n−1})};
every function below takes α as one factor or as an array of per-pulse factors α_n (α_1 is never
used: nothing precedes the first pulse). :func:`rate_to_factor` and :func:`factor_to_rate`
convert; the CLI takes either (``--alpha`` a factor, ``--alpha-rate`` the paper's α).

**Leaky Alexiewicz norm** (α ∈ (0, 1] the leak per time step):

    ‖η‖_{A,α} = max_{1≤n≤N} | Σ_{k=1}^{n} α^{n−k} η_k |                                 (Q1)

(at irregular times α^{n−k} becomes α_{k+1}·…·α_n = e^{−α_rate(t_n − t_k)}, the paper's form).

(α = 1: the Alexiewicz norm max_n |η_1 + … + η_n|, the max over prefix sums. It is not Weyl's
discrepancy norm max_{m≤n} |η_m + … + η_n|, the max over all sub-intervals, only equivalent to it:
‖η‖_A ≤ ‖η‖_D ≤ 2‖η‖_A, and η = (1, −2) gives 1 against 2.) (Q1) is a norm on finite
sequences: the map η ↦ (S_1, …, S_N), S_n = αS_{n−1} + η_n, is linear and invertible
(η_n = S_n − αS_{n−1}), and (Q1) is the max-norm of its image. In continuous time the sup over
all t is attained at pulse times (between pulses the sum only decays), so (Q1) is the same.

**LIF_{α,θ}** (threshold θ > 0, symmetric: it fires signed spikes ±θ). Potential before the
reset u_n = α·u⁺_{n−1} + η_n (u⁺_0 = 0); the output s_n (a multiple of θ) and the reset:

    reset-to-mod          s_n = θ·trunc(u_n/θ),                  u⁺_n = u_n − s_n (= fmod(u_n, θ))
    reset-by-subtraction  s_n = sgn(u_n)·θ if |u_n| ≥ θ else 0,  u⁺_n = u_n − s_n
    reset-to-zero         s_n = sgn(u_n)·θ if |u_n| ≥ θ else 0,  u⁺_n = 0 if s_n ≠ 0 else u_n

(reset-to-mod may emit several spikes at once: s_n = k·θ, k ∈ ℤ.)

**Quantisation bound.** The error's leaky partial sums E_n = Σ_{k≤n} α^{n−k}(η_k − s_k) obey
E_n = αE_{n−1} + η_n − s_n, the same recursion as u⁺ for the mod and subtraction resets, so
‖η − LIF(η)‖_{A,α} = max_n |u⁺_n|. For reset-to-mod |u⁺_n| < θ by construction:

    ‖LIF_{α,θ}(η) − η‖_{A,α} < θ     for every η and every α ∈ (0, 1]                  (Q2)

Reset-by-subtraction leaves |u⁺| ≥ θ once |u_n| ≥ 2θ (e.g. one pulse η = (2.5θ): error 1.5θ) --
it meets (Q2) only while the inputs stay sub-threshold (then it coincides with reset-to-mod).
Reset-to-zero discards the remainder from u⁺ but not from E, so the error accumulates: it breaks
(Q2) for the same supra-threshold pulse and even for sub-threshold inputs (α = 1,
η = (0.625, 0.625, 0.625, 0.625, 0.625)θ gives E_5 = 1.125θ).

In continuous time nothing happens between pulses but the decay, which only shrinks |u|. After
reset-to-mod or -zero |u⁺| < θ, so the threshold is crossed only at pulse times and the recursion
over pulses with the factors α_n is the continuous-time LIF exactly. Reset-by-subtraction may leave
|u⁺| ≥ θ; here, as in the paper's eq. (2), it discharges θ once per input event and waits for the
next pulse (a per-step LIF on a grid with empty steps would fire again at the next empty step).

**The paper's Figs. 4/5** (:func:`figure_data`, ``python -m analysis.quantisation figures``):
the error ‖LIF(η) − η‖_{A,α}/θ over ``runs`` random trains for each number of spikes N, with
amplitudes η_k ~ U(−Aθ, Aθ) (A = 1: Fig. 4, A = 1.5: Fig. 5), α_rate = 1 and 0.1, and the spike
times on the integer grid or irregular (a Poisson process of rate 1: gaps ~ Exp(1), the same mean
spacing as the grid). The paper does not say where its spikes lie; both are shown.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

from resonet.cli import run_main
from resonet.errors import ConfigError
from resonet.runlog import write_json

from .common import (
    add_out_arg,
    float_list,
    int_list,
    make_parser,
    out_dir,
    progress,
    pyplot,
    save_figure,
    to_jsonable,
    write_outputs,
)

RESETS = ("mod", "subtract", "zero")
RESET_NAMES = {"mod": "reset-to-mod", "subtract": "reset-by-subtraction", "zero": "reset-to-zero"}


def _check_alpha(alpha) -> None:
    a = np.asarray(alpha, dtype=np.float64)
    if a.size and not np.all((a > 0.0) & (a <= 1.0)):
        bad = a if a.ndim == 0 else a[~((a > 0.0) & (a <= 1.0))].flat[0]
        raise ConfigError(f"the leak factor alpha must lie in (0, 1], got {float(bad)} "
                          "(a rate, the paper's alpha, converts as exp(-rate*dt): --alpha-rate)")


def rate_to_factor(rate, dt=1.0):
    """(Q0): the per-step factor e^{−α_rate·Δt} of the paper's leak rate α_rate ≥ 0."""
    r = np.asarray(rate, dtype=np.float64)
    if not np.all(np.isfinite(r) & (r >= 0.0)):
        raise ConfigError(f"the leak rate (the paper's alpha) must be finite and >= 0, got {rate}")
    d = np.asarray(dt, dtype=np.float64)
    if not np.all(np.isfinite(d) & (d >= 0.0)):
        raise ConfigError(f"the time step dt must be finite and >= 0, got {dt}")
    out = np.exp(-r * d)
    return float(out) if out.ndim == 0 else out


def factor_to_rate(factor, dt=1.0):
    """(Q0) inverted: the paper's rate −ln(α_factor)/Δt of a per-step factor in (0, 1]."""
    _check_alpha(factor)
    if not np.all(np.asarray(dt, dtype=np.float64) > 0):
        raise ConfigError(f"the time step dt must be > 0, got {dt}")
    out = -np.log(np.asarray(factor, dtype=np.float64)) / np.asarray(dt, dtype=np.float64)
    return float(out) if out.ndim == 0 else out


def decay_factors(times, rate: float) -> np.ndarray:
    """Per-pulse factors α_n = e^{−α_rate(t_n − t_{n−1})} along the last axis of ``times`` (α_1 = 1:
    nothing precedes the first pulse); times must be non-decreasing."""
    t = np.asarray(times, dtype=np.float64)
    gaps = np.diff(t, axis=-1, prepend=t[..., :1])
    if np.any(gaps < 0):
        raise ConfigError("spike times must be non-decreasing along the last axis")
    return np.asarray(rate_to_factor(rate, gaps))


def _factors(alpha, shape) -> np.ndarray:
    _check_alpha(alpha)
    try:
        return np.broadcast_to(np.asarray(alpha, dtype=np.float64), shape)
    except ValueError:
        raise ConfigError(f"per-pulse leak factors of shape {np.shape(alpha)} do not match spike "
                          f"trains of shape {shape}") from None


def leaky_partial_sums(eta, alpha) -> np.ndarray:
    """S_n = Σ_{k≤n} α^{n−k} η_k along the last axis (the recursion S_n = α_n S_{n−1} + η_n; α one
    factor or per-pulse factors broadcastable to η)."""
    eta = np.asarray(eta, dtype=np.float64)
    a = _factors(alpha, eta.shape)
    S = np.empty_like(eta)
    acc = np.zeros(eta.shape[:-1])
    for n in range(eta.shape[-1]):
        acc = a[..., n] * acc + eta[..., n]
        S[..., n] = acc
    return S


def alexiewicz_norm(eta, alpha=1.0) -> np.ndarray | float:
    """‖η‖_{A,α} of eq. (Q1) along the last axis (0 for an empty sequence)."""
    eta = np.asarray(eta, dtype=np.float64)
    if eta.shape[-1] == 0:
        return np.zeros(eta.shape[:-1]) if eta.ndim > 1 else 0.0
    out = np.abs(leaky_partial_sums(eta, alpha)).max(axis=-1)
    return float(out) if np.ndim(out) == 0 else out


def lif(eta, alpha, theta: float = 1.0, reset: str = "mod") -> tuple[np.ndarray, np.ndarray]:
    """``(s, u_after)``: the LIF_{α,θ} output spike train s (multiples of θ) and the potential after
    each reset, for inputs η along the last axis (see the module docstring; α one factor or
    per-pulse factors)."""
    eta = np.asarray(eta, dtype=np.float64)
    a = _factors(alpha, eta.shape)
    if not theta > 0:
        raise ConfigError(f"the threshold theta must be > 0, got {theta}")
    if reset not in RESETS:
        raise ConfigError(f"reset must be one of {RESETS}, got {reset!r}")
    s = np.zeros_like(eta)
    post = np.zeros_like(eta)
    u = np.zeros(eta.shape[:-1])
    for n in range(eta.shape[-1]):
        u = a[..., n] * u + eta[..., n]
        if reset == "mod":
            r = np.fmod(u, theta)  # exact remainder with the sign of u: |r| < θ
            s[..., n] = u - r
            u = r
        else:
            fire = np.abs(u) >= theta
            sn = np.where(fire, np.sign(u) * theta, 0.0)
            s[..., n] = sn
            u = u - sn if reset == "subtract" else np.where(fire, 0.0, u)
        post[..., n] = u
    return s, post


def quantisation_error(eta, alpha, theta: float = 1.0, reset: str = "mod") -> np.ndarray | float:
    """‖LIF_{α,θ}(η) − η‖_{A,α}."""
    s, _ = lif(eta, alpha, theta, reset)
    return alexiewicz_norm(s - np.asarray(eta, dtype=np.float64), alpha)


COUNTEREXAMPLES: dict[str, dict[str, Any]] = {
    "supra_threshold_pulse": {"eta_over_theta": [2.5], "alpha": 1.0},
    "reset_to_zero_subthreshold": {"eta_over_theta": [0.625, 0.625, 0.625, 0.625, 0.625], "alpha": 1.0},
}


def trials(amplitudes, alpha: float, theta: float = 1.0, T: int = 50, n: int = 1000, seed: int = 0) -> dict:
    """η_k ~ U(−A, A)·θ for each amplitude A: max and mean error/θ and the violation rate per reset."""
    rng = np.random.default_rng(seed)
    out: dict[str, Any] = {"amplitudes": list(amplitudes), "alpha": alpha, "theta": theta, "T": T,
                           "n": n}
    for reset in RESETS:
        out[reset] = {"max_err": [], "mean_err": [], "frac_violating": []}
    for A in amplitudes:
        eta = rng.uniform(-A, A, (n, T)) * theta
        for reset in RESETS:
            e = np.asarray(quantisation_error(eta, alpha, theta, reset)) / theta
            out[reset]["max_err"].append(float(e.max()))
            out[reset]["mean_err"].append(float(e.mean()))
            out[reset]["frac_violating"].append(float(np.mean(e >= 1.0)))
    return out


TIMES = ("grid", "poisson")
PAPER_AMPLITUDES = (1.0, 1.5)  # Fig. 4: U(−θ, θ); Fig. 5: U(−1.5θ, 1.5θ)
PAPER_RATES = (1.0, 0.1)  # the paper's α (rates): rows 1 and 2 of Figs. 4/5
SPIKE_COUNTS = (1, 2, 5, 10, 20, 50, 100, 200)


def spike_times(kind: str, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Spike times of ``shape`` (…, N): ``grid`` t_n = n, ``poisson`` cumulative Exp(1) gaps (an
    irregular train with the grid's mean spacing 1)."""
    if kind == "grid":
        return np.broadcast_to(np.arange(1.0, shape[-1] + 1.0), shape).copy()
    if kind == "poisson":
        return np.cumsum(rng.exponential(1.0, shape), axis=-1)
    raise ConfigError(f"spike times must be one of {TIMES}, got {kind!r}")


def _box(e: np.ndarray) -> dict[str, float]:
    q1, med, q3 = np.percentile(e, [25, 50, 75])
    return {"min": float(e.min()), "q1": float(q1), "median": float(med), "q3": float(q3),
            "max": float(e.max()), "mean": float(e.mean()), "frac_violating": float(np.mean(e >= 1.0))}


def figure_data(amplitudes=PAPER_AMPLITUDES, rates=PAPER_RATES, counts=SPIKE_COUNTS, times=TIMES,
                runs: int = 100, theta: float = 1.0, seed: int = 0) -> dict:
    """The data of Figs. 4/5: for each amplitude A, leak rate α_rate, kind of spike times and
    number of spikes N, ``runs`` trains η_k ~ U(−Aθ, Aθ) quantised by LIF with each reset, and the
    error ‖LIF(η) − η‖_{A,α}/θ: its box statistics and the raw errors.

    ``out["results"][A][rate][times][reset]`` is a list over ``counts`` of dicts (min, q1, median,
    q3, max, mean, frac_violating, errors); the keys are the numbers as ``f"{x:g}"``. The same
    trains (η, times) serve every rate and reset, so the comparisons between them are paired."""
    if runs < 1 or not counts or min(counts) < 1 or not theta > 0 or not amplitudes or min(amplitudes) <= 0:
        raise ConfigError("need runs >= 1, spike counts >= 1, theta > 0 and amplitudes > 0")
    for kind in times:
        if kind not in TIMES:
            raise ConfigError(f"spike times must be one of {TIMES}, got {kind!r}")
    for r in rates:
        rate_to_factor(r)
    rng = np.random.default_rng(seed)
    res: dict[str, Any] = {}
    for A in amplitudes:
        res[f"{A:g}"] = {f"{r:g}": {k: {x: [] for x in RESETS} for k in times} for r in rates}
        for N in counts:
            eta = rng.uniform(-A, A, (runs, N)) * theta
            for kind in times:
                t = spike_times(kind, (runs, N), rng)
                for r in rates:
                    a = decay_factors(t, r)
                    for reset in RESETS:
                        e = np.asarray(quantisation_error(eta, a, theta, reset)) / theta
                        res[f"{A:g}"][f"{r:g}"][kind][reset].append({**_box(e), "errors": e})
    return {"amplitudes": list(amplitudes), "rates": list(rates),
            "factors_at_dt_1": [rate_to_factor(r) for r in rates], "counts": list(counts),
            "times": list(times), "runs": runs, "theta": theta, "seed": seed, "results": res}


def _figure(data: dict, A: float):
    plt = pyplot()
    rows = [(r, k) for r in data["rates"] for k in data["times"]]
    fig, ax = plt.subplots(len(rows), len(RESETS), figsize=(4.2 * len(RESETS), 2.8 * len(rows)),
                           squeeze=False, sharex=True)
    counts = data["counts"]
    for i, (r, kind) in enumerate(rows):
        for j, reset in enumerate(RESETS):
            cells = data["results"][f"{A:g}"][f"{r:g}"][kind][reset]
            a = ax[i, j]
            a.boxplot([c["errors"] for c in cells], positions=range(len(counts)), widths=0.6,
                      flierprops={"markersize": 2})
            a.axhline(1.0, color="r", ls="--", lw=1)
            a.set_xticks(range(len(counts)), [str(n) for n in counts])
            a.set_title(f"{RESET_NAMES[reset]}, α = {r:g} (factor {rate_to_factor(r):.3g}), {kind} times",
                        fontsize=8)
            if j == 0:
                a.set_ylabel("‖LIF(η) − η‖_{A,α} / θ")
            if i == len(rows) - 1:
                a.set_xlabel("number of spikes N")
    paper = {1.0: "Fig. 4", 1.5: "Fig. 5"}.get(A, "cf. Figs. 4/5")
    fig.suptitle(f"{paper}: amplitudes U(−{A:g}θ, {A:g}θ), {data['runs']} runs per box "
                 "(dashed: the bound θ)")
    fig.tight_layout()
    return fig


def figures_main(args) -> int:
    if args.alpha is not None and args.alpha_rate is not None:
        raise ConfigError("give --alpha (per-step factors) or --alpha-rate (the paper's alpha), not both")
    rates = args.alpha_rate
    if args.alpha is not None:
        rates = [factor_to_rate(a) for a in args.alpha]
    if rates is None:
        rates = list(PAPER_RATES)
    times = [k.strip() for k in args.times.split(",") if k.strip()]
    data = figure_data(args.amplitudes, rates, args.spikes, times, args.runs, args.theta, args.seed)
    d = out_dir(args.out, "quantisation-figures")
    for A in args.amplitudes:
        save = save_figure(_figure(data, A), d / f"quantisation-A{A:g}.png")
        print(f"wrote {save}")
    js = write_json(d / "quantisation-figures.json", to_jsonable(data), unique=True)
    print(f"wrote {js}")
    for A in args.amplitudes:
        for r in rates:
            for kind in times:
                for reset in RESETS:
                    cells = data["results"][f"{A:g}"][f"{r:g}"][kind][reset]
                    med = " ".join(f"{c['median']:.2f}" for c in cells)
                    viol = " ".join(f"{c['frac_violating']:.2f}" for c in cells)
                    print(f"A={A:g} alpha_rate={r:g} {kind:7s} {reset:8s} median error/theta per N: {med}; "
                          f"fraction >= theta: {viol}")
    return 0


# -- the network-level view: a trained LIF network's hidden layer ---------------------------------
# Each hidden LIF neuron quantises its membrane input: ũ_t = α u_{t−1} + (1 − α) I_t is LIF_{α,ϑ}
# of the module docstring with η_t = (1 − α) I_t and output s_t = ϑ z_t, so (Q2) bounds
# ‖η − s‖_{A,α} by ϑ for the reset-to-mod network (``reset = "mod"``, graded spikes) and not for
# the binary soft reset, which discharges one ϑ per step whatever ũ is. Measured per test sample
# and neuron from the network's own traces.

def layer_quantisation(spec, params, x, z, alpha, theta: float = 1.0) -> dict:
    """The error ‖η − ϑz‖_{A,α} of every (sample, neuron) of a one-layer LIF network's hidden
    layer, from its input ``x`` (T, B, I) and spikes ``z`` (T, B, H): I_t = W_in x_t + W_rec z_{t−1}
    (+ b), η_t = (1 − α) I_t. Returns ``error`` (B, H) in units of ϑ, ``graded`` (the share of the
    nonzero spikes with |z| ≥ 2), ``saturated`` (the share of neuron-steps at |z| = K, where
    (S6) clips and (Q2) no longer holds) and ``clipped`` (B, H): whether the pair has such a
    step."""
    from resonet.surrogate import MOD_LEVELS

    x = np.asarray(x, dtype=np.float64)
    z = np.asarray(z, dtype=np.float64)
    W = np.asarray(params[f"{spec.prefix(0)}.linear.weight"], dtype=np.float64)
    I = spec.n_in
    zp = np.concatenate([np.zeros_like(z[:1]), z[:-1]])
    cur = x @ W[:, :I].T + zp @ W[:, I:].T
    if spec.bias:
        cur = cur + params[f"{spec.prefix(0)}.linear.bias"]
    alpha = np.asarray(alpha, dtype=np.float64)
    eta = (1.0 - alpha) * cur  # (T, B, H)
    err = alexiewicz_norm(np.moveaxis(eta - theta * z, 0, -1), alpha[:, None]) / theta
    nz = z != 0
    sat = np.abs(z) >= MOD_LEVELS
    return {"error": err, "graded": float((np.abs(z) >= 2).sum() / max(nz.sum(), 1)),
            "saturated": float(sat.mean()), "clipped": sat.any(axis=0),
            "spikes": float(np.abs(z).sum())}


def network_run(run_dir, *, data_dir=None, data_path=None, limit=None, backend="cpu",
                batch_size: int = 64, theta: float = 1.0) -> dict:
    """:func:`layer_quantisation` over a run's test split (its best checkpoint): per-(sample,
    neuron) errors and their statistics, the run's reset, and the accuracy of the pass."""
    from resonet.backends import get_backend

    from .common import check_data, load_eval_data, load_run

    spec, params, config = load_run(run_dir)
    if spec.neuron != "lif" or spec.n_layers != 1:
        raise ConfigError(f"{run_dir}: the bound (Q2) is about a LIF layer; this run is a "
                          f"{spec.n_layers}-layer {spec.neuron} network")
    if data_dir is not None:
        config = {**config, "settings": {**(config.get("settings") or {}), "data_dir": str(data_dir)}}
    data = load_eval_data(data_path, config, limit)
    check_data(spec, data)
    be = get_backend(backend)
    alpha = np.exp(-1.0 / np.abs(np.asarray(params["hidden.tau_mem"], dtype=np.float64)))
    errs, clipped, graded, sat, spikes, n = [], [], 0.0, 0.0, 0.0, 0
    for x, _ in data.batches(batch_size):
        r = be.run(spec, params, x, None, grads=False, return_states=True, dtype=np.float64)
        states = r.states or {}
        q = layer_quantisation(spec, params, x, states["z"], alpha, theta)
        u_max = np.abs(np.asarray(states["u"])).max(axis=0) / theta
        if not np.allclose(q["error"], u_max, rtol=1e-9, atol=1e-9):  # E_n is u's recursion
            raise ConfigError(f"{run_dir}: the error's partial sums are not the membrane's "
                              f"(max difference {np.abs(q['error'] - u_max).max():.3g})")
        b = x.shape[1]
        errs.append(q["error"])
        clipped.append(q["clipped"])
        graded += q["graded"] * b
        sat += q["saturated"] * b
        spikes += q["spikes"]
        n += b
    e = np.concatenate(errs)
    c = np.concatenate(clipped)
    return {"run": str(run_dir), "reset": spec.reset, "seed": (config.get("settings") or {}).get("seed"),
            "n_samples": n, "n_neurons": spec.n_hidden, "max": float(e.max()),
            "median": float(np.median(e)), "p99": float(np.quantile(e, 0.99)),
            "frac_ge_theta": float((e >= 1.0).mean()), "graded_share": graded / n,
            "max_unclipped": float(e[~c].max()) if (~c).any() else float("nan"),
            "clipped_pairs": float(c.mean()),
            "saturated": sat / n, "sops": spikes / n, "errors": e}


def network_main(argv) -> int:
    from .common import collect_finished_runs, free_stem

    ap = make_parser("python -m analysis.quantisation network", """The quantisation bound (Q2) at
network level: for every finished one-layer LIF run in DIRs (sweep directories, folders of runs or
run directories), its best checkpoint on its test split; per test sample and hidden neuron the
error ‖η − ϑz‖_{A,α}/ϑ between the membrane input η_t = (1 − α)·I_t and the spikes. Reset-to-mod
(reset = "mod") keeps it below 1; the binary soft reset does not have to. Writes
quantisation-network.png/.json/.md.""")
    ap.add_argument("dirs", nargs="+", metavar="DIR")
    ap.add_argument("--data-dir", default=None,
                    help="the task's data directory, if it moved since training")
    ap.add_argument("--data", metavar="FILE.npz", default=None,
                    help="evaluation data (x (T, N, I), y) instead of each run's test split")
    ap.add_argument("--limit", type=int, default=None, metavar="N",
                    help="the first N test samples only (default: all)")
    ap.add_argument("--backend", default="cpu", help="cpu (default) or reference")
    add_out_arg(ap, "quantisation-network")
    args = ap.parse_args([str(a) for a in argv])
    for d in args.dirs:
        if not Path(d).exists():
            raise ConfigError(f"{d}: no such directory (give sweep directories or run directories)")
    runs, skipped = collect_finished_runs(args.dirs, keep=lambda st: st.get("neuron") == "lif")
    for rid, why in skipped:
        progress(f"skipping {rid}: {why}")
    if not runs:
        raise ConfigError(f"no finished LIF runs in {', '.join(map(str, args.dirs))}")
    rows = []
    for k, run in enumerate(runs):
        progress(f"[{k + 1}/{len(runs)}] {run.id}")
        rows.append({"id": run.id, **network_run(run.run_dir, data_dir=args.data_dir,
                                                  data_path=args.data, limit=args.limit,
                                                  backend=args.backend)})
    groups: dict[str, list] = {}
    for r in rows:
        groups.setdefault(r["reset"], []).append(r)
    lines = ["| reset | runs | max error/ϑ | median | 99th pct | (sample, neuron) ≥ ϑ | max error/ϑ "
             "of the pairs never clipped at ±K | pairs clipped | graded spikes (of spikes) | "
             "saturated steps | SOPs per sample |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    summary = {}
    for reset, rs in sorted(groups.items()):
        def ms(key, rs=rs):
            v = np.array([r[key] for r in rs], dtype=np.float64)
            return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else 0.0
        summary[reset] = {k: ms(k) for k in ("max", "median", "p99", "frac_ge_theta",
                                             "graded_share", "saturated", "sops",
                                             "max_unclipped", "clipped_pairs")}
        sm = summary[reset]
        lines.append(f"| {reset} | {len(rs)} | {sm['max'][0]:.3f} ± {sm['max'][1]:.3f} | "
                     f"{sm['median'][0]:.3f} | {sm['p99'][0]:.3f} | {100 * sm['frac_ge_theta'][0]:.2f} % | "
                     f"{max(r['max_unclipped'] for r in rs):.3f} | {100 * sm['clipped_pairs'][0]:.2f} % | "
                     f"{100 * sm['graded_share'][0]:.1f} % | {100 * sm['saturated'][0]:.3f} % | "
                     f"{sm['sops'][0]:,.0f} |")
    for r in rows:
        print(f"{r['id']:40s} reset={r['reset']:5s} max {r['max']:.3f}  median {r['median']:.3f}  "
              f">= theta {100 * r['frac_ge_theta']:.2f} %  never clipped: max {r['max_unclipped']:.3f}  "
              f"graded {100 * r['graded_share']:.1f} %")
    print("\n".join(lines))
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    every = np.concatenate([r["errors"].ravel() for r in rows])
    lo = max(float(every[every > 0].min()) if (every > 0).any() else 1e-3, 1e-3)
    bins = np.geomspace(lo, max(float(every.max()), 2.0 * lo), 80)  # errors span decades
    for reset, rs in sorted(groups.items()):
        e = np.concatenate([r["errors"].ravel() for r in rs])
        ax.hist(np.maximum(e, lo), bins=bins, histtype="step",
                weights=np.full(e.size, 1.0 / e.size), label=f"reset {reset} ({len(rs)} runs)")
    ax.set_xscale("log")
    ax.axvline(1.0, color="k", ls="--", label="bound ϑ (Q2)")
    ax.set(xlabel="‖η − ϑz‖_{A,α} / ϑ per test sample and neuron", ylabel="share of the pairs",
           title="hidden LIF layer: quantisation error of the trained networks")
    ax.legend(fontsize=8)
    fig.tight_layout()
    out = out_dir(args.out, "quantisation-network")
    data = {"runs": [{k: v for k, v in r.items() if k != "errors"} for r in rows],
            "summary": summary, "skipped": skipped}
    write_outputs(out, "quantisation-network", fig, data)
    md = out / f"{free_stem(out, 'quantisation-network', ('.md',))}.md"
    md.write_text("\n".join(lines) + "\n")
    print(f"wrote {md}")
    return 0


# -- CLI ------------------------------------------------------------------------------------------
def build_parser():
    ap = make_parser("python -m analysis.quantisation", __doc__.split("\n\n")[0] + """

Random spike trains η_k ~ U(−A, A)·θ for each amplitude A, quantised by LIF with reset-to-mod,
reset-by-subtraction and reset-to-zero; the error ‖LIF(η) − η‖_{A,α} / θ per reset (the bound
is 1 for reset-to-mod), an example, and the counterexamples. Writes quantisation.png/.json.

`python -m analysis.quantisation figures [options]` reproduces the paper's Figs. 4/5 instead
(see `figures --help`); `python -m analysis.quantisation network DIR...` measures the bound on
trained LIF networks (see `network --help`).""")
    ap.add_argument("--alpha", type=float, default=None,
                    help="leak factor per step α in (0, 1] (default 0.9; the paper's α is a rate: "
                         "use --alpha-rate)")
    ap.add_argument("--alpha-rate", type=float, default=None,
                    help="the paper's α, a rate >= 0: factor exp(−α) per unit step (1 → 0.368, 0.1 → 0.905)")
    ap.add_argument("--theta", type=float, default=1.0, help="threshold θ > 0 (default 1)")
    ap.add_argument("--T", type=int, default=50, help="length of each spike train (default 50)")
    ap.add_argument("--trials", type=int, default=1000, help="random trains per amplitude (default 1000)")
    ap.add_argument("--amplitudes", type=float_list, default=[0.25, 0.5, 0.9, 1.5, 2.0, 3.0, 5.0],
                    help="comma-separated input amplitudes A in units of θ (default 0.25,...,5)")
    ap.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    add_out_arg(ap, "quantisation")
    return ap


def build_figures_parser():
    ap = make_parser("python -m analysis.quantisation figures", """The paper's Figs. 4/5: box plots of the
error ‖LIF(η) − η‖_{A,α}/θ against the number of spikes N, for reset-to-mod, -subtraction and
-zero (columns), leak rates α (rows; the paper's α = 1 and 0.1) and spike times on the integer grid
or irregular (Poisson, mean gap 1), amplitudes η_k ~ U(−Aθ, Aθ) (A = 1: Fig. 4, 1.5: Fig. 5).
Writes quantisation-A<A>.png per amplitude and quantisation-figures.json.""")
    ap.add_argument("--alpha-rate", type=float_list, default=None,
                    help="the paper's α, rates >= 0, comma-separated (default 1,0.1); factor exp(−α·Δt)")
    ap.add_argument("--alpha", type=float_list, default=None,
                    help="per-step leak factors in (0, 1] instead (converted to rates −ln α)")
    ap.add_argument("--amplitudes", type=float_list, default=list(PAPER_AMPLITUDES),
                    help="amplitude ranges A in units of θ, comma-separated (default 1,1.5)")
    ap.add_argument("--spikes", type=int_list, default=list(SPIKE_COUNTS),
                    help="numbers of spikes N per train (default 1,2,5,10,20,50,100,200)")
    ap.add_argument("--times", default=",".join(TIMES),
                    help="spike times: grid, poisson or both, comma-separated (default grid,poisson)")
    ap.add_argument("--runs", type=int, default=100, help="random trains per box (default 100, as the paper)")
    ap.add_argument("--theta", type=float, default=1.0, help="threshold θ > 0 (default 1)")
    ap.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    add_out_arg(ap, "quantisation-figures")
    return ap


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "figures":
        return figures_main(build_figures_parser().parse_args([str(a) for a in argv[1:]]))
    if argv and argv[0] == "network":
        return network_main(argv[1:])
    args = build_parser().parse_args(argv)
    if args.alpha is not None and args.alpha_rate is not None:
        raise ConfigError("give --alpha (a per-step factor) or --alpha-rate (the paper's alpha), not both")
    args.alpha = rate_to_factor(args.alpha_rate) if args.alpha_rate is not None else (
        0.9 if args.alpha is None else args.alpha)
    _check_alpha(args.alpha)
    if not args.theta > 0 or args.T < 1 or args.trials < 1 or min(args.amplitudes) <= 0:
        raise ConfigError("need --theta > 0, --T >= 1, --trials >= 1 and amplitudes > 0")
    progress(f"{args.trials} trains x {len(args.amplitudes)} amplitudes x 3 resets")
    res = trials(args.amplitudes, args.alpha, args.theta, args.T, args.trials, args.seed)
    cex = {}
    for name, ce in COUNTEREXAMPLES.items():
        eta = np.array(ce["eta_over_theta"]) * args.theta
        cex[name] = {**ce, **{r: quantisation_error(eta, ce["alpha"], args.theta, r) / args.theta
                              for r in RESETS}}
    rng = np.random.default_rng(args.seed + 1)
    eta = rng.uniform(-2.0, 2.0, 30) * args.theta
    plt = pyplot()
    fig, ax = plt.subplots(1, 3, figsize=(16, 4.5))
    t = np.arange(1, eta.size + 1)
    ax[0].stem(t, eta / args.theta, basefmt=" ", label="η/θ")
    for k, r in enumerate(RESETS):
        s, _ = lif(eta, args.alpha, args.theta, r)
        ax[0].plot(t + 0.15 * (k + 1), s / args.theta, "o", ms=4, label=f"LIF {r}")
        ax[1].plot(t, leaky_partial_sums(eta - s, args.alpha) / args.theta, label=r)
    ax[0].set(xlabel="step n", title="example: input η ~ U(−2θ, 2θ) and output spikes (units of θ)")
    ax[0].legend(fontsize=8)
    ax[1].axhline(1, color="k", ls="--")
    ax[1].axhline(-1, color="k", ls="--")
    ax[1].set(xlabel="step n", ylabel="E_n / θ", title=f"error's leaky partial sums (α = {args.alpha:g})")
    ax[1].legend(fontsize=8)
    for r in RESETS:
        ax[2].plot(args.amplitudes, res[r]["max_err"], "o-", label=r)
    ax[2].axhline(1, color="k", ls="--", label="bound θ")
    ax[2].set(xlabel="input amplitude A / θ", ylabel="max ‖LIF(η) − η‖_{A,α} / θ",
              title=f"{args.trials} random trains of length {args.T}")
    ax[2].legend(fontsize=8)
    fig.tight_layout()
    data = {"definition": "||eta||_{A,alpha} = max_n |sum_{k<=n} alpha^(n-k) eta_k| (Moser & Lunglmayr, "
                          "arXiv:2305.08012)", "trials": res, "counterexamples": cex}
    write_outputs(out_dir(args.out, "quantisation"), "quantisation", fig, data)
    for r in RESETS:
        errs = ", ".join(f"{v:.4f}" for v in res[r]["max_err"])
        viol = ", ".join(f"{v:.3f}" for v in res[r]["frac_violating"])
        print(f"{r:9s} max error / theta per amplitude: {errs}; fraction of trains >= theta: {viol}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
