"""``python -m resonet.sweep report DIR [--paper]``: the sweep's results per group, as the paper's
Table 1 and Table 2 give them, with figures.

A group is every trial with the same values of all axes except the seed (and the same task and
neuron). For each group, over its finished trials (seeds):

- **final test accuracy**: the test accuracy after the last training epoch;
- **best-val test accuracy**: the test accuracy of the checkpoint with the lowest validation
  loss (``summary.json``). This is what the paper's Table 1 reports: its "best model" is the
  saved model of early stopping on the validation loss (Appendix A.6), and the official scripts
  report that checkpoint's test accuracy;
- **SOPs** per test sample and per step, of that same checkpoint (eq. 41, as in Table 1);
- **epochs to 95 / 98 / 100 %** of the final test accuracy (Table 2: "the average number of
  epochs after which 95 %, 98 %, and 100 % of the final test accuracy on the learning curve was
  reached"): per trial, the first evaluated epoch e (0 = untrained) with
  test_acc(e) ≥ p · test_acc(last epoch); then the mean over the seeds;
- **wall time** per trial (the sweep's record: every attempt of the trial process, start-up and
  evaluation included).

Means ± sample standard deviations (ddof = 1) over seeds; a group of one trial has no sd.

Written into DIR: ``report.md``, ``report.csv`` (one row per group, every number),
``report_curves.png`` (test accuracy per epoch, mean ± sd per group, one panel per task; the dot
marks where the mean curve reaches 95 % of its final value, as in the paper's Fig. 5, top row)
and ``report_omega_b.png`` (each resonator neuron at (ω, b) with b = damping at q = 0, before and
after training, all seeds, with the divergence boundary; the paper's Fig. 5, bottom row) and
``report_sops.png`` (SOPs per sample, mean ± sd per group; as the paper's Fig. 10).
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from ..checkpoint import atomic_write_text
from ..errors import CheckpointError, ConfigError
from ..rundir import RunDir
from .paper import paper_rows

FRACTIONS = (0.95, 0.98, 1.0)
FIRST_KEYS = ("task", "neuron")


@dataclass
class TrialResult:
    id: str
    run_dir: Path
    settings: dict  # resolved settings (config.json)
    group: tuple  # ((key, value), ...): task, neuron, then the other axes except the seed
    summary: dict
    history: list[dict]
    wall_s: float | None


@dataclass
class Group:
    key: tuple
    trials: list[TrialResult] = field(default_factory=list)

    @property
    def label(self) -> str:
        d = dict(self.key)
        rest = [f"{k}={v}" for k, v in self.key if k not in FIRST_KEYS]
        return " ".join([str(d.get("task", "?")), str(d.get("neuron", "?")), *rest])


# --------------------------------------------------------------------------------------------
# the numbers
# --------------------------------------------------------------------------------------------

def epochs_to_fraction(history: list[dict], fraction: float) -> int | None:
    """The first evaluated epoch whose test accuracy is ≥ ``fraction`` × the test accuracy of
    the last evaluated epoch (Table 2's definition); None without a learning curve."""
    rows = [r for r in history if r.get("test_acc") is not None]
    if not rows:
        return None
    target = fraction * float(rows[-1]["test_acc"])
    for r in rows:
        if float(r["test_acc"]) >= target:
            return int(r["epoch"])
    return int(rows[-1]["epoch"])  # unreachable: the last row meets its own target


def mean_sd(values) -> tuple[float | None, float | None, int]:
    """(mean, sample sd with ddof 1 or None below two values, n) of the values that exist."""
    xs = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if not xs:
        return None, None, 0
    m = float(np.mean(xs))
    return m, (float(np.std(xs, ddof=1)) if len(xs) > 1 else None), len(xs)


def group_stats(g: Group) -> dict:
    """Every number of a group's row (mean and sd of each quantity)."""
    ts = g.trials
    d = dict(g.key)
    out: dict = {"group": g.label, **{k: v for k, v in g.key}, "n": len(ts),
                 "seeds": " ".join(str(t.settings.get("seed")) for t in ts)}

    def put(name, values):
        m, s, _ = mean_sd(values)
        out[f"{name}_mean"], out[f"{name}_sd"] = m, s

    put("final_acc", [(t.history[-1] if t.history else {}).get("test_acc") for t in ts])
    put("best_acc", [t.summary.get("test_acc") for t in ts])
    put("best_acc_labelled", [t.summary.get("test_acc_labelled") for t in ts])
    put("best_epoch", [t.summary.get("best_epoch") for t in ts])
    put("sops", [t.summary.get("test_sops") for t in ts])
    put("sops_per_step", [t.summary.get("test_sops_per_step") for t in ts])
    for f in FRACTIONS:
        put(f"e{round(100 * f)}", [epochs_to_fraction(t.history, f) for t in ts])
    put("epochs", [(t.history[-1] if t.history else {}).get("epoch") for t in ts])
    put("wall_s", [t.wall_s for t in ts])
    out["protocol"] = "; ".join(sorted({x for t in ts for x in protocol_deviations(t.settings)})) or "Table 3"
    t1, t2 = paper_rows(str(d.get("task")), str(d.get("neuron")),
                        str(ts[0].settings.get("reset", "none")) if ts else "none")
    out["paper_acc"] = t1.acc if t1 else None
    out["paper_acc_sd"] = t1.acc_sd if t1 else None
    out["paper_sops"] = t1.sops if t1 else None
    out["paper_sops_per_step"] = t1.sops_per_step if t1 else None
    for f, v in zip(FRACTIONS, t2 if t2 else (None,) * 3):
        out[f"paper_e{round(100 * f)}"] = v
    return out


def protocol_deviations(s: dict) -> list[str]:
    """How a trial's settings depart from its Table-3 preset (what makes a comparison with the
    paper's numbers unfair); [] for the paper's protocol."""
    p = s.get("preset") or {}
    dev = []
    for key, pkey in (("epochs", "epochs"), ("batch", "batch"), ("lr", "lr"), ("optimizer", "optimizer"),
                      ("hidden", "n_hidden"), ("clip", "clip")):
        if pkey in p and s.get(key) != p[pkey]:
            dev.append(f"{key} {s.get(key)} (preset {p[pkey]})")
    for key in ("subset", "stop_after", "truncation"):
        if s.get(key) is not None:
            dev.append(f"{key} {s[key]}")
    if s.get("reset", "none") != "none":
        dev.append(f"reset {s['reset']}")
    if s.get("prune_recurrent"):
        dev.append(f"prune_recurrent {s['prune_recurrent']:g}")
    if s.get("synthetic") == "yes" or s.get("synthetic_data"):
        dev.append("synthetic data")
    return dev


# --------------------------------------------------------------------------------------------
# collecting the trials
# --------------------------------------------------------------------------------------------

def plain_run_axes(settings: dict) -> list[tuple[str, Any]]:
    """What, besides task and neuron, sets a plain run directory's group: the settings that
    change the network or its training away from the preset's (reset, pruning, readout,
    ablations), where the run departs from the default."""
    other: list[tuple[str, Any]] = []
    if settings.get("reset", "none") != "none":
        other.append(("reset", settings["reset"]))
    if settings.get("prune_recurrent"):
        other.append(("prune_recurrent", settings["prune_recurrent"]))
    if settings.get("readout", "li") != "li":
        other.append(("readout", settings["readout"]))
    if settings.get("ablate"):
        other.append(("ablate", ",".join(settings["ablate"])))
    return other


def collect(sweep_dir: Path) -> tuple[list[Group], list[tuple[str, str]], dict]:
    """Groups of finished trials, (trial, why it is missing) for the others, and the sweep state
    (empty for a plain folder of run directories, grouped by task, neuron, reset,
    prune_recurrent, readout and ablate)."""
    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        raise ConfigError(f"{sweep_dir}: no such sweep directory")
    state: dict = {}
    if (sweep_dir / "sweep.json").exists():
        try:
            state = json.loads((sweep_dir / "sweep.json").read_text())
        except ValueError as exc:
            raise ConfigError(f"{sweep_dir / 'sweep.json'}: unreadable ({exc})") from None
        entries = [(tid, rec) for tid, rec in state.get("trials", {}).items() if rec.get("in_grid", True)]
    else:
        entries = [(p.name, {}) for p in sorted(sweep_dir.iterdir()) if RunDir(p).config.is_file()]
        if not entries:
            raise ConfigError(f"{sweep_dir}: neither a sweep directory (sweep.json) nor a folder of "
                              "run directories (*/config.json)")
    groups: dict[tuple, Group] = {}
    missing = []
    for tid, rec in entries:
        run = sweep_dir / tid
        rd = RunDir(run)
        summary = rd.summary()
        if summary is None:
            why = rec.get("status", "unfinished")
            if rec.get("error"):
                why += f": {rec['error']}"
            missing.append((tid, why))
            continue
        try:
            settings = rd.run_settings()
        except CheckpointError as exc:  # names the file and what is wrong with it
            missing.append((tid, str(exc)))
            continue
        if rec:
            other = [(k, v) for k, v in (rec.get("axes") or {}).items() if k not in (*FIRST_KEYS, "seed")]
        else:
            other = plain_run_axes(settings)
        key = (("task", settings["task"]), ("neuron", settings["neuron"]), *other)
        wall = rec.get("wall_s_total") if rec else None
        history = rd.history()
        if not wall:  # not run by the sweep: the run's own timings (training + evaluation)
            wall = sum((r.get("epoch_seconds") or 0.0) + (r.get("eval_seconds") or 0.0)
                       for r in history) or None
        groups.setdefault(key, Group(key)).trials.append(
            TrialResult(tid, run, settings, key, summary, history, wall))
    return list(groups.values()), missing, state


# --------------------------------------------------------------------------------------------
# writing
# --------------------------------------------------------------------------------------------

def _pm(m, s, digits=1, unit="") -> str:
    if m is None:
        return "–"
    text = f"{m:,.{digits}f}"
    if s is not None:
        text += f" ± {s:,.{digits}f}"
    return text + unit


def _delta(row: dict) -> str:
    """Measured best-val accuracy minus the paper's, and whether it lies within one sd (the
    paper's sd where it gives one, else the measured one)."""
    m, p = row.get("best_acc_mean"), row.get("paper_acc")
    if m is None or p is None:
        return "–"
    sd = row.get("paper_acc_sd") or row.get("best_acc_sd")
    flag = "" if sd is None else (" (within 1 sd)" if abs(m - p) <= sd else " (**> 1 sd**)")
    return f"{m - p:+.1f}{flag}"


def render(rows: list[dict], missing: list, state: dict, paper: bool, title: str) -> str:  # noqa: C901 - one branch per section of the report
    out = io.StringIO()
    w = out.write
    n_done = sum(r["n"] for r in rows)
    w(f"# Sweep report: {title}\n\n")
    w(f"{n_done} finished trial(s) in {len(rows)} group(s)" +
      (f"; {len(missing)} not finished (listed at the end)" if missing else "") + ". ")
    w("Means ± sample sd (ddof 1) over seeds. Accuracy in % of test steps/samples as resonet.train "
      "scores it.\n\n")
    w("**Which accuracy the paper reports.** Table 1 gives the test accuracy of the saved \"best "
      "model\", the checkpoint with the lowest validation loss (early stopping on the validation "
      "loss, Appendix A.6), and its SOPs: compare it with *best-val test acc*. *Final test acc* is "
      "the accuracy after the last epoch.\n\n")
    w("## Table 1: accuracy and spike operations\n\n")
    head = ["group", "n", "final test acc %", "best-val test acc %"]
    if paper:
        head += ["paper acc %", "Δ vs paper"]
    head += ["SOPs/sample", "SOPs/step"]
    if paper:
        head += ["paper SOPs", "paper SOPs/step"]
    w(_md_row(head) + _md_row(["---"] * len(head)))
    for r in rows:
        cells = [r["group"], str(r["n"]), _pm(r["final_acc_mean"], r["final_acc_sd"]),
                 _pm(r["best_acc_mean"], r["best_acc_sd"])]
        if paper:
            cells += [_pm(r["paper_acc"], r["paper_acc_sd"]), _delta(r)]
        cells += [_pm(r["sops_mean"], r["sops_sd"]), _pm(r["sops_per_step_mean"], r["sops_per_step_sd"], 2)]
        if paper:
            cells += [_pm(r["paper_sops"], None), _pm(r["paper_sops_per_step"], None, 2)]
        w(_md_row(cells))
    odd = [r for r in rows if r["protocol"] != "Table 3"]
    if odd:
        w("\nNot the paper's protocol (compare with care): " +
          "; ".join(f"{r['group']}: {r['protocol']}" for r in odd) + ".\n")
    if any(r.get("best_acc_labelled_mean") is not None for r in rows):
        w("\nBest-val test accuracy over labelled steps only (ECG; the paper's scoring counts the "
          "unlabelled steps as class 0): " +
          "; ".join(f"{r['group']} {_pm(r['best_acc_labelled_mean'], r['best_acc_labelled_sd'])} %"
                    for r in rows if r.get("best_acc_labelled_mean") is not None) + ".\n")
    w("\n## Table 2: epochs to 95 / 98 / 100 % of the final test accuracy\n\n")
    w("Per trial the first evaluated epoch (0 = untrained) with test accuracy ≥ p × the last "
      "epoch's; mean ± sd over seeds.\n\n")
    head = ["group", "epochs run", "95 %", "98 %", "100 %"]
    if paper:
        head = ["group", "epochs run", "95 %", "paper", "98 %", "paper", "100 %", "paper"]
    w(_md_row(head) + _md_row(["---"] * len(head)))
    for r in rows:
        cells = [r["group"], _pm(r["epochs_mean"], None, 0)]
        for f in (95, 98, 100):
            cells.append(_pm(r[f"e{f}_mean"], r[f"e{f}_sd"]))
            if paper:
                cells.append("–" if r[f"paper_e{f}"] is None else str(r[f"paper_e{f}"]))
        w(_md_row(cells))
    w("\n## Wall time\n\n")
    w(_md_row(["group", "per trial (min)"]) + _md_row(["---"] * 2))
    for r in rows:
        m, s = r["wall_s_mean"], r["wall_s_sd"]
        w(_md_row([r["group"], _pm(None if m is None else m / 60, None if s is None else s / 60)]))
    inv = state.get("invocations") or []
    if inv:
        walls, estimated = invocation_walls(state)
        total = sum(walls)
        trials_sum = sum(t.get("wall_s_total") or 0.0 for t in state.get("trials", {}).values())
        cfg = ", ".join(sorted({f"{i.get('executor')} {i.get('workers')}x{i.get('threads_per_trial')}"
                                for i in inv}))
        w(f"\nThe sweep's driver ran {len(inv)} time(s) ({cfg} workers x threads per trial) for "
          f"{total / 60:.1f} min in all; its trials took {trials_sum / 60:.1f} min together"
          + (f" ({trials_sum / total:.2f} x the sweep's wall time).\n" if total > 0 else ".\n"))
        if estimated:
            w(f"{estimated} of the driver's runs have no recorded wall time (killed, or still running); "
              "for those the time from their start to the last trial they finished is counted.\n")
    w("\n## Figures\n\n![learning curves](report_curves.png)\n\n![omega-b plane](report_omega_b.png)\n"
      "\n![SOPs per sample](report_sops.png)\n")
    if missing:
        w("\n## Trials not finished\n\n")
        for tid, why in missing:
            w(f"- `{tid}`: {why}\n")
    return out.getvalue()


def invocation_walls(state: dict) -> tuple[list[float], int]:
    """Wall time of each driver run in ``state["invocations"]`` and how many were estimated.

    A driver that was killed never wrote its ``wall_s``; for it, count the time from its start
    to the last trial that finished before the next driver run started (a lower bound).
    """
    inv = state.get("invocations") or []
    ends = []
    for rec in state.get("trials", {}).values():
        try:
            ends.append(datetime.fromisoformat(rec["finished"]))
        except (KeyError, TypeError, ValueError):
            pass
    walls, estimated = [], 0
    for k, i in enumerate(inv):
        if i.get("wall_s") is not None:
            walls.append(float(i["wall_s"]))
            continue
        try:
            start = datetime.fromisoformat(i["started"])
            nxt = datetime.fromisoformat(inv[k + 1]["started"]) if k + 1 < len(inv) else None
        except (KeyError, TypeError, ValueError):
            walls.append(0.0)
            continue
        inside = [e for e in ends if e >= start and (nxt is None or e < nxt)]
        walls.append((max(inside) - start).total_seconds() if inside else 0.0)
        estimated += 1
    return walls, estimated


def _md_row(cells) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |\n"


CSV_NUMBERS = ("final_acc", "best_acc", "best_acc_labelled", "best_epoch", "sops", "sops_per_step",
               "e95", "e98", "e100", "epochs", "wall_s")
CSV_PAPER = ("paper_acc", "paper_acc_sd", "paper_sops", "paper_sops_per_step", "paper_e95",
             "paper_e98", "paper_e100")


def to_csv(rows: list[dict]) -> str:
    numbers = [f"{n}_{s}" for n in CSV_NUMBERS for s in ("mean", "sd")]
    fixed = ["n", "seeds", "protocol", *numbers, *CSV_PAPER]
    axes = []  # task, neuron and the other axes of the groups, in order of appearance
    for r in rows:
        axes += [k for k in r if k != "group" and k not in fixed and k not in axes]
    cols = ["group", *axes, *fixed]
    buf = io.StringIO()
    wr = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore", lineterminator="\n")
    wr.writeheader()
    for r in rows:
        wr.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in cols})
    return buf.getvalue()


def make_report(sweep_dir: str | Path, paper: bool = False, figures: bool = True) -> dict:
    """Write report.md, report.csv and the figures into ``sweep_dir``; return the rows, the
    markdown text and the paths written."""
    sweep_dir = Path(sweep_dir)
    groups, missing, state = collect(sweep_dir)
    rows = [group_stats(g) for g in groups]
    title = state.get("name") or sweep_dir.name
    text = render(rows, missing, state, paper, title)
    written = [sweep_dir / "report.md", sweep_dir / "report.csv"]
    atomic_write_text(written[0], text)
    atomic_write_text(written[1], to_csv(rows))
    notes = []
    if figures and groups:
        for name, fn in (("report_curves.png", plot_curves), ("report_omega_b.png", plot_omega_b),
                         ("report_sops.png", plot_sops)):
            try:
                if fn(groups, sweep_dir / name):
                    written.append(sweep_dir / name)
            except Exception as exc:  # a figure must never cost the tables
                notes.append(f"{name} skipped: {exc}")
    return {"rows": rows, "markdown": text, "written": written, "missing": missing, "notes": notes}


# --------------------------------------------------------------------------------------------
# figures
# --------------------------------------------------------------------------------------------

def mean_curve(trials: list[TrialResult]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(epochs, mean, sd) of the test accuracy over the trials that reached each epoch."""
    by_epoch: dict[int, list[float]] = {}
    for t in trials:
        for r in t.history:
            if r.get("test_acc") is not None:
                by_epoch.setdefault(int(r["epoch"]), []).append(float(r["test_acc"]))
    ep = np.array(sorted(by_epoch))
    m = np.array([np.mean(by_epoch[e]) for e in ep])
    s = np.array([np.std(by_epoch[e], ddof=1) if len(by_epoch[e]) > 1 else 0.0 for e in ep])
    return ep, m, s


def plot_curves(groups: list[Group], path: Path) -> bool:
    from ..plot import _plt

    plt = _plt()
    tasks = sorted({dict(g.key)["task"] for g in groups})
    fig, axes = plt.subplots(1, len(tasks), figsize=(5.2 * len(tasks), 4), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        for g in (g for g in groups if dict(g.key)["task"] == task):
            ep, m, s = mean_curve(g.trials)
            if not len(ep):
                continue
            label = g.label.split(" ", 1)[1] + f" (n={len(g.trials)})"
            (line,) = ax.plot(ep, m, lw=1.3, label=label)
            ax.fill_between(ep, m - s, m + s, color=line.get_color(), alpha=0.2, lw=0)
            k = int(np.argmax(m >= 0.95 * m[-1]))
            ax.plot([ep[k]], [m[k]], "o", color=line.get_color(), ms=5)
        ax.set(xlabel="epoch", ylabel="test accuracy (%)", title=f"{task}: mean ± sd over seeds")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def plot_sops(groups: list[Group], path: Path) -> bool:
    """SOPs per sample of the best-validation checkpoints, mean ± sd per group, one panel per
    task (the paper's Fig. 10 shows the ablations this way)."""
    from ..plot import _plt

    plt = _plt()
    tasks = sorted({dict(g.key)["task"] for g in groups})
    fig, axes = plt.subplots(1, len(tasks), figsize=(max(5.2, 1.9 * len(groups)) * len(tasks), 4.6),
                             squeeze=False)
    for ax, task in zip(axes[0], tasks):
        gs = [g for g in groups if dict(g.key)["task"] == task]
        stats = [mean_sd(t.summary.get("test_sops") for t in g.trials) for g in gs]
        x = np.arange(len(gs))
        ax.bar(x, [m or 0.0 for m, _, _ in stats], yerr=[sd or 0.0 for _, sd, _ in stats],
               capsize=4, color="C0", alpha=0.8)
        # one line per setting, and long values broken at their commas
        ax.set_xticks(x, [g.label.split(" ", 1)[1].replace(" ", "\n").replace(",", ",\n")
                          + f"\n(n={n})" for g, (_, _, n) in zip(gs, stats)], fontsize=7)
        ax.set(ylabel="SOPs per sample", title=f"{task}: mean ± sd over seeds")
        ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def plot_omega_b(groups: list[Group], path: Path) -> bool:
    from ..checkpoint import load_checkpoint
    from ..network import NetworkSpec
    from ..neurons import get_neuron
    from ..neurons.model import Resonator
    from ..plot import _plt, effective_damping, plot_stable_band

    # the models with an (ω, b) plane (the resonators)
    res = [g for g in groups if isinstance(get_neuron(dict(g.key)["neuron"]), Resonator)]
    if not res:
        return False
    plt = _plt()
    fig, axes = plt.subplots(1, len(res), figsize=(5 * len(res), 4.2), squeeze=False)
    for ax, g in zip(axes[0], res):
        wmax, spec, bs = 0.0, None, []
        for i, t in enumerate(g.trials):
            spec = NetworkSpec(**t.settings["spec"])
            rd = RunDir(t.run_dir)
            for ck, kw in ((rd.init, dict(s=6, c="0.6", alpha=0.5)),
                           (rd.best, dict(s=8, c="C1", alpha=0.7))):
                if not ck.exists():
                    continue
                w, b = effective_damping(spec, load_checkpoint(ck).params)
                label = None if i else ("before training" if ck == rd.init else "after training")
                ax.scatter(w, b, label=label, **kw)
                wmax = max(wmax, float(np.max(w)))
                bs.append(b)
        if spec is not None and bs:
            ws = np.linspace(0, min(1.1 * wmax, 0.9999 / spec.dt), 400)
            plot_stable_band(ax, spec, ws, np.concatenate(bs))
        ax.set(xlabel="ω (rad per unit time)", ylabel="b at q = 0",
               title=f"{g.label}: {len(g.trials)} seed(s), best-val checkpoints")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
