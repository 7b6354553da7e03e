"""Robustness of a trained network (paper A.10, Fig. 12), following docs/official-code.md §10.

Metrics per (level, repeat): loss (mean NLL per recorded step; for label-last tasks the official
``loss.item()``), accuracy (%) and SOPs (hidden spikes per sample over all T steps; /T per step).

1. **Bit precision** (§9.1). Q_f(x) = round(2^f·x)·2^(−f), round half to even, in float32; f is
   the number of fractional bits (the integer part is unbounded). Applied once to **every
   parameter** (W_h, ω_raw, b'_raw / τ_m, τ_a, W_o, τ_out) and to the input, and per step to the
   readout's α = Q_f(exp(−1/|τ_out|)) (and the model's ``DECAYS``: ALIF's α and ρ). States,
   currents, p(ω), b and the thresholds are not quantised. (At small f the readout α rounds to
   1, (1 − α) = 0, the output stays 0 and every sample is predicted as class 0.)
2. **Input noise** (§9.2). x̃ = x + σ·ε, ε ~ N(0, 1) per element, **no clipping**.
3. **Spike deletion** (§9.3). After the cell update of step t each hidden spike is kept iff
   U[0,1) > p. The kept spikes replace z_t for the readout at t, the recurrent input at t+1, ALIF's
   adaptation a_{t+1} and the SOP count; what the cell already did at t with the undeleted spike
   (BRF's q_t, ALIF's soft reset) stands (:func:`perturbed_forward`: the reference forward pass
   with a hook after each step).
4. **Synaptic noise** (§9.4). Every 2-D parameter (W_h, W_o): W ← W·(1 + σ·ε), ε ~ N(0, 1) per
   element; ω, b', τ untouched.

Default levels are the official ones: f ∈ {1, 2, 4, 8, 16, 32}; σ ∈ {0, 0.05, …, 0.35};
p ∈ {0, 0.1, …, 0.9}; σ_rel ∈ {0, 0.1, …, 1.0}; 5 repeats of the random ones (seeded:
``default_rng([seed, level, repeat])``). Input and synaptic noise run on ``--backend``; bit
precision and deletion run the float64 reference forward pass with hooks.

**Several trained models side by side** (``python -m analysis.robustness compare DIR ...``): every
finished run of sweep directories (or folders of run directories, or run directories) is
evaluated as above (:func:`evaluate_run`; the same noise draws for every run, since the seed of a
draw is ``[seed, level, repeat]``), and :func:`compare_table` aggregates per model (task, neuron
and any setting besides the seed that differs between its runs): with a_s(σ) the accuracy of
the run of seed s at level σ averaged over the repeats, and a_s(0) its clean accuracy, the mean
and sample sd (ddof 1) over s of a_s(σ), of the drop a_s(0) − a_s(σ), and of the SOPs. On ECG the
default levels are :data:`TASK_LEVELS` (its binary spike inputs need larger σ than S-MNIST's
pixels).
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from resonet.cli import run_main
from resonet.errors import CheckpointError, ConfigError, DataError
from resonet.network import ForwardHooks, NetworkSpec, as_dense_input, check_params, forward

from .common import (
    add_backend_arg,
    add_data_args,
    add_out_arg,
    check_data,
    evaluate,
    float_list,
    free_stem,
    int_list,
    load_eval_data,
    load_run,
    make_parser,
    model_label,
    out_dir,
    parse_kinds,
    progress,
    pyplot,
    save_figure,
    select_runs,
    to_jsonable,
    write_outputs,
)

KINDS = ("bits", "input_noise", "deletion", "synaptic")
DEFAULT_LEVELS: dict[str, list[float]] = {
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
                      return_states: bool = False, dtype=np.float64) -> Run:
    """The network forward pass (:func:`resonet.network.forward`, Heaviside spikes) with spike
    deletion at rate ``delete_p`` (§9.3) and, with ``alpha_bits``, the per-step decay factors
    quantised (the readout's α and the model's ``DECAYS``, e.g. ALIF's α and ρ; §9.1), through
    the forward pass's hooks. With neither it is the engine's forward. ``dtype`` float32 runs
    the pass in float32, as the official code did (about twice as fast; the uniform draws of
    the deletion are then float32 too).
    """
    check_params(spec, params)
    if not 0.0 <= delete_p <= 1.0:
        raise ConfigError(f"deletion rate must lie in [0, 1], got {delete_p}")
    if delete_p > 0 and rng is None:
        raise ConfigError("spike deletion needs a random generator (rng)")
    dt = np.dtype(dtype).type
    x = as_dense_input(spec, x, dt)
    model = spec.model
    z_cell: list[np.ndarray] = []

    gen = rng if rng is not None else np.random.default_rng()  # only drawn from if delete_p > 0
    bits = -1 if alpha_bits is None else int(alpha_bits)

    def after_step(t, new):
        """(N2) has run with the cell's own spike (BRF's q_t, ALIF's soft reset stand); the
        kept spikes replace z_t for the readout, the next step's current and the SOP count."""
        z = new[0]
        if return_states:
            z_cell.append(z)
        if delete_p > 0:
            z = z * (gen.random(z.shape, dtype=dt) > delete_p)  # kept iff U[0,1) > p
            new = (z, *new[1:])
        return new

    def quantised_decays(c):  # the low-precision cell quantises its decays after the exp
        return c._replace(**{f: quantise(getattr(c, f), bits).astype(dt) for f in model.DECAYS})

    hooks = ForwardHooks(consts=quantised_decays if bits >= 0 else None,
                         readout_alpha=(lambda a: quantise(a, bits).astype(dt)) if bits >= 0
                         else None,
                         after_step=after_step if delete_p > 0 or return_states else None)
    fwd = forward(spec, {k: np.asarray(v, dtype=dt) for k, v in params.items()}, x, hooks=hooks)
    n_spikes = fwd.num_spikes.astype(np.float64)  # counts: float64 whatever the pass's dtype
    if not return_states:
        return Run(fwd.outputs, n_spikes)
    return Run(fwd.outputs, n_spikes, fwd.states, np.stack(z_cell))


# -- evaluation per level -------------------------------------------------------------------------
def evaluate_level(kind: str, level: float, spec: NetworkSpec, params: dict, data, *,
                   rng: np.random.Generator | None = None, backend="reference",
                   batch_size: int = 256, loop_dtype=np.float64) -> dict:
    """Loss, accuracy, SOPs at one perturbation level (see the module docstring); ``rng`` draws
    the noise of the random kinds; bit precision and deletion run :func:`perturbed_forward` in
    ``loop_dtype``."""
    if kind in ("input_noise", "synaptic") and rng is None:
        raise ConfigError(f"the {kind} perturbation needs a random generator (rng)")
    gen = rng if rng is not None else np.random.default_rng()  # noise kinds: rng itself
    if kind == "bits":
        qp = quantise_params(params, int(level))

        def runner(s, p, x):
            r = perturbed_forward(s, p, quantise(x, int(level)), alpha_bits=int(level),
                                  dtype=loop_dtype)
            return r.outputs, r.num_spikes

        return evaluate(spec, qp, data, runner=runner, batch_size=batch_size)
    if kind == "input_noise":
        if level < 0:
            raise ConfigError(f"input noise sigma must be >= 0, got {level}")
        return evaluate(spec, params, data, backend=backend, batch_size=batch_size,
                        x_transform=lambda x, i: x + level * gen.standard_normal(x.shape))
    if kind == "deletion":

        def runner(s, p, x):
            r = perturbed_forward(s, p, x, delete_p=level, rng=rng, dtype=loop_dtype)
            return r.outputs, r.num_spikes

        return evaluate(spec, params, data, runner=runner, batch_size=batch_size)
    if kind == "synaptic":
        if level < 0:
            raise ConfigError(f"synaptic noise sigma must be >= 0, got {level}")
        return evaluate(spec, synaptic_noise(params, level, gen), data, backend=backend,
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
    return parse_kinds(text, KINDS)


def build_parser():
    ap = make_parser("python -m analysis.robustness", __doc__.split("\n\n")[0] + """

Evaluates a checkpoint under reduced bit precision, input noise, spike deletion and synaptic
noise (docs/official-code.md §10); writes robustness.png (accuracy and SOPs per level) and
robustness.json (every level and repeat).

For several trained models side by side (mean ± sd over seeds), see
  python -m analysis.robustness compare --help
(a run directory literally named "compare" is given as ./compare).""")
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


# -- compare: trained models side by side -------------------------------------------------------
COMPARE_KINDS = ("input_noise", "synaptic")
# Default levels of `compare` per task; other tasks get the official (S-MNIST) levels. ECG inputs
# are binary level-crossing spikes (4 channels, 7-9 % of the steps active), and σ is in units of
# one spike: at the official σ ≤ 0.35 a trained BRF keeps 72 % of its 85 %, so the input-noise
# levels go on to σ = 3, where BRF, LIF and IF networks score at or below the majority-class share
# (30.5 %); synaptic noise takes them there by σ_rel ≈ 0.75-1, so its levels are denser below
# (docs/analysis.md, "Leak on a real task").
TASK_LEVELS = {
    "ecg": {
        "input_noise": [0, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0],
        "synaptic": [0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0],
    },
}
# One draw of synaptic noise moves an ECG network's accuracy by up to ~20 points at σ_rel 0.3-0.75
# (input noise by < 1.5): `compare` averages 10 draws per level, not the official 5.
COMPARE_REPEATS = 10
COMPARE_STEM = "robustness_compare"


def default_levels(kind: str, task: str | None) -> list:
    return list(TASK_LEVELS.get(task or "", {}).get(kind, DEFAULT_LEVELS[kind]))


def _label_shares(data) -> np.ndarray:
    """Share of each class among the scored labels (unlabelled steps count as class 0, as in the
    scoring): its maximum is the accuracy of always answering the majority class."""
    counts = np.zeros(0)
    for _, y in data.batches(1024):
        c = np.bincount(np.where(np.asarray(y) < 0, 0, y).ravel())
        counts = np.pad(counts, (0, max(0, c.size - counts.size)))
        counts[:c.size] += c
    return counts / max(counts.sum(), 1)


def evaluate_run(run_dir, kinds, levels: dict, *, repeats: int = 5, seed: int = 0, backend="cpu",
                 batch_size: int = 256, data_path: str | None = None, limit: int | None = None,
                 data_dir: str | None = None, data_cache: dict | None = None,
                 verbose: bool = False) -> dict:
    """Every perturbation of ``kinds`` at its ``levels[kind]`` on the best checkpoint of one run
    (its own test split, or ``data_path``): ``{"clean": metrics, "results": {kind: sweep(...)},
    "n_samples", "data", "label_shares"}``. ``data_dir`` replaces the data directory recorded in
    the run's settings; ``data_cache`` (a dict) keeps loaded data sets between runs of the same
    task and data settings."""
    spec, params, config = load_run(run_dir)
    if data_dir is not None:
        config = {**config, "settings": {**(config.get("settings") or {}), "data_dir": str(data_dir)}}
    st = config.get("settings") or {}
    key = json.dumps([data_path, limit, config.get("task"), st.get("data_dir"), st.get("split_seed"),
                      st.get("synthetic")], default=str)
    cache = {} if data_cache is None else data_cache
    if key not in cache:
        data = load_eval_data(data_path, config, limit)
        cache[key] = (data, _label_shares(data))
    data, shares = cache[key]
    check_data(spec, data)
    clean = evaluate(spec, params, data, backend=backend, batch_size=batch_size)
    results = {k: sweep(k, levels[k], spec, params, data, repeats=repeats, seed=seed, backend=backend,
                        batch_size=batch_size, verbose=verbose) for k in kinds}
    return {"clean": clean, "results": results, "n_samples": data.n, "data": data.source,
            "label_shares": shares}


def _per_run(res: dict, kind: str, metric: str) -> np.ndarray:
    """(levels, repeats) values of ``metric`` of one run."""
    r = res["results"][kind]
    return np.asarray(r[metric], dtype=float).reshape(len(r["levels"]), -1)


def compare_table(runs, evaluated: dict, kinds) -> list[dict]:
    """One entry per model (task, neuron and the settings that split its runs, see
    :func:`analysis.common.mark_variants`): per kind and level, mean ± sample sd (ddof 1) over
    the runs (seeds) of the accuracy, of its drop from the run's clean accuracy (points) and of
    the SOPs. Each run's value at a level is its mean over the noise repeats. ``evaluated`` maps
    a run id to :func:`evaluate_run`'s result."""
    from resonet.neurons import neuron_names
    from resonet.sweep.report import mean_sd, protocol_deviations

    groups: dict[tuple, list] = {}
    for r in runs:
        if r.id in evaluated:  # a variant's values may be dicts (e.g. freeze): keyed by its JSON
            key = (r.task, r.neuron, json.dumps(r.variant, sort_keys=True, default=str))
            groups.setdefault(key, []).append(r)
    order = {n: i for i, n in enumerate(neuron_names())}
    rows = []
    for (task, neuron, _vkey), rs in sorted(groups.items(), key=lambda kv: (
            kv[0][0], order.get(kv[0][1], len(order)), kv[0][1], kv[0][2])):
        variant = rs[0].variant
        rs = sorted(rs, key=lambda r: (r.seed if isinstance(r.seed, int) else 0, r.id))
        ev = [evaluated[r.id] for r in rs]
        row = {"task": task, "neuron": neuron, "model": model_label(task, neuron, variant),
               "variant": dict(variant), "n": len(rs), "seeds": [r.seed for r in rs],
               "runs": [r.id for r in rs], "kinds": {}}
        for name, vals in (("clean_acc", [e["clean"]["accuracy"] for e in ev]),
                           ("clean_sops", [e["clean"]["sops"] for e in ev]),
                           ("summary_acc", [r.summary.get("test_acc") for r in rs])):
            row[f"{name}_mean"], row[f"{name}_sd"], _ = mean_sd(vals)
        shares = [float(np.max(e["label_shares"])) for e in ev if len(e["label_shares"])]
        row["majority_share"] = 100.0 * max(shares) if shares else None
        for kind in kinds:
            levels = [list(e["results"][kind]["levels"]) for e in ev]
            if any(lv != levels[0] for lv in levels):
                raise ConfigError(f"{row['model']}: its runs were evaluated at different {kind} levels")
            k: dict[str, Any] = {"levels": levels[0]}
            for m in ("accuracy", "sops", "loss"):
                # what one network scores at a level: its mean over the noise draws
                per_run = np.array([_per_run(e, kind, m).mean(axis=1) for e in ev])  # (runs, levels)
                stats = [mean_sd(per_run[:, i]) for i in range(per_run.shape[1])]
                k[f"{m}_mean"] = [st[0] for st in stats]
                k[f"{m}_sd"] = [st[1] for st in stats]
                k[f"{m}_runs"] = per_run
            drop = np.array([[e["clean"]["accuracy"]] for e in ev]) - k["accuracy_runs"]
            stats = [mean_sd(drop[:, i]) for i in range(drop.shape[1])]
            k["drop_mean"], k["drop_sd"] = [st[0] for st in stats], [st[1] for st in stats]
            k["drop_runs"] = drop
            # the noise's own spread: sd over repeats of one network's accuracy, averaged over runs
            k["repeat_sd"] = np.mean([_per_run(e, kind, "accuracy").std(axis=1) for e in ev], axis=0)
            row["kinds"][kind] = k
        dev = sorted({x for r in rs for x in protocol_deviations(r.settings)})
        row["protocol"] = "; ".join(dev) or "preset"
        rows.append(row)
    return rows


def _pm(m, sd, digits=1) -> str:
    if m is None:
        return "–"
    return f"{m:,.{digits}f}" if sd is None else f"{m:,.{digits}f} ± {sd:,.{digits}f}"


def compare_markdown(rows: list[dict], kinds, repeats: int, names: dict | None = None) -> str:
    """The tables of :func:`compare_table`: the models, then per kind accuracy (with its drop
    from clean) and SOPs per level, one column per model; ``names`` maps a kind to the name of
    its level (default :data:`LEVEL_NAMES`; other modules' kinds, e.g. analysis.leaknet)."""
    names = LEVEL_NAMES if names is None else names
    out = ["| model | seeds | clean test acc (%) | summary.json test acc (%) | SOPs/sample (clean) "
           "| protocol |", "|---|---|---|---|---|---|"]
    for r in rows:
        out.append(f"| {r['model']} | {r['n']} ({', '.join(str(s) for s in r['seeds'])}) | "
                   f"{_pm(r['clean_acc_mean'], r['clean_acc_sd'])} | "
                   f"{_pm(r['summary_acc_mean'], r['summary_acc_sd'])} | "
                   f"{_pm(r['clean_sops_mean'], r['clean_sops_sd'], 0)} | {r['protocol']} |")
    share = max((r["majority_share"] or 0.0) for r in rows)
    for kind in kinds:
        by_level: dict[float, dict] = {}
        for r in rows:
            k = r["kinds"][kind]
            for i, lv in enumerate(k["levels"]):
                by_level.setdefault(lv, {})[r["model"]] = (k, i)
        for what, head in (("accuracy", "accuracy (%), in brackets its change from clean (points)"),
                           ("sops", "SOPs per sample")):
            out += ["", f"**{names[kind]}: {head}**", "",
                    "| " + " | ".join([names[kind]] + [r["model"] for r in rows]) + " |",
                    "|" + "---|" * (len(rows) + 1)]
            for lv in sorted(by_level):
                cells = []
                for r in rows:
                    if r["model"] not in by_level[lv]:
                        cells.append("")
                        continue
                    k, i = by_level[lv][r["model"]]
                    if what == "accuracy":
                        cell = _pm(k["accuracy_mean"][i], k["accuracy_sd"][i])
                        if k["drop_mean"][i] is not None and lv != 0:
                            d = -k["drop_mean"][i]  # the change: negative when accuracy is lost
                            cell += f" ({'−' if d < 0 else '+'}{_pm(abs(d), k['drop_sd'][i])})"
                    else:
                        cell = _pm(k["sops_mean"][i], k["sops_sd"][i], 0)
                    cells.append(cell)
                out.append(f"| {lv:g} | " + " | ".join(cells) + " |")
    note = (f"Mean ± sample sd (ddof 1) over seeds; each seed's value is the mean of {repeats} noise "
            "draws (the same draws for every model). In brackets: the change from the run's clean "
            "accuracy (points), mean ± sd over seeds.")
    if share:
        note += f" Always answering the majority class scores {share:.1f} %."
    out += ["", note]
    return "\n".join(out) + "\n"


def plot_compare(rows: list[dict], kinds):
    """Accuracy (top) and SOPs (bottom) against the noise level, one panel per kind, one line per
    model (mean over seeds) with a band of ± 1 sd over seeds. Returns the figure."""
    plt = pyplot()
    fig, axes = plt.subplots(2, len(kinds), figsize=(5.2 * len(kinds), 7.5), squeeze=False,
                             sharex="col")
    share = max((r["majority_share"] or 0.0) for r in rows)
    for j, kind in enumerate(kinds):
        for what, ax in (("accuracy", axes[0][j]), ("sops", axes[1][j])):
            for mi, r in enumerate(rows):
                k = r["kinds"][kind]
                x = np.asarray(k["levels"], dtype=float)
                y = np.array([np.nan if v is None else v for v in k[f"{what}_mean"]], dtype=float)
                e = np.array([0.0 if v is None else v for v in k[f"{what}_sd"]], dtype=float)
                ax.plot(x, y, marker="os^Dv"[mi % 5], color=f"C{mi}", clip_on=False, zorder=3,
                        label=f"{r['model']} (n = {r['n']})")
                ax.fill_between(x, y - e, y + e, color=f"C{mi}", alpha=0.2, linewidth=0)
            ax.grid(alpha=0.3)
            if kind == "bits":
                ax.set_xscale("log", base=2)
            if what == "accuracy":
                if share:
                    ax.axhline(share, color="0.4", ls=":", lw=1, label="always the majority class")
                ax.set(ylabel="test accuracy (%)", title=LEVEL_NAMES[kind])
                ax.set_ylim(0, 100)
            else:
                ax.set(ylabel="SOPs per test sample", xlabel=LEVEL_NAMES[kind])
                ys = [v for r in rows for v in r["kinds"][kind]["sops_mean"] if v is not None]
                pos = [v for v in ys if v > 0]
                if pos and max(pos) > 30 * min(pos):  # models far apart in activity
                    # symlog: a silent network (0 SOPs) stays on the plot
                    ax.set_yscale("log" if min(ys) > 0 else "symlog", **(
                        {} if min(ys) > 0 else {"linthresh": 1.0}))
                else:
                    ax.set_ylim(bottom=0)
        axes[0][j].legend(loc="lower left", fontsize=8)
    fig.suptitle("mean over seeds, band: ± 1 sd over seeds", fontsize=9)
    fig.tight_layout()
    return fig


def _fmt_s(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def build_compare_parser():
    from resonet.neurons import neuron_names

    ecg = TASK_LEVELS["ecg"]
    ap = make_parser("python -m analysis.robustness compare", f"""\
Trained models side by side under noise (the BRF paper's A.10 on any task; the leak paper's IF
vs LIF question with examples/ecg_leak.toml).

Reads every finished run (summary.json) of the DIRs (sweep directories, folders of run
directories, or run directories), evaluates each run's best checkpoint on its test split under
each perturbation and level (the same noise draws for every run), and aggregates per model
(task, neuron, and any setting other than the seed that differs between its runs): mean ± sd over
seeds of the accuracy, of its drop from the clean accuracy, and of the SOPs. Writes
{COMPARE_STEM}.png, .md and .json into --out (default: the first DIR); existing files are never
overwritten (-2, -3, ... suffixes). Unfinished runs are listed and left out.

Default levels: on ECG, input noise {",".join(f"{v:g}" for v in ecg["input_noise"])} and synaptic
noise {",".join(f"{v:g}" for v in ecg["synaptic"])} (chosen for its binary spike inputs,
docs/analysis.md); on other tasks the official ones (see python -m analysis.robustness --help).""")
    ap.add_argument("directories", nargs="+", metavar="DIR",
                    help="sweep directory, folder of run directories, or run directory")
    ap.add_argument("--kinds", default=",".join(k.replace("_", "-") for k in COMPARE_KINDS),
                    help="comma-separated perturbations: input-noise, synaptic, deletion, bits, or all "
                         "(default input-noise,synaptic)")
    ap.add_argument("--levels", type=float_list, default=None, metavar="L,L,...",
                    help="levels of the one perturbation in --kinds (with several, use the options below)")
    for k in KINDS:
        ap.add_argument(f"--{k.replace('_', '-')}-levels", type=float_list, default=None, metavar="L,L,...",
                        help=f"levels of {LEVEL_NAMES[k]}")
    ap.add_argument("--repeats", type=int, default=COMPARE_REPEATS,
                    help=f"noise draws per random level (default {COMPARE_REPEATS})")
    ap.add_argument("--seed", type=int, default=0, help="base seed of the noise (default 0)")
    ap.add_argument("--neurons", default=None, metavar="N,N,...",
                    help=f"only these neuron models (of {', '.join(neuron_names())}; default: all found)")
    ap.add_argument("--seeds", type=int_list, default=None, metavar="S,S,...",
                    help="only the runs of these training seeds (default: all found)")
    ap.add_argument("--data", metavar="FILE.npz", default=None,
                    help="evaluate every run on this .npz (x (T, N, I), y) instead of its test split")
    ap.add_argument("--data-dir", metavar="PATH", default=None,
                    help="load each run's test split from PATH instead of the data_dir recorded in "
                         "its config.json (runs trained on another machine)")
    ap.add_argument("--limit", type=int, default=None, metavar="N",
                    help="evaluate on the first N test samples only (default: all)")
    ap.add_argument("--batch-size", type=int, default=256, help="evaluation batch size (default 256)")
    add_backend_arg(ap)
    ap.add_argument("--out", metavar="DIR", default=None, help="output directory (default: the first DIR)")
    ap.add_argument("--no-figure", action="store_true", help="only the table and the JSON")
    return ap


def compare_main(argv) -> int:
    args = build_compare_parser().parse_args(argv)
    kinds, given, neurons = _compare_options(args)
    runs, skipped = select_runs(args.directories, neurons, args.seeds)
    out = out_dir(args.out or args.directories[0], "robustness-compare")

    levels_by_task = {}
    for task in sorted({r.task for r in runs}):
        lv = {k: given[k] if given[k] is not None else default_levels(k, task) for k in kinds}
        levels_by_task[task] = {k: [int(v) for v in lv[k]] if k == "bits" else list(lv[k]) for k in kinds}
    t0 = time.perf_counter()
    evaluated = _evaluate_runs(runs, kinds, levels_by_task, args, skipped)
    rows = compare_table(runs, evaluated, kinds)
    md = compare_markdown(rows, kinds, args.repeats)
    print(md, end="")
    from resonet.runlog import unique_path, write_json

    stem = free_stem(out, COMPARE_STEM, (".md", ".json", ".png"))  # one suffix for all three
    md_path = unique_path(out / f"{stem}.md")
    title = ", ".join(Path(d).name for d in args.directories)
    md_path.write_text(f"# Robustness of trained models: {title}\n\n{md}")
    print(f"wrote {md_path}")
    data = {"directories": [str(d) for d in args.directories], "kinds": kinds, "levels": levels_by_task,
            "repeats": args.repeats, "seed": args.seed, "backend": args.backend, "data": args.data,
            "data_dir": args.data_dir, "limit": args.limit, "rows": rows, "skipped": skipped,
            "wall_s": time.perf_counter() - t0,
            "runs": [{"id": r.id, "dir": str(r.run_dir), "neuron": r.neuron, "seed": r.seed,
                      "variant": dict(r.variant), "summary_test_acc": r.summary.get("test_acc"),
                      **{k: evaluated[r.id][k] for k in ("clean", "n_samples", "data", "label_shares")},
                      "results": evaluated[r.id]["results"]}
                     for r in runs if r.id in evaluated]}
    print(f"wrote {write_json(out / f'{stem}.json', to_jsonable(data), unique=True)}")
    if not args.no_figure:
        print(f"wrote {save_figure(plot_compare(rows, kinds), out / f'{stem}.png')}")
    return 0


def _compare_options(args) -> tuple[list[str], dict, list[str] | None]:
    """``(kinds, levels given per kind or None, neurons or None)`` of ``compare``, checked."""
    from resonet.neurons import neuron_names

    kinds = _parse_kinds(args.kinds)
    if args.levels is not None and len(kinds) != 1:
        raise ConfigError(f"--levels needs exactly one perturbation in --kinds (got {', '.join(kinds)}); "
                          "use --input-noise-levels, --synaptic-levels, ... instead")
    given = {k: (args.levels if args.levels is not None and len(kinds) == 1 else None)
             or getattr(args, f"{k}_levels") for k in kinds}
    for k, lv in given.items():
        if lv is not None:
            _check_levels(k, lv)
    if args.repeats < 1:
        raise ConfigError(f"--repeats must be >= 1, got {args.repeats}")
    if args.limit is not None and args.limit < 1:
        raise ConfigError(f"--limit must be >= 1, got {args.limit}")
    neurons = None
    if args.neurons:
        neurons = [n.strip().lower() for n in args.neurons.split(",") if n.strip()]
        bad = [n for n in neurons if n not in neuron_names()]
        if bad or not neurons:
            raise ConfigError(f"--neurons: unknown {bad}; choose from {', '.join(neuron_names())}")
    return kinds, given, neurons


def _evaluate_runs(runs, kinds, levels_by_task: dict, args, skipped: list) -> dict[str, dict]:
    """:func:`evaluate_run` of every run, with progress and an estimate of the time left; a run
    that cannot be evaluated is added to ``skipped`` (one bad run does not sink the rest)."""
    reps = {k: 1 if k == "bits" else args.repeats for k in kinds}
    n_eval = {t: 1 + sum(len(lv[k]) * reps[k] for k in kinds) for t, lv in levels_by_task.items()}
    total = sum(n_eval[r.task] for r in runs)
    progress(f"{len(runs)} finished run(s), {total} evaluations of the test set in all ("
             + "; ".join(f"{t}: " + ", ".join(f"{k} {len(lv[k])} levels x {reps[k]}" for k in kinds)
                         for t, lv in levels_by_task.items())
             + f", plus the clean network), backend {args.backend}")
    evaluated: dict[str, dict] = {}
    cache: dict = {}
    t0, done = time.perf_counter(), 0
    for i, r in enumerate(runs, 1):
        tag = f"[{i}/{len(runs)}] {r.id}"
        progress(f"{tag} ({model_label(r.task, r.neuron, r.variant)}, seed {r.seed}) ...")
        t1 = time.perf_counter()
        try:
            ev = evaluate_run(r.run_dir, kinds, levels_by_task[r.task], repeats=args.repeats,
                              seed=args.seed, backend=args.backend, batch_size=args.batch_size,
                              data_path=args.data, limit=args.limit, data_dir=args.data_dir,
                              data_cache=cache, verbose=True)
        except (CheckpointError, DataError, ConfigError) as exc:  # one bad run does not sink the rest
            skipped.append((r.id, str(exc)))
            progress(f"{tag}: skipped, {exc}")
            continue
        evaluated[r.id] = ev
        done += n_eval[r.task]
        elapsed = time.perf_counter() - t0
        left = sum(n_eval[q.task] for q in runs[i:])
        ref = r.summary.get("test_acc")
        note = f" (summary.json {ref:.1f} %)" if isinstance(ref, (int, float)) else ""
        progress(f"{tag}: clean {ev['clean']['accuracy']:.1f} %{note} on {ev['n_samples']} samples; "
                 f"{_fmt_s(time.perf_counter() - t1)}, about {elapsed / done:.2f} s per evaluation"
                 + (f"; ETA {_fmt_s(left * elapsed / done)}" if left else ""))
        if (args.data is None and args.limit is None and isinstance(ref, (int, float))
                and abs(ev["clean"]["accuracy"] - ref) > 1.0):
            progress(f"{tag}: note: the clean accuracy differs from summary.json's by "
                     f"{ev['clean']['accuracy'] - ref:+.1f} points (other data, or another dtype?)")
    if not evaluated:
        raise ConfigError("no run could be evaluated: " + "; ".join(f"{i}: {w}" for i, w in skipped))
    return evaluated


def _check_levels(k: str, lv) -> None:
    if k == "bits" and any(v < 0 or int(v) != v for v in lv):
        raise ConfigError(f"--bits-levels must be integers >= 0, got {lv}")
    if k == "deletion" and any(not 0 <= v <= 1 for v in lv):
        raise ConfigError(f"--deletion-levels must lie in [0, 1], got {lv}")
    if k in ("input_noise", "synaptic") and any(v < 0 for v in lv):
        raise ConfigError(f"--{k.replace('_', '-')}-levels must be >= 0, got {lv}")


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] == "compare":
        return compare_main(argv[1:])
    args = build_parser().parse_args(argv)
    kinds = _parse_kinds(args.kinds)
    levels: dict[str, list] = {}
    for k in kinds:
        lv = getattr(args, f"{k}_levels") or DEFAULT_LEVELS[k]
        _check_levels(k, lv)
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
