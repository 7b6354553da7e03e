"""The Dask executors without a cluster of their own: a LocalCluster gives the same per-trial
results as the local pool and Ctrl-C stops its trials; the SLURM job script says what the sweep
asked; and what of the SLURM path needs no SLURM cluster (dask-jobqueue's SIGINT handler, a
missing sbatch, the docs' example). A Dask cluster of separate processes (a worker or the
scheduler killed): tests/test_sweep_dask.py; a real SLURM cluster: tests/test_sweep_slurm.py."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from tests.conftest import ROOT
from tests.sweep_helpers import assert_same_trial, jobqueue_missing, metrics, state, sweep_cli, write_sweep

pytest.importorskip("tomllib")
pytest.importorskip("distributed")


def _jobqueue():
    missing = jobqueue_missing()
    if missing:
        pytest.skip(missing)


def test_dask_local_cluster_matches_the_local_pool_bit_for_bit(tmp_path, tiny_trial, sweep_reference):
    base = {**tiny_trial, "neuron": ["alif", "bhrf"]}
    p = write_sweep(tmp_path / "s.toml", base)
    # the workers' scratch space goes into the sweep directory and is removed, not left in $TMPDIR
    tmp = tmp_path / "tmpdir"
    tmp.mkdir()
    out = tmp_path / "dask"
    r = sweep_cli("run", p, "--out", out, "--executor", "dask", "--workers", 1,
                  "--threads-per-trial", 1, env={"TMPDIR": str(tmp)})
    assert r.returncode == 0, r.stdout + r.stderr
    assert "LocalCluster" in r.stdout
    ids = list(state(out)["trials"])
    assert len(ids) == 2
    for tid in ids:
        assert_same_trial(sweep_reference(base) / tid, out / tid)
    alif = metrics(out / ids[0])
    assert alif[-1]["test_sops"] > 0  # the comparison covers a network that spikes and learns
    assert not list(tmp.glob("dask-*")), list(tmp.iterdir())
    assert not (out / "dask-scratch").exists()
    inv = state(out)["invocations"][-1]
    assert inv["cores_of"] == "the driver's machine" and inv["cores"] >= 1


def test_ctrl_c_stops_the_trials_of_a_local_cluster_and_they_resume(tmp_path, tiny_trial):
    """Ctrl-C on a sweep on its own Dask cluster stops the running trial at once (it writes its
    checkpoint and is recorded as interrupted), exit 130, as with the local executor."""
    p = write_sweep(tmp_path / "s.toml", {**tiny_trial, "neuron": "alif", "epochs": 200, "save_every": 0.0})
    out = tmp_path / "out"
    tid = f"{tiny_trial['task']}-alif-s0"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    driver = subprocess.Popen([sys.executable, "-m", "resonet.sweep", "run", str(p), "--out", str(out),
                               "--executor", "dask", "--workers", "1"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.time() + 240
    while not (out / tid / "last.npz").exists():
        assert time.time() < deadline and driver.poll() is None, driver.communicate()
        time.sleep(0.05)
    driver.send_signal(signal.SIGINT)
    stdout, stderr = driver.communicate(timeout=90)  # not the 200 epochs
    assert driver.returncode == 130, stdout + stderr
    assert "Traceback" not in stderr, stderr
    assert "re-run the same command" in stdout
    rec = state(out)["trials"][tid]
    assert rec["status"] == "interrupted", rec
    assert state(out)["invocations"][-1]["interrupted"] is True
    assert "resume with python -m resonet.train --resume" in (out / tid / "train.log").read_text()
    assert not (out / tid / "summary.json").exists()
    r = sweep_cli("run", p, "--out", out, "--dry-run")
    assert f"{tid}  resume" in r.stdout


@pytest.mark.parametrize("options", [{}, {"port": 0}])
def test_slurm_scheduler_listens_on_the_interface_without_a_dashboard(options):
    """``interface`` puts the scheduler where the workers are told to connect (here loopback),
    and scheduler_options of the user's keep the sweep's default of no dashboard: Dask's HTTP
    server on loopback and a free port, not on every interface at 8787."""
    _jobqueue()
    from resonet.sweep.executors import slurm_cluster

    cluster = slurm_cluster({"memory": "1GB", "interface": "lo", "scheduler_options": options}, threads=1)
    try:
        assert cluster.scheduler.address.startswith("tcp://127.0.0.1:")
        assert "--interface lo" in cluster.job_script()
        http = cluster.scheduler.http_server
        assert http.address == "127.0.0.1" and http.port != 8787, (http.address, http.port)
    finally:
        cluster.close()


def test_slurm_job_script_reserves_the_cores_of_the_trials(tmp_path):
    _jobqueue()
    from resonet.sweep.executors import slurm_cluster
    from resonet.sweep.grid import load_sweep

    p = write_sweep(tmp_path / "s.toml", {"task": "ecg", "seed": [0, 1]}, """
[slurm]
queue = "cpu"
account = "brf-lab"
walltime = "04:00:00"
memory = "16GB"
processes = 2
interface = "lo"
job_script_prologue = ["source ~/venvs/resonet/bin/activate"]
""")
    sweep = load_sweep(p)
    out = tmp_path / "out"
    cluster = slurm_cluster(sweep.slurm, threads=4, sweep_dir=out)
    try:
        script = cluster.job_script()
    finally:
        cluster.close()
    lines = script.splitlines()
    logs = out / "logs" / "slurm"
    for directive in ("#SBATCH -p cpu", "#SBATCH -A brf-lab", "#SBATCH -t 04:00:00",
                      "#SBATCH --cpus-per-task=8", "#SBATCH --mem=15G",
                      f"#SBATCH -o {logs}/%x-%j.out", f"#SBATCH -e {logs}/%x-%j.err"):
        assert directive in lines, script
    # NUMBA_NUM_THREADS is set before the worker starts, then the user's own prologue
    i = lines.index("export NUMBA_NUM_THREADS=4")
    assert lines[i + 1] == "source ~/venvs/resonet/bin/activate"
    worker = next(line for line in lines if "distributed.cli.dask_worker" in line)
    assert "--nthreads 1" in worker and "--nworkers 2" in worker  # one trial per Dask worker
    assert "--interface lo" in worker
    assert f"--local-directory {out / 'dask-scratch'}" in worker  # scratch in the sweep directory
    # --dry-run shows the same script and submits nothing, creates nothing
    r = sweep_cli("run", p, "--executor", "slurm", "--threads-per-trial", 4, "--dry-run", "--out", out)
    assert r.returncode == 0, r.stderr
    for line in ("#SBATCH --cpus-per-task=8", "export NUMBA_NUM_THREADS=4", f"#SBATCH -e {logs}/%x-%j.err"):
        assert line in r.stdout.splitlines(), r.stdout
    assert not out.exists()


def test_slurm_needs_memory_and_dask_needs_its_extra(tmp_path):
    _jobqueue()
    p = write_sweep(tmp_path / "s.toml", {"task": "ecg"}, '[slurm]\nqueue = "cpu"\n')
    r = sweep_cli("run", p, "--out", tmp_path / "out", "--executor", "slurm")
    assert r.returncode == 2 and "memory" in r.stderr and "Traceback" not in r.stderr
    r = sweep_cli("run", p, "--out", tmp_path / "out", "--scheduler", "tcp://127.0.0.1:1")
    assert r.returncode == 2 and "--executor dask" in r.stderr


def test_without_sbatch_the_slurm_executor_stops_at_once(tmp_path, tiny_trial):
    """No sbatch on PATH (not a SLURM machine): one line and exit 2 within seconds, nothing
    created. Catches: the driver waiting forever for workers that no job will start."""
    _jobqueue()
    p = write_sweep(tmp_path / "s.toml", tiny_trial, '[slurm]\nmemory = "1GB"\n')
    empty = tmp_path / "bin"
    empty.mkdir()
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PATH": str(empty)}
    driver = subprocess.Popen([sys.executable, "-m", "resonet.sweep", "run", str(p), "--out", str(out),
                               "--executor", "slurm"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=env)
    try:
        stdout, stderr = driver.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        driver.kill()
        stdout, stderr = driver.communicate()
        pytest.fail(f"no end after 60 s without sbatch:\n{stdout}\n{stderr[-2000:]}")
    assert driver.returncode == 2, stdout + stderr
    assert stderr.strip().splitlines() == [stderr.strip()] and "sbatch is not on PATH" in stderr, stderr
    assert not out.exists()


def test_importing_dask_jobqueue_leaves_ctrl_c_alone(tmp_path):
    """dask-jobqueue installs a SIGINT handler that exits with code 0 (SystemExit) when it is
    imported; resonet imports it without: Ctrl-C in a process that built a SLURM cluster is
    still a KeyboardInterrupt."""
    _jobqueue()
    code = textwrap.dedent("""
        import signal, sys, time
        from resonet.sweep.executors import slurm_cluster
        slurm_cluster({"memory": "1GB"}, threads=1).close()
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
        print("ready", flush=True)
        time.sleep(60)
        """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.stdout.readline().strip() == "ready", proc.communicate()
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode != 0 and "KeyboardInterrupt" in stderr, (proc.returncode, stderr)


def test_the_slurm_example_of_the_docs_gives_the_job_script_they_show(tmp_path):
    """docs/sweep.md: its SLURM sweep file loads, and --dry-run prints the job script lines the
    page shows (paths and the Python aside)."""
    _jobqueue()
    text = (ROOT / "docs" / "sweep.md").read_text()
    cluster = text.split("## Run it on your cluster", 1)[1].split("\n## ", 1)[0]
    # what to set, interface first among what users miss (the scheduler's network), and what
    # each failure does
    for needed in ("**`interface`**", '"ib0"', "### SLURM", "### Dask", "SLURM refuses the job",
                   "a job is killed", "the scheduler dies", "a worker process is killed"):
        assert needed in cluster, needed
    toml = next(b for b in re.findall(r"```toml\n(.*?)```", text, re.S) if "[slurm]" in b)
    shown = re.search(r"--dry-run` prints the job script each SLURM job would run, e\.g\.\n\n```\n(.*?)```",
                      text, re.S).group(1)
    p = tmp_path / "ecg_slurm.toml"
    p.write_text(toml)
    out = tmp_path / "ecg_table1"  # the name the example's jobs are given after
    r = sweep_cli("run", p, "--dry-run", "--out", out)
    assert r.returncode == 0, r.stdout + r.stderr
    printed = r.stdout.splitlines()
    for line in shown.splitlines():
        if line.startswith("#SBATCH") and "/" not in line or line.startswith("export") \
                or line.startswith("source"):
            assert line in printed, (line, r.stdout)
        elif line.startswith("#SBATCH"):  # -o/-e: the sweep directory of the example
            assert re.sub(r"\S*(logs/slurm)", str(out) + r"/\1", line) in printed, (line, r.stdout)
        elif "dask_worker" in line:
            worker = next(x for x in printed if "dask_worker" in x)
            for flag in re.findall(r"--[a-z-]+(?: [^-.\s]\S*)?", line.split("dask_worker", 1)[1]):
                if "PORT" not in flag and "..." not in flag and "/" not in flag:
                    assert flag in worker, (flag, worker)
    assert not out.exists()


def test_ci_starts_a_slurm_cluster_and_fails_if_a_slurm_test_skips(tmp_path):
    """.ci/run starts the one-node SLURM cluster (.ci/slurm.sh), stops it on any exit, and sets
    RESONET_REQUIRE_CLUSTER=1, under which a skipped SLURM test fails the run."""
    ci = (ROOT / ".ci" / "run").read_text()
    head = ci[: ci.rindex("python -m pytest")]
    assert 'bash .ci/slurm.sh start "$slurm_dir"' in head and "export RESONET_REQUIRE_CLUSTER=1" in head
    assert head.index("trap stop_slurm EXIT") < head.index("slurm.sh start")  # stopped on failure too
    assert 'bash .ci/slurm.sh stop "$slurm_dir"' in head
    test = "tests/test_sweep_slurm.py::test_slurm_refusing_the_job_fails_the_trials_at_once"
    empty = tmp_path / "bin"  # no sinfo: no cluster
    empty.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RESONET_", "SLURM_"))}
    env["PATH"] = str(empty)
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", test]
    r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    assert r.returncode == 0 and "1 skipped" in r.stdout, r.stdout + r.stderr
    r = subprocess.run(cmd + ["-rs"], cwd=ROOT, env={**env, "RESONET_REQUIRE_CLUSTER": "1"},
                       capture_output=True, text=True)
    assert r.returncode == 1 and "skipped although RESONET_REQUIRE_CLUSTER=1" in r.stdout, r.stdout
    assert "sinfo" in r.stdout  # the reason says what is missing
