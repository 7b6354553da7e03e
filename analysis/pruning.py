"""Accuracy vs the fraction of recurrent weights removed (paper Fig. 7): post hoc, or from scratch.

Two commands:

- ``python -m analysis.pruning RUN_DIR``: prune a *trained* network afterwards (below), optionally
  with masked retraining;
- ``python -m analysis.pruning sweep DIR``: the paper's protocol, networks *trained from scratch*
  with a fixed random recurrent mask (``resonet.train --prune-recurrent PHI``, resonet.pruning),
  read from a sweep directory (``examples/ecg_pruning.toml``) or any folder of run directories:
  the Fig.-7 figure and a table (:func:`collect_pruned_runs`, :func:`pruning_table`).

Post-hoc pruning acts on the recurrent block W_rec = W_h[:, I:] (H × H) only. A fraction φ removes
k = round(φ·H²) weights:

- ``method="magnitude"``: the k smallest |w| (ties broken by position, a stable sort);
- ``method="random"``: k positions drawn uniformly without replacement.

The mask (ones on the input block) is returned with the pruned parameters. Optional **masked
retraining**: a few Adam steps (resonet.optim.Adam, surrogate-gradient BPTT from the backend) on
training data, with the gradient of pruned weights zeroed and the mask re-applied after every
step, so pruned weights stay exactly 0.

Note: the paper's Fig. 7 networks were trained from scratch with a random recurrent mask
(``LinearMask``: masked weights are zeroed on every forward); that is the ``sweep`` command.
Random post-hoc pruning + retraining is the closest analogue for a single trained network.

**The sweep command.** Every sub-directory holding a ``config.json`` is a run (in a sweep
directory only the trials of its grid, ``sweep.json``); a run counts once it has finished
(``summary.json``). Runs are grouped by task, neuron and φ (``settings.prune_recurrent``), and
by any other setting that differs between the runs of one task and neuron (e.g. ``epochs``), so
that different protocols are never averaged together. Per group, mean ± sample sd (ddof 1) over
the seeds of: the test accuracy of the checkpoint with the lowest validation loss
(``summary.json``, what Table 1 reports), the test accuracy after the last epoch
(``metrics.jsonl``), the SOPs per test sample and per step of the best checkpoint, and the
realised fraction of removed weights (``prune_mask.npz``).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from resonet.backends import get_backend
from resonet.cli import run_main
from resonet.errors import ConfigError
from resonet.evaluation import official_targets
from resonet.network import NetworkSpec
from resonet.neurons import neuron_names
from resonet.optim import Adam
from resonet.rundir import RunDir

from .common import (
    RUN_SPECIFIC,
    add_backend_arg,
    add_data_args,
    add_out_arg,
    check_data,
    collect_finished_runs,
    evaluate,
    float_list,
    free_stem,
    load_eval_data,
    load_npz_data,
    load_run,
    make_parser,
    mark_variants,
    model_label,
    out_dir,
    progress,
    pyplot,
    save_figure,
    to_jsonable,
    write_outputs,
)

METHODS = ("magnitude", "random")
W_KEY = "hidden.linear.weight"


def prune_recurrent(spec: NetworkSpec, params: dict, fraction: float, method: str = "magnitude",
                    rng: np.random.Generator | None = None) -> tuple[dict, np.ndarray]:
    """``(pruned_params, mask)``: a copy with round(fraction·H²) recurrent weights set to 0."""
    if not 0.0 <= fraction <= 1.0:
        raise ConfigError(f"pruning fraction must lie in [0, 1], got {fraction}")
    if method not in METHODS:
        raise ConfigError(f"pruning method must be one of {METHODS}, got {method!r}")
    I, H = spec.n_in, spec.n_hidden
    W = np.asarray(params[W_KEY], dtype=np.float64)
    rec = W[:, I:].ravel()
    k = int(round(fraction * rec.size))
    if method == "magnitude":
        order = np.argsort(np.abs(rec), kind="stable")
    else:
        if rng is None:
            raise ConfigError("random pruning needs a random generator (rng)")
        order = rng.permutation(rec.size)
    keep = np.ones(rec.size)
    keep[order[:k]] = 0.0
    mask = np.ones_like(W)
    mask[:, I:] = keep.reshape(H, H)
    out = {n: np.array(v, dtype=np.float64) for n, v in params.items()}
    out[W_KEY] = W * mask
    return out, mask


def retrain_masked(spec: NetworkSpec, params: dict, mask: np.ndarray, train, *, steps: int, lr: float,
                   batch_size: int, rng: np.random.Generator, backend="reference") -> tuple[dict, list]:
    """``steps`` Adam steps on random batches of ``train`` (EvalData) keeping masked weights at 0.

    Returns the new parameters and the training loss per step.
    """
    if steps < 0 or not lr > 0:
        raise ConfigError(f"need retrain steps >= 0 and lr > 0, got {steps}, {lr}")
    be = get_backend(backend) if isinstance(backend, str) else backend
    p = {n: np.array(v, dtype=np.float64) for n, v in params.items()}
    opt = Adam(p, lr=lr)
    losses = []
    for _ in range(steps):
        idx = np.sort(rng.choice(train.n, size=min(batch_size, train.n), replace=False))
        x, y = train.take(idx)
        res = be.run(spec, p, x, official_targets(y), grads=True)
        g = dict(res.grads or {})  # labels given: grads are there
        g[W_KEY] = g[W_KEY] * mask
        opt.step(g)
        p[W_KEY] *= mask  # pruned weights stay exactly 0
        losses.append(float(res.loss or 0.0))
    return p, losses


def sweep(spec: NetworkSpec, params: dict, data, fractions, *, method: str = "magnitude", seed: int = 0,
          backend="reference", batch_size: int = 256, retrain_steps: int = 0, train=None,
          lr: float = 1e-3, verbose: bool = False) -> dict:
    """Accuracy, loss and SOPs per pruning fraction (and after masked retraining, if asked)."""
    res: dict[str, Any] = {"fractions": list(fractions), "method": method, "seed": seed,
                           "retrain_steps": retrain_steps, "pruned": [],
                           "retrained": [] if retrain_steps else None}
    for i, f in enumerate(fractions):
        rng = np.random.default_rng([seed, i])
        pp, mask = prune_recurrent(spec, params, f, method, rng)
        m = evaluate(spec, pp, data, backend=backend, batch_size=batch_size)
        m["n_removed"] = int((mask == 0).sum())
        res["pruned"].append(m)
        msg = f"  fraction {f:g}: accuracy {m['accuracy']:.2f} %"
        if retrain_steps:
            if train is None:
                raise ConfigError("masked retraining needs training data (--train-data)")
            rp, losses = retrain_masked(spec, pp, mask, train, steps=retrain_steps, lr=lr,
                                        batch_size=batch_size, rng=rng, backend=backend)
            mr = evaluate(spec, rp, data, backend=backend, batch_size=batch_size)
            mr["train_loss"] = losses
            res["retrained"].append(mr)
            msg += f", after {retrain_steps} masked Adam steps {mr['accuracy']:.2f} %"
        if verbose:
            progress(msg)
    return res


# -- pruning from scratch: a folder of --prune-recurrent runs (the paper's Fig. 7) ----------------

# φ is an axis of the table, not a protocol difference
IGNORED_SETTINGS = RUN_SPECIFIC | {"prune_recurrent"}


@dataclass
class PrunedRun:
    """One finished run of a pruning sweep."""

    id: str
    run_dir: Path
    settings: dict
    phi: float
    best_acc: float  # test accuracy of the best-validation checkpoint (summary.json)
    final_acc: float | None  # test accuracy after the last evaluated epoch (metrics.jsonl)
    final_epoch: int | None
    sops: float | None  # per test sample, best checkpoint
    sops_per_step: float | None
    removed: float | None  # realised fraction of removed recurrent weights (prune_mask.npz)
    variant: tuple = ()  # (key, value) of the settings that split the task-and-neuron's runs


def _removed_fraction(run_dir: Path, phi: float, n_hidden: int) -> float | None:
    path = RunDir(run_dir).mask
    if not path.exists():
        return 0.0 if phi == 0 else None
    try:
        with np.load(path, allow_pickle=False) as f:
            keep = np.asarray(f["keep"], dtype=bool)
    except Exception:  # a damaged mask file only loses this column
        return None
    return float(1.0 - keep.mean()) if keep.shape == (n_hidden, n_hidden) else None


def collect_pruned_runs(directory: str | Path) -> tuple[list[PrunedRun], list[tuple[str, str]]]:
    """The finished runs of ``directory`` (:func:`analysis.common.collect_finished_runs`) and
    ``(id, why)`` for the runs left out."""
    finished, skipped = collect_finished_runs(directory)
    runs = []
    for fr in finished:
        d, settings, summary = fr.run_dir, fr.settings, fr.summary
        try:
            phi = float(settings.get("prune_recurrent", 0.0))
            n_hidden = int(settings["hidden"])
        except (ValueError, KeyError, TypeError) as exc:
            skipped.append((fr.id, f"unreadable config.json ({exc})"))
            continue
        hist = [r for r in RunDir(d).history() if r.get("test_acc") is not None]
        last = hist[-1] if hist else {}
        runs.append(PrunedRun(fr.id, d, settings, phi, float(summary["test_acc"]),
                              last.get("test_acc"), last.get("epoch"), summary.get("test_sops"),
                              summary.get("test_sops_per_step"),
                              _removed_fraction(d, phi, n_hidden)))
    if not runs:
        raise ConfigError(f"{directory}: no finished run directories ({len(skipped)} unreadable)")
    mark_variants(runs, IGNORED_SETTINGS)
    return runs, skipped


def pruning_table(runs: list[PrunedRun]) -> list[dict]:
    """One row per (task, neuron, variant, φ): mean ± sd over seeds (module docstring)."""
    from resonet.sweep.report import mean_sd, protocol_deviations

    groups: dict[tuple, list[PrunedRun]] = {}
    for r in runs:
        groups.setdefault((r.settings["task"], r.settings["neuron"], r.variant, r.phi), []).append(r)
    rows = []
    order = {n: i for i, n in enumerate(neuron_names())}  # the registry's order: BRF before ALIF
    for (task, neuron, variant, phi), rs in sorted(groups.items(), key=lambda kv: (
            kv[0][0], order.get(kv[0][1], len(order)), kv[0][1],
            json.dumps(kv[0][2], sort_keys=True, default=str), kv[0][3])):
        rs = sorted(rs, key=lambda r: r.settings.get("seed", 0))
        row = {"task": task, "neuron": neuron, "model": model_label(task, neuron, variant),
               "variant": dict(variant), "phi": phi, "n": len(rs),
               "seeds": [r.settings.get("seed") for r in rs], "runs": [r.id for r in rs]}
        for name, vals in (("best_acc", [r.best_acc for r in rs]),
                           ("final_acc", [r.final_acc for r in rs]),
                           ("sops", [r.sops for r in rs]),
                           ("sops_per_step", [r.sops_per_step for r in rs]),
                           ("removed", [r.removed for r in rs]),
                           ("final_epoch", [r.final_epoch for r in rs])):
            m, sd, _ = mean_sd(vals)
            row[f"{name}_mean"], row[f"{name}_sd"] = m, sd
        dev = sorted({x for r in rs for x in protocol_deviations(r.settings)
                      if not x.startswith("prune_recurrent")})
        row["protocol"] = "; ".join(dev) or "Table 3"
        rows.append(row)
    return rows


def _pm(m, sd, digits=1, scale=1.0) -> str:
    if m is None:
        return "–"
    text = f"{scale * m:,.{digits}f}"
    return text if sd is None else f"{text} ± {scale * sd:,.{digits}f}"


def table_markdown(rows: list[dict]) -> str:
    """The table of :func:`pruning_table` as markdown, with the protocol of each model."""
    head = ["model", "φ", "removed (%)", "seeds", "best-val test acc (%)",
            "final-epoch test acc (%)", "SOPs/sample", "SOPs/step"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        lines.append("| " + " | ".join([
            r["model"], f"{r['phi']:g}", _pm(r["removed_mean"], None, 1, 100.0), str(r["n"]),
            _pm(r["best_acc_mean"], r["best_acc_sd"]), _pm(r["final_acc_mean"], r["final_acc_sd"]),
            _pm(r["sops_mean"], r["sops_sd"], 0), _pm(r["sops_per_step_mean"], r["sops_per_step_sd"], 3),
        ]) + " |")
    notes: dict[str, set] = {}
    for r in rows:
        notes.setdefault(r["model"], set()).add(r["protocol"])
    lines.append("")
    lines.append("Mean ± sample sd (ddof 1) over seeds. \"best-val\": the checkpoint with the "
                 "lowest validation loss; \"final-epoch\": after the last epoch. Protocol:")
    for model, protos in notes.items():
        lines.append(f"- {model}: {'; '.join(sorted(protos))}")
    return "\n".join(lines) + "\n"


def plot_pruning_sweep(rows: list[dict]):
    """Fig. 7 style: test accuracy (best-val checkpoint; final epoch) and SOPs over φ, mean ± sd
    over seeds, one line per model; one row of panels per task. Returns the figure."""
    plt = pyplot()
    tasks = sorted({r["task"] for r in rows})
    fig, axes = plt.subplots(len(tasks), 3, figsize=(13, 3.8 * len(tasks)), squeeze=False)
    panels = (("best_acc", "test accuracy (%), best-val checkpoint"),
              ("final_acc", "test accuracy (%), final epoch"),
              ("sops", "SOPs per test sample, best-val checkpoint"))
    for ti, task in enumerate(tasks):
        models = list(dict.fromkeys(r["model"] for r in rows if r["task"] == task))
        for (key, ylabel), ax in zip(panels, axes[ti]):
            for mi, model in enumerate(models):
                rs = [r for r in rows if r["model"] == model and r[f"{key}_mean"] is not None]
                x = [r["phi"] for r in rs]
                y = np.array([r[f"{key}_mean"] for r in rs], dtype=float)
                e = np.array([r[f"{key}_sd"] or 0.0 for r in rs], dtype=float)
                # clip_on=False: the markers at φ = 0 and φ = 1 sit on the axes' edges
                ax.errorbar(x, y, yerr=e, marker="os^Dv"[mi % 5], capsize=3, label=model,
                            clip_on=False, zorder=3)
                ax.fill_between(x, y - e, y + e, alpha=0.15, linewidth=0)
            ax.set_xlim(-0.04, 1.04)
            ax.margins(y=0.08)
            ax.set_xlabel("pruning probability φ (1.0: no recurrent weights)")
            ax.set_ylabel(ylabel)
            ax.grid(alpha=0.3)
        axes[ti][0].legend(loc="best", fontsize=8)
        n = sorted({r["n"] for r in rows if r["task"] == task})
        axes[ti][0].set_title(f"{task.upper()}: trained from scratch with a fixed recurrent mask "
                              f"(mean ± sd over seeds, n = {'/'.join(map(str, n))})", loc="left",
                              fontsize=9)
    fig.tight_layout()
    return fig


def sweep_main(argv) -> int:
    ap = make_parser("python -m analysis.pruning sweep", """\
The paper's Fig. 7 from networks trained from scratch with a fixed random recurrent mask
(resonet.train --prune-recurrent PHI), e.g. a sweep of examples/ecg_pruning.toml.

Reads every finished run of DIR (a sweep directory, or any folder of run directories), groups
them by task, neuron and PHI, and writes pruning_sweep.png (test accuracy and SOPs over PHI,
mean ± sd over seeds), pruning_sweep.md (the table) and pruning_sweep.json (every number, every
run) into --out (default: DIR). Existing files are never overwritten (-2, -3, ... suffixes).""")
    ap.add_argument("directory", metavar="DIR", help="sweep directory or folder of run directories")
    ap.add_argument("--out", metavar="DIR", default=None,
                    help="output directory (default: DIR itself)")
    ap.add_argument("--no-figure", action="store_true", help="only the table and the JSON")
    args = ap.parse_args(argv)
    runs, skipped = collect_pruned_runs(args.directory)
    rows = pruning_table(runs)
    md = table_markdown(rows)
    out = out_dir(args.out or args.directory, "pruning-sweep")
    print(md, end="")
    if skipped:
        progress(f"left out {len(skipped)} run(s): " + "; ".join(f"{i}: {w}" for i, w in skipped[:5])
                 + (" ..." if len(skipped) > 5 else ""))
    from resonet.runlog import unique_path, write_json

    stem = free_stem(out, "pruning_sweep", (".md", ".json", ".png"))  # one suffix for all three
    md_path = unique_path(out / f"{stem}.md")
    md_path.write_text(f"# Pruning from scratch: {Path(args.directory).name}\n\n{md}")
    print(f"wrote {md_path}")
    js = write_json(out / f"{stem}.json", to_jsonable(
        {"directory": str(args.directory), "rows": rows, "skipped": skipped,
         "runs": [{"id": r.id, "phi": r.phi, "seed": r.settings.get("seed"),
                   "neuron": r.settings["neuron"], "best_acc": r.best_acc,
                   "final_acc": r.final_acc, "sops": r.sops, "removed": r.removed}
                  for r in runs]}), unique=True)
    print(f"wrote {js}")
    if not args.no_figure:
        print(f"wrote {save_figure(plot_pruning_sweep(rows), out / f'{stem}.png')}")
    return 0


def build_parser():
    ap = make_parser("python -m analysis.pruning", __doc__.split("\n\n")[0] + """

Removes a growing fraction of the recurrent weights of a checkpoint (smallest |w| or random)
and evaluates it, optionally after masked retraining; writes pruning.png and pruning.json.

For networks trained from scratch with a recurrent mask (the paper's protocol), see
  python -m analysis.pruning sweep --help
(a run directory literally named "sweep" is given as ./sweep).""")
    add_data_args(ap)
    ap.add_argument("--fractions", type=float_list, default=[round(v, 10) for v in np.arange(0, 1.0, 0.1)],
                    help="comma-separated fractions of recurrent weights to remove (default 0,0.1,...,0.9)")
    ap.add_argument("--method", default="magnitude", choices=list(METHODS),
                    help="which weights go: smallest |w| (magnitude, default) or random")
    ap.add_argument("--retrain-steps", type=int, default=0,
                    help="masked Adam steps after pruning (default 0: no retraining)")
    ap.add_argument("--train-data", metavar="FILE.npz", default=None,
                    help="training data for retraining (.npz with x (T, N, I), y); default: the task's "
                         "train split via resonet.data.load_task")
    ap.add_argument("--lr", type=float, default=1e-3,
                    help="Adam learning rate of the retraining (default 1e-3)")
    ap.add_argument("--seed", type=int, default=0, help="seed of random pruning and of retraining batches")
    add_backend_arg(ap)
    add_out_arg(ap, "pruning")
    return ap


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] == "sweep":
        return sweep_main(argv[1:])
    args = build_parser().parse_args(argv)
    if any(not 0 <= f <= 1 for f in args.fractions):
        raise ConfigError(f"--fractions must lie in [0, 1], got {args.fractions}")
    if args.retrain_steps < 0 or not args.lr > 0:
        raise ConfigError("--retrain-steps must be >= 0 and --lr > 0")
    spec, params, config = load_run(args.checkpoint)
    data = load_eval_data(args.data, config, args.limit)
    check_data(spec, data)
    train = None
    if args.retrain_steps:
        train = (load_npz_data(args.train_data) if args.train_data
                 else load_eval_data(None, config, None, split="train"))
        check_data(spec, train)
    progress(f"pruning {len(args.fractions)} fractions ({args.method}) on {data.n} samples")
    res = sweep(spec, params, data, args.fractions, method=args.method, seed=args.seed,
                backend=args.backend, batch_size=args.batch_size, retrain_steps=args.retrain_steps,
                train=train, lr=args.lr, verbose=True)
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    # markers at 0 % and 100 % must not be cut in half by the axes: a little room, and no clipping
    ax.plot(res["fractions"], [m["accuracy"] for m in res["pruned"]], "o-", label=f"pruned ({args.method})",
            clip_on=False)
    if res["retrained"]:
        ax.plot(res["fractions"], [m["accuracy"] for m in res["retrained"]], "s-", clip_on=False,
                label=f"+ {args.retrain_steps} masked Adam steps")
    ax.set(xlabel="fraction of recurrent weights removed", ylabel="accuracy (%)", ylim=(-3, 103),
           yticks=np.arange(0, 101, 20), title=f"{spec.neuron}: {args.checkpoint}")
    ax.legend(loc="lower left")
    fig.tight_layout()
    out = {"checkpoint": str(args.checkpoint), "spec": spec.to_dict(), "data": data.source,
           "backend": args.backend, **res}
    write_outputs(out_dir(args.out, "pruning"), "pruning", fig, out)
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
