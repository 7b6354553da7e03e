"""The sweep driver: plan, record, fan out, report progress.

The sweep directory (default ``runs/<sweep name>``)::

    sweep.json        the state: every trial's settings, status, error, wall time, attempts;
                      every invocation of the driver with its wall time (written atomically
                      after every change, so a killed driver loses no finished trial)
    sweep.toml        the sweep file as last run
    sweep.log         the driver's output
    <trial id>/       each trial's ordinary run directory (resonet.train --out)
    configs/<id>.toml each trial's settings, as given to resonet.train --config
    logs/<id>.out|err each trial's stdout and stderr
    locks/<id>.lock   held while the trial runs (one process per trial at a time)
    aside/            unfinished run directories without a checkpoint, kept, never deleted

Re-running the same command skips finished trials, resumes interrupted ones and starts the rest
(including failed ones: a transient failure gets another chance; a deterministic one fails
again in the same way). A second driver on the same directory is refused while one runs.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path
from typing import IO

from ..checkpoint import atomic_write_text
from ..errors import ConfigError
from ..rundir import RunDir
from ..runlog import write_json
from .grid import EXECUTORS, Sweep, to_toml
from .trial import paths

STATE = "sweep.json"
STATE_VERSION = 1
MAX_EXIT = 125  # exit codes above 125 mean "killed by a signal" to shells


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def plan(sweep: Sweep, out: Path) -> list[tuple[str, str]]:
    """(trial id, what a run would do: done / resume / start / aside) for every trial."""
    return [(t.id, RunDir(out / t.id).state()) for t in sweep.trials]


def settle_resources(executor: str, workers: int | None, threads: int | None,
                     scheduler: str | None) -> tuple[int, int]:
    """Workers and threads per trial; for trials on this machine, workers x threads <= cores."""
    cores = available_cores()
    threads = 1 if threads is None else int(threads)
    if threads < 1:
        raise ConfigError(f"--threads-per-trial must be >= 1, got {threads}")
    on_this_machine = executor == "local" or (executor == "dask" and not scheduler)
    if workers is None:
        workers = max(1, cores // threads) if on_this_machine else 1
    workers = int(workers)
    if workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {workers}")
    if on_this_machine and workers * threads > cores:
        raise ConfigError(f"--workers {workers} x --threads-per-trial {threads} = {workers * threads} "
                          f"exceeds the {cores} core(s) here; lower one of them")
    return workers, threads


class Driver:
    def __init__(self, sweep: Sweep, out: Path, executor: str, workers: int, threads: int,
                 scheduler: str | None):
        self.sweep, self.out = sweep, out
        self.executor, self.workers, self.threads, self.scheduler = executor, workers, threads, scheduler
        self.state: dict = {}
        self.logfh: IO[str] | None = None
        self.total = len(sweep.trials)
        self.t0 = time.time()
        self.finished_now = 0  # trials that ran and ended in this invocation
        self.to_run = 0

    # -- output ----------------------------------------------------------------------------------
    def log(self, msg: str, err: bool = False) -> None:
        print(msg, flush=True, file=sys.stderr if err else sys.stdout)
        if self.logfh:
            self.logfh.write(msg + "\n")
            self.logfh.flush()

    # -- state -----------------------------------------------------------------------------------
    def save(self) -> None:
        self.state["updated"] = _now()
        write_json(self.out / STATE, self.state)

    def open_state(self) -> None:
        import json

        path = self.out / STATE
        old = {}
        if path.exists():
            try:
                old = json.loads(path.read_text())
            except ValueError as exc:
                raise ConfigError(f"{path}: unreadable sweep state ({exc}); move it away to start "
                                  "the bookkeeping afresh (run directories are kept)") from None
        trials = old.get("trials", {})
        for t in self.sweep.trials:
            rec = trials.get(t.id)
            if rec is not None and rec.get("settings") != t.settings:
                diff = _diff(rec.get("settings") or {}, t.settings)
                raise ConfigError(f"trial {t.id}: its settings differ from those recorded in {path} "
                                  f"({diff}); use another --out, or restore the sweep file")
        new_trials = {}
        for t in self.sweep.trials:
            rec = trials.get(t.id) or {"settings": t.settings, "axes": t.axes, "status": "pending",
                                        "error": None, "exit_code": None, "wall_s": None,
                                        "wall_s_total": 0.0, "attempts": 0, "host": None,
                                        "started": None, "finished": None, "summary": None,
                                        "final": None}
            rec["axes"] = t.axes
            rec.pop("in_grid", None)  # back in the grid after an edit of the sweep file took it out
            new_trials[t.id] = rec
        # trials of an earlier version of the sweep file stay recorded (their directories too)
        for tid, rec in trials.items():
            if tid not in new_trials:
                rec["in_grid"] = False
                new_trials[tid] = rec
        self.state = {
            "version": STATE_VERSION, "name": self.sweep.name,
            "created": old.get("created", _now()), "updated": _now(),
            "source": self.sweep.source, "trials": new_trials,
            "invocations": old.get("invocations", []),
        }

    # -- running ---------------------------------------------------------------------------------
    def prepare(self) -> list[dict]:
        """Write the trial configs, record the plan, return the jobs to run."""
        (self.out / "configs").mkdir(exist_ok=True)
        jobs, counts = [], {"done": 0, "resume": 0, "start": 0, "aside": 0}
        for t in self.sweep.trials:
            settings = dict(t.settings)
            for key in ("data_dir", "train", "test", "val"):  # workers may run elsewhere: no
                if settings.get(key):  # cwd-relative paths (data_dir, a user's split files)
                    settings[key] = str(Path(settings[key]).expanduser().resolve())
            settings["threads"] = self.threads
            atomic_write_text(paths(self.out, t.id)["config"], to_toml(settings))
            what = RunDir(self.out / t.id).state()
            counts[what] += 1
            rec = self.state["trials"][t.id]
            if what == "done":
                if rec["status"] != "done":
                    rd = RunDir(self.out / t.id)
                    rec.update(status="done", error=None, summary=rd.summary(),
                               final=next(reversed(rd.history()), None))
                continue
            rec["status"] = "pending"
            jobs.append({"id": t.id, "sweep_dir": str(self.out), "threads": self.threads})
        self.to_run = len(jobs)
        where = {"local": "local processes", "dask": self.scheduler or "a Dask LocalCluster",
                 "slurm": "SLURM (dask-jobqueue)"}[self.executor]
        self.log(f"sweep {self.sweep.name}: {self.total} trial(s) in {self.out}: {counts['done']} finished "
                 f"earlier (skipped), {counts['resume']} to resume, {counts['start'] + counts['aside']} "
                 f"to start; {self.workers} worker(s) x {self.threads} thread(s), {where}")
        self.state["invocations"].append({
            "started": _now(), "finished": None, "wall_s": None, "executor": self.executor,
            "scheduler": self.scheduler, "workers": self.workers, "threads_per_trial": self.threads,
            **self.cores(), "trials_run": len(jobs), "done": 0, "failed": 0,
            "interrupted": False, "argv": sys.argv[1:]})
        self.save()
        return jobs

    def cores(self) -> dict:
        """The cores the trials run on, and of what: this machine (local, a LocalCluster), each
        SLURM job (its --cpus-per-task), or unknown to the driver (an existing Dask cluster)."""
        if self.executor == "slurm":
            from .executors import job_cpus

            return {"cores": job_cpus(self.sweep.slurm, self.threads), "cores_of": "each SLURM job",
                    "trials_per_job": int(self.sweep.slurm.get("processes", 1))}
        if self.executor == "dask" and self.scheduler:
            return {"cores": None, "cores_of": "the Dask cluster's workers (not known to the driver)"}
        return {"cores": available_cores(), "cores_of": "the driver's machine"}

    def on_result(self, res: dict) -> None:
        rec = self.state["trials"][res["id"]]
        for note in res.get("notes") or []:
            self.log(f"  {res['id']}: {note}")
        if res["wall_s"] is not None:  # a trial process ran (not skipped, not stopped before its start)
            rec["attempts"] = rec.get("attempts", 0) + 1
            rec["wall_s"] = res["wall_s"]
            rec["wall_s_total"] = (rec.get("wall_s_total") or 0.0) + (res["wall_s"] or 0.0)
        rec.update(status=res["status"], action=res["action"], error=res["error"],
                   exit_code=res["exit_code"], host=res["host"], finished=_now(),
                   summary=res["summary"], final=res["final"])
        if res.get("started"):
            rec["started"] = res["started"]
        if res.get("aside"):
            rec.setdefault("aside", []).append(res["aside"])
        inv = self.state["invocations"][-1]
        if res["status"] in ("done", "failed"):
            inv[res["status"]] += 1
        # Kept current with every result, so a driver that is killed (no finish()) still leaves
        # its wall time up to its last finished trial in sweep.json.
        inv["wall_s"] = time.time() - self.t0
        self.finished_now += 1
        self.save()
        self.log(self.progress_line(res))

    def progress_line(self, res: dict) -> str:
        trials = self.state["trials"]
        ended = sum(1 for t in self.sweep.trials if trials[t.id]["status"] in ("done", "failed"))
        width = len(str(self.total))
        head = f"[{ended:>{width}}/{self.total}] {res['id']:<{self._idw()}}"
        wall = _hms(res["wall_s"]) if res["wall_s"] is not None else "-"
        left = self.to_run - self.finished_now
        rate = (time.time() - self.t0) / max(self.finished_now, 1)
        eta = f"ETA {_hms(rate * left)}" if left > 0 else "last one"
        if res["status"] == "done":
            s, f = res["summary"] or {}, res["final"] or {}
            acc = (f"final test {f['test_acc']:.1f} %  " if f.get("test_acc") is not None else "") + \
                  f"best-val test {s.get('test_acc', float('nan')):.1f} %"
            verb = "done" if res["action"] != "skip" else "done (earlier)"
            return f"{head} {verb:<8} {wall:>8}  {acc}  {eta}"
        if res["status"] == "interrupted":
            return f"{head} interrupted {wall:>5}  (resumes on the next run)"
        code = f"exit {res['exit_code']}: " if res["exit_code"] not in (None,) else ""
        return f"{head} FAILED   {wall:>8}  {code}{res['error']}  {eta}"

    def _idw(self) -> int:
        return max(len(t.id) for t in self.sweep.trials)

    def finish(self, interrupted: bool) -> int:
        inv = self.state["invocations"][-1]
        inv.update(finished=_now(), wall_s=time.time() - self.t0, interrupted=interrupted)
        trials = [self.state["trials"][t.id] for t in self.sweep.trials]
        done = sum(1 for r in trials if r["status"] == "done")
        failed = [t.id for t, r in zip(self.sweep.trials, trials) if r["status"] == "failed"]
        self.state["wall_s_total"] = sum(i.get("wall_s") or 0.0 for i in self.state["invocations"])
        self.save()
        self.log(f"{done}/{self.total} trial(s) finished, {len(failed)} failed"
                 + (f" ({', '.join(failed)})" if failed else "")
                 + f"; this run took {_hms(inv['wall_s'])}; state in {self.out / STATE}")
        if interrupted:
            self.log("interrupted: re-run the same command to continue (finished trials are kept, "
                     "interrupted ones resume from their last checkpoint)")
            return 130
        if failed:
            self.log(f"errors are in {self.out / STATE} and {self.out / 'logs'}/<trial>.err; "
                     "re-running the same command retries the failed trials")
        return min(len(failed), MAX_EXIT)


def run_sweep(sweep: Sweep, out: str | os.PathLike | None = None, *, executor: str | None = None,
              workers: int | None = None, threads: int | None = None, scheduler: str | None = None,
              dry_run: bool = False) -> int:
    """Run (or, with ``dry_run``, list) the trials of ``sweep``. Returns the exit code: the number
    of failed trials (at most 125), 130 if interrupted."""
    opts = sweep.options
    executor = executor or opts.get("executor") or "local"
    if executor not in EXECUTORS:
        raise ConfigError(f"executor {executor!r}: choose one of {', '.join(EXECUTORS)}")
    scheduler = scheduler or opts.get("scheduler")
    if scheduler and executor != "dask":
        raise ConfigError("--scheduler attaches to a Dask cluster; use it with --executor dask")
    out_dir = Path(out or opts.get("out") or Path("runs") / sweep.name).expanduser().resolve()
    workers, threads = settle_resources(executor, workers if workers is not None else opts.get("workers"),
                                        threads if threads is not None else opts.get("threads_per_trial"),
                                        scheduler)
    from .executors import check_executor

    check_executor(executor, sweep.slurm, submit=not dry_run)
    if dry_run:
        return _dry_run(sweep, out_dir, executor, workers, threads)
    out_dir.mkdir(parents=True, exist_ok=True)
    lock = _lock_sweep(out_dir)
    drv = Driver(sweep, out_dir, executor, workers, threads, scheduler)
    old_handlers = _catch_signals() if _main_thread() else {}
    try:
        drv.logfh = open(out_dir / "sweep.log", "a", encoding="utf-8")
        drv.open_state()
        atomic_write_text(out_dir / "sweep.toml", sweep.text)
        jobs = drv.prepare()
        resolved = [t.resolved for t in sweep.trials if any(j["id"] == t.id for j in jobs)]
        interrupted = False
        try:
            _execute(drv, jobs, resolved)
        except KeyboardInterrupt:
            interrupted = True
        return drv.finish(interrupted)
    finally:
        for sig, handler in old_handlers.items():
            if sig == signal.SIGINT:
                from .executors import restore_sigint

                restore_sigint(handler)
            elif handler is not None:
                signal.signal(sig, handler)
        if drv.logfh:
            drv.logfh.close()
        lock.close()


def _execute(drv: Driver, jobs: list[dict], resolved: list[dict]) -> None:
    from . import executors

    if drv.executor == "local":
        executors.run_local(jobs, drv.workers, resolved, drv.on_result, drv.log)
        return
    if not jobs:
        return
    with executors.dask_warnings_only():
        client, cluster, watch = executors.dask_client(drv.executor, drv.scheduler, drv.workers,
                                                       drv.threads, drv.sweep.slurm, drv.log, drv.out)
        try:
            executors.run_dask(jobs, client, resolved, drv.on_result, drv.log, watch=watch,
                               owned=cluster is not None)
        finally:
            executors.close_cluster(client, cluster, drv.log,
                                    scratch=drv.out / executors.SCRATCH if cluster is not None else None,
                                    jobs=getattr(watch, "jobs", None))


def _dry_run(sweep: Sweep, out: Path, executor: str, workers: int, threads: int) -> int:
    rows = plan(sweep, out) if out.exists() else [(t.id, "start") for t in sweep.trials]
    what = {"done": "finished: skip", "resume": "resume", "start": "start",
            "aside": "move the unfinished directory aside, start"}
    w = max(len(t.id) for t in sweep.trials)
    print(f"sweep {sweep.name}: {len(rows)} trial(s) -> {out}  ({executor}, {workers} worker(s) x "
          f"{threads} thread(s))")
    for t, (tid, act) in zip(sweep.trials, rows):
        r = t.resolved
        desc = (f"{r['task']} {r['neuron']} seed {r['seed']}: {r['optimizer']} lr {r['lr']} batch "
                f"{r['batch']} epochs {r['epochs']} hidden {r['hidden']}")
        print(f"  {tid:<{w}}  {what[act]:<14}  {desc}")
    if executor == "slurm":
        import tempfile

        import dask

        from .executors import quiet_dask, slurm_cluster

        # the cluster's scheduler makes a scratch space: in a temporary directory, removed after
        with tempfile.TemporaryDirectory() as tmp, dask.config.set({"temporary-directory": tmp}):
            cluster = slurm_cluster(sweep.slurm, threads, sweep_dir=out)
            try:
                print(f"\nthe job script each SLURM job would run (up to {workers} Dask worker(s)):\n")
                print(cluster.job_script())
            finally:
                with quiet_dask():
                    cluster.close()
    return 0


def _lock_sweep(out: Path):
    import fcntl

    fh = open(out / ".driver.lock", "a+")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.close()
        raise ConfigError(f"another sweep driver is running on {out}; wait for it or use another --out") \
            from None
    return fh


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def _catch_signals() -> dict:
    """While the driver runs, SIGTERM and SIGINT raise KeyboardInterrupt, whatever handler an
    imported library installed (dask-jobqueue's turns SIGINT into an exit with code 0); an
    ignored SIGINT (a driver started in the background) stays ignored. Returns the handlers to
    put back."""
    old = {signal.SIGTERM: signal.signal(signal.SIGTERM, _raise_interrupt)}
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        old[signal.SIGINT] = signal.signal(signal.SIGINT, _raise_interrupt)
    return old


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _diff(old: dict, new: dict) -> str:
    keys = sorted(set(old) | set(new))
    parts = [f"{k}: {old.get(k, '(unset)')!r} -> {new.get(k, '(unset)')!r}" for k in keys
             if old.get(k, "(unset)") != new.get(k, "(unset)")]
    return "; ".join(parts[:4]) + ("; ..." if len(parts) > 4 else "")


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S")


def _hms(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s"
