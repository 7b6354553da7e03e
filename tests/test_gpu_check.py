"""``benchmarks/gpu_check.py`` (the one-command GPU check) without a GPU.

The whole flow runs under the CUDA simulator on tiny sizes (``--simulate``): the JSON file and the
table must report every step; a step that fails (a golden file with a perturbed gradient) must
make the exit code 1; without a GPU the check refuses in one line with exit code 2 and writes
nothing. The script starts its steps in their own processes, so it runs here as a subprocess
(the simulator's variable must be set before numba is imported, and the script sets it only
for the steps).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import golden_files, pending_golden_files

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "gpu_check.py"
STEPS = ["device", "synthetic-data", "train-cpu", "verify-float64", "verify-float32", "train-cuda",
         "train-agree", "bench-shd-b32", "bench-shd-b256", "bench-smnist-b256"]


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
    steps = {s["name"]: s for s in rep["steps"]}
    assert [s["name"] for s in rep["steps"]] == STEPS
    for s in rep["steps"]:
        assert s["status"] == "pass", s
        if s["name"] not in ("device", "train-agree"):
            assert s["exit_code"] == 0 and s["seconds"] > 0 and s["timeout_s"] > 0, s
            assert (out / s["log"]).is_file()

    # verify: exactly the golden files of implemented models, each parsed from verify's output
    want = sorted(p.name for p in golden_files())
    for dtype in ("float64", "float32"):
        nums = steps[f"verify-{dtype}"]["numbers"]
        assert sorted(f["file"] for f in nums["files"]) == want
        assert all(f["pass"] and f["worst"] for f in nums["files"])
        assert sorted(nums["skipped"]) == sorted(p.name for p in pending_golden_files())
    f64 = max(f["max_rel_err"] for f in steps["verify-float64"]["numbers"]["files"])
    assert 0 <= f64 <= 1e-9

    # training: two complete run directories, the same accuracy
    for backend in ("cpu", "cuda"):
        n = steps[f"train-{backend}"]["numbers"]
        assert n["epoch"] == 2 and (out / "runs" / f"shd-{backend}" / "summary.json").is_file()
    agree = steps["train-agree"]["numbers"]
    assert agree["abs_diff_points"] <= agree["max_points"] == 1.0

    # benchmarks: their JSON files, read back
    for name in ("bench-shd-b32", "bench-shd-b256", "bench-smnist-b256"):
        n = steps[name]["numbers"]
        assert Path(n["json"]).is_file() and n["train_ms"] > 0 and n["epoch_samples"] == 7
        assert n["target_met"] is None  # no speed targets under the simulator

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
    (["--time-limit", "0"], "--time-limit must be > 0"),
], ids=["bad-group", "bad-time-limit"])
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
    r = _run(out, "--simulate", "--only", "train", "--time-limit", "4", timeout=120)
    assert r.returncode == 1, r.stdout[-4000:] + r.stderr[-2000:]
    rep = json.loads((out / "gpu_check.json").read_text())
    failed = [s for s in rep["steps"] if s["status"] == "fail"]
    assert failed and all("timed out" in s["detail"] or "not started" in s["detail"]
                          for s in failed), failed
    assert rep["total_s"] < 4 + 30  # waited for the timeouts, not for the training


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
    check = gc.Check(Path("OUTDIR"), argparse.Namespace(simulate=False, time_limit=600.0,
                                                        golden="tests/golden"), {})
    readme = (ROOT / "benchmarks" / "README.md").read_text().split("## GPU", 1)[1]
    documented = re.findall(r"^python benchmarks/train_step\.py .*$", readme, re.M)
    ours = [shlex.join(["python", "benchmarks/train_step.py",
                        *map(str, check.bench_args(name, Path(f"OUTDIR/bench/{name[6:]}.json"))[0])])
            for name in gc.GROUPS["bench"]]
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
    e["TMPDIR"] = str(tmp)
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
        assert _processes_mentioning(str(out / "runs"))  # the training processes run
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stdout[-3000:] + stderr[-2000:]
    rep = json.loads((out / "gpu_check.json").read_text())
    assert rep["ok"] is False
    assert any(s.get("detail") == "interrupted" for s in rep["steps"]), rep["steps"]
    assert not _processes_mentioning(str(out / "runs"))  # no step outlives the check
    assert not list(tmp.iterdir())  # the temporary data are removed
