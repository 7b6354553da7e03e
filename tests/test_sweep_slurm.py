"""``--executor slurm`` on a real SLURM cluster (CI starts a one-node one: .ci/slurm.sh).

The same results as the local executor; Ctrl-C stops the trials (exit 130) and a re-run finishes
them with nothing redone; SLURM refusing the job, or a job that ends before its Dask worker
joins, fails the trials within seconds with one line; Ctrl-C while the jobs wait in the queue
cancels them. Without a cluster these tests skip (a failure with RESONET_REQUIRE_CLUSTER=1)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT
from tests.sweep_helpers import assert_same_trial, jobqueue_missing, metrics, state, write_sweep

pytest.importorskip("tomllib")
pytest.importorskip("distributed")
pytestmark = pytest.mark.slurm

# One job per trial, a little memory each (the CI node has 2 cores); the scheduler on loopback,
# which the job's workers on the same machine reach.
SLURM = """
[slurm]
memory = "1GB"
walltime = "00:15:00"
interface = "lo"
"""


def _cluster_reason() -> str:
    """Why there is no usable SLURM cluster here ('' if there is one)."""
    how = ("start one (as root: bash .ci/slurm.sh start DIR, then export SLURM_CONF=DIR/slurm.conf) "
           "to run the SLURM tests")
    if jobqueue_missing():
        return jobqueue_missing()
    missing = [c for c in ("sinfo", "sbatch", "squeue", "scancel") if shutil.which(c) is None]
    if missing:
        return f"no SLURM cluster: {', '.join(missing)} not on PATH; {how}"
    try:
        r = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=20)
    except subprocess.TimeoutExpired:
        return f"no SLURM cluster: sinfo got no answer in 20 s; {how}"
    states = set(r.stdout.split())
    if r.returncode != 0 or not states & {"idle", "mixed", "allocated"}:
        return f"no SLURM cluster ready: sinfo: {' '.join((r.stdout + r.stderr).split())[:200]}; {how}"
    return ""


@pytest.fixture(scope="module")
def slurm():
    reason = _cluster_reason()
    if reason:
        pytest.skip(reason)


def _jobs_of(out) -> list[str]:
    """SLURM jobs of the sweep in ``out`` still in squeue (pending or running): the sweep names
    its jobs resonet-<sweep directory name>."""
    r = subprocess.run(["squeue", "-h", "-n", f"resonet-{out.name}", "-o", "%i"], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stdout.split()


def _held_jobs() -> list[str]:
    """Jobs SLURM holds (``--hold``): in CI, those of the test that asked for it."""
    r = subprocess.run(["squeue", "-h", "-t", "PD", "-o", "%i %r"], capture_output=True, text=True,
                       timeout=30)
    return [line.split()[0] for line in r.stdout.splitlines() if "JobHeldUser" in line]


def _status(out, tid) -> str | None:
    """The trial's status as the driver recorded it (None before it wrote its state)."""
    try:
        return state(out)["trials"][tid]["status"]
    except (OSError, ValueError, KeyError):
        return None


def _driver(p, out, *extra) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "resonet.sweep", "run", str(p), "--out", str(out),
                             "--executor", "slurm", "--threads-per-trial", "1", *map(str, extra)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})


def _ends_by_itself(driver, seconds: float) -> tuple[str, str]:
    """The driver's output once it has ended by itself; a test failure (with what a Ctrl-C then
    gets out of it) if it still runs after ``seconds``."""
    try:
        return driver.communicate(timeout=seconds)
    except subprocess.TimeoutExpired:
        driver.send_signal(signal.SIGINT)
        try:
            stdout, stderr = driver.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            driver.kill()
            stdout, stderr = driver.communicate()
        pytest.fail(f"the sweep was still waiting after {seconds:.0f} s; after Ctrl-C: exit "
                    f"{driver.returncode}\n{stdout}\n{stderr[-3000:]}")


def test_slurm_gives_the_local_results_and_ctrl_c_costs_nothing(slurm, tmp_path, tiny_trial,
                                                                  sweep_reference):
    """A 2-trial sweep through SLURM jobs, stopped by Ctrl-C after its first trial has finished
    and while the second runs (exit 130, the trials stopped, their jobs gone), then re-run: the
    finished trial is not redone, the stopped one resumes, and both end bit-identical to the
    local executor's runs. Catches: dask-jobqueue's SIGINT handler making Ctrl-C an exit 0 that
    recorded nothing."""
    task = tiny_trial["task"]
    short, long = f"{task}-bhrf-s0", f"{task}-alif-s0"
    # the alif trial runs long enough to be stopped after the bhrf one has finished
    epochs = 30
    base = {**tiny_trial, "neuron": ["bhrf", "alif"], "save_every": 0.0}
    overrides = f"\n[overrides.neuron.alif]\nepochs = {epochs}\n"
    p = write_sweep(tmp_path / "s.toml", base, overrides + SLURM)
    out = tmp_path / tmp_path.name  # (its SLURM jobs' name: resonet-<that name>)
    driver = _driver(p, out, "--workers", 2)
    deadline = time.time() + 300
    while not (_status(out, short) == "done" and (out / long / "last.npz").exists()):
        assert time.time() < deadline and driver.poll() is None, driver.communicate()
        time.sleep(0.05)
    driver.send_signal(signal.SIGINT)
    done_epochs = len(metrics(out / long)) if (out / long / "metrics.jsonl").exists() else 0
    assert done_epochs < epochs, "the long trial was nearly done; the test proves nothing"
    try:
        stdout, stderr = driver.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        driver.kill()
        pytest.fail(f"Ctrl-C did not stop the sweep: {driver.communicate()}")
    assert driver.returncode == 130, stdout + stderr
    assert "Traceback" not in stderr, stderr
    assert "interrupted: re-run the same command" in stdout, stdout
    st = state(out)
    assert st["trials"][short]["status"] == "done" and st["trials"][long]["status"] == "interrupted"
    inv = st["invocations"][-1]
    assert inv["interrupted"] is True and inv["finished"] is not None
    assert (inv["cores"], inv["cores_of"], inv["trials_per_job"]) == (1, "each SLURM job", 1)
    assert not (out / long / "summary.json").exists()
    assert _jobs_of(out) == []  # cancelled
    # the re-run: the finished trial is not redone, the stopped one resumes from its checkpoint
    kept = (out / short / "summary.json").stat().st_mtime_ns
    stdout, stderr = _ends_by_itself(_driver(p, out, "--workers", 2), 300)
    assert "1 finished earlier (skipped), 1 to resume, 0 to start" in stdout, stdout + stderr
    assert state(out)["trials"][long]["status"] == "done", stdout + stderr
    assert (out / short / "summary.json").stat().st_mtime_ns == kept
    assert (out / "logs" / f"{short}.out").read_text().count("=== ") == 1
    assert "--resume" in (out / "logs" / f"{long}.out").read_text().split("=== ")[-1]
    reference = sweep_reference(base, overrides)
    for tid in (short, long):
        assert_same_trial(reference / tid, out / tid)
    # the workers ran in SLURM jobs (their output is in the sweep directory); their scratch
    # space is removed and no job is left
    assert len(list((out / "logs" / "slurm").glob("*.err"))) >= 2
    assert not (out / "dask-scratch").exists()
    assert _jobs_of(out) == []


def test_slurm_refusing_the_job_fails_the_trials_at_once(slurm, tmp_path, tiny_trial):
    """A partition that does not exist: sbatch fails. Catches: the driver waiting forever (and
    a Ctrl-C then ending in an AssertionError from closing the cluster)."""
    p = write_sweep(tmp_path / "s.toml", tiny_trial, SLURM + 'queue = "no-such-partition"\n')
    out = tmp_path / tmp_path.name  # (its SLURM jobs' name: resonet-<that name>)
    t0 = time.time()
    stdout, stderr = _ends_by_itself(_driver(p, out), 60)
    assert time.time() - t0 < 60
    tid = f"{tiny_trial['task']}-brf-s0"
    rec = state(out)["trials"][tid]
    assert rec["status"] == "failed" and "no-such-partition" in rec["error"], rec
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: SLURM refused the job: sbatch failed"), stderr
    assert "invalid partition" in lines[0].lower()
    inv = state(out)["invocations"][-1]
    assert inv["finished"] is not None
    # the cores of each job (its --cpus-per-task), not those of the machine the driver runs on
    assert (inv["cores"], inv["cores_of"]) == (1, "each SLURM job")
    assert _jobs_of(out) == []


def test_slurm_job_that_ends_before_its_worker_joins_fails_the_trials(slurm, tmp_path, tiny_trial):
    """A job whose worker cannot start (here: no such Python on the node) ends at once; the
    driver says so with the job's own message instead of waiting for a worker forever."""
    p = write_sweep(tmp_path / "s.toml", tiny_trial, SLURM + 'python = "/no/such/python"\n')
    out = tmp_path / tmp_path.name  # (its SLURM jobs' name: resonet-<that name>)
    stdout, stderr = _ends_by_itself(_driver(p, out), 120)
    tid = f"{tiny_trial['task']}-brf-s0"
    rec = state(out)["trials"][tid]
    assert rec["status"] == "failed", rec
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "before its Dask worker joined" in lines[0], stderr
    assert "/no/such/python" in lines[0]  # the job's own message, from its stderr file
    assert "Traceback" not in stderr


def test_slurm_ctrl_c_while_the_jobs_wait_cancels_them(slurm, tmp_path, tiny_trial):
    """Jobs that SLURM holds (as in a busy queue): the driver waits, and Ctrl-C cancels them,
    exit 130. Catches: dask-jobqueue's SIGINT handler, which made this an exit with code 0."""
    p = write_sweep(tmp_path / "s.toml", tiny_trial, SLURM + 'job_extra_directives = ["--hold"]\n')
    out = tmp_path / tmp_path.name  # (its SLURM jobs' name: resonet-<that name>)
    driver = _driver(p, out)
    deadline = time.time() + 60
    while not _held_jobs():
        assert time.time() < deadline and driver.poll() is None, driver.communicate()
        time.sleep(0.1)
    driver.send_signal(signal.SIGINT)
    try:
        stdout, stderr = driver.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        driver.kill()
        pytest.fail(f"Ctrl-C did not stop the sweep: {driver.communicate()}")
    assert driver.returncode == 130, stdout + stderr
    assert "Traceback" not in stderr, stderr
    assert "interrupted: re-run the same command" in stdout
    inv = state(out)["invocations"][-1]
    assert inv["interrupted"] is True and inv["finished"] is not None
    assert _jobs_of(out) == [] and _held_jobs() == []  # cancelled
