"""Where the trials run: a local pool of subprocesses, a Dask cluster, or SLURM via dask-jobqueue.

Every executor runs :func:`resonet.sweep.trial.run_trial` once per trial and calls
``on_result(result)`` in the driver's main thread as each trial ends, so the driver alone writes
the sweep state.

- ``local``: a pool of ``workers`` threads, each waiting on one trial process. No dependency.
- ``dask``: one task per trial on a Dask cluster: ``scheduler="tcp://host:8786"`` attaches to an
  existing one (start its workers with ``--nthreads 1``: a worker runs one trial at a time, the
  trial uses the sweep's threads per trial), otherwise a LocalCluster of ``workers`` single-thread
  worker processes. When a worker dies, Dask re-runs its task elsewhere (up to
  ``distributed.scheduler.allowed-failures`` times); the re-run resumes from ``last.npz``.
- ``slurm``: a dask-jobqueue ``SLURMCluster`` from the sweep file's ``[slurm]`` table (see
  :func:`slurm_cluster`), scaled to ``workers`` Dask workers.

The driver never waits on a cluster blindly: while trials are outstanding it looks at the
cluster every :data:`POLL_S` seconds (:class:`SlurmWatch`, :class:`SchedulerWatch`) and stops
with one line (:class:`ClusterFailure`, the unfinished trials recorded as failed) when nothing
can run them any more: SLURM refused the job (``sbatch`` failed: a bad partition, account,
memory), the jobs ended before their Dask worker joined, or the connection to the Dask scheduler
was lost. A re-run continues the sweep as after any other failure.

Ctrl-C (or SIGTERM) on a cluster the sweep started itself (LocalCluster, SLURM) stops the
running trials at once, as the local executor does: they write their checkpoint, are recorded as
interrupted and resume on the next run. On a cluster the sweep only attached to, trials already
running go on to their end (other drivers may share its workers).

The Dask executors need ``pip install -e ".[cluster]"`` (dask, distributed, dask-jobqueue); the
sweep directory must be on a filesystem every worker sees at the same path.
"""

from __future__ import annotations

import contextlib
import logging
import re
import shutil
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any

from ..errors import ConfigError, ResonetError
from .trial import allow_starts, interrupt_live, run_trial, warm_up

POLL_S = 0.2  # how often the driver looks at its trials and at the cluster while it waits
STOP_GRACE_S = 60.0  # after Ctrl-C: how long stopping trials get to write their checkpoint
SQUEUE_EVERY_S = 3.0  # how often the driver asks squeue about jobs none of whose workers joined
WAIT_NOTE_S = 30.0  # after this long without a worker the driver says what it waits for
ALLOWED_FAILURES = 10
# The scheduler's options for no dashboard. Its HTTP server (health checks, metrics) starts in any
# case; on loopback and a free port it neither shows the cluster to the network nor collides with
# another scheduler's 8787 on a shared login node.
NO_DASHBOARD = {"dashboard": False, "dashboard_address": "127.0.0.1:0"}
SCRATCH = "dask-scratch"  # the Dask workers' local directory in a sweep directory (removed at the end)
SLURM_LOGS = "logs/slurm"  # the SLURM jobs' stdout and stderr in a sweep directory
# squeue states of a job that may still start a worker (the others: it has ended)
SLURM_ALIVE = {"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "REQUEUED", "RESIZING",
               "SUSPENDED", "REQUEUE_HOLD", "REQUEUE_FED", "SIGNALING", "STAGE_OUT"}


class ClusterFailure(ResonetError):
    """The cluster cannot run any trial: SLURM refused the jobs or they ended before their Dask
    worker joined, or the connection to the Dask scheduler was lost."""


# --------------------------------------------------------------------------------------------
# local
# --------------------------------------------------------------------------------------------

def run_local(jobs: list[dict], workers: int, resolved: list[dict], on_result: Callable,
              log: Callable) -> None:
    if not jobs:
        return
    _warm_up_here(resolved, log)
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="trial")
    allow_starts()
    futures = [pool.submit(run_trial, job) for job in jobs]
    reported = set()
    try:
        for fut in as_completed(futures):
            reported.add(fut)
            on_result(fut.result())
    except BaseException:
        # Ctrl-C or SIGTERM: start no more trials, stop the running ones (each keeps its last
        # checkpoint), and record how they ended.
        pool.shutdown(wait=False, cancel_futures=True)
        interrupt_live()
        for fut in futures:
            if fut not in reported and not fut.cancelled():
                try:
                    on_result(fut.result())
                except Exception:  # interrupted already; record what we can
                    pass
        raise
    finally:
        pool.shutdown(wait=True)


def _warm_up_here(resolved: list[dict], log: Callable) -> None:
    if any(s.get("backend", "cpu") == "cpu" for s in resolved):
        log("compiling the CPU kernels once before the trials start (or loading them from the cache) ...")
        warm_up(resolved)


# --------------------------------------------------------------------------------------------
# checks before anything starts
# --------------------------------------------------------------------------------------------

def import_jobqueue():
    """``dask_jobqueue``, imported without the SIGINT handler it installs.

    dask-jobqueue's ``runner`` module runs ``signal.signal(SIGINT, lambda *_: sys.exit())`` when
    it is imported: Ctrl-C then raises ``SystemExit(None)``, exit code 0, anywhere in the
    importing process (a sweep driver, a test run). The handler in place before the import is
    put back (Python's default, which raises KeyboardInterrupt, if it was dask-jobqueue's own)."""
    before = signal.getsignal(signal.SIGINT)
    try:
        import dask_jobqueue
    finally:
        if threading.current_thread() is threading.main_thread():
            restore_sigint(before)
    return dask_jobqueue


def restore_sigint(handler) -> None:
    """Install ``handler`` for SIGINT; dask-jobqueue's (or an unknown one) becomes the default."""
    if handler is None or getattr(handler, "__module__", "") == "dask_jobqueue.runner":
        handler = signal.default_int_handler
    signal.signal(signal.SIGINT, handler)


def check_executor(executor: str, slurm: dict, *, submit: bool = False) -> None:
    """Fail before anything starts if the executor's packages or settings are missing; with
    ``submit`` (a run, not a dry run), also if SLURM's ``sbatch`` is not here."""
    if executor == "local":
        return
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise ConfigError(f"--executor {executor} needs dask and distributed: "
                          'pip install -e ".[cluster]"') from None
    if executor != "slurm":
        return
    try:
        import_jobqueue()
    except ImportError:
        raise ConfigError('--executor slurm needs dask-jobqueue: pip install -e ".[cluster]"') from None
    if "memory" not in slurm:
        raise ConfigError('[slurm] needs memory = "..." (per SLURM job, e.g. "8GB")')
    if not isinstance(slurm.get("processes", 1), int) or slurm.get("processes", 1) < 1:
        raise ConfigError(f"[slurm] processes = {slurm['processes']!r} must be an integer >= 1")
    if submit:
        for command in ("sbatch", "squeue", "scancel"):
            if shutil.which(command) is None:
                raise ConfigError(f"--executor slurm: {command} is not on PATH here; run the sweep where "
                                  "SLURM's commands are (a login node, or a job), or use --executor "
                                  "local or dask")


# --------------------------------------------------------------------------------------------
# Dask clusters
# --------------------------------------------------------------------------------------------

def dask_client(executor: str, scheduler: str | None, workers: int, threads: int, slurm: dict,
                log: Callable, sweep_dir: Path | None = None):
    """``(client, cluster, watch)``: a ``distributed.Client``, the cluster this sweep started
    (None when it attached to ``scheduler``) and what watches it (see :func:`run_dask`)."""
    import dask
    from distributed import Client  # check_executor made sure it is installed

    if scheduler:
        log(f"attaching to the Dask scheduler at {scheduler}")
        try:
            client = Client(scheduler, timeout="30s")
        except OSError as exc:
            raise ConfigError(f"--scheduler {scheduler}: cannot connect ({exc})") from None
        return client, None, SchedulerWatch(scheduler, log)
    # Our own scheduler: a trial whose worker dies resumes from its checkpoint, so a retry is
    # cheap; allow more of them than Dask's default 3 (a long trial may outlive several jobs).
    dask.config.set({"distributed.scheduler.allowed-failures": ALLOWED_FAILURES})
    scratch = str(Path(sweep_dir) / SCRATCH) if sweep_dir is not None else None
    # the scheduler (and a LocalCluster's nannies), made in this process, take their scratch
    # space from temporary-directory: the sweep's, not the system's temporary directory
    with dask.config.set({"temporary-directory": scratch} if scratch else {}):
        return _own_cluster(executor, workers, threads, slurm, log, sweep_dir, scratch)


def _own_cluster(executor: str, workers: int, threads: int, slurm: dict, log: Callable,
                 sweep_dir: Path | None, scratch: str | None):
    from distributed import Client, LocalCluster

    if executor == "slurm":
        jobs = SlurmJobs()
        logs = None
        if sweep_dir is not None:
            logs = Path(slurm.get("log_directory") or Path(sweep_dir) / SLURM_LOGS)
            logs.mkdir(parents=True, exist_ok=True)  # sbatch does not create it
        cluster = slurm_cluster(slurm, threads, sweep_dir=sweep_dir, jobs=jobs)
        try:
            # adapt, not scale: jobs that end (walltime) are replaced while trials remain. A trial
            # is long and its duration unknown to Dask until one ends (it assumes half a second):
            # with so short a target duration Dask asks for one worker per trial waiting or
            # running, up to the maximum, at once, not for one worker per 5 s of estimated work.
            cluster.adapt(minimum=0, maximum=workers, target_duration="1ms")
            client = Client(cluster)
        except BaseException:
            close_cluster(None, cluster, log)
            raise
        log(f"SLURM: up to {workers} Dask worker(s), {int(slurm.get('processes', 1))} per job; trials "
            f"start as the jobs start (their output: {logs or 'the current directory'})")
        return client, cluster, SlurmWatch(jobs, logs, log)
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                           dashboard_address=NO_DASHBOARD["dashboard_address"],
                           scheduler_kwargs={"dashboard": False}, local_directory=scratch)
    log(f"Dask LocalCluster: {workers} worker process(es), one trial each at a time")
    return Client(cluster), cluster, None


def slurm_cluster(cfg: dict, threads: int, *, sweep_dir: Path | None = None,
                  jobs: SlurmJobs | None = None):
    """A dask-jobqueue ``SLURMCluster`` from the ``[slurm]`` table.

    Every key is passed to ``SLURMCluster`` (``queue``, ``account``, ``walltime``, ``memory``,
    ``interface``, ``job_extra_directives``, ``job_script_prologue``, ``python``, ...), with
    these defaults so that one Dask worker runs one trial and the job reserves its cores:

    - ``processes`` (default 1): Dask workers, hence trials at once, per SLURM job;
    - ``cores`` = ``processes``: one Dask thread per worker;
    - ``job_cpu`` = ``processes`` × threads per trial (``#SBATCH --cpus-per-task``);
    - ``NUMBA_NUM_THREADS`` exported first in ``job_script_prologue``;
    - ``scheduler_options``: no dashboard (:data:`NO_DASHBOARD`) unless they ask for one with
      ``dashboard`` or ``dashboard_address``; their other keys are added to that;
    - with ``sweep_dir``: ``job_name`` = ``resonet-<name of sweep_dir>``; ``local_directory``
      (the Dask workers' scratch space) =
      ``<sweep_dir>/dask-scratch``, and the jobs' stdout and stderr in
      ``<sweep_dir>/logs/slurm/<job name>-<job id>.out|.err`` (unless ``log_directory`` is given;
      as ``#SBATCH -o/-e`` lines, so that making the cluster creates no directory: a dry run
      shows the script and touches nothing).

    ``jobs``: record the jobs submitted and the submissions that failed (:class:`SlurmJobs`).
    """
    import_jobqueue()
    from dask_jobqueue import SLURMCluster

    check_executor("slurm", cfg)
    kw = dict(cfg)
    kw.setdefault("processes", 1)
    processes = int(kw["processes"])
    kw.setdefault("cores", processes)
    kw.setdefault("job_cpu", processes * threads)
    kw["job_script_prologue"] = [f"export NUMBA_NUM_THREADS={threads}",
                                 *list(kw.get("job_script_prologue") or [])]
    options = kw.get("scheduler_options") or {}
    if not isinstance(options, dict):
        raise ConfigError(f"[slurm] scheduler_options must be a table, got {options!r}")
    kw["scheduler_options"] = {**NO_DASHBOARD, **options} \
        if not options.get("dashboard") and not options.get("dashboard_address") else options
    if sweep_dir is not None:
        kw.setdefault("job_name", f"resonet-{Path(sweep_dir).name}")  # what squeue shows
        kw.setdefault("local_directory", str(Path(sweep_dir) / SCRATCH))
        if not kw.get("log_directory"):
            logs = Path(sweep_dir) / SLURM_LOGS
            kw["job_extra_directives"] = [f"-o {logs}/%x-%j.out", f"-e {logs}/%x-%j.err",
                                          *list(kw.get("job_extra_directives") or [])]
    if jobs is not None:
        kw["job_cls"] = _job_class(jobs)
    try:
        return SLURMCluster(**kw)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"[slurm]: {' '.join(str(exc).split())}") from None


def job_cpus(cfg: dict, threads: int) -> int:
    """The CPUs one SLURM job reserves (``--cpus-per-task``), as :func:`slurm_cluster` sets them."""
    return int(cfg.get("job_cpu") or int(cfg.get("processes", 1)) * threads)


class SlurmJobs:
    """The SLURM jobs of the sweep's cluster: submitted (job id -> Dask worker name, in order)
    and the outcome of the last submission (None, or the error if it failed). Written on the
    cluster's event loop, read by the driver."""

    def __init__(self):
        self.lock = threading.Lock()
        self.submitted: dict[str, str] = {}
        self.last_error: str | None = None

    def started(self, job_id: str, name: str) -> None:
        with self.lock:
            self.submitted[str(job_id)] = name
            self.last_error = None

    def failed(self, message: str) -> None:
        with self.lock:
            self.last_error = message

    def snapshot(self) -> tuple[dict[str, str], str | None]:
        with self.lock:
            return dict(self.submitted), self.last_error


def _job_class(jobs: SlurmJobs):
    from dask_jobqueue.slurm import SLURMJob
    from distributed.core import Status

    class SweepSLURMJob(SLURMJob):
        """A SLURMJob that reports a failed ``sbatch`` to the driver instead of raising it on the
        cluster's event loop (where it is only logged as a traceback, and the driver would wait
        for a worker that never comes, then fail in ``close()`` on the job left half-started)."""

        async def start(self):
            try:
                await super().start()
            except Exception as exc:
                jobs.failed(submit_error(exc))
                self.job_id = None  # nothing to scancel
                self.status = Status.running  # what the cluster expects of a started job
            else:
                jobs.started(str(self.job_id), self.name)

        async def close(self):
            await super().close()
            self.status = Status.closed

    return SweepSLURMJob


def submit_error(exc: BaseException) -> str:
    """One line from a failed job submission: sbatch's own messages when it ran."""
    text = str(exc)
    if isinstance(exc, RuntimeError) and "stderr:" in text:
        code = re.search(r"Exit code: (-?\d+)", text)
        lines = [" ".join(line.split()) for line in text.split("stderr:", 1)[1].splitlines()]
        lines = [line for line in lines if line]
        return (f"sbatch failed (exit {code.group(1) if code else '?'}): "
                + ("; ".join(lines) if lines else "no message"))
    return f"cannot run sbatch: {type(exc).__name__}: {' '.join(text.split())}"


def _worker_names(client) -> list[str] | None:
    """Names of the Dask workers connected now (None if the scheduler did not answer)."""
    try:
        info = client.scheduler_info(n_workers=-1)
    except TypeError:  # distributed before 2025: no n_workers, every worker is listed
        info = client.scheduler_info()
    except Exception:
        return None
    return [str(w.get("name")) for w in info.get("workers", {}).values()]


class SchedulerWatch:
    """An existing Dask cluster: fails once the client has lost its scheduler; says so when no
    worker has joined after :data:`WAIT_NOTE_S` seconds."""

    def __init__(self, address: str, log: Callable):
        self.address, self.log = address, log
        self.t0 = time.monotonic()
        self.noted = False
        self.last = 0.0

    def check(self, client) -> None:
        if client.status not in ("running", "newly-created"):
            raise ClusterFailure(f"lost the connection to the Dask scheduler at {self.address} "
                                 f"(client {client.status}); once the cluster is back, re-run the "
                                 "same command: finished trials are kept, the others resume")
        now = time.monotonic()
        if self.noted or now - self.t0 < WAIT_NOTE_S or now - self.last < 1.0:
            return
        self.last = now
        if _worker_names(client) == []:
            self.noted = True
            self.log(f"no Dask worker has joined {self.address} yet; waiting (start workers with "
                     f"`dask worker {self.address} --nthreads 1`, or Ctrl-C)")


class SlurmWatch:
    """The sweep's SLURM cluster: fails when no Dask worker is connected and either the last job
    submission failed or the last job submitted has ended before its worker joined, with no job
    of the sweep queued or running (nothing would ever run the trials). A submission that fails
    while workers run costs a worker, not the sweep."""

    def __init__(self, jobs: SlurmJobs, log_dir: Path | None, log: Callable):
        self.jobs, self.log_dir, self.log = jobs, log_dir, log
        self.t0 = time.monotonic()
        self.joined: set[str] = set()  # Dask worker names that have connected at some time
        self.last = self.last_squeue = 0.0
        self.noted = False

    def check(self, client) -> None:
        now = time.monotonic()
        if now - self.last < 1.0:
            return
        self.last = now
        names = _worker_names(client)
        if names:
            self.joined.update(names)
            return
        submitted, error = self.jobs.snapshot()
        if error and names is not None:
            raise ClusterFailure(f"SLURM refused the job: {error}; check the [slurm] table of "
                                 "the sweep file (queue, account, memory, walltime, "
                                 "job_extra_directives)")
        if not submitted or now - self.last_squeue < SQUEUE_EVERY_S:
            return
        self.last_squeue = now
        states = squeue_states(list(submitted))
        if states is None:  # squeue did not answer this time; ask again later
            return
        alive = [j for j in submitted if states.get(j, "") in SLURM_ALIVE]
        if alive:
            if not self.noted and now - self.t0 > WAIT_NOTE_S:
                self.noted = True
                self.log(f"SLURM: waiting for job(s) {', '.join(alive)} to start a Dask worker "
                         f"(squeue -j {','.join(alive)})")
            return
        last_id, last_name = list(submitted.items())[-1]
        if any(n == last_name or n.startswith(last_name + "-") for n in self.joined):
            return  # its workers ran and left (e.g. walltime): the cluster submits the next job
        state = states.get(last_id) or "gone from squeue"
        raise ClusterFailure(f"SLURM job {last_id} ended ({state}) before its Dask worker joined the "
                             f"scheduler{self._job_error(last_id)}")

    def _job_error(self, job_id: str) -> str:
        if self.log_dir is None:
            return ""
        files = sorted(Path(self.log_dir).glob(f"*-{job_id}*.err"))
        lines = []
        for f in files:
            with contextlib.suppress(OSError):
                lines += [" ".join(x.split()) for x in f.read_text(errors="replace").splitlines()]
        lines = [x for x in lines if x]
        if not lines:
            return f"; its output is in {self.log_dir}" if files else ""
        return f"; its last message: {lines[-1][:300]} ({files[0]})"


def squeue_states(job_ids: list[str]) -> dict[str, str] | None:
    """``job id -> state`` of those jobs squeue still knows (ended jobs drop out after a while);
    None if squeue failed."""
    try:
        r = subprocess.run(["squeue", "-h", "--states=all", "-j", ",".join(job_ids), "-o", "%i %T"],
                           capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if r.returncode != 0:
        # squeue -j with only jobs it no longer knows: "Invalid job id specified", exit 1
        return {} if "Invalid job id" in r.stderr else None
    states = {}
    for line in r.stdout.splitlines():
        parts = line.split()
        if len(parts) == 2:
            states[parts[0]] = parts[1]
    return states


# --------------------------------------------------------------------------------------------
# running on a Dask cluster
# --------------------------------------------------------------------------------------------

def _failed(job_id: str, error: str) -> dict:
    return {"id": job_id, "status": "failed", "action": None, "exit_code": None, "error": error,
            "wall_s": None, "aside": None, "host": None, "summary": None, "final": None, "notes": []}


def _wait_for(futures: list, client, watch, on_done: Callable) -> None:
    """Call ``on_done(future)`` for each future as it ends; between them ``watch.check(client)``
    (which raises :class:`ClusterFailure` when the cluster cannot finish them)."""
    from distributed import as_completed as dask_as_completed

    pending = dask_as_completed(futures)
    while not pending.is_empty():
        batch = pending.next_batch(block=False)
        for fut in batch:
            if fut.status == "cancelled" and watch is not None:
                watch.check(client)  # cancelled by a lost scheduler connection: say so
            on_done(fut)
        if not batch:
            if watch is not None:
                watch.check(client)
            time.sleep(POLL_S)


def run_dask(jobs: list[dict], client, resolved: list[dict], on_result: Callable, log: Callable,
             watch=None, owned: bool = False) -> None:
    """Run ``jobs`` as Dask tasks. ``watch``: see :func:`_wait_for`. ``owned``: the sweep
    started this cluster, so Ctrl-C stops the trials running on it."""
    if not jobs:
        return
    reported: set[str] = set()
    futures: list = []

    def report(res: dict) -> None:
        reported.add(res["id"])
        on_result(res)

    try:
        if any(s.get("backend", "cpu") == "cpu" for s in resolved):
            # one task compiles (or loads) the kernels before the trials fan out; on a cluster
            # with a shared filesystem its cache is what every other worker then loads
            log("compiling the CPU kernels once on a worker before the trials start ...")
            warm = client.submit(warm_up, resolved, pure=False, key=f"warm-up-{uuid.uuid4().hex[:8]}")
            _wait_for([warm], client, watch, lambda fut: fut.result())
        tag = uuid.uuid4().hex[:8]
        futures = [client.submit(run_trial, job, pure=False, key=f"{job['id']}-{tag}") for job in jobs]
        by_key = {f.key: job for f, job in zip(futures, jobs)}
        _wait_for(futures, client, watch, lambda fut: report(_result(fut, by_key[fut.key])))
    except ClusterFailure as exc:
        log(f"error: {exc}", err=True)
        _cancel(client, futures)
        for job in jobs:
            if job["id"] not in reported:
                report(_failed(job["id"], str(exc)))
    except BaseException:
        if owned and futures:
            _stop_trials(client, futures, jobs, reported, report, log)
        _cancel(client, futures)
        raise


def _result(fut, job: dict) -> dict:
    try:
        return fut.result()
    except BaseException as exc:
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        return _failed(job["id"], f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}")


def _stop_trials(client, futures: list, jobs: list[dict], reported: set, report: Callable,
                 log: Callable) -> None:
    """Ctrl-C on a cluster the sweep started: every worker stops its trial processes (SIGTERM:
    they write ``last.npz``) and starts no other; record how each trial ended."""
    log("stopping the running trials (each writes its checkpoint) ...")
    # in a thread: a worker that does not answer must not keep the driver from closing
    stopper = threading.Thread(target=_run_quietly, args=(client, interrupt_live), daemon=True)
    stopper.start()
    stopper.join(timeout=30)
    from distributed import wait

    by_key = {f.key: job for f, job in zip(futures, jobs)}
    left = [f for f in futures if by_key[f.key]["id"] not in reported]
    with contextlib.suppress(Exception):
        wait(left, timeout=STOP_GRACE_S)  # a trial stops after its current batch
    for fut in left:
        if fut.status in ("finished", "error"):
            report(_result(fut, by_key[fut.key]))


def _run_quietly(client, func) -> None:
    with contextlib.suppress(Exception), quiet_dask():
        client.run(func, on_error="ignore")


def _cancel(client, futures: list) -> None:
    with contextlib.suppress(Exception), quiet_dask():
        if futures:
            client.cancel(futures)


@contextlib.contextmanager
def dask_warnings_only():
    """Dask's loggers at WARNING while the driver uses a cluster: their INFO lines (with
    tracebacks of expected events, such as a closed connection) would drown the sweep's own
    progress lines."""
    prefixes = ("distributed", "tornado", "dask_jobqueue")
    loggers = [logging.getLogger(n) for n in prefixes]
    loggers += [logging.getLogger(n) for n in list(logging.root.manager.loggerDict)
                if n.startswith(tuple(p + "." for p in prefixes))]
    old = [lg.level for lg in loggers]
    for lg in loggers:
        if lg.getEffectiveLevel() < logging.WARNING:
            lg.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for lg, level in zip(loggers, old):
            lg.setLevel(level)


@contextlib.contextmanager
def quiet_dask():
    """Dask's loggers silenced: while a cluster is closed after an error or an interrupt they
    print tracebacks of connections that fail, which are expected then and hide the sweep's own
    one-line message."""
    # logging.disable, not the levels of Dask's loggers: distributed sets levels on its child
    # loggers (distributed.client, ...), which a level on the parent does not override. Counted:
    # the driver's thread and the one stopping the trials may overlap.
    with _QUIET["lock"]:
        if _QUIET["depth"] == 0:
            _QUIET["before"] = logging.root.manager.disable
            logging.disable(logging.CRITICAL)
        _QUIET["depth"] += 1
    try:
        yield
    finally:
        with _QUIET["lock"]:
            _QUIET["depth"] -= 1
            if _QUIET["depth"] == 0:
                logging.disable(_QUIET["before"])


_QUIET: dict[str, Any] = {"lock": threading.Lock(), "depth": 0, "before": logging.NOTSET}


def close_cluster(client, cluster, log: Callable, scratch: Path | None = None,
                  jobs: SlurmJobs | None = None) -> None:
    """Close the client and the cluster the sweep started (its SLURM jobs are cancelled), never
    raising: a failure to close must not hide the sweep's own error or interrupt. Then remove
    the workers' scratch space."""
    with quiet_dask():
        if client is not None:
            try:
                client.close(timeout=10)
            except Exception:
                pass
        if cluster is not None:
            try:
                cluster.close(timeout=60)
            except Exception as exc:
                left = ""
                if jobs is not None:
                    ids = list(jobs.snapshot()[0])
                    left = f"; cancel its jobs with scancel {' '.join(ids)}" if ids else ""
                log(f"warning: closing the Dask cluster failed ({type(exc).__name__}: "
                    f"{' '.join(str(exc).split())[:200]}){left}", err=True)
    if scratch is not None:
        shutil.rmtree(scratch, ignore_errors=True)
