"""``python -m analysis.pruning sweep DIR``: the Fig.-7 table and figure from runs trained from
scratch with ``--prune-recurrent`` (hand-written run directories, and one tiny real sweep), and
the sweep file ``examples/ecg_pruning.toml``."""

from __future__ import annotations

import json

import numpy as np
import pytest

from analysis.pruning import (
    collect_pruned_runs,
    main,
    plot_pruning_sweep,
    pruning_table,
    table_markdown,
)
from resonet.errors import ConfigError
from resonet.pruning import recurrent_keep, save_mask
from resonet.rundir import RunDir
from tests.conftest import ECG_DIR, ROOT, needs_ecg
from tests.sweep_helpers import sweep_cli

PRESET = {"ecg": {"brf": {"epochs": 400, "batch": 16, "lr": 0.1, "optimizer": "adam", "n_hidden": 6},
                  "alif": {"epochs": 400, "batch": 64, "lr": 0.05, "optimizer": "adam",
                           "n_hidden": 6}}}


def fake_run(root, name, *, neuron="brf", phi=0.0, seed=0, best=80.0, curve=(20.0, 70.0, 75.0),
             sops=100.0, epochs=2, finished=True, mask=True):
    """A run directory as resonet.train leaves it (only the files the analysis reads)."""
    d = root / name
    d.mkdir(parents=True)
    p = PRESET["ecg"][neuron]
    settings = {"task": "ecg", "neuron": neuron, "seed": seed, "prune_recurrent": phi, "hidden": 6,
                "epochs": epochs, "batch": p["batch"], "lr": p["lr"], "optimizer": p["optimizer"],
                "clip": None, "subset": None, "stop_after": None, "truncation": None,
                "reset": "none", "synthetic": "auto", "out": str(d), "threads": 1,
                "preset": p, "spec": {"neuron": neuron}}
    (d / "config.json").write_text(json.dumps({"settings": settings}))
    (d / "metrics.jsonl").write_text("".join(
        json.dumps({"epoch": e, "test_acc": a}) + "\n" for e, a in enumerate(curve)))
    if finished:
        (d / "summary.json").write_text(json.dumps({
            "best_epoch": len(curve) - 1, "best_val_loss": 1.0, "test_loss": 1.0, "test_acc": best,
            "test_sops": sops, "test_sops_per_step": sops / 1300}))
    if phi and mask:
        save_mask(RunDir(d).mask, recurrent_keep(6, phi, seed), phi, seed)
    return d


def test_table_means_sds_final_epoch_and_removed_fraction(tmp_path):
    for seed, best, last in ((0, 80.0, 70.0), (1, 82.0, 74.0), (2, 84.0, 72.0)):
        fake_run(tmp_path, f"brf-0.5-s{seed}", phi=0.5, seed=seed, best=best,
                 curve=(10.0, 60.0, last), sops=100.0 + seed)
    fake_run(tmp_path, "brf-0-s0", phi=0.0, best=90.0, curve=(10.0, 88.0))
    fake_run(tmp_path, "alif-1-s0", neuron="alif", phi=1.0, best=40.0, curve=(10.0, 41.0))
    fake_run(tmp_path, "brf-0.5-s3", phi=0.5, seed=3, finished=False)  # still running
    runs, skipped = collect_pruned_runs(tmp_path)
    assert [s[0] for s in skipped] == ["brf-0.5-s3"]
    rows = {(r["neuron"], r["phi"]): r for r in pruning_table(runs)}
    assert set(rows) == {("brf", 0.0), ("brf", 0.5), ("alif", 1.0)}
    r = rows[("brf", 0.5)]
    assert r["n"] == 3 and r["seeds"] == [0, 1, 2]
    assert r["best_acc_mean"] == pytest.approx(82.0) and r["best_acc_sd"] == pytest.approx(2.0)
    assert r["final_acc_mean"] == pytest.approx(72.0) and r["final_acc_sd"] == pytest.approx(2.0)
    assert r["sops_mean"] == pytest.approx(101.0) and r["sops_sd"] == pytest.approx(1.0)
    expect = np.mean([1 - recurrent_keep(6, 0.5, s).mean() for s in range(3)])
    assert r["removed_mean"] == pytest.approx(expect)
    assert rows[("alif", 1.0)]["removed_mean"] == 1.0 and rows[("alif", 1.0)]["best_acc_sd"] is None
    assert rows[("brf", 0.0)]["removed_mean"] == 0.0
    assert "epochs 2 (preset 400)" in r["protocol"]
    md = table_markdown(pruning_table(runs))
    assert "| ECG BRF | 0.5 | 48.1 | 3 | 82.0 ± 2.0 | 72.0 ± 2.0 | 101 ± 1 |" in md.replace(
        f"{100 * expect:.1f}", "48.1")
    assert "| ECG ALIF | 1 | 100.0 | 1 | 40.0 | 41.0 |" in md


def test_runs_of_different_protocols_are_never_averaged(tmp_path):
    fake_run(tmp_path, "a", phi=0.2, seed=0, best=80.0, epochs=60)
    fake_run(tmp_path, "b", phi=0.2, seed=1, best=60.0, epochs=400)
    rows = pruning_table(collect_pruned_runs(tmp_path)[0])
    assert [(r["model"], r["n"], r["best_acc_mean"]) for r in rows] == [
        ("ECG BRF epochs=400", 1, 60.0), ("ECG BRF epochs=60", 1, 80.0)]


def test_sweep_directory_uses_only_the_trials_of_its_grid(tmp_path):
    fake_run(tmp_path, "in", phi=0.1)
    fake_run(tmp_path, "out", phi=0.1, seed=1, best=10.0)
    (tmp_path / "sweep.json").write_text(json.dumps(
        {"trials": {"in": {"in_grid": True}, "out": {"in_grid": False}}}))
    runs, _ = collect_pruned_runs(tmp_path)
    assert [r.id for r in runs] == ["in"]


def test_figure_keeps_the_markers_at_the_edges(tmp_path):
    for phi, best in ((0.0, 100.0), (0.5, 90.0), (1.0, 30.0)):
        for seed in (0, 1):
            fake_run(tmp_path, f"brf-{phi}-s{seed}", phi=phi, seed=seed, best=best - 3 * seed)
            fake_run(tmp_path, f"alif-{phi}-s{seed}", neuron="alif", phi=phi, seed=seed,
                     best=best / 2)
    rows = pruning_table(collect_pruned_runs(tmp_path)[0])
    fig = plot_pruning_sweep(rows)
    ax = fig.axes[0]
    lo, hi = ax.get_xlim()
    assert lo < 0 and hi > 1
    ylo, yhi = ax.get_ylim()
    ys = [r["best_acc_mean"] + s * (r["best_acc_sd"] or 0) for r in rows for s in (-1, 1)]
    assert ylo < min(ys) and yhi > max(ys)  # 100 % + sd is inside, not on the border
    lines = [ln for ln in ax.get_lines() if ln.get_linestyle() not in ("None", "")]  # not caps
    assert len(lines) == 2 and all(not ln.get_clip_on() for ln in lines)
    assert {t.get_text() for t in ax.get_legend().get_texts()} == {"ECG BRF", "ECG ALIF"}


def test_cli_writes_table_figure_json_and_never_overwrites(tmp_path, capsys):
    runs = tmp_path / "runs"
    fake_run(runs, "a", phi=0.3)
    fake_run(runs, "b", neuron="alif", phi=0.3)
    out = tmp_path / "out"
    assert main(["sweep", str(runs), "--out", str(out)]) == 0
    assert "| ECG BRF | 0.3 |" in capsys.readouterr().out
    assert {p.name for p in out.iterdir()} == {"pruning_sweep.md", "pruning_sweep.json",
                                               "pruning_sweep.png"}
    data = json.loads((out / "pruning_sweep.json").read_text())
    assert len(data["rows"]) == 2 and len(data["runs"]) == 2
    assert main(["sweep", str(runs), "--out", str(out), "--no-figure"]) == 0
    assert (out / "pruning_sweep-2.md").exists() and (out / "pruning_sweep-2.json").exists()
    assert not (out / "pruning_sweep-2.png").exists()


def test_empty_or_missing_directory_is_a_named_error(tmp_path):
    with pytest.raises(ConfigError, match="no such directory"):
        collect_pruned_runs(tmp_path / "nope")
    fake_run(tmp_path, "x", finished=False)
    with pytest.raises(ConfigError, match="no finished run"):
        collect_pruned_runs(tmp_path)


def test_the_sweep_file_ids_name_phi():
    from resonet.sweep import load_sweep

    sweep = load_sweep(ROOT / "examples" / "ecg_pruning.toml")
    ids = [t.id for t in sweep.trials]
    phis = [f"{p / 10:.1f}" for p in range(11)]
    assert ids == [f"ecg-{n}-prune_recurrent{p}-s{s}" for n in ("brf", "alif") for p in phis
                   for s in range(3)]
    for t in sweep.trials:
        assert t.resolved["epochs"] == 60 and t.resolved["prune_recurrent"] == t.axes["prune_recurrent"]
    assert {(t.resolved["neuron"], t.resolved["lr"], t.resolved["batch"]) for t in sweep.trials} \
        == {("brf", 0.1, 16), ("alif", 0.05, 64)}  # each model keeps its Table-3 preset


@needs_ecg
def test_tiny_real_sweep_end_to_end(tmp_path):
    pytest.importorskip("resonet.kernels.cpu")
    out = tmp_path / "sw"
    r = sweep_cli("run", ROOT / "examples" / "ecg_pruning.toml", "--out", out, "--workers", 2,
                  "--set", f"data_dir={ECG_DIR}", "--set", "epochs=1", "--set", "subset=16",
                  "--set", "hidden=8", "--set", "batch=8", "--set", "eval_batch=16",
                  "--set", 'neuron=["brf"]', "--set", "prune_recurrent=[0.0, 1.0]",
                  "--set", "seed=[0]", cwd=ROOT)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert main(["sweep", str(out), "--no-figure"]) == 0
    data = json.loads((out / "pruning_sweep.json").read_text())
    assert [(row["phi"], row["n"], row["removed_mean"]) for row in data["rows"]] == [
        (0.0, 1, 0.0), (1.0, 1, 1.0)]
    assert "subset 16" in data["rows"][0]["protocol"]
