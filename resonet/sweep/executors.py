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

The Dask executors need ``pip install -e ".[cluster]"`` (dask, distributed, dask-jobqueue); the
sweep directory must be on a filesystem every worker sees at the same path.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed

from ..errors import ConfigError
from .trial import allow_starts, interrupt_live, run_trial, warm_up


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


ALLOWED_FAILURES = 10


def dask_client(executor: str, scheduler: str | None, workers: int, threads: int, slurm: dict,
                log: Callable):
    """A ``distributed.Client`` (and the cluster this sweep started, or None)."""
    import dask
    from distributed import Client, LocalCluster  # check_executor made sure it is installed

    if scheduler:
        log(f"attaching to the Dask scheduler at {scheduler}")
        try:
            return Client(scheduler, timeout="30s"), None
        except OSError as exc:
            raise ConfigError(f"--scheduler {scheduler}: cannot connect ({exc})") from None
    # Our own scheduler: a trial whose worker dies resumes from its checkpoint, so a retry is
    # cheap; allow more of them than Dask's default 3 (a long trial may outlive several jobs).
    dask.config.set({"distributed.scheduler.allowed-failures": ALLOWED_FAILURES})
    if executor == "slurm":
        cluster = slurm_cluster(slurm, threads)
        # adapt, not scale: jobs that end (walltime) are replaced while trials remain
        cluster.adapt(minimum=0, maximum=workers)
        log(f"SLURM: up to {workers} Dask worker(s), {int(slurm.get('processes', 1))} per job; trials "
            "start as the jobs start")
    else:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               dashboard_address=None)
        log(f"Dask LocalCluster: {workers} worker process(es), one trial each at a time")
    return Client(cluster), cluster


def slurm_cluster(cfg: dict, threads: int):
    """A dask-jobqueue ``SLURMCluster`` from the ``[slurm]`` table.

    Every key is passed to ``SLURMCluster`` (``queue``, ``account``, ``walltime``, ``memory``,
    ``job_extra_directives``, ``job_script_prologue``, ``python``, ...), with these defaults
    so that one Dask worker runs one trial and the job reserves its cores:

    - ``processes`` (default 1): Dask workers, hence trials at once, per SLURM job;
    - ``cores`` = ``processes``: one Dask thread per worker;
    - ``job_cpu`` = ``processes`` × threads per trial (``#SBATCH --cpus-per-task``);
    - ``NUMBA_NUM_THREADS`` exported first in ``job_script_prologue``.
    """
    from dask_jobqueue import SLURMCluster

    check_executor("slurm", cfg)
    kw = dict(cfg)
    kw.setdefault("processes", 1)
    processes = int(kw["processes"])
    kw.setdefault("cores", processes)
    kw.setdefault("job_cpu", processes * threads)
    kw["job_script_prologue"] = [f"export NUMBA_NUM_THREADS={threads}",
                                 *list(kw.get("job_script_prologue") or [])]
    kw.setdefault("scheduler_options", {"dashboard_address": None})
    try:
        return SLURMCluster(**kw)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"[slurm]: {exc}") from None


def check_executor(executor: str, slurm: dict) -> None:
    """Fail before anything starts if the executor's packages or settings are missing."""
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
        import dask_jobqueue  # noqa: F401
    except ImportError:
        raise ConfigError('--executor slurm needs dask-jobqueue: pip install -e ".[cluster]"') from None
    if "memory" not in slurm:
        raise ConfigError('[slurm] needs memory = "..." (per SLURM job, e.g. "8GB")')
    if not isinstance(slurm.get("processes", 1), int) or slurm.get("processes", 1) < 1:
        raise ConfigError(f"[slurm] processes = {slurm['processes']!r} must be an integer >= 1")


def run_dask(jobs: list[dict], client, resolved: list[dict], on_result: Callable, log: Callable) -> None:
    if not jobs:
        return
    from distributed import as_completed as dask_as_completed

    if any(s.get("backend", "cpu") == "cpu" for s in resolved):
        # one task compiles (or loads) the kernels before the trials fan out; on a cluster with a
        # shared filesystem its cache is what every other worker then loads
        log("compiling the CPU kernels once on a worker before the trials start ...")
        client.submit(warm_up, resolved, pure=False, key=f"warm-up-{uuid.uuid4().hex[:8]}").result()
    tag = uuid.uuid4().hex[:8]
    futures = [client.submit(run_trial, job, pure=False, key=f"{job['id']}-{tag}") for job in jobs]
    by_key = {f.key: job for f, job in zip(futures, jobs)}
    try:
        for fut in dask_as_completed(futures):
            try:
                res = fut.result()
            except Exception as exc:  # e.g. KilledWorker: the trial's workers kept dying
                job = by_key[fut.key]
                res = {"id": job["id"], "status": "failed", "action": None, "exit_code": None,
                       "error": f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}",
                       "wall_s": None, "aside": None, "host": None, "summary": None, "final": None,
                       "notes": []}
            on_result(res)
    except BaseException:
        client.cancel(futures)
        raise
