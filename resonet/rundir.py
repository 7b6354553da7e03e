"""The run directory as one object (:class:`RunDir`): its file names, its creation without
overwriting, its lock, the identity a checkpoint records and the check that a resume is
allowed, and the readers of what a run left. Training, the Python API, sweeps, the analyses and
the benchmarks all go through it.

A run directory holds::

    config.json      every setting, the seed, the data source (and whether it is synthetic), versions
    train.log        everything printed during the run (its lock is on this file)
    init.npz         the parameters before training
    last.npz         the latest training state (resume point), written atomically
    best.npz         the parameters with the lowest validation loss so far, written atomically
    summary.json     the test scores of best.npz, written last: the run is finished
    metrics.csv      one row per evaluated epoch (also metrics.jsonl, one JSON object per line)
    prune_mask.npz   the removed recurrent weights (--prune-recurrent only)
    data_split.npz   the train/validation split (resonet.data.TaskData.save)
    *.png            figures: learning curves, a spike raster, ω–b before/after

What it holds decides what can be done with it (:meth:`RunDir.state`): a complete
``summary.json`` -- finished; ``last.npz`` -- resumable; empty or absent -- a run can start
there; anything else (e.g. killed before its first checkpoint) is kept aside by a sweep.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import IO, Any

from .checkpoint import Checkpoint, atomic_write_text, load_checkpoint, save_checkpoint
from .errors import CheckpointError


class RunDir:
    """A run directory at ``path`` (it need not exist yet); see the module docstring."""

    CONFIG = "config.json"
    LOG = "train.log"
    INIT = "init.npz"
    LAST = "last.npz"
    BEST = "best.npz"
    SUMMARY = "summary.json"
    METRICS_CSV = "metrics.csv"
    METRICS_JSONL = "metrics.jsonl"
    MASK = "prune_mask.npz"
    SPLIT = "data_split.npz"
    CURVES = "learning_curves.png"
    RASTER = "raster.png"
    OMEGA_B = "omega_b.png"

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    def __fspath__(self) -> str:
        return os.fspath(self.path)

    def __truediv__(self, name: str) -> Path:
        return self.path / name

    # -- the files ---------------------------------------------------------------------------
    @property
    def config(self) -> Path:
        return self.path / self.CONFIG

    @property
    def log(self) -> Path:
        return self.path / self.LOG

    @property
    def init(self) -> Path:
        return self.path / self.INIT

    @property
    def last(self) -> Path:
        return self.path / self.LAST

    @property
    def best(self) -> Path:
        return self.path / self.BEST

    @property
    def summary_file(self) -> Path:
        return self.path / self.SUMMARY

    @property
    def metrics_jsonl(self) -> Path:
        return self.path / self.METRICS_JSONL

    @property
    def mask(self) -> Path:
        return self.path / self.MASK

    # -- creating and locking ----------------------------------------------------------------
    @classmethod
    def create(cls, path: str | os.PathLike) -> RunDir:
        """Create a fresh run directory; refuse one that exists with anything in it (never
        overwrite a run). Ownership is decided by creating ``train.log`` in it with O_EXCL: of
        any number of processes given the same (new or empty) directory, exactly one gets it."""
        path = Path(path)
        refuse = (f"{path} already exists and is not empty; choose another --out, or continue it "
                  f"with --resume {path}")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.mkdir()
        except FileExistsError:
            if not path.is_dir() or any(path.iterdir()):
                raise CheckpointError(refuse) from None
        except OSError as exc:
            raise CheckpointError(f"cannot create run directory {path}: {exc.strerror}") from None
        try:
            os.close(os.open(path / cls.LOG, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
        except FileExistsError:
            raise CheckpointError(refuse) from None
        except OSError as exc:
            raise CheckpointError(f"cannot create run directory {path}: {exc.strerror}") from None
        return cls(path)

    @classmethod
    def create_default(cls, root: str | os.PathLike, task: str, neuron: str) -> RunDir:
        """Create ``root/<task>-<neuron>-<time>`` (``-2``, ``-3``, ... for runs started in the
        same second) exclusively: two processes never get the same directory."""
        stamp = time.strftime("%Y%m%d-%H%M%S")
        base = Path(root) / f"{task}-{neuron}-{stamp}"
        for k in range(1, 10_000):
            path = base if k == 1 else base.with_name(f"{base.name}-{k}")
            try:
                return cls.create(path)
            except CheckpointError:
                if not path.exists():  # not a name clash: a real error (permissions, disk)
                    raise
        raise CheckpointError(f"cannot find a free run directory name like {base}")

    def lock(self) -> IO[str]:
        """Claim the run directory for this process: an exclusive, non-blocking ``flock`` on its
        ``train.log``, held as long as the returned file stays open (closing it, or the process
        ending in any way, releases it). A second process training in the same directory (two
        ``--resume`` at once) gets a CheckpointError instead of interleaving checkpoints.

        The lock is on a file of the run directory itself, so it never waits on the sweep's
        trial locks (``<sweep>/locks/<id>.lock``, :mod:`resonet.sweep.trial`): a sweep trial
        holds its own lock and its ``resonet.train`` process takes this one, in that order, and
        nothing waits on this one.
        """
        fh = open(self.log, "a", encoding="utf-8")  # held while training
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX: no lock
            return fh
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            raise CheckpointError(f"{self.path} is in use: another resonet.train process is "
                                  "training in it right now; wait for it to end (or stop it) "
                                  "before resuming") from None
        except OSError:  # pragma: no cover - a file system without locks: go on without one
            pass
        return fh

    # -- what the run left ---------------------------------------------------------------------
    def read_config(self) -> dict:
        """``config.json``; CheckpointError naming it if it is missing or unreadable."""
        if not self.config.is_file():
            raise CheckpointError(f"{self.config}: not found; is {self.path} a resonet run "
                                  "directory?")
        try:
            cfg = json.loads(self.config.read_text())
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise CheckpointError(f"{self.config}: unreadable ({exc})") from None
        if not isinstance(cfg, dict):
            raise CheckpointError(f"{self.config}: expected a JSON object")
        return cfg

    def run_settings(self) -> dict:
        """The ``"settings"`` object of ``config.json`` (CheckpointError if there is none)."""
        settings = self.read_config().get("settings")
        if not isinstance(settings, dict):
            raise CheckpointError(f"{self.config}: no 'settings' object")
        return settings

    def settings(self):
        """The run's :class:`resonet.settings.Settings`, every value type-checked."""
        from .settings import Settings

        return Settings.from_dict(self.run_settings(), str(self.config))

    def saved_threads(self) -> int | None:
        """The ``threads`` setting the run was started with (None if unset or unreadable)."""
        try:
            t = self.run_settings().get("threads")
            return int(t) if t else None
        except (CheckpointError, ValueError, TypeError):
            return None

    def summary(self) -> dict | None:
        """``summary.json`` if it is complete (written last, atomically, by a finished run)."""
        try:
            s = json.loads(self.summary_file.read_text())
        except (OSError, ValueError):
            return None
        acc = s.get("test_acc") if isinstance(s, dict) else None
        if not isinstance(acc, (int, float)) or not math.isfinite(acc) or "best_epoch" not in s:
            return None
        return s

    def history(self) -> list[dict]:
        """The rows of ``metrics.jsonl`` (one per evaluated epoch) up to the first unreadable
        one; [] if absent."""
        rows: list[dict] = []
        try:
            text = self.metrics_jsonl.read_text()
        except OSError:
            return rows
        for line in text.splitlines():
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except ValueError:
                    break
        return rows

    def state(self) -> str:
        """'done', 'resume', 'start' (absent or empty) or 'aside' (see the module docstring)."""
        if not self.path.exists():
            return "start"
        if self.summary() is not None:
            return "done"
        if self.last.exists():
            return "resume"
        if self.path.is_dir() and not any(self.path.iterdir()):
            return "start"
        return "aside"

    def load(self, path: Path, expected_shapes: dict | None = None) -> Checkpoint:
        """One of the run's checkpoints (``self.best``, ``self.last``, ``self.init``)."""
        return load_checkpoint(path, expected_shapes)

    # -- writing -------------------------------------------------------------------------------
    def write_json(self, name: str, obj: Any) -> Path:
        from .runlog import write_json

        return write_json(self.path / name, obj)

    def write_metrics(self, history: list[dict]) -> None:
        """Rewrite metrics.csv and metrics.jsonl from the history (atomically)."""
        from .runlog import metrics_csv, metrics_jsonl

        atomic_write_text(self.path / self.METRICS_CSV, metrics_csv(history))
        atomic_write_text(self.metrics_jsonl, metrics_jsonl(history))

    def save(self, path: Path, params: dict, **kw: Any) -> None:
        """Write one of the run's checkpoints atomically (:func:`resonet.checkpoint.save_checkpoint`)."""
        save_checkpoint(path, params, **kw)

    # -- identity and resume -------------------------------------------------------------------
    @staticmethod
    def identity(s) -> dict:
        """What a checkpoint records about the run it belongs to (task, neuron, sizes, dtype, the
        settings and their hash): :meth:`check_resume` compares it with ``config.json``."""
        from .settings import RESUME_MAY_CHANGE

        settings = {k: v for k, v in s.to_dict().items() if k not in RESUME_MAY_CHANGE}
        return {"task": s.task, "neuron": s.neuron, "spec": s.spec, "dtype": s.dtype,
                "settings_hash": s.fingerprint(), "settings": settings}

    def check_resume(self, ck: Checkpoint, s) -> None:
        """Refuse to resume ``ck`` with settings ``s`` (read from ``config.json``) that are not
        the ones it was written with, naming what differs. Checkpoints of older versions lack
        some fields; those that are there are compared."""
        have = ck.meta
        want = json.loads(json.dumps(self.identity(s), default=str))
        diffs = _identity_diffs(have, want)
        if not diffs and "settings_hash" in have and have["settings_hash"] != want["settings_hash"]:
            diffs.append("the settings differ from those the checkpoint was written with")
        if diffs:
            raise CheckpointError(
                f"{self.config} does not match {ck.path}: {'; '.join(diffs)}. Was config.json "
                "edited? Restore it, or start a new run with the settings you want")


def _identity_diffs(have: dict, want: dict) -> list[str]:
    """The fields of a checkpoint's identity ``have`` that differ from ``want``."""
    diffs = []

    def compare(key, a, b):
        if a != b:
            diffs.append(f"{key} {a!r} in config.json, {b!r} in the checkpoint")

    for key in ("task", "neuron", "dtype"):
        if key in have:
            compare(key, want[key], have[key])
    old = have.get("settings")
    if isinstance(old, dict):
        for key in sorted(set(old) | set(want["settings"])):
            if key not in ("task", "neuron", "dtype", "spec", "preset"):
                compare(key, want["settings"].get(key), old.get(key))
    if isinstance(have.get("spec"), dict):
        for key in sorted(set(have["spec"]) | set(want["spec"])):
            if key != "neuron":
                compare(f"spec.{key}", want["spec"].get(key), have["spec"].get(key))
    return diffs
