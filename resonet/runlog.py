"""What a run writes besides its checkpoints: the log, JSON files, the metrics tables, the
versions of the software. The run directory itself (its file names, creation, lock, identity) is
:class:`resonet.rundir.RunDir`.

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
from pathlib import Path

from .checkpoint import atomic_write_text
from .errors import CheckpointError

METRIC_COLUMNS = (
    "epoch", "train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc",
    "test_acc_labelled", "val_acc_labelled", "test_sops", "test_sops_per_step", "lr",
    "epoch_seconds", "train_samples_per_s",
)


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


def metrics_csv(history: list[dict]) -> str:
    """The history as metrics.csv (one row per evaluated epoch, :data:`METRIC_COLUMNS`)."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=METRIC_COLUMNS, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for row in history:
        w.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in METRIC_COLUMNS})
    return buf.getvalue()


def metrics_jsonl(history: list[dict]) -> str:
    """The history as metrics.jsonl (one JSON object per line)."""
    return "".join(json.dumps(r, default=_json_default) + "\n" for r in history)


class Log:
    """Print to stdout and append to ``train.log`` (flushed per line)."""

    def __init__(self, path: Path | None = None, quiet: bool = False):
        self.fh = open(path, "a", encoding="utf-8") if path else None
        self.quiet = quiet

    def attach(self, path: Path) -> None:
        if self.fh is None:
            self.fh = open(path, "a", encoding="utf-8")

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
