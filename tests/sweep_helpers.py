"""Shared pieces of the sweep tests: tiny real trials, the CLI, bit-for-bit comparisons of trials,
and a Dask cluster of separate processes."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from resonet.sweep.grid import to_toml
from tests.conftest import ECG_DIR, ROOT

HAVE_ECG = (ECG_DIR / "QTDB_train.mat").exists()


def tiny_base(synthetic_dir: Path | None) -> dict:
    """Settings of a tiny but real training run (2 epochs of 2 batches, a few seconds): ECG
    segments when the ECG files are here, else the synthetic SHD-format stand-in."""
    if synthetic_dir is None:
        return {"task": "ecg", "data_dir": str(ECG_DIR), "subset": 16, "batch": 8, "epochs": 2,
                "hidden": 8, "eval_batch": 64}
    return {"task": "shd", "data_dir": str(synthetic_dir), "synthetic": "yes", "subset": 16, "batch": 8,
            "epochs": 2, "hidden": 8, "eval_batch": 64}


def write_sweep(path: Path, base: dict, extra: str = "") -> Path:
    """A sweep file: ``base`` (scalars; lists become axes) then ``extra`` TOML text (tables)."""
    lines = []
    for k, v in base.items():
        if isinstance(v, list):
            lines.append(f"{k} = {json.dumps(v)}")
        else:
            lines.append(to_toml({k: v}).strip())
    path.write_text("\n".join(lines) + "\n" + extra)
    return path


def sweep_cli(*args, env=None, **kw) -> subprocess.CompletedProcess:
    e = dict(os.environ)
    e["PYTHONPATH"] = str(ROOT) + os.pathsep + e.get("PYTHONPATH", "")
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "resonet.sweep", *map(str, args)],
                          capture_output=True, text=True, env=e, **kw)


def jobqueue_missing() -> str:
    """Why dask-jobqueue cannot be used here ('' if it can). Imported keeping this process's
    SIGINT handler: dask-jobqueue's would turn a Ctrl-C of the test run into an exit 0."""
    before = signal.getsignal(signal.SIGINT)
    try:
        import dask_jobqueue  # noqa: F401
    except ImportError:
        return 'dask-jobqueue is not installed (pip install -e ".[cluster]")'
    finally:
        if before is not None:
            signal.signal(signal.SIGINT, before)
    return ""


def state(out: Path) -> dict:
    return json.loads((out / "sweep.json").read_text())


# --------------------------------------------------------------------------------------------
# comparing trials
# --------------------------------------------------------------------------------------------

TIMINGS = {"epoch_seconds", "train_samples_per_s", "eval_seconds"}


def metrics(run: Path) -> list[dict]:
    """The rows of a run's metrics.jsonl without the timing columns."""
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k not in TIMINGS} for r in rows]


def assert_same_trial(a: Path, b: Path) -> None:
    """Bit-identical: every metric of every epoch, the summary and the final parameters."""
    import numpy as np

    from resonet.checkpoint import load_checkpoint

    assert metrics(a) == metrics(b)
    assert json.loads((a / "summary.json").read_text()) == json.loads((b / "summary.json").read_text())
    pa, pb = load_checkpoint(a / "last.npz").params, load_checkpoint(b / "last.npz").params
    for k in pa:
        np.testing.assert_array_equal(pa[k], pb[k], err_msg=k)


def run_reference(base: dict, root: Path, extra: str = "") -> Path:
    """The sweep directory of the sweep file ``base`` + ``extra`` (see :func:`write_sweep`) run
    by the local executor, one trial at a time, one thread each: what every other executor must
    reproduce bit for bit. Run once per distinct sweep file under ``root``."""
    key = hashlib.sha1((json.dumps(base, sort_keys=True) + extra).encode()).hexdigest()[:12]
    out = root / key
    if not (out / "sweep.json").exists() or any(
            r["status"] != "done" for r in state(out)["trials"].values()):
        p = write_sweep(root / f"{key}.toml", base, extra)
        r = sweep_cli("run", p, "--out", out, "--workers", 1, "--threads-per-trial", 1)
        assert r.returncode == 0, r.stdout + r.stderr
    return out


# --------------------------------------------------------------------------------------------
# a Dask cluster of separate processes on loopback
# --------------------------------------------------------------------------------------------

class DaskProcesses:
    """``dask scheduler`` and ``n`` ``dask worker`` processes (one single-thread worker each, under
    its nanny) on 127.0.0.1, as a user starts them; each in its own process group, so that
    :meth:`stop` ends exactly the processes started here."""

    def __init__(self, root: Path, n_workers: int = 2, timeout: float = 60.0):
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.scheduler_file = root / "scheduler.json"
        self.procs: list[subprocess.Popen] = []
        self.scheduler = self._start("scheduler", ["scheduler", "--host", "127.0.0.1", "--port", "0",
                                                   "--no-dashboard", "--scheduler-file",
                                                   str(self.scheduler_file)])
        deadline = time.time() + timeout
        while not self.scheduler_file.exists():
            self._check_alive(deadline)
            time.sleep(0.05)
        time.sleep(0.1)  # written, then read: let the writer finish
        self.address = json.loads(self.scheduler_file.read_text())["address"]
        self.workers = [self._start(f"worker{i}", ["worker", self.address, "--nthreads", "1",
                                                   "--nworkers", "1", "--host", "127.0.0.1",
                                                   "--no-dashboard", "--name", f"w{i}",
                                                   "--local-directory", str(root / f"scratch{i}")])
                        for i in range(n_workers)]
        self.wait_for_workers(n_workers, deadline)

    def _start(self, name: str, args: list[str]) -> subprocess.Popen:
        log = open(self.root / f"{name}.log", "ab")
        proc = subprocess.Popen([sys.executable, "-m", "dask", *args], stdout=log, stderr=log,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        self.procs.append(proc)
        return proc

    def _check_alive(self, deadline: float) -> None:
        dead = [p.args for p in self.procs if p.poll() is not None]
        if dead or time.time() > deadline:
            logs = "\n".join(f.read_text()[-2000:] for f in sorted(self.root.glob("*.log")))
            self.stop()
            raise RuntimeError(f"the Dask cluster did not start ({dead or 'timeout'}):\n{logs}")

    def wait_for_workers(self, n: int, deadline: float) -> None:
        from distributed import Client

        with Client(self.address, timeout="30s") as client:
            while len(client.scheduler_info()["workers"]) < n:
                self._check_alive(deadline)
                time.sleep(0.1)

    def kill_scheduler(self) -> None:
        os.killpg(self.scheduler.pid, signal.SIGKILL)
        self.scheduler.wait()

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        # a worker process outliving its nanny would still be in the group
        for proc in self.procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
