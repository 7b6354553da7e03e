"""``python -m analysis.robustness compare DIR ...``: trained models side by side under noise.

The aggregation, grouping, skipping and file handling are checked on hand-written run
directories with the per-run evaluation replaced by given numbers; one tiny real sweep
(examples/ecg_leak.toml, one epoch on 16 segments) is then compared end to end."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from analysis import robustness
from analysis.common import collect_finished_runs, evaluate, load_eval_data, load_run
from resonet.errors import CheckpointError, ConfigError
from tests.conftest import ECG_DIR, ROOT, needs_ecg
from tests.sweep_helpers import sweep_cli

SHARES = np.array([0.2, 0.3, 0.5])  # label shares of the fake test set: majority 50 %


def fake_run(root, name, *, neuron="if", seed=0, finished=True, test_acc=80.0, **extra):
    """A run directory with only what discovery reads (config.json, summary.json)."""
    d = root / name
    d.mkdir(parents=True)
    settings = {"task": "ecg", "neuron": neuron, "seed": seed, "epochs": 400, "batch": 64, "lr": 0.05,
                "hidden": 36, "out": str(d), "threads": 1, "data_dir": "somewhere",
                "preset": {"epochs": 400, "batch": 64, "lr": 0.05, "n_hidden": 36}, "spec": {},
                "prune_recurrent": 0.0, **extra}
    (d / "config.json").write_text(json.dumps({"settings": settings}))
    if finished:
        (d / "summary.json").write_text(json.dumps({"best_epoch": 3, "test_acc": test_acc,
                                                    "test_sops": 100.0}))
    return d


def fake_evaluations(monkeypatch, table: dict):
    """Replace the per-run evaluation: ``table[run name] = (clean accuracy, {kind: (accuracy
    (levels, repeats), sops (levels, repeats))})``; records the calls."""
    calls = []

    def fake(run_dir, kinds, levels, *, repeats, seed, **kw):
        calls.append((run_dir.name, list(kinds), {k: list(levels[k]) for k in kinds}, repeats))
        if table[run_dir.name] == "broken":
            raise CheckpointError(f"{run_dir}/best.npz: not a readable .npz file")
        clean, per_kind = table[run_dir.name]
        results = {}
        for k in kinds:
            acc, sops = (np.asarray(a, dtype=float) for a in per_kind[k])
            assert acc.shape == (len(levels[k]), repeats)
            results[k] = {"kind": k, "levels": list(levels[k]), "accuracy": acc, "sops": sops,
                          "loss": np.zeros_like(acc)}
        return {"clean": {"accuracy": clean, "sops": float(per_kind[kinds[0]][1][0][0])},
                "results": results, "n_samples": 7, "data": "fake", "label_shares": SHARES}

    monkeypatch.setattr(robustness, "evaluate_run", fake)
    return calls


def _rows(out):
    data = json.loads(next(out.glob("robustness_compare*.json")).read_text())
    return {r["model"]: r for r in data["rows"]}, data


def test_means_sds_and_drops_over_seeds(tmp_path, monkeypatch, capsys):
    """Per level: the mean over repeats per run, then mean and sample sd (ddof 1) over seeds; the
    drop is each run's clean accuracy minus its accuracy. Numbers worked out by hand."""
    for s in range(3):
        fake_run(tmp_path / "sw", f"ecg-if-s{s}", seed=s)
    fake_run(tmp_path / "sw", "ecg-brf-s0", neuron="brf", lr=0.1, batch=16)
    fake_evaluations(monkeypatch, {
        # clean, input noise at levels (0, 1) x 2 repeats
        "ecg-if-s0": (80.0, {"input_noise": ([[80, 80], [60, 70]], [[100, 100], [200, 300]])}),
        "ecg-if-s1": (90.0, {"input_noise": ([[90, 90], [70, 80]], [[110, 110], [210, 210]])}),
        "ecg-if-s2": (85.0, {"input_noise": ([[85, 85], [62, 68]], [[120, 120], [190, 190]])}),
        "ecg-brf-s0": (84.0, {"input_noise": ([[84, 84], [80, 80]], [[50, 50], [55, 55]])}),
    })
    out = tmp_path / "out"
    assert robustness.main(["compare", str(tmp_path / "sw"), "--kinds", "input-noise", "--levels", "0,1",
                            "--repeats", "2", "--out", str(out), "--no-figure"]) == 0
    rows, data = _rows(out)
    assert list(rows) == ["ECG BRF", "ECG IF"]  # registry order, each neuron on its own preset
    r = rows["ECG IF"]
    assert r["n"] == 3 and r["seeds"] == [0, 1, 2]
    k = r["kinds"]["input_noise"]
    assert k["levels"] == [0, 1]
    # per-run means at level 1: 65, 75, 65 -> mean 68.33, sd sqrt(66.67 / 2) = 5.7735
    assert k["accuracy_mean"] == pytest.approx([85.0, 205 / 3])
    assert k["accuracy_sd"] == pytest.approx([5.0, math.sqrt(100 / 3)])
    # drops 15, 15, 20 -> 16.67 ± 2.887
    assert k["drop_mean"] == pytest.approx([0.0, 50 / 3])
    assert k["drop_sd"] == pytest.approx([0.0, math.sqrt(25 / 3)])
    # SOPs at level 1: 250, 210, 190 -> 216.67 ± 30.55
    assert k["sops_mean"] == pytest.approx([110.0, 650 / 3])
    assert k["sops_sd"][1] == pytest.approx(math.sqrt(((250 - 650 / 3) ** 2 + (210 - 650 / 3) ** 2
                                                       + (190 - 650 / 3) ** 2) / 2))
    assert k["repeat_sd"] == pytest.approx([0.0, (5 + 5 + 3) / 3])  # the noise's own spread
    assert r["clean_acc_mean"] == pytest.approx(85.0) and r["majority_share"] == pytest.approx(50.0)
    b = rows["ECG BRF"]
    assert b["n"] == 1 and b["kinds"]["input_noise"]["accuracy_sd"] == [None, None]
    md = capsys.readouterr().out
    assert "| 1 | 80.0 (−4.0) | 68.3 ± 5.8 (−16.7 ± 2.9) |" in md
    assert "| 1 | 55 | 217 ± 31 |" in md
    assert "majority class scores 50.0 %" in md
    assert data["levels"] == {"ecg": {"input_noise": [0.0, 1.0]}} and len(data["runs"]) == 4


def test_settings_other_than_the_seed_split_groups(tmp_path, monkeypatch):
    """Runs of one neuron with another schedule form their own group; a setting missing from an
    older run's config.json counts as its default (prune_recurrent 0), so it does not split."""
    fake_run(tmp_path, "a", seed=0)
    fake_run(tmp_path, "b", seed=1, epochs=60)
    fake_run(tmp_path, "c", seed=2)
    cfg = json.loads((tmp_path / "c" / "config.json").read_text())
    del cfg["settings"]["prune_recurrent"]
    (tmp_path / "c" / "config.json").write_text(json.dumps(cfg))
    one = (80.0, {"input_noise": ([[80.0]], [[1.0]]), "synaptic": ([[80.0]], [[1.0]])})
    calls = fake_evaluations(monkeypatch, {"a": one, "b": one, "c": one})
    out = tmp_path / "out"
    assert robustness.main(["compare", str(tmp_path), "--repeats", "1", "--input-noise-levels", "0",
                            "--synaptic-levels", "0", "--out", str(out), "--no-figure"]) == 0
    rows, _ = _rows(out)
    assert {m: (r["n"], r["runs"]) for m, r in rows.items()} == {
        "ECG IF epochs=400": (2, ["a", "c"]), "ECG IF epochs=60": (1, ["b"])}
    assert rows["ECG IF epochs=60"]["protocol"] == "epochs 60 (preset 400)"
    assert [c[1] for c in calls] == [["input_noise", "synaptic"]] * 3  # the default kinds


def test_unfinished_runs_are_skipped_with_a_line_and_filters_apply(tmp_path, monkeypatch, capsys):
    sw = tmp_path / "sw"
    fake_run(sw, "ecg-if-s0", seed=0)
    fake_run(sw, "ecg-if-s1", seed=1, finished=False)  # still training
    fake_run(sw, "ecg-lif-s0", neuron="lif", seed=0)
    fake_run(sw, "ecg-lif-s5", neuron="lif", seed=5)
    fake_run(sw, "ecg-rf-s0", neuron="rf", seed=0)
    fake_run(sw, "ecg-lif-s1", neuron="lif", seed=1)
    names = ("ecg-if-s0", "ecg-if-s1", "ecg-if-s2", "ecg-lif-s0", "ecg-lif-s5", "ecg-rf-s0", "ecg-lif-s1",
             "ecg-rf-s1")  # ecg-if-s2 and ecg-rf-s1 not started: only their record in sweep.json
    (sw / "sweep.json").write_text(json.dumps({"trials": {n: {"in_grid": True, "settings": {
        "neuron": n.split("-")[1], "seed": int(n[-1])}} for n in names}}))
    one = (70.0, {"input_noise": ([[70.0]], [[1.0]])})
    calls = fake_evaluations(monkeypatch, {"ecg-if-s0": one, "ecg-lif-s0": one, "ecg-lif-s1": "broken"})
    out = tmp_path / "out"
    assert robustness.main(["compare", str(sw), "--kinds", "input-noise", "--levels", "0",
                            "--repeats", "1", "--neurons", "if,lif", "--seeds", "0,1,2",
                            "--out", str(out), "--no-figure"]) == 0
    err = capsys.readouterr().err
    assert "skipping ecg-if-s1: unfinished (no complete summary.json)" in err
    assert "skipping ecg-if-s2: not started (no run directory)" in err
    assert "ecg-lif-s1: skipped" in err and "not a readable .npz" in err  # the others go on
    assert "rf" not in " ".join(c[0] for c in calls) and "s5" not in " ".join(c[0] for c in calls)
    assert "ecg-rf" not in err and "s5" not in err  # what the selection leaves out is not listed
    rows, data = _rows(out)
    assert {m: r["runs"] for m, r in rows.items()} == {"ECG LIF": ["ecg-lif-s0"], "ECG IF": ["ecg-if-s0"]}
    assert {s[0] for s in data["skipped"]} == {"ecg-if-s1", "ecg-if-s2", "ecg-lif-s1"}
    assert "[1/3] ecg-if-s0" in err and "s per evaluation" in err and "ETA" in err


def test_outputs_are_never_overwritten(tmp_path, monkeypatch):
    fake_run(tmp_path / "sw", "r0")
    fake_run(tmp_path / "sw", "r1", seed=1)
    one = (50.0, {"input_noise": ([[50.0], [40.0]], [[1.0], [2.0]]),
                  "synaptic": ([[50.0], [30.0]], [[1.0], [2.0]])})
    fake_evaluations(monkeypatch, {"r0": one, "r1": one})
    argv = ["compare", str(tmp_path / "sw"), "--repeats", "1", "--input-noise-levels", "0,1",
            "--synaptic-levels", "0,1"]
    assert robustness.main(argv) == 0  # default --out: the first DIR
    first = {p.name: p.read_bytes() for p in (tmp_path / "sw").glob("robustness_compare*")}
    assert set(first) == {"robustness_compare.md", "robustness_compare.json", "robustness_compare.png"}
    (tmp_path / "sw" / "robustness_compare-2.png").write_bytes(b"someone else's")
    assert robustness.main(argv) == 0
    names = {p.name for p in (tmp_path / "sw").glob("robustness_compare*")}
    assert {"robustness_compare-3.md", "robustness_compare-3.json", "robustness_compare-3.png"} <= names
    assert not (tmp_path / "sw" / "robustness_compare-2.md").exists()  # one suffix for all three
    assert (tmp_path / "sw" / "robustness_compare-2.png").read_bytes() == b"someone else's"
    assert {n: (tmp_path / "sw" / n).read_bytes() for n in first} == first


def test_bad_invocations_are_named_errors(tmp_path):
    fake_run(tmp_path, "unfinished", finished=False)
    with pytest.raises(ConfigError, match="exactly one perturbation"):
        robustness.main(["compare", str(tmp_path), "--levels", "0,1"])
    with pytest.raises(ConfigError, match="no finished run"):
        robustness.main(["compare", str(tmp_path)])
    with pytest.raises(ConfigError, match="no such directory"):
        robustness.main(["compare", str(tmp_path / "nope")])
    with pytest.raises(ConfigError, match="--neurons: unknown"):
        robustness.main(["compare", str(tmp_path), "--neurons", "lif,xyz"])
    with pytest.raises(ConfigError, match="must be >= 0"):
        robustness.main(["compare", str(tmp_path), "--synaptic-levels", "-1"])


def test_every_flag_has_help_and_errors_are_one_line(tmp_path, capsys):
    from resonet.cli import run_main

    ap = robustness.build_compare_parser()
    for action in ap._actions:
        assert action.help and action.help.strip(), action.dest
    for argv, needle in ((["compare", tmp_path / "nope"], "no such directory"),
                         (["compare", tmp_path, "--repeats", "0"], "--repeats"),
                         (["compare", tmp_path, "--bogus"], "unrecognized arguments")):
        assert run_main(robustness.main, [str(a) for a in argv]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error:") and "\n" not in err and needle in err, err


def test_discovery_takes_run_directories_and_names_runs_once(tmp_path):
    a = fake_run(tmp_path / "one", "ecg-if-s0")
    fake_run(tmp_path / "two", "ecg-if-s0", seed=1)
    runs, skipped = collect_finished_runs([tmp_path / "one", tmp_path / "two", a])  # a twice
    assert sorted(r.id for r in runs) == ["one/ecg-if-s0", "two/ecg-if-s0"] and skipped == []
    runs, _ = collect_finished_runs(a)  # a run directory on its own
    assert [r.id for r in runs] == ["ecg-if-s0"]


def test_default_levels_for_ecg_span_the_range():
    lv = robustness.default_levels("input_noise", "ecg")
    assert lv[0] == 0 and lv[-1] > robustness.DEFAULT_LEVELS["input_noise"][-1]
    assert robustness.default_levels("synaptic", "ecg")[0] == 0
    assert robustness.default_levels("synaptic", "shd") == robustness.DEFAULT_LEVELS["synaptic"]


@needs_ecg
def test_tiny_leak_sweep_compared_end_to_end(tmp_path):
    """examples/ecg_leak.toml shrunk to two one-epoch runs (IF, BRF), then the documented
    command on its sweep directory, evaluated for real on the first 6 test segments."""
    pytest.importorskip("resonet.kernels.cpu")
    sw = tmp_path / "ecg_leak"
    r = sweep_cli("run", ROOT / "examples" / "ecg_leak.toml", "--out", sw, "--workers", 2,
                  "--set", f"data_dir={ECG_DIR}", "--set", "epochs=1", "--set", "subset=16",
                  "--set", "hidden=8", "--set", "batch=8", "--set", "eval_batch=16",
                  "--set", 'neuron=["if", "brf"]', "--set", "seed=[0]", cwd=ROOT)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    out = tmp_path / "cmp"
    assert robustness.main(["compare", str(sw), "--kinds", "input-noise,synaptic", "--limit", "6",
                            "--repeats", "2", "--input-noise-levels", "0,3", "--synaptic-levels", "0,2",
                            "--data-dir", str(ECG_DIR), "--out", str(out)]) == 0
    rows, data = _rows(out)
    assert list(rows) == ["ECG BRF", "ECG IF"]
    assert (out / "robustness_compare.png").stat().st_size > 0
    for run in data["runs"]:
        spec, params, cfg = load_run(sw / run["id"])
        test = load_eval_data(None, cfg, limit=6)
        clean = evaluate(spec, params, test, backend="cpu")
        assert run["clean"]["accuracy"] == pytest.approx(clean["accuracy"])
        for kind in ("input_noise", "synaptic"):
            acc = np.asarray(run["results"][kind]["accuracy"])
            assert acc.shape == (2, 2)
            np.testing.assert_allclose(acc[0], clean["accuracy"])  # level 0 is the clean network
        row = rows[f"ECG {run['neuron'].upper()}"]
        assert row["n"] == 1 and row["kinds"]["input_noise"]["drop_mean"][0] == pytest.approx(0.0)
        shares = np.asarray(run["label_shares"])
        assert shares.sum() == pytest.approx(1.0) and shares.size == 6
    # σ = 3 input noise is no longer a clean input: the spike count changes
    assert any(np.asarray(run["results"]["input_noise"]["sops"])[1].mean()
               != run["clean"]["sops"] for run in data["runs"])
