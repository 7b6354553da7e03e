"""Checkpoints: atomic ``.npz`` files of parameters, optimizer state and training position.

Layout of a checkpoint (all arrays; strings as 0-d unicode arrays):

- ``param/<name>``      the parameters, keyed like :func:`resonet.network.init_params`
- ``optim/...``         the optimizer state (:meth:`resonet.optim.Optimizer.state_dict`)
- ``train/epoch``       completed training epochs when saved
- ``train/batch``       batches of the next epoch already done (0 at an epoch boundary)
- ``train/...``         running sums of the partial epoch, RNG states, etc. (see resonet.train)
- ``meta_json``         JSON: format version, spec, task, seed, time

Writes are atomic: the data goes to a temporary file in the same directory, is flushed and
fsync'ed, then renamed over the target (and the directory fsync'ed). A crash at any moment leaves
either the old or the new file, never a half-written one.
"""

from __future__ import annotations

import io
import json
import os
import secrets
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from .errors import CheckpointError

FORMAT_VERSION = 1


def new_temp_file(dest: str | os.PathLike, suffix: str = ".tmp") -> tuple[int, Path]:
    """Create a new, uniquely named temporary file beside ``dest`` and return ``(fd, path)``.

    Unlike ``tempfile.mkstemp`` (always mode 0600) the file gets the mode an ordinary new file
    would (0666 less the umask, usually 0644), so the file renamed over ``dest`` is readable
    like the rest of a run directory.
    """
    dest = Path(dest)
    while True:
        tmp = dest.with_name(f".{dest.name}.{os.getpid()}.{secrets.token_hex(4)}{suffix}")
        try:
            return os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY | getattr(os, "O_BINARY", 0),
                           0o666), tmp
        except FileExistsError:  # pragma: no cover - 32 random bits collided
            continue


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temp file, fsync, rename, fsync of the directory).

    An OS error (a full disk, a read-only or vanished directory) becomes a CheckpointError
    naming ``path``; the previous file at ``path``, if any, is left as it was.
    """
    path = Path(path)
    tmp = None
    try:
        fd, tmp = new_temp_file(path)
        with os.fdopen(fd, "wb") as fh:
            _write_file(fh, data, path)
        os.replace(tmp, path)
    except BaseException as exc:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
        if isinstance(exc, OSError):
            kept = " (the previous file is unchanged)" if path.exists() else ""
            raise CheckpointError(f"{path}: cannot write it: {exc.strerror or exc}{kept}") from exc
        raise
    try:
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:  # some filesystems refuse directory fsync; the rename is still atomic
        pass


def _write_file(fh, data: bytes, target: Path) -> None:
    """Write, flush and fsync the temporary file of ``target`` (a seam for the tests' full disk)."""
    fh.write(data)
    fh.flush()
    os.fsync(fh.fileno())


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def save_checkpoint(path: str | os.PathLike, params: dict, *, optim_state: dict | None = None,
                    train_state: dict | None = None, meta: dict | None = None) -> None:
    """Save atomically. ``train_state`` values must be arrays or numbers."""
    arrays: dict[str, Any] = {f"param/{k}": np.asarray(v) for k, v in params.items()}
    for k, v in (optim_state or {}).items():
        arrays[k] = np.asarray(v)
    for k, v in (train_state or {}).items():
        arrays[f"train/{k}"] = np.asarray(v)
    m = {"format": FORMAT_VERSION}
    m.update(meta or {})
    arrays["meta_json"] = np.array(json.dumps(m))
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


class Checkpoint:
    """A loaded checkpoint: ``params``, ``optim`` (flat dict), ``train`` (dict), ``meta``."""

    def __init__(self, path: str, params: dict, optim: dict, train: dict, meta: dict):
        self.path, self.params, self.optim, self.train, self.meta = path, params, optim, train, meta

    def check(self, expected_shapes: dict) -> None:
        """Every expected parameter present, with its shape, finite; CheckpointError naming the
        file and the parameter."""
        for name, shape in expected_shapes.items():
            if name not in self.params:
                raise CheckpointError(f"{self.path}: parameter {name} missing")
            if self.params[name].shape != tuple(shape):
                raise CheckpointError(f"{self.path}: parameter {name} has shape "
                                      f"{self.params[name].shape}, expected {tuple(shape)}")
            if not np.all(np.isfinite(self.params[name])):
                raise CheckpointError(f"{self.path}: parameter {name} contains NaN or Inf")


def load_checkpoint(path: str | os.PathLike, expected_shapes: dict | None = None) -> Checkpoint:
    """Load and validate; CheckpointError naming the file for anything missing or corrupt."""
    path = str(path)
    if not os.path.exists(path):
        raise CheckpointError(f"{path}: no such checkpoint")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise CheckpointError(f"{path}: corrupt or not a resonet checkpoint ({exc})") from None
    try:
        meta = json.loads(str(arrays.pop("meta_json")))
    except (KeyError, ValueError):
        raise CheckpointError(f"{path}: no readable meta_json; not a resonet checkpoint") from None
    params = {k[6:]: v for k, v in arrays.items() if k.startswith("param/")}
    optim = {k: v for k, v in arrays.items() if k.startswith("optim/")}
    train = {k[6:]: v for k, v in arrays.items() if k.startswith("train/")}
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path}: meta_json is not a JSON object; not a resonet checkpoint")
    ck = Checkpoint(path, params, optim, train, meta)
    if expected_shapes is not None:
        ck.check(expected_shapes)
    return ck
