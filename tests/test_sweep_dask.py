"""A Dask cluster of separate processes, as a user starts one: ``dask scheduler`` and two
``dask worker`` processes on loopback, the sweep attached with ``--executor dask --scheduler``.
The same results as the local executor; a worker killed mid-trial costs nothing (the trial
resumes elsewhere from its checkpoint, one result); a killed scheduler stops the driver with one
line, and a re-run on a new cluster completes the sweep."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT
from tests.sweep_helpers import DaskProcesses, assert_same_trial, metrics, state, sweep_cli, write_sweep

pytest.importorskip("tomllib")
pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def shared_cluster(tmp_path_factory):
    """One cluster for the tests that leave it working (a killed worker is restarted by its
    nanny): each start costs seconds."""
    cluster = DaskProcesses(tmp_path_factory.mktemp("dask-cluster"), n_workers=2)
    yield cluster
    cluster.stop()


@pytest.fixture
def dask_cluster(tmp_path):
    started = []

    def start(name: str = "cluster") -> DaskProcesses:
        started.append(DaskProcesses(tmp_path / name, n_workers=2))
        return started[-1]

    yield start
    for cluster in started:
        cluster.stop()


def _driver(p, out, address) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "resonet.sweep", "run", str(p), "--out", str(out),
                             "--executor", "dask", "--scheduler", address, "--threads-per-trial", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})


def _wait_for_checkpoint(driver, out, tid) -> int:
    """Wait until the trial has written its first checkpoint; the pid of the process running it."""
    log = out / "logs" / f"{tid}.out"
    deadline = time.time() + 240
    while time.time() < deadline:
        m = re.search(r"\(pid (\d+)\)", log.read_text()) if log.exists() else None
        if m and (out / tid / "last.npz").exists():
            return int(m.group(1))
        assert driver.poll() is None, driver.communicate()
        time.sleep(0.02)
    driver.kill()
    pytest.fail(f"{tid} did not start in time: {driver.communicate()}")


def test_a_cluster_of_processes_gives_the_local_results(tmp_path, tiny_trial, shared_cluster,
                                                        sweep_reference):
    base = {**tiny_trial, "neuron": ["alif", "bhrf"]}
    cluster = shared_cluster
    p = write_sweep(tmp_path / "s.toml", base)
    out = tmp_path / "out"
    r = sweep_cli("run", p, "--out", out, "--executor", "dask", "--scheduler", cluster.address,
                  "--threads-per-trial", 1)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"attaching to the Dask scheduler at {cluster.address}" in r.stdout
    trials = state(out)["trials"]
    assert len(trials) == 2 and {t["status"] for t in trials.values()} == {"done"}
    for tid in trials:
        assert_same_trial(sweep_reference(base) / tid, out / tid)
    inv = state(out)["invocations"][-1]
    assert inv["scheduler"] == cluster.address
    assert inv["cores"] is None  # the driver's cores are not the trials'


def test_a_worker_killed_mid_trial_costs_nothing(tmp_path, tiny_trial, shared_cluster, sweep_reference):
    base = {**tiny_trial, "neuron": "alif", "epochs": 8, "save_every": 0.0}
    tid = f"{tiny_trial['task']}-alif-s0"
    cluster = shared_cluster
    p = write_sweep(tmp_path / "s.toml", base)
    out = tmp_path / "out"
    driver = _driver(p, out, cluster.address)
    first = _wait_for_checkpoint(driver, out, tid)
    os.kill(first, signal.SIGKILL)  # the Dask worker process running the trial (its nanny restarts it)
    stdout, stderr = driver.communicate(timeout=300)
    assert driver.returncode == 0, stdout + stderr
    # resumed from its checkpoint in another worker process, ended exactly as an uninterrupted run
    attempts = (out / "logs" / f"{tid}.out").read_text().split("=== ")[1:]
    assert len(attempts) == 2 and "--resume" in attempts[1], attempts
    assert re.search(r"\(pid (\d+)\)", attempts[1]).group(1) != str(first)
    assert_same_trial(sweep_reference(base) / tid, out / tid)
    # one result: one line, one record, every epoch once
    assert len([line for line in stdout.splitlines() if line.startswith("[") and tid in line]) == 1, stdout
    rec = state(out)["trials"][tid]
    assert rec["status"] == "done" and rec["attempts"] == 1
    assert [row["epoch"] for row in metrics(out / tid)] == list(range(9))


def test_a_killed_scheduler_stops_the_driver_and_a_new_cluster_finishes(tmp_path, tiny_trial, dask_cluster,
                                                                        sweep_reference):
    base = {**tiny_trial, "neuron": "alif", "epochs": 8, "save_every": 0.0}
    tid = f"{tiny_trial['task']}-alif-s0"
    old = dask_cluster("old")
    p = write_sweep(tmp_path / "s.toml", base)
    out = tmp_path / "out"
    driver = _driver(p, out, old.address)
    _wait_for_checkpoint(driver, out, tid)
    old.kill_scheduler()
    # its workers go too (the trial process dies with its worker, keeping its checkpoint), so
    # that the re-run has an unfinished trial to resume
    old.stop()
    try:
        stdout, stderr = driver.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        driver.kill()
        pytest.fail(f"the driver did not stop within 60 s of losing its scheduler: {driver.communicate()}")
    assert driver.returncode == 1, stdout + stderr  # one trial failed
    assert "Traceback" not in stderr, stderr
    errors = [line for line in stderr.splitlines() if line.strip()]
    assert len(errors) == 1, stderr
    assert errors[0].startswith("error: lost the connection to the Dask scheduler"), stderr
    rec = state(out)["trials"][tid]
    assert rec["status"] == "failed" and "lost the connection" in rec["error"]
    assert state(out)["invocations"][-1]["finished"] is not None
    new = dask_cluster("new")
    r = sweep_cli("run", p, "--out", out, "--executor", "dask", "--scheduler", new.address)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "1 to resume" in r.stdout
    assert_same_trial(sweep_reference(base) / tid, out / tid)
    assert [row["epoch"] for row in metrics(out / tid)] == list(range(9))
