"""Run directories: creation without overwriting, config.json, metrics files and the log.

A run directory holds::

    config.json      every setting, the seed, the data source (and whether it is synthetic), versions
    metrics.csv      one row per evaluated epoch (also metrics.jsonl, one JSON object per line)
    train.log        everything printed during the run
    init.npz         the parameters before training
    last.npz         the latest training state (resume point), written atomically
    best.npz         the parameters with the lowest validation loss so far, written atomically
    *.png            figures (learning curves, raster, omega-b' before/after)

The metrics files are rewritten atomically from the in-memory history (which is also stored in
``last.npz``), so after a crash and ``--resume`` they never hold duplicated or partial rows.
"""

from __future__ import annotations

import csv
import io
import json
import os
import platform
import sys
import time
from pathlib import Path

from .checkpoint import atomic_write_text
from .errors import CheckpointError

METRIC_COLUMNS = (
    "epoch", "train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc",
    "test_acc_labelled", "val_acc_labelled", "test_sops", "test_sops_per_step", "lr",
    "epoch_seconds", "train_samples_per_s",
)


def default_run_dir(root: str | os.PathLike, task: str, neuron: str) -> Path:
    """Create ``root/<task>-<neuron>-<time>`` (``-2``, ``-3``, ... for runs started in the same
    second) exclusively and return it: two processes never get the same directory."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = Path(root) / f"{task}-{neuron}-{stamp}"
    for k in range(1, 10_000):
        path = base if k == 1 else base.with_name(f"{base.name}-{k}")
        try:
            return create_run_dir(path)
        except CheckpointError:
            if not path.exists():  # not a name clash: a real error (permissions, disk)
                raise
    raise CheckpointError(f"cannot find a free run directory name like {base}")


def create_run_dir(path: str | os.PathLike) -> Path:
    """Create a fresh run directory; refuse one that exists with anything in it (never
    overwrite a run). Ownership is decided by creating ``train.log`` in it with O_EXCL: of any
    number of processes given the same (new or empty) directory, exactly one gets it."""
    path = Path(path)
    refuse = (f"{path} already exists and is not empty; choose another --out, or continue it with "
              f"--resume {path}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.mkdir()
    except FileExistsError:
        if not path.is_dir() or any(path.iterdir()):
            raise CheckpointError(refuse) from None
    except OSError as exc:
        raise CheckpointError(f"cannot create run directory {path}: {exc.strerror}") from None
    try:
        os.close(os.open(path / "train.log", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
    except FileExistsError:
        raise CheckpointError(refuse) from None
    except OSError as exc:
        raise CheckpointError(f"cannot create run directory {path}: {exc.strerror}") from None
    return path


def lock_run_dir(path: str | os.PathLike):
    """Claim the run directory for this process: an exclusive, non-blocking ``flock`` on its
    ``train.log``, held as long as the returned file stays open (closing it, or the process
    ending in any way, releases it). A second process training in the same directory (two
    ``--resume`` at once) gets a CheckpointError instead of interleaving checkpoints.

    The lock is on a file of the run directory itself, so it never waits on the sweep's trial
    locks (``<sweep>/locks/<id>.lock``, :mod:`resonet.sweep.trial`): a sweep trial holds its own
    lock and its ``resonet.train`` process takes this one, in that order, and nothing waits on
    this one.
    """
    path = Path(path)
    fh = open(path / "train.log", "a", encoding="utf-8")  # noqa: SIM115 (held while training)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: no lock
        return fh
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.close()
        raise CheckpointError(f"{path} is in use: another resonet.train process is training in it "
                              "right now; wait for it to end (or stop it) before resuming") from None
    except OSError:  # pragma: no cover - a file system without locks: go on without one
        pass
    return fh


def versions() -> dict:
    import numba
    import numpy

    from ._version import __version__

    return {"resonet": __version__, "python": sys.version.split()[0], "numpy": numpy.__version__,
            "numba": numba.__version__, "platform": platform.platform(),
            "machine": platform.machine(), "cpu_count": os.cpu_count()}


def unique_path(path: str | os.PathLike) -> Path:
    """``path`` if it does not exist, else the first free ``stem-2.ext``, ``stem-3.ext``, …"""
    p = Path(path)
    if not p.exists():
        return p
    k = 2
    while True:
        q = p.with_name(f"{p.stem}-{k}{p.suffix}")
        if not q.exists():
            return q
        k += 1


def write_json(path: str | os.PathLike, obj, *, unique: bool = False) -> Path:
    """Write ``obj`` as indented JSON, atomically (NumPy scalars and arrays and paths converted).
    ``unique``: never replace an existing file, write to :func:`unique_path` instead. Returns the
    path written."""
    p = unique_path(path) if unique else Path(path)
    atomic_write_text(p, json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n")
    return p


def _json_default(o):
    try:
        import numpy as np

        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
    except ImportError:  # pragma: no cover
        pass
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def write_metrics(run_dir: Path, history: list[dict]) -> None:
    """Rewrite metrics.csv and metrics.jsonl from the history (atomically)."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=METRIC_COLUMNS, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for row in history:
        w.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in METRIC_COLUMNS})
    atomic_write_text(run_dir / "metrics.csv", buf.getvalue())
    atomic_write_text(run_dir / "metrics.jsonl",
                      "".join(json.dumps(r, default=_json_default) + "\n" for r in history))


class Log:
    """Print to stdout and append to ``train.log`` (flushed per line)."""

    def __init__(self, path: Path | None = None, quiet: bool = False):
        self.fh = open(path, "a", encoding="utf-8") if path else None  # noqa: SIM115
        self.quiet = quiet

    def attach(self, path: Path) -> None:
        if self.fh is None:
            self.fh = open(path, "a", encoding="utf-8")  # noqa: SIM115

    def __call__(self, msg: str = "") -> None:
        if not self.quiet:
            print(msg, flush=True)
        if self.fh:
            try:
                self.fh.write(msg + "\n")
                self.fh.flush()
            except OSError as exc:  # e.g. a full disk: one error, then the log goes to stdout only
                name = self.fh.name
                self.close()
                raise CheckpointError(f"{name}: cannot write the log: {exc.strerror or exc}") from exc

    def close(self) -> None:
        if self.fh:
            fh, self.fh = self.fh, None
            try:
                fh.close()
            except OSError:  # the unflushed tail of a log on a full disk: nothing more to do
                pass
