"""python -m resonet.sweep run: grid expansion, stable IDs, validation, skip/resume after a killed
driver, failure isolation, moving unfinished directories aside, exclusive run directories."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from resonet.errors import CheckpointError, ConfigError
from resonet.rundir import RunDir
from resonet.sweep.grid import load_sweep, parse_set
from tests.conftest import ROOT
from tests.sweep_helpers import state, sweep_cli, write_sweep

pytest.importorskip("tomllib")  # sweep files need Python >= 3.11


def load(tmp_path, text: str, sets=None):
    p = tmp_path / "s.toml"
    p.write_text(text)
    return load_sweep(p, sets)


# --------------------------------------------------------------------------------------------
# grid and overrides (no training)
# --------------------------------------------------------------------------------------------

def test_grid_is_the_product_of_the_axes_in_file_order(tmp_path):
    sw = load(tmp_path, 'task = "ecg"\nneuron = ["brf", "alif"]\nseed = [0, 1, 2]\nepochs = 7\n')
    assert [t.id for t in sw.trials] == [
        "ecg-brf-s0", "ecg-brf-s1", "ecg-brf-s2", "ecg-alif-s0", "ecg-alif-s1", "ecg-alif-s2"]
    for t in sw.trials:
        assert t.settings["epochs"] == 7 and t.resolved["epochs"] == 7
        assert t.axes == {"neuron": t.settings["neuron"], "seed": t.settings["seed"]}
    # each model keeps its own preset (Table 3) unless the file says otherwise
    alif = next(t for t in sw.trials if t.settings["neuron"] == "alif")
    assert (alif.resolved["optimizer"], alif.resolved["lr"], alif.resolved["batch"]) == ("adam", 0.05, 64)


def test_overrides_apply_per_value_and_may_add_an_axis(tmp_path):
    sw = load(tmp_path, """
task = "ecg"
neuron = ["brf", "rf", "bhrf"]
seed = [0, 1]
lr = 0.02

[overrides.neuron.bhrf]
lr = 0.3
batch = 8

[overrides.neuron.rf]
reset = ["none", "soft", "hard"]

[overrides.seed.1]
hidden = 12
""")
    by_id = {t.id: t for t in sw.trials}
    assert len(sw.trials) == 2 + 2 * 3 + 2
    assert by_id["ecg-bhrf-s0"].settings["lr"] == 0.3 and by_id["ecg-bhrf-s0"].resolved["batch"] == 8
    assert by_id["ecg-brf-s0"].settings["lr"] == 0.02 and by_id["ecg-brf-s0"].resolved["batch"] == 16
    for reset in ("none", "soft", "hard"):
        for seed in (0, 1):
            t = by_id[f"ecg-rf-reset_{reset}-s{seed}"]
            assert t.resolved["reset"] == reset and t.resolved["seed"] == seed
    assert {t.resolved["hidden"] for t in sw.trials if t.resolved["seed"] == 1} == {12}
    assert {t.resolved["hidden"] for t in sw.trials if t.resolved["seed"] == 0} == {36}


def test_ids_are_stable_and_readable(tmp_path):
    text = 'task = "shd"\nneuron = ["brf", "alif"]\nlr = [0.05, 0.1]\nseed = [0, 1]\n'
    a = [t.id for t in load(tmp_path, text).trials]
    assert a == [t.id for t in load(tmp_path, text).trials]
    assert "shd-brf-lr0.05-s1" in a and "shd-alif-lr0.1-s0" in a
    # more values on an axis, or another order of the values, leave every existing ID as it was
    b = [t.id for t in load(tmp_path, text.replace("[0, 1]", "[1, 0, 2]")
                                         .replace('["brf", "alif"]', '["alif", "rf", "brf"]')).trials]
    assert set(a) < set(b) and len(b) == 18
    # a trial's ID names its task, neuron and seed even when they are not axes (defaults count)
    assert [t.id for t in load(tmp_path, 'task = "ecg"\nhidden = [8, 16]\n').trials] == [
        "ecg-brf-hidden8-s0", "ecg-brf-hidden16-s0"]


def test_set_overrides_the_file(tmp_path):
    sets = parse_set(["epochs=3", "seed=[4, 5]", "data_dir=some/dir", "download=true"])
    assert sets == {"epochs": 3, "seed": [4, 5], "data_dir": "some/dir", "download": True}
    sw = load(tmp_path, 'task = "ecg"\nseed = [0, 1, 2]\nepochs = 10\n', sets)
    assert [t.id for t in sw.trials] == ["ecg-brf-s4", "ecg-brf-s5"]
    assert {t.resolved["epochs"] for t in sw.trials} == {3}


@pytest.mark.parametrize("text,needle", [
    ('task = "ecg"\nlearning_rate = 0.1\n', "learning_rate"),
    ('task = "ecg"\nneuron = ["brf", "brff"]\n', "brff"),
    ('task = "ecg"\nseed = [0, 1]\nlr = [0.1, -1.0]\n', "--lr"),
    ('task = "ecg"\nhidden = "many"\n', "hidden"),
    ('task = "ecg"\nout = "x"\n', "managed by the sweep"),
    ('task = "ecg"\nthreads = 4\n', "threads_per_trial"),
    ('task = "ecg"\nseed = []\n', "empty"),
    ('task = "ecg"\nneuron = ["brf"]\n[overrides.neuron.bhrf]\nlr = 0.3\n', "overrides.neuron.bhrf"),
    ('task = "ecg"\nneuron = ["brf"]\nseed = [0]\n[overrides.seed.0]\nneuron = "rf"\n', "already expanded"),
    ('task = "ecg"\nneuron = ["alif"]\nreset = "soft"\n', "--reset"),
    ('task = "ecg"\n[sweep]\nworkerz = 2\n', "workerz"),
    ('task = "ecg"\nseed = [0,\n', "TOML"),
    ('task = "ecg"\ndata_dir = ["a/x", "b/x"]\n', "same ID"),
])
def test_bad_sweep_files_fail_before_anything_runs(tmp_path, text, needle):
    with pytest.raises(ConfigError, match=None) as exc:
        load(tmp_path, text)
    assert needle in str(exc.value)
    # the CLI: one line, exit 2, no traceback, nothing created
    out = tmp_path / "out"
    r = sweep_cli("run", tmp_path / "s.toml", "--out", out)
    assert r.returncode == 2, r.stdout + r.stderr
    assert needle in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_dry_run_lists_trials_and_touches_nothing(tmp_path):
    sweep = ROOT / "examples" / "ecg_table1.toml"
    out = tmp_path / "out"
    r = sweep_cli("run", sweep, "--dry-run", "--out", out, "--workers", "1")
    assert r.returncode == 0, r.stderr
    ids = [line.split()[0] for line in r.stdout.splitlines()[1:]]
    assert ids == [f"ecg-{n}-s{s}" for n in ("brf", "rf", "bhrf", "alif") for s in range(5)]
    assert "radam lr 0.3 batch 4 epochs 300" in r.stdout  # BHRF keeps its Table-3 preset
    assert not out.exists()


def test_workers_times_threads_may_not_exceed_the_cores(tmp_path):
    from resonet.sweep.run import available_cores

    p = write_sweep(tmp_path / "s.toml", {"task": "ecg"})
    r = sweep_cli("run", p, "--dry-run", "--workers", available_cores(), "--threads-per-trial", 2)
    assert r.returncode == 2 and "exceeds" in r.stderr


# --------------------------------------------------------------------------------------------
# running: skip / resume / start, a killed driver, failures
# --------------------------------------------------------------------------------------------

def _summary_mtime(run: Path) -> int:
    return (run / "summary.json").stat().st_mtime_ns


def test_killed_driver_loses_no_finished_trial_and_rerun_redoes_none(tmp_path, tiny_trial):
    base = {**tiny_trial, "neuron": "alif", "seed": [0, 1, 2], "save_every": 0.0}
    # the middle trial runs longer, so that the driver can be killed while it runs
    p = write_sweep(tmp_path / "s.toml", base, "[overrides.seed.1]\nepochs = 8\n")
    out = tmp_path / "out"
    task = tiny_trial["task"]
    first, middle, last = (f"{task}-alif-s{s}" for s in range(3))
    cmd = [sys.executable, "-m", "resonet.sweep", "run", str(p), "--out", str(out), "--workers", "1",
           "--threads-per-trial", "1"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    driver = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.time() + 240
    while time.time() < deadline:
        done = (out / "sweep.json").exists() and state(out)["trials"][first]["status"] == "done"
        if done and (out / middle / "last.npz").exists():
            break
        assert driver.poll() is None, driver.communicate()
        time.sleep(0.02)
    else:
        driver.kill()
        pytest.fail("the sweep did not get to its second trial in time")
    # a second driver on the same directory is refused while the first runs
    r = sweep_cli("run", p, "--out", out, "--workers", "1")
    assert r.returncode == 2 and "another sweep driver" in r.stderr
    driver.send_signal(signal.SIGKILL)  # for real: no handler, no clean-up
    driver.communicate()
    assert not (out / middle / "summary.json").exists(), "killed too late; the test proves nothing"
    # the killed driver's trial process died with it (nothing holds the trial's lock)
    with open(out / "locks" / f"{middle}.lock") as fh:
        t_end = time.time() + 10
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                assert time.time() < t_end, "the orphaned trial process is still running"
                time.sleep(0.1)
    kept = _summary_mtime(out / first)
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "1 finished earlier (skipped), 1 to resume, 1 to start" in r.stdout
    st = state(out)["trials"]
    assert _summary_mtime(out / first) == kept  # the finished trial was not redone
    assert st[first]["attempts"] == 1 and st[middle]["attempts"] == 1 and st[last]["attempts"] == 1
    assert (out / "logs" / f"{first}.out").read_text().count("=== ") == 1
    assert "--resume" in (out / "logs" / f"{middle}.out").read_text()
    rows = [json.loads(line) for line in (out / middle / "metrics.jsonl").read_text().splitlines()]
    assert [row["epoch"] for row in rows] == list(range(9))
    for tid in (first, middle, last):
        assert st[tid]["status"] == "done" and st[tid]["summary"]["test_acc"] > 0
    inv = state(out)["invocations"]
    assert len(inv) == 2
    # the killed driver's wall time up to its finished first trial survived the kill
    assert inv[0]["finished"] is None and inv[0]["wall_s"] > 0
    # and once more: nothing left to do
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert r.returncode == 0 and "3 finished earlier (skipped), 0 to resume, 0 to start" in r.stdout


def test_sigterm_stops_the_trials_at_once_and_they_resume_later(tmp_path, tiny_trial):
    p = write_sweep(tmp_path / "s.toml", {**tiny_trial, "neuron": "alif", "epochs": 200, "save_every": 0.0})
    out = tmp_path / "out"
    tid = f"{tiny_trial['task']}-alif-s0"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    def ignore_sigint():  # as in a driver that a shell started in the background
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    driver = subprocess.Popen([sys.executable, "-m", "resonet.sweep", "run", str(p), "--out", str(out),
                               "--workers", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=env, preexec_fn=ignore_sigint)
    deadline = time.time() + 240
    while not (out / tid / "last.npz").exists():
        assert time.time() < deadline and driver.poll() is None, driver.communicate()
        time.sleep(0.05)
    driver.send_signal(signal.SIGTERM)
    stdout, _ = driver.communicate(timeout=30)  # not the 200 epochs
    assert driver.returncode == 130, stdout
    assert "interrupted" in stdout and "re-run the same command" in stdout
    assert state(out)["trials"][tid]["status"] == "interrupted"
    assert not (out / tid / "summary.json").exists() and (out / tid / "last.npz").exists()
    r = sweep_cli("run", p, "--out", out, "--dry-run")
    assert f"{tid}  resume" in r.stdout


def test_failing_trials_are_isolated_and_counted(tmp_path, tiny_trial):
    base = {**tiny_trial, "seed": [0, 1, 2]}
    p = write_sweep(tmp_path / "s.toml", base, f"""
[overrides.seed.1]
data_dir = "{tmp_path / 'no-such-data'}"
synthetic = "no"  # (SHD) no stand-in either

[overrides.seed.2]
lr = 1e300
backend = "reference"  # stops on the NaN loss with exit 3 (the cpu engine refuses NaN parameters, exit 2)
""")
    out = tmp_path / "out"
    r = sweep_cli("run", p, "--out", out)
    assert r.returncode == 2, r.stdout + r.stderr  # two trials failed
    task = tiny_trial["task"]
    st = state(out)["trials"]
    assert st[f"{task}-brf-s0"]["status"] == "done"
    bad_data, nan = st[f"{task}-brf-s1"], st[f"{task}-brf-s2"]
    assert bad_data["status"] == "failed" and bad_data["exit_code"] == 2
    assert "no-such-data" in bad_data["error"] and "\n" not in bad_data["error"]
    assert nan["status"] == "failed" and nan["exit_code"] == 3
    assert any(w in nan["error"] for w in ("NaN", "Inf", "nan", "inf")), nan["error"]
    assert f"{task}-brf-s2" in r.stdout and "FAILED" in r.stdout and "exit 3" in r.stdout
    assert "2 failed" in r.stdout
    # a re-run retries the failed trials only
    kept = _summary_mtime(out / f"{task}-brf-s0")
    r = sweep_cli("run", p, "--out", out)
    assert r.returncode == 2
    assert _summary_mtime(out / f"{task}-brf-s0") == kept
    assert state(out)["trials"][f"{task}-brf-s1"]["attempts"] == 2


def test_unfinished_directory_without_checkpoint_is_moved_aside(tmp_path, tiny_trial):
    p = write_sweep(tmp_path / "s.toml", tiny_trial)
    out = tmp_path / "out"
    tid = f"{tiny_trial['task']}-brf-s0"
    (out / tid).mkdir(parents=True)
    (out / tid / "config.json").write_text('{"killed": "before its first checkpoint"}')
    r = sweep_cli("run", p, "--out", out)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "moved it to" in r.stdout
    aside = list((out / "aside").iterdir())
    assert len(aside) == 1 and aside[0].name.startswith(tid)
    assert json.loads((aside[0] / "config.json").read_text()) == {"killed": "before its first checkpoint"}
    assert (out / tid / "summary.json").exists()
    assert state(out)["trials"][tid]["aside"] == [str(aside[0])]


def test_changed_settings_of_a_recorded_trial_are_refused(tmp_path, tiny_trial):
    p = write_sweep(tmp_path / "s.toml", {**tiny_trial, "epochs": 1})
    out = tmp_path / "out"
    assert sweep_cli("run", p, "--out", out).returncode == 0
    r = sweep_cli("run", p, "--out", out, "--set", "epochs=2")
    assert r.returncode == 2 and "epochs: 1 -> 2" in r.stderr


def test_a_trial_back_in_the_grid_counts_again(tmp_path, tiny_trial):
    """A trial taken out of the grid by an edit of the sweep file is kept but marked out of the
    grid; put back, it belongs to the grid again (report and analysis read it). Catches: the
    out-of-grid mark surviving the trial's return, so finished trials silently drop out of the
    report and of analysis.pruning/robustness."""
    p = write_sweep(tmp_path / "s.toml", {**tiny_trial, "epochs": 1, "seed": [0, 1]})
    out = tmp_path / "out"
    task = tiny_trial["task"]
    s0 = f"{task}-{tiny_trial.get('neuron', 'brf')}-s0"
    assert sweep_cli("run", p, "--out", out, "--set", "seed=[0]").returncode == 0
    assert sweep_cli("run", p, "--out", out, "--set", "seed=[1]").returncode == 0
    assert state(out)["trials"][s0]["in_grid"] is False
    r = sweep_cli("run", p, "--out", out)
    assert r.returncode == 0 and "2 finished earlier (skipped)" in r.stdout
    assert state(out)["trials"][s0].get("in_grid", True) is True


# --------------------------------------------------------------------------------------------
# run directories are created exclusively
# --------------------------------------------------------------------------------------------

def test_runs_started_at_once_never_share_a_directory(tmp_path):
    got, errors = [], []

    def make():
        try:
            got.append(RunDir.create_default(tmp_path, "ecg", "brf").path)
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=make) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(set(got)) == 8 and all(d.is_dir() for d in got)


def test_an_existing_directory_is_taken_once_at_most(tmp_path):
    d = tmp_path / "run"
    d.mkdir()  # a user-made empty directory is accepted, by one run only
    assert RunDir.create(d).path == d
    with pytest.raises(CheckpointError, match="already exists"):
        RunDir.create(d)
    with pytest.raises(CheckpointError, match="already exists"):
        RunDir.create(tmp_path / "run")
    assert RunDir.create(tmp_path / "a" / "b").path == tmp_path / "a" / "b"
