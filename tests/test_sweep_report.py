"""python -m resonet.sweep report: the numbers per group, from hand-written run directories."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest

from resonet.presets import get_preset
from resonet.sweep.paper import TABLE1, TABLE2
from resonet.sweep.report import epochs_to_fraction, invocation_walls, make_report, mean_sd
from tests.sweep_helpers import sweep_cli


def _history(accs: list[float]) -> list[dict]:
    return [{"epoch": e, "test_acc": a, "val_loss": 1.0, "epoch_seconds": 2.0 if e else None,
             "eval_seconds": 0.5} for e, a in enumerate(accs)]


def _trial(root, tid, neuron, seed, accs, best_acc, sops, lr=0.1, wall=None, epochs=None):
    run = root / tid
    run.mkdir(parents=True)
    preset = get_preset("ecg", neuron)
    settings = {"task": "ecg", "neuron": neuron, "seed": seed, "lr": lr, "epochs": epochs or preset.epochs,
                "batch": preset.batch, "optimizer": preset.optimizer, "hidden": preset.n_hidden,
                "clip": None, "reset": "none", "subset": None, "stop_after": None, "truncation": None,
                "preset": preset.to_dict()}
    (run / "config.json").write_text(json.dumps({"settings": settings}))
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in _history(accs)))
    (run / "summary.json").write_text(json.dumps({
        "best_epoch": 3, "test_acc": best_acc, "test_acc_labelled": best_acc + 1, "test_sops": sops,
        "test_sops_per_step": sops / 1300}))
    return {"settings": {"neuron": neuron, "seed": seed, "lr": lr},
            "axes": {"neuron": neuron, "lr": lr, "seed": seed}, "status": "done", "error": None,
            "wall_s_total": wall}


def _sweep(tmp_path):
    root = tmp_path / "sw"
    trials = {
        # epochs to 95/98/100 %: final 100 -> 2 / 4 / 5
        "ecg-brf-lr0.1-s0": _trial(root, "ecg-brf-lr0.1-s0", "brf", 0, [10, 60, 96, 97, 99, 100], 85.0,
                                   6000.0, wall=600.0),
        # final 99 -> 95 %: 94.05 at epoch 1; 98 %: 97.02 at epoch 3; 100 %: 99 first at epoch 4
        "ecg-brf-lr0.1-s1": _trial(root, "ecg-brf-lr0.1-s1", "brf", 1, [10, 95, 90, 98, 100, 99], 87.0,
                                   7000.0, wall=720.0),
        "ecg-brf-lr0.2-s0": _trial(root, "ecg-brf-lr0.2-s0", "brf", 0, [10, 50, 70], 80.0, 5000.0, lr=0.2,
                                   wall=100.0, epochs=2),
        "ecg-alif-lr0.1-s0": _trial(root, "ecg-alif-lr0.1-s0", "alif", 0, [30, 40, 50], 50.0, 30000.0,
                                    wall=60.0),
    }
    trials["ecg-alif-lr0.1-s1"] = {"settings": {}, "axes": {"neuron": "alif", "lr": 0.1, "seed": 1},
                                   "status": "failed", "error": "error: loss is nan at epoch 3, batch 2"}
    state = {"name": "handmade", "trials": trials,
             "invocations": [{"wall_s": 1000.0, "executor": "local", "workers": 2, "threads_per_trial": 1}]}
    (root / "sweep.json").write_text(json.dumps(state))
    return root


def test_epochs_to_fraction_follows_table_2():
    h = _history([10, 60, 96, 97, 99, 100])
    assert [epochs_to_fraction(h, f) for f in (0.95, 0.98, 1.0)] == [2, 4, 5]
    h = _history([10, 95, 90, 98, 100, 99])
    assert [epochs_to_fraction(h, f) for f in (0.95, 0.98, 1.0)] == [1, 3, 4]
    assert epochs_to_fraction([], 0.95) is None


def test_mean_sd_is_the_sample_sd():
    m, s, n = mean_sd([85.0, 87.0, None, float("nan")])
    assert (m, n) == (86.0, 2) and s == pytest.approx(math.sqrt(2.0))
    assert mean_sd([3.0]) == (3.0, None, 1)
    assert mean_sd([]) == (None, None, 0)


def test_report_groups_by_all_axes_but_the_seed(tmp_path):
    root = _sweep(tmp_path)
    rep = make_report(root, paper=True)
    rows = {r["group"]: r for r in rep["rows"]}
    assert set(rows) == {"ecg brf lr=0.1", "ecg brf lr=0.2", "ecg alif lr=0.1"}
    r = rows["ecg brf lr=0.1"]
    assert r["n"] == 2 and r["seeds"] == "0 1"
    assert r["best_acc_mean"] == 86.0 and r["best_acc_sd"] == pytest.approx(math.sqrt(2.0))
    assert r["final_acc_mean"] == 99.5 and r["final_acc_sd"] == pytest.approx(math.sqrt(0.5))
    assert r["sops_mean"] == 6500.0 and r["sops_sd"] == pytest.approx(math.sqrt(0.5e6))
    assert r["sops_per_step_mean"] == pytest.approx(6500.0 / 1300)
    assert (r["e95_mean"], r["e98_mean"], r["e100_mean"]) == (1.5, 3.5, 4.5)
    assert r["e95_sd"] == pytest.approx(math.sqrt(0.5))
    assert r["wall_s_mean"] == 660.0
    assert (r["paper_acc"], r["paper_acc_sd"], r["paper_sops"], r["paper_e95"]) == (85.8, 0.7, 6307.7, 6)
    assert r["protocol"] == "Table 3"
    assert "epochs 2 (preset 400)" in rows["ecg brf lr=0.2"]["protocol"]
    a = rows["ecg alif lr=0.1"]
    assert a["n"] == 1 and a["best_acc_sd"] is None and a["paper_acc"] == 85.9
    # report.md: the tables, the paper beside, which accuracy the paper reports, the failure
    md = (root / "report.md").read_text()
    assert "| ecg brf lr=0.1 | 2 | 99.5 ± 0.7 | 86.0 ± 1.4 | 85.8 ± 0.7 | +0.2 (within 1 sd) |" in md
    assert "lowest validation loss" in md
    assert "ecg-alif-lr0.1-s1" in md and "loss is nan" in md
    assert "| ecg brf lr=0.1 | 5 | 1.5 ± 0.7 | 6 | 3.5 ± 0.7 | 32 | 4.5 ± 0.7 | 75 |" in md
    # report.csv: one row per group with every number
    with open(root / "report.csv") as fh:
        rows_csv = {row["group"]: row for row in csv.DictReader(fh)}
    assert float(rows_csv["ecg brf lr=0.1"]["best_acc_mean"]) == 86.0
    assert rows_csv["ecg brf lr=0.1"]["lr"] == "0.1" and rows_csv["ecg alif lr=0.1"]["best_acc_sd"] == ""
    assert (root / "report_curves.png").stat().st_size > 0


def test_report_cli_prints_the_tables_and_refuses_a_non_sweep(tmp_path):
    root = _sweep(tmp_path)
    r = sweep_cli("report", root, "--paper", "--no-figures")
    assert r.returncode == 0, r.stderr
    assert "Table 1" in r.stdout and "85.8 ± 0.7" in r.stdout and "6,307.7" in r.stdout
    r = sweep_cli("report", tmp_path / "nothing-here")
    assert r.returncode == 2 and "nothing-here" in r.stderr and "Traceback" not in r.stderr


def test_paper_tables_hold_every_task_and_model():
    for task in ("smnist", "psmnist", "ecg", "shd"):
        for neuron in ("alif", "rf", "brf", "bhrf"):
            assert (task, neuron) in TABLE1
            assert (task, neuron) in TABLE2 or (task, neuron) == ("psmnist", "rf")
    assert TABLE1[("ecg", "bhrf")] == (87.0, 0.4, 6233.8, 4.80)
    assert TABLE1[("ecg", "alif")].acc_sd is None and TABLE2[("ecg", "brf")] == (6, 32, 75)


def test_report_on_a_folder_of_plain_run_directories(tmp_path):
    root = _sweep(tmp_path)
    (root / "sweep.json").unlink()  # run directories made by resonet.train alone
    rows = {r["group"]: r for r in make_report(root, figures=False)["rows"]}
    assert set(rows) == {"ecg brf", "ecg alif"}  # grouped by task, neuron (and reset)
    assert rows["ecg brf"]["n"] == 3 and rows["ecg brf"]["best_acc_mean"] == pytest.approx(84.0)
    assert rows["ecg alif"]["wall_s_mean"] == pytest.approx(2 * 2.0 + 3 * 0.5)  # the runs' own timings


def test_invocation_walls_counts_a_killed_driver_up_to_its_last_finished_trial():
    """A killed driver never wrote wall_s; its time is start -> last trial it finished (before the
    next driver run). Catches: a killed run counted as 0 min, or its span running into the next
    run's trials."""
    state = {"invocations": [
        {"started": "2026-01-01T10:00:00", "wall_s": None},   # killed
        {"started": "2026-01-01T12:00:00", "wall_s": 900.0},  # finished normally
    ], "trials": {
        "a": {"finished": "2026-01-01T10:30:00"},
        "b": {"finished": "2026-01-01T11:15:00"},             # the killed run's last trial
        "c": {"finished": "2026-01-01T12:10:00"},             # belongs to the second run
        "d": {"status": "pending"},
    }}
    walls, estimated = invocation_walls(state)
    assert walls == [4500.0, 900.0] and estimated == 1


def test_plain_folder_groups_ablations_and_readouts_and_draws_every_figure(tmp_path):
    """Runs that differ by --ablate or --readout are separate groups; the ω–b figure reads each
    run's init and best checkpoints (it once saved itself over a checkpoint path and was lost)."""
    from resonet.checkpoint import save_checkpoint
    from resonet.network import NetworkSpec, init_params

    root = tmp_path / "runs"
    for tid, neuron, seed, extra in (("a0", "brf", 0, {}), ("a1", "brf", 1, {}),
                                     ("b0", "brf", 0, {"ablate": ["boundary", "refractory"]}),
                                     ("c0", "bhrf", 0, {"readout": "li_sigmoid"})):
        _trial(root, tid, neuron, seed, [10, 50, 80], 80.0 + seed, 5000.0 + 100 * seed)
        cfg = json.loads((root / tid / "config.json").read_text())
        spec = NetworkSpec(neuron, 4, 36, 6, ablate=tuple(extra.get("ablate", ())),
                           readout=extra.get("readout", "li"))
        cfg["settings"].update(extra, spec=spec.to_dict())
        (root / tid / "config.json").write_text(json.dumps(cfg))
        for name, s in (("init.npz", 0), ("best.npz", 1)):
            save_checkpoint(root / tid / name, init_params(spec, np.random.default_rng(s)))
    rep = make_report(root)
    rows = {r["group"]: r for r in rep["rows"]}
    assert set(rows) == {"ecg brf", "ecg brf ablate=boundary,refractory",
                         "ecg bhrf readout=li_sigmoid"}
    assert rows["ecg brf"]["n"] == 2
    assert not rep["notes"], rep["notes"]
    for name in ("report_curves.png", "report_omega_b.png", "report_sops.png"):
        assert (root / name).stat().st_size > 0 and root / name in rep["written"]
    assert (root / "a0" / "best.npz").stat().st_size > 0
