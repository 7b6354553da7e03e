"""``benchmarks/gpu_check.py`` (the one-command GPU check) without a GPU.

The whole flow runs under the CUDA simulator on tiny sizes (``--simulate``): the JSON file and the
table must report every step, in the five files directly under OUT (the lent GPU machine brings
back at most eight, no deeper than two folders); a step that fails (a golden file with a
perturbed gradient) must make the exit code 1; without a GPU the check refuses in one line with
exit code 2 and writes nothing; ``--dry-run`` shows the plan, its files and its time budget. The
script starts its steps in their own processes, so it runs here as a subprocess (the
simulator's variable must be set before numba is imported, and the script sets it only for the
steps).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import golden_files, pending_golden_files

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "gpu_check.py"
STEPS = ["device", "synthetic-data", "compile", "compile-cached", "train-cpu", "verify-float64",
         "verify-float32", "train-cuda", "bench-shd-b32", "bench-shd-b256", "bench-ecg-b16",
         "bench-smnist-b256", "width", "train-agree"]
FILES = {"gpu_check.json", "summary.txt", "logs.txt", "bench.json", "runs.tar.gz"}


def _files(out: Path) -> set[str]:
    """The names under OUT; fails if anything there is a folder (the machine brings back files
    at most two folders down, and at most eight)."""
    entries = list(out.iterdir())
    assert all(p.is_file() for p in entries), entries
    assert len(entries) <= 8
    return {p.name for p in entries}


def _run(*args, timeout=600, **env):
    e = {k: v for k, v in os.environ.items()
         if k not in ("NUMBA_ENABLE_CUDASIM", "RESONET_CUDA_TPB", "RESONET_CUDA_TPB_FLAT")}
    e.update(env)
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], cwd=ROOT, env=e,
                          capture_output=True, text=True, timeout=timeout)


def _table_rows(stdout: str) -> dict[str, list[str]]:
    """step name -> the table row's columns (status, then the rest), from the printed table."""
    rows = {}
    for line in stdout.splitlines():
        parts = line.split()
        if parts and parts[0] in STEPS and len(parts) > 1 and parts[1] in ("PASS", "FAIL",
                                                                           "SKIPPED"):
            rows[parts[0]] = parts[1:]
    return rows


@pytest.mark.slow
def test_simulated_check_runs_every_step_and_reports_it(tmp_path):
    out, tmp = tmp_path / "check", tmp_path / "tmp"
    tmp.mkdir()
    r = _run(out, "--simulate", TMPDIR=tmp)  # the synthetic data go to a temporary folder
    assert r.returncode == 0, r.stdout[-5000:] + r.stderr[-3000:]
    rep = json.loads((out / "gpu_check.json").read_text())
    assert rep["mode"] == "simulate" and rep["ok"] is True
    assert rep["device"]["device"] == "CUDA simulator"
    for key in ("numpy", "numba", "numba_cuda"):
        assert key in rep["versions"]
    assert _files(out) == FILES
    steps = {s["name"]: s for s in rep["steps"]}
    assert [s["name"] for s in rep["steps"]] == STEPS
    logs = (out / "logs.txt").read_text()
    for s in rep["steps"]:
        assert s["status"] == "pass", s
        if s["name"] not in ("device", "train-agree"):
            assert s["exit_code"] == 0 and s["seconds"] > 0 and s["timeout_s"] > 0, s
            assert f"===== {s['name']}: pass" in logs
    assert rep["total_s"] <= rep["time_limit_s"]

    # verify: exactly the golden files of implemented models, each parsed from verify's output
    want = sorted(p.name for p in golden_files())
    for dtype in ("float64", "float32"):
        nums = steps[f"verify-{dtype}"]["numbers"]
        assert sorted(f["file"] for f in nums["files"]) == want
        assert all(f["pass"] and f["worst"] for f in nums["files"])
        assert sorted(nums["skipped"]) == sorted(p.name for p in pending_golden_files())
    f64 = max(f["max_rel_err"] for f in steps["verify-float64"]["numbers"]["files"])
    assert 0 <= f64 <= 1e-9

    # training: two complete run directories, packed, the same accuracy
    with tarfile.open(fileobj=io.BytesIO((out / "runs.tar.gz").read_bytes())) as tar:
        names = set(tar.getnames())
    for backend in ("cpu", "cuda"):
        n = steps[f"train-{backend}"]["numbers"]
        assert n["epoch"] == 2 and f"shd-{backend}/summary.json" in names
    agree = steps["train-agree"]["numbers"]
    assert agree["abs_diff_points"] <= agree["max_points"] == 1.0

    # compile, benchmarks, width: their JSON, read back, and all of it in bench.json
    bench = json.loads((out / "bench.json").read_text())
    for name in ("compile", "compile-cached"):
        assert steps[name]["numbers"]["ok"] is True and bench[name]["first_step_s"] > 0
    for name in ("bench-shd-b32", "bench-shd-b256", "bench-ecg-b16", "bench-smnist-b256"):
        n = steps[name]["numbers"]
        assert n["train_ms"] > 0 and n["epoch_samples"] == 7 and bench[name]["cuda_epoch"]
        assert n["target_met"] is None  # no speed targets under the simulator
    widths = steps["width"]["numbers"]["widths"]
    assert [w["H"] for w in widths] == [40] and widths[0]["parity"]["pass"]
    assert widths[0]["parity"]["max_rel_err"] <= 1e-9

    # the table: one row per step, and the verdict
    rows = _table_rows(r.stdout)
    assert set(rows) == set(STEPS) and all(v[0] == "PASS" for v in rows.values())
    assert f"all {len(STEPS)} checks passed" in r.stdout
    assert not list(tmp.iterdir())  # the temporary data are removed


def _perturbed_golden(tmp_path: Path) -> Path:
    """A copy of one golden file whose readout gradient is off by 1e-3 (relative): a wrong
    backward pass, which both the float64 (1e-9) and float32 (1e-4) tolerances must catch."""
    src = next(p for p in golden_files() if p.name.startswith("brf"))
    d = tmp_path / "golden"
    d.mkdir()
    with np.load(src, allow_pickle=False) as g:
        arrays = {k: g[k] for k in g.files}
    arrays["grad/out.linear.weight"] = arrays["grad/out.linear.weight"] * (1 + 1e-3)
    np.savez(d / src.name, **arrays)
    return d


def test_a_failing_step_fails_the_check(tmp_path):
    out = tmp_path / "check"
    r = _run(out, "--simulate", "--only", "verify", "--golden", _perturbed_golden(tmp_path))
    assert r.returncode == 1, r.stdout[-4000:] + r.stderr[-2000:]
    assert _files(out) == FILES
    rep = json.loads((out / "gpu_check.json").read_text())
    assert rep["ok"] is False
    steps = {s["name"]: s for s in rep["steps"]}
    assert list(steps) == ["device", "verify-float64", "verify-float32"]
    for dtype in ("float64", "float32"):
        s = steps[f"verify-{dtype}"]
        assert s["status"] == "fail" and s["exit_code"] == 1, s
        f = s["numbers"]["files"][0]
        assert not f["pass"] and f["worst"] == "grad out.linear.weight"
        assert 0.5e-3 < f["max_rel_err"] < 2e-3
    rows = _table_rows(r.stdout)
    assert rows["verify-float64"][0] == rows["verify-float32"][0] == "FAIL"
    assert "FAILED: verify-float64, verify-float32" in r.stdout
    assert "FAILED: verify-float64, verify-float32" in (out / "summary.txt").read_text()
    assert "grad out.linear.weight" in (out / "logs.txt").read_text()  # the step's own output


def test_the_unperturbed_copy_passes(tmp_path):
    """The same run on an untouched copy passes: the failure above is the perturbation's."""
    src = next(p for p in golden_files() if p.name.startswith("brf"))
    d = tmp_path / "golden"
    d.mkdir()
    shutil.copy(src, d)
    r = _run(tmp_path / "check", "--simulate", "--only", "verify", "--golden", d)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]


def test_without_a_gpu_one_line_exit_2_and_nothing_written(tmp_path):
    out = tmp_path / "check"
    r = _run(out, CUDA_VISIBLE_DEVICES="", timeout=120)  # no GPU visible, no simulator
    assert r.returncode == 2, r.stdout + r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    assert "numba-cuda is not installed" in lines[0] or "no CUDA GPU found" in lines[0]
    assert not out.exists()


@pytest.mark.parametrize("args,message", [
    (["--only", "verify,speed"], "--only takes"),
    (["--time-limit", "10"], "--time-limit must be > 18"),
    (["--simulate", "--dry-run"], "exclude each other"),
], ids=["bad-group", "bad-time-limit", "two-modes"])
def test_bad_options_one_line(tmp_path, args, message):
    r = _run(tmp_path / "check", *args, timeout=120)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and message in r.stderr, r.stderr
    assert not (tmp_path / "check").exists()


def test_existing_results_are_not_overwritten(tmp_path):
    out = tmp_path / "check"
    out.mkdir()
    (out / "gpu_check.json").write_text("{}")
    r = _run(out, "--simulate", timeout=120)
    assert r.returncode == 2 and "not an empty folder" in r.stderr, r.stderr
    assert (out / "gpu_check.json").read_text() == "{}"


def test_steps_past_the_time_limit_are_stopped_and_fail(tmp_path):
    """A step that outlives its timeout is killed (with its process group) and fails the check;
    a step that would start after the time limit fails without starting."""
    out = tmp_path / "check"
    r = _run(out, "--simulate", "--only", "train", "--time-limit", "22", timeout=120)
    assert r.returncode == 1, r.stdout[-4000:] + r.stderr[-2000:]
    assert _files(out) == FILES  # the files are written whatever happened
    rep = json.loads((out / "gpu_check.json").read_text())
    failed = [s for s in rep["steps"] if s["status"] == "fail"]
    assert failed and all(any(w in s["detail"] for w in ("timed out", "not started",
                                                         "time limit")) for s in failed), failed
    # the whole check, from its start, within the limit (the steps get limit − reserve)
    assert rep["total_s"] <= 22 + 2


def test_dry_run_shows_the_plan_its_files_and_its_budget(tmp_path):
    """What a GPU run will do, and that its estimate fits its limit, without a GPU."""
    gc = _load_script()
    out = tmp_path / "check"
    r = _run(out, "--dry-run", timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert _files(out) == FILES == set(gc.OUT_FILES)
    rep = json.loads((out / "gpu_check.json").read_text())
    assert rep["mode"] == "dry-run" and rep["time_limit_s"] == gc.TIME_LIMIT_S < 7 * 60
    names = [s["name"] for s in rep["steps"]]
    assert names == STEPS and all(s["status"] == "planned" for s in rep["steps"])
    for s in rep["steps"][1:-1]:  # every command step: its timeout and its estimate
        assert 0 < s["estimate_s"] < s["timeout_s"] <= gc.TIME_LIMIT_S, s
    est = gc.plan_estimate(names)
    assert est <= gc.TIME_LIMIT_S - gc.RESERVE_S
    summary = (out / "summary.txt").read_text()
    assert f"estimated {est:.0f} s of the {gc.TIME_LIMIT_S:.0f} s limit" in summary
    assert "python benchmarks/cuda_width.py --hidden 1024,2048" in r.stdout + json.dumps(rep)


def _load_script():
    import importlib.util

    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_on_a_gpu_the_steps_run_the_documented_commands(tmp_path):
    """What the simulated flow cannot show: with a GPU, the benchmark steps are exactly the
    commands of benchmarks/README.md ("GPU"), and the training runs use the whole synthetic set
    (no --subset, no tiny network) in float64."""
    import argparse
    import re
    import shlex

    gc = _load_script()
    check = gc.Check(tmp_path / "out", tmp_path / "work", argparse.Namespace(
        simulate=False, dry_run=False, time_limit=400.0, golden="tests/golden"), {}, 0.0)
    readme = (ROOT / "benchmarks" / "README.md").read_text().split("## GPU", 1)[1]
    documented = re.findall(r"^python benchmarks/(?:train_step|cuda_width)\.py .*$", readme, re.M)
    ours = [shlex.join(["python", "benchmarks/train_step.py",
                        *map(str, check.bench_args(name, Path(f"{name[6:]}.json"))[0])])
            for name in gc.GROUPS["bench"]]
    ours.append(shlex.join(["python", "benchmarks/cuda_width.py", *gc.WIDTH, "--json",
                            "width.json"]))
    assert ours == documented
    check.data_dir = Path("DATA")
    for backend in ("cpu", "cuda"):
        args = list(map(str, check.train_args(backend)))
        assert args[:8] == ["shd", "--backend", backend, "--data-dir", "DATA", "--epochs", "2",
                            "--dtype"] and args[8] == "float64"
        assert not {"--subset", "--hidden", "--batch"} & set(args), args


def _processes_mentioning(text: str) -> list[int]:
    pids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if text in (d / "cmdline").read_bytes().decode(errors="replace"):
                    pids.append(int(d.name))
            except OSError:
                pass
    return pids


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc to list processes")
def test_sigterm_ends_the_running_steps_and_keeps_the_results(tmp_path):
    import signal
    import time

    out, tmp = tmp_path / "check", tmp_path / "tmp"
    tmp.mkdir()
    e = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    e["TMPDIR"] = str(tmp)  # the check's work folder (logs, runs, data) goes here
    proc = subprocess.Popen([sys.executable, str(SCRIPT), str(out), "--simulate", "--only", "train"],
                            cwd=ROOT, env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # until a training step runs
            try:
                rep = json.loads((out / "gpu_check.json").read_text())
                if any(s["name"] == "train-cuda" and s["status"] == "running" for s in rep["steps"]):
                    break
            except (OSError, ValueError):
                pass
            time.sleep(0.2)
        else:
            pytest.fail("train-cuda never started")
        assert _processes_mentioning(str(tmp))  # the training processes run
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stdout[-3000:] + stderr[-2000:]
    assert _files(out) == FILES  # the files are written on an interrupt too
    rep = json.loads((out / "gpu_check.json").read_text())
    assert rep["ok"] is False and rep["interrupted"] == "SIGTERM"
    assert any(s.get("detail") == "interrupted" for s in rep["steps"]), rep["steps"]
    assert not _processes_mentioning(str(tmp))  # no step outlives the check
    assert not list(tmp.iterdir())  # the work folder is removed


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc (Linux) to list processes")
def test_sigkill_of_the_check_still_ends_its_steps(tmp_path):
    """No handler runs on SIGKILL; the steps (in sessions of their own) get SIGTERM from the
    kernel when their parent dies (PR_SET_PDEATHSIG), and the JSON of the last step is kept."""
    import signal
    import time

    out, tmp = tmp_path / "check", tmp_path / "tmp"
    tmp.mkdir()
    e = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    e["TMPDIR"] = str(tmp)
    proc = subprocess.Popen([sys.executable, str(SCRIPT), str(out), "--simulate", "--only", "train"],
                            cwd=ROOT, env=e, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not _processes_mentioning("runs/shd-cpu"):
            time.sleep(0.2)  # until the background training step runs
        assert _processes_mentioning(str(tmp)), "no step started"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and _processes_mentioning(str(tmp)):
            time.sleep(0.2)
        assert not _processes_mentioning(str(tmp))
    finally:
        if proc.poll() is None:
            proc.kill()
    assert json.loads((out / "gpu_check.json").read_text())["steps"]
