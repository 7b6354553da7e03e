"""The Dask executors: a LocalCluster gives the same per-trial results as the local pool, a worker
that dies has its trial resumed elsewhere, and the SLURM job script says what the sweep asked."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from resonet.checkpoint import load_checkpoint
from tests.conftest import ROOT
from tests.sweep_helpers import state, sweep_cli, write_sweep

pytest.importorskip("tomllib")
pytest.importorskip("distributed")

TIMINGS = {"epoch_seconds", "train_samples_per_s", "eval_seconds"}


def _metrics(run) -> list[dict]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k not in TIMINGS} for r in rows]


def _assert_same_trial(a, b) -> None:
    """Bit-identical: every metric of every epoch, the summary and the final parameters."""
    assert _metrics(a) == _metrics(b)
    assert json.loads((a / "summary.json").read_text()) == json.loads((b / "summary.json").read_text())
    pa, pb = load_checkpoint(a / "last.npz").params, load_checkpoint(b / "last.npz").params
    for k in pa:
        np.testing.assert_array_equal(pa[k], pb[k], err_msg=k)


def test_dask_local_cluster_matches_the_local_pool_bit_for_bit(tmp_path, tiny_trial):
    p = write_sweep(tmp_path / "s.toml", {**tiny_trial, "neuron": ["alif", "bhrf"]})
    r = sweep_cli("run", p, "--out", tmp_path / "local", "--workers", 1, "--threads-per-trial", 1)
    assert r.returncode == 0, r.stdout + r.stderr
    r = sweep_cli("run", p, "--out", tmp_path / "dask", "--executor", "dask", "--workers", 1,
                  "--threads-per-trial", 1)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "LocalCluster" in r.stdout
    ids = list(state(tmp_path / "dask")["trials"])
    assert len(ids) == 2
    for tid in ids:
        _assert_same_trial(tmp_path / "local" / tid, tmp_path / "dask" / tid)
    alif = _metrics(tmp_path / "dask" / ids[0])
    assert alif[-1]["test_sops"] > 0  # the comparison covers a network that spikes and learns


def test_a_dead_worker_has_its_trial_resumed(tmp_path, tiny_trial):
    # one trial long enough to kill its worker after the first checkpoint
    p = write_sweep(tmp_path / "s.toml", {**tiny_trial, "neuron": "alif", "epochs": 8, "save_every": 0.0})
    tid = f"{tiny_trial['task']}-alif-s0"
    out = tmp_path / "dask"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    driver = subprocess.Popen([sys.executable, "-m", "resonet.sweep", "run", str(p), "--out", str(out),
                               "--executor", "dask", "--workers", "1", "--threads-per-trial", "1"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    log = out / "logs" / f"{tid}.out"
    deadline = time.time() + 240
    worker_pid = None
    while time.time() < deadline:
        m = re.search(r"\(pid (\d+)\)", log.read_text()) if log.exists() else None
        if m and (out / tid / "last.npz").exists():
            worker_pid = int(m.group(1))
            break
        assert driver.poll() is None, driver.communicate()
        time.sleep(0.02)
    assert worker_pid is not None, "the trial did not start in time"
    os.kill(worker_pid, signal.SIGKILL)  # the Dask worker process running the trial
    stdout, stderr = driver.communicate(timeout=300)
    assert driver.returncode == 0, stdout + stderr
    text = log.read_text()
    assert text.count("=== ") == 2 and "--resume" in text.split("=== ")[2], text
    assert state(out)["trials"][tid]["status"] == "done"
    # the resumed trial ends exactly where an uninterrupted one does
    r = sweep_cli("run", p, "--out", tmp_path / "local", "--workers", 1, "--threads-per-trial", 1)
    assert r.returncode == 0, r.stdout + r.stderr
    _assert_same_trial(tmp_path / "local" / tid, out / tid)


def test_slurm_job_script_reserves_the_cores_of_the_trials(tmp_path):
    pytest.importorskip("dask_jobqueue")
    from resonet.sweep.executors import slurm_cluster
    from resonet.sweep.grid import load_sweep

    p = write_sweep(tmp_path / "s.toml", {"task": "ecg", "seed": [0, 1]}, """
[slurm]
queue = "cpu"
account = "brf-lab"
walltime = "04:00:00"
memory = "16GB"
processes = 2
job_script_prologue = ["source ~/venvs/resonet/bin/activate"]
""")
    sweep = load_sweep(p)
    cluster = slurm_cluster(sweep.slurm, threads=4)
    try:
        script = cluster.job_script()
    finally:
        cluster.close()
    lines = script.splitlines()
    for directive in ("#SBATCH -p cpu", "#SBATCH -A brf-lab", "#SBATCH -t 04:00:00",
                      "#SBATCH --cpus-per-task=8", "#SBATCH --mem=15G"):
        assert directive in lines, script
    # NUMBA_NUM_THREADS is set before the worker starts, then the user's own prologue
    i = lines.index("export NUMBA_NUM_THREADS=4")
    assert lines[i + 1] == "source ~/venvs/resonet/bin/activate"
    worker = next(line for line in lines if "distributed.cli.dask_worker" in line)
    assert "--nthreads 1" in worker and "--nworkers 2" in worker  # one trial per Dask worker
    # --dry-run shows the same script and submits nothing
    r = sweep_cli("run", p, "--executor", "slurm", "--threads-per-trial", 4, "--dry-run",
                  "--out", tmp_path / "out")
    assert r.returncode == 0, r.stderr
    assert "#SBATCH --cpus-per-task=8" in r.stdout and "export NUMBA_NUM_THREADS=4" in r.stdout
    assert not (tmp_path / "out").exists()


def test_slurm_needs_memory_and_dask_needs_its_extra(tmp_path):
    pytest.importorskip("dask_jobqueue")
    p = write_sweep(tmp_path / "s.toml", {"task": "ecg"}, '[slurm]\nqueue = "cpu"\n')
    r = sweep_cli("run", p, "--out", tmp_path / "out", "--executor", "slurm")
    assert r.returncode == 2 and "memory" in r.stderr and "Traceback" not in r.stderr
    r = sweep_cli("run", p, "--out", tmp_path / "out", "--scheduler", "tcp://127.0.0.1:1")
    assert r.returncode == 2 and "--executor dask" in r.stderr
