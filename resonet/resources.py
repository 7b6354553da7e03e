"""The machine a run needs: threads and memory, checked before anything is created.

:func:`check_resources` refuses a run this machine cannot do: more ``--threads`` than numba may
use, or an estimated memory need (:func:`estimate_memory`) above the free memory. What a run
needs is partly the run's (parameters, optimizer state, input batches) and partly the engine's:
each backend declares its share (``estimate_memory`` of :class:`resonet.contract.Backend`:
gradients, BPTT tape, what it keeps per evaluated batch), and whether that share lives on a
device (``on_device``, ``free_device_memory``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ConfigError
from .settings import Settings


def usable_threads() -> int:
    """Threads numba may run (``NUMBA_NUM_THREADS``, default: the CPU cores)."""
    import numba

    return int(numba.config.NUMBA_NUM_THREADS)


def available_memory() -> int | None:
    """Bytes of memory free for a new process: MemAvailable (Linux), capped by the cgroup's
    limit in a container; the free physical pages elsewhere; None if unknown."""
    free = None
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    free = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        pass
    if free is None:
        try:
            free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            return None
    try:  # cgroup v2: the container's limit minus what it uses
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        used = int(Path("/sys/fs/cgroup/memory.current").read_text())
        if limit != "max":
            free = min(free, max(0, int(limit) - used))
    except (OSError, ValueError):
        pass
    return free


def _backend(s: Settings, backend: Any = None) -> Any:
    """``backend`` or the class of the settings' backend (what it declares; no GPU needed)."""
    if backend is not None:
        return backend
    from .backends import backend_class

    return backend_class(s.backend)


def estimate_memory(s: Settings, T: int | None = None, backend: Any = None) -> dict[str, int]:
    """Bytes a training run allocates at least, by what for (host and device together).

    - parameters: the float64 initialisation and the training copy, P·(8 + itemsize);
    - optimizer state: Adam/RAdam two moments, RMSprop one (P·itemsize each);
    - gradients and BPTT tape of a training batch: the engine's (``backend.estimate_memory``);
    - batches: the readouts of a training and an evaluation batch, their inputs where the
      engine takes them dense (an event task on an engine that ``accepts_events`` has none), and
      what the engine keeps per evaluated batch.

    ``T`` defaults to the task's sequence length. Shape letters as everywhere: T, B, I, H, C.
    """
    spec = s.network
    T = int(T or s.preset["T"])
    I, C = spec.n_in, spec.n_out
    B, Be = s.batch, s.eval_batch
    P = spec.n_params()
    item = np.dtype(s.dtype).itemsize
    be = _backend(s, backend)
    engine = be.estimate_memory(spec, T=T, batch=B, eval_batch=Be, dtype=s.dtype,
                                threads=s.threads or usable_threads())
    dense = not (_events(s) and be.accepts_events)
    return {"parameters": P * (8 + item),
            "optimizer state": (1 if s.optimizer == "rmsprop" else 2) * P * item,
            "gradients": engine["gradients"], "BPTT tape": engine["BPTT tape"],
            "batches": (T * (B + Be) * I * item if dense else 0) + T * (B + Be) * C * item
            + engine["batches"]}


def _events(s: Settings) -> bool:
    """Whether the run's samples are spike events: its preset records the task's input form
    (a run set up before it did: the registry's declaration of the task)."""
    if "events" in s.preset:
        return bool(s.preset["events"])
    from .tasks import get_task

    return get_task(s.task).events


def format_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} PiB"  # pragma: no cover


# the parts of estimate_memory that an engine on a device keeps on the host (the rest is there)
_HOST_PARTS = ("parameters", "optimizer state", "batches")


def check_resources(s: Settings, *, available: int | None = None, threads: int | None = None,
                    T: int | None = None, device_available: int | None = None,
                    backend: Any = None) -> None:
    """Refuse (ConfigError) a run this machine cannot do: more ``threads`` than numba may use,
    or an estimated memory need (:func:`estimate_memory`) above the free memory (for an engine
    on a device: host and device memory each). ``available``, ``device_available`` and
    ``threads`` default to this machine's; ``backend`` to the settings' backend's class."""
    if s.threads is not None:
        cores = usable_threads() if threads is None else threads
        if s.threads > cores:
            env = os.environ.get("NUMBA_NUM_THREADS")
            why = f" (NUMBA_NUM_THREADS={env})" if env else ""
            raise ConfigError(f"--threads {s.threads} is more than the {cores} CPU core(s) numba "
                              f"can use here{why}; use --threads {cores} or fewer")
    be = _backend(s, backend)
    est = estimate_memory(s, T, be)
    checks = [(est, available_memory() if available is None else available, "on this machine")]
    if be.on_device:
        host = {k: v for k, v in est.items() if k in _HOST_PARTS}
        device = {k: v for k, v in est.items() if k not in _HOST_PARTS}
        # the device holds the parameters and the optimizer state too, in the training dtype
        device["parameters"] = s.network.n_params() * np.dtype(s.dtype).itemsize
        device["optimizer state"] = est["optimizer state"]
        free_dev = be.free_device_memory() if device_available is None else device_available
        checks = [(host, checks[0][1], "on this machine"), (device, free_dev, "on the GPU")]
    for part, free, where in checks:
        _refuse_if_short(s, part, free, where, T)


def _refuse_if_short(s: Settings, part: dict, free: int | None, where: str, T: int | None) -> None:
    need = sum(part.values())
    if free is None or need <= free:
        return
    parts = ", ".join(f"{k} {format_bytes(v)}" for k, v in
                      sorted(part.items(), key=lambda kv: -kv[1]) if v)
    big = max(part, key=part.__getitem__)
    hint = "--batch" if big in ("BPTT tape", "batches") else "--hidden"
    raise ConfigError(
        f"this run needs at least {format_bytes(need)} of memory {where} (H={s.hidden}, "
        f"batch {s.batch}, T={T or s.preset['T']}, {s.dtype}, {s.backend} backend: {parts}), "
        f"more than the {format_bytes(free)} free {where}; use a smaller {hint}")
