"""One trial: look at its run directory, then skip it, resume it or start it, in a subprocess.

:func:`run_trial` is what every executor runs, in a thread of the local driver or as a Dask
task on a worker; it takes and returns plain dicts (picklable) and never raises for a failing
trial. The trial is ``python -m resonet.train`` (through :mod:`resonet.sweep.launch`) with

- ``NUMBA_NUM_THREADS`` and ``threads`` set to the sweep's threads per trial (numba reads the
  variable once, at import; Dask does not set it);
- a new run: ``--config <sweep>/configs/<id>.toml --out <sweep>/<id>``; an interrupted one:
  ``--resume <sweep>/<id>`` (the settings and thread count saved in its config.json);
- stdout and stderr appended to ``<sweep>/logs/<id>.out`` and ``.err``; the one-line error of a
  failure is the last line the trial wrote to stderr.

What the run directory holds decides (:meth:`resonet.rundir.RunDir.state`):

========================================  =====================================================
a valid ``summary.json``                  finished: skipped
``last.npz``                              interrupted: resumed from it
empty                                     removed, then started
anything else (e.g. killed before its     moved aside, kept, to ``<sweep>/aside/<id>-<time>``,
first checkpoint: config.json only)       then started
absent                                    started
========================================  =====================================================

An exclusive ``flock`` on ``<sweep>/locks/<id>.lock``, held by this function and inherited by
the trial process, makes sure one trial never runs twice at once: a retry (Dask re-runs the task
of a worker that died) or a second driver waits until the earlier process is gone.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from ..rundir import RunDir

# Processes started by run_trial in this process (the local executor interrupts them on Ctrl-C).
_LIVE: set[subprocess.Popen] = set()
_LIVE_LOCK = threading.Lock()
_STOPPED = threading.Event()


def paths(sweep_dir: Path, trial_id: str) -> dict:
    d = Path(sweep_dir)
    return {"run": d / trial_id, "config": d / "configs" / f"{trial_id}.toml",
            "out": d / "logs" / f"{trial_id}.out", "err": d / "logs" / f"{trial_id}.err",
            "lock": d / "locks" / f"{trial_id}.lock", "aside": d / "aside"}


def move_aside(run_dir: Path, aside_dir: Path) -> Path:
    """Rename ``run_dir`` into ``aside_dir`` under a name no other directory has."""
    aside_dir.mkdir(parents=True, exist_ok=True)
    base = f"{run_dir.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    k = 1
    while True:
        dest = aside_dir / (base if k == 1 else f"{base}-{k}")
        try:
            dest.mkdir()  # claim the name exclusively, then rename over the empty placeholder
        except FileExistsError:
            k += 1
            continue
        os.replace(run_dir, dest)
        return dest


def run_trial(job: dict) -> dict:
    """Run one trial to its end. ``job``: ``id``, ``sweep_dir``, ``threads``. Returns
    ``id``, ``status`` ('done', 'failed', 'interrupted'), ``action`` ('skip', 'resume',
    'start'), ``exit_code``, ``error``, ``wall_s``, ``aside``, ``host``, ``summary``, ``final``
    (the last evaluated epoch's metrics)."""
    import fcntl

    p = paths(job["sweep_dir"], job["id"])
    res = {"id": job["id"], "status": "failed", "action": None, "exit_code": None, "error": None,
           "wall_s": None, "aside": None, "host": socket.gethostname(), "summary": None,
           "final": None, "notes": [], "started": None}
    p["lock"].parent.mkdir(parents=True, exist_ok=True)
    lock = open(p["lock"], "a")  # held until the trial process is gone
    try:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            res["notes"].append("waited for an earlier process of this trial to end")
            fcntl.flock(lock, fcntl.LOCK_EX)
        return _run_locked(job, p, res, lock)
    finally:
        lock.close()


def _run_locked(job: dict, p: dict, res: dict, lock) -> dict:
    rd = RunDir(p["run"])
    state = rd.state()
    threads = int(job["threads"])
    if state == "done":
        res.update(status="done", action="skip", summary=rd.summary())
        res["final"] = next(reversed(rd.history()), None)
        return res
    if state == "aside":
        dest = move_aside(p["run"], p["aside"])
        res["aside"] = str(dest)
        res["notes"].append(f"{p['run']} held an unfinished run without a checkpoint; moved it to "
                            f"{dest} and started the trial afresh")
        state = "start"
    if state == "start" and p["run"].exists():
        p["run"].rmdir()  # empty: nothing to keep, and train creates its run dir exclusively
    if state == "resume":
        res["action"] = "resume"
        saved = rd.saved_threads()
        if saved is not None and saved != threads:
            res["notes"].append(f"resumed with its saved {saved} thread(s), not {threads}")
            threads = saved
        args = ["--resume", str(p["run"])]
    else:
        res["action"] = "start"
        args = ["--config", str(p["config"]), "--out", str(p["run"])]
    env = dict(os.environ)
    env["NUMBA_NUM_THREADS"] = str(threads)
    env.setdefault("PYTHONUNBUFFERED", "1")
    cmd = [sys.executable, "-m", "resonet.sweep.launch", str(os.getpid()), *args, "--quiet"]
    p["out"].parent.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    res["started"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    with open(p["out"], "a") as out, open(p["err"], "a") as err:
        out.write(f"=== {stamp} {res['host']} (pid {os.getpid()}): NUMBA_NUM_THREADS={threads} "
                  f"python -m resonet.train {' '.join(cmd[4:])}\n")
        out.flush()
        err.write(f"=== {stamp}\n")
        err.flush()
        offset = err.tell()
        t0 = time.perf_counter()
        with _LIVE_LOCK:  # no new trial process once interrupt_live() has run
            if _STOPPED.is_set():
                res.update(status="interrupted", error="interrupted before it started")
                return res
            proc = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env,
                                    pass_fds=(lock.fileno(),))
            _LIVE.add(proc)
        try:
            rc = proc.wait()
        finally:
            with _LIVE_LOCK:
                _LIVE.discard(proc)
        res["wall_s"] = time.perf_counter() - t0
    res["exit_code"] = rc
    summary = rd.summary()
    res["final"] = next(reversed(rd.history()), None)
    stopped = rc in (130, -int(signal.SIGINT)) or (_STOPPED.is_set() and rc == -int(signal.SIGTERM))
    # stopped after its summary.json (written last, atomically) was complete: finished, as a
    # re-run would find it
    if summary is not None and (rc == 0 or stopped):
        res.update(status="done", summary=summary)
        return res
    last = _last_line(p["err"], offset)
    if stopped:
        res.update(status="interrupted", error="interrupted")
    elif rc < 0:
        name = signal.Signals(-rc).name if -rc in signal.Signals._value2member_map_ else str(-rc)
        res["error"] = f"killed by {name}" + (f" (last message: {last})" if last else "")
    elif rc == 0:
        res["error"] = f"exited 0 but left no valid {RunDir.SUMMARY}"
    else:
        res["error"] = last or f"exit code {rc}, nothing on stderr"
    return res


def _last_line(path: Path, offset: int) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(offset)
            lines = [x.strip() for x in fh.read().decode("utf-8", "replace").splitlines()]
    except OSError:
        return ""
    lines = [x for x in lines if x]
    return " ".join(lines[-1].split())[:500] if lines else ""


def allow_starts() -> None:
    _STOPPED.clear()


def interrupt_live() -> int:
    """Stop every trial process this process started and start no new one until
    :func:`allow_starts`. Returns how many. SIGTERM, not SIGINT: a driver started in the
    background (``nohup ... &``) passes an ignored SIGINT on to its children, and train keeps
    its last checkpoint whatever ends it."""
    with _LIVE_LOCK:
        _STOPPED.set()
        procs = list(_LIVE)
    for proc in procs:
        try:
            proc.send_signal(signal.SIGTERM)
        except ProcessLookupError:
            pass
    return len(procs)


# --------------------------------------------------------------------------------------------
# compiling the kernels once, before the trials start
# --------------------------------------------------------------------------------------------

def warm_up(resolved: list[dict]) -> list[str]:
    """Compile (or load from numba's disk cache) every CPU kernel the trials will call, in this
    process, so that trial processes started together only load the cache: processes that
    compile at the same time race on the cache files, and ``drop_stale_cache`` (run on import of
    the kernels) could delete files another process is loading. Runs one tiny forward + BPTT and
    one inference call per distinct (network shape, dtype, input kind) of the cpu trials."""
    import numpy as np

    from ..tasks import get_task

    done = []
    seen = set()
    for s in resolved:
        if s.get("backend", "cpu") != "cpu":
            continue
        spec = dict(s["spec"])
        preset = s["preset"]
        events = preset.get("events", get_task(s["task"]).events)  # the task's input form
        key = (s["dtype"], bool(events), preset.get("per_step_labels"), spec.get("neuron"),
               spec.get("reset"), spec.get("sub_seq_length"), spec.get("label_last"),
               s.get("truncation") is not None, isinstance(spec.get("n_hidden"), list),
               bool(spec.get("bias")))  # stacked layers and biases take their own kernel paths
        if key in seen:
            continue
        seen.add(key)
        from ..backends import get_backend
        from ..events import SpikeEvents
        from ..network import NetworkSpec, init_params

        backend = get_backend("cpu")
        dtype = np.dtype(s["dtype"]).type
        widths = spec["n_hidden"] if isinstance(spec["n_hidden"], list) else [spec["n_hidden"]]
        spec["n_hidden"] = [min(int(h), 8) for h in widths]  # every layer, tiny
        net = NetworkSpec(**spec)
        T, B = 24, 2
        rng = np.random.default_rng(0)
        params = {k: v.astype(dtype) for k, v in init_params(net, rng, dict(preset["init"])).items()}
        x = (rng.random((T, B, net.n_in)) < 0.2).astype(dtype)
        inp = SpikeEvents.from_dense(x) if key[1] else x
        y = rng.integers(0, net.n_out, (T, B) if preset.get("per_step_labels") else B)
        backend.run(net, params, inp, y, dtype=dtype, truncation=s.get("truncation"))
        backend.run(net, params, inp, y, grads=False, dtype=dtype)
        done.append(f"{s['task']}/{spec['neuron']}/{s['dtype']}")
    return done
