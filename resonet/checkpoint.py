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
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from .errors import CheckpointError

FORMAT_VERSION = 1


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temp file, fsync, rename, fsync of the directory)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    try:
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:  # some filesystems refuse directory fsync; the rename is still atomic
        pass


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def save_checkpoint(path: str | os.PathLike, params: dict, *, optim_state: dict | None = None,
                    train_state: dict | None = None, meta: dict | None = None) -> None:
    """Save atomically. ``train_state`` values must be arrays or numbers."""
    arrays = {f"param/{k}": np.asarray(v) for k, v in params.items()}
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
    if expected_shapes is not None:
        for name, shape in expected_shapes.items():
            if name not in params:
                raise CheckpointError(f"{path}: parameter {name} missing")
            if params[name].shape != tuple(shape):
                raise CheckpointError(
                    f"{path}: parameter {name} has shape {params[name].shape}, expected {tuple(shape)}")
            if not np.all(np.isfinite(params[name])):
                raise CheckpointError(f"{path}: parameter {name} contains NaN or Inf")
    return Checkpoint(path, params, optim, train, meta)
