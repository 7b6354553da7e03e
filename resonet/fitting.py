"""``resonet.fit``: train on your own data from Python, in one call.

::

    import resonet

    run = resonet.fit((x_train, y_train), test=(x_test, y_test), epochs=5, hidden=64)
    run.evaluate("test"), run.predict(x_test[:2].transpose(1, 0, 2))

Each split (``train``, ``test``, ``val``) is one of

- ``(x, y)``: dense ``x`` (N, T, I) or (N, T), bool/int/float, and labels ``y`` (N,) integers in
  [0, C) or (N, T) per step (−1 = unlabelled): the file format's layout (docs/data.md);
- ``(events, y)``: a :class:`resonet.events.SpikeEvents` (T, N, I) (time-major, one row per
  sample and step), or a mapping of event arrays (``sample``, ``step`` or ``time``, ``channel``,
  optional ``value``, ``n_steps``, ``n_inputs``);
- a mapping with every key of the file format, a :class:`resonet.data.SplitArrays`, or the path
  of a ``.npz``/``.h5`` file;
- a sequence of ``(events, label)`` pairs in tonic's layout (structured arrays with fields ``t``
  in µs, ``x``[, ``y``], ``p``; a tonic data set is one), binned with ``dt`` seconds or
  ``n_steps`` (:func:`resonet.data.from_tonic`; the training split fixes both for the others),
  with ``sensor_size`` (W, H, P) unless the data set has one.

Without ``val`` the validation split is 10 % of ``train`` (the paper tasks' rule); without
``test`` the validation split doubles as the test split (the run says so). Splits given as
arrays are checked and stored once, in resonet's format, under the data directory
(``<data dir>/custom/<content hash>/``), so that the run directory can be resumed, re-read
(``resonet.load_run(path).dataset("test")``) and re-run from the command line
(``python -m resonet.train custom --train ... --test ...``; the log prints it). The settings are
those of :func:`resonet.train_run` (``epochs=5``, ``neuron="alif"``, ``preset="ecg"``, ...).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .data.custom import FORMAT_VERSION, SplitArrays, from_arrays
from .data.paths import resolve_data_dir
from .data.tonic import from_tonic
from .data.userdata import read_split
from .errors import ConfigError, DataError
from .events import SpikeEvents

SPLITS = ("train", "test", "val")


def _events_mapping(ev: SpikeEvents) -> dict[str, Any]:
    """A time-major SpikeEvents (T, N, I) as the format's event arrays (one row per (t, n))."""
    T, N = ev.T, ev.B
    r = np.repeat(np.arange(T * N, dtype=np.int64), np.diff(ev.indptr))
    out = {"sample": r % N, "step": r // N, "channel": np.asarray(ev.indices),
           "n_steps": T, "n_inputs": ev.I}
    if ev.values is not None:
        out["value"] = np.asarray(ev.values)
    return out


def _is_pair(split: Any) -> bool:
    """``(x, y)`` of arrays (not a sequence of tonic pairs): x dense, SpikeEvents or a mapping."""
    if not (isinstance(split, tuple) and len(split) == 2):
        return False
    x = split[0]
    if isinstance(x, (SpikeEvents, Mapping)):
        return True
    return isinstance(x, np.ndarray) and x.dtype.names is None


def _tonic_like(split: Any) -> bool:
    return isinstance(split, Sequence) or (hasattr(split, "__len__") and hasattr(split, "__getitem__"))


def as_split(split: Any, name: str, *, dt: float | None = None, n_steps: int | None = None,
             sensor_size: Sequence[int] | None = None, binary: bool = False) -> SplitArrays:
    """One split in any form :func:`fit` takes, checked (every message names the split)."""
    where = f"fit({name}=...)"
    if isinstance(split, SplitArrays):
        return split
    if isinstance(split, (str, os.PathLike)):
        return read_split(split, dt=dt)
    if isinstance(split, SpikeEvents):
        raise DataError(f"{where}: a SpikeEvents carries no labels; pass (events, y)")
    if _is_pair(split):
        x, y = split
        if isinstance(x, SpikeEvents):
            arrays: Mapping = {**_events_mapping(x), "y": y}
        elif isinstance(x, Mapping):
            arrays = {**x, "y": y}
        else:
            arrays = {"x": x, "y": y}
        return from_arrays(arrays, where=where, dt=dt)
    if isinstance(split, Mapping):
        return from_arrays(split, where=where, dt=dt)
    if _tonic_like(split):
        return from_tonic(split, dt=dt, n_steps=n_steps, sensor_size=sensor_size, binary=binary)
    raise DataError(f"{where}: expected (x, y) arrays, (SpikeEvents, y), a mapping of the file "
                    f"format's arrays, a path, or (events, label) pairs; got {type(split).__name__}")


def digest(split: SplitArrays) -> str:
    """A sha256 of a split's arrays (names, dtypes, shapes, bytes) and the format version."""
    h = hashlib.sha256(f"resonet format {FORMAT_VERSION}".encode())
    for key, a in sorted(split.arrays().items()):
        a = np.ascontiguousarray(a)
        h.update(f"{key} {a.dtype.str} {a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def store(splits: dict[str, SplitArrays], data_dir: str | os.PathLike[str] | None) -> dict[str, str]:
    """Write the splits (once: the folder is named by their content) under the data directory;
    their paths."""
    h = hashlib.sha256("".join(f"{k}:{digest(s)}" for k, s in sorted(splits.items())).encode())
    folder = resolve_data_dir(data_dir) / "custom" / h.hexdigest()[:16]
    out = {}
    for name, s in splits.items():
        path = folder / f"{name}.npz"
        if not path.exists():
            s.save(path)
        out[name] = str(path)
    return out


def fit(train: Any, *, test: Any = None, val: Any = None, dt: float | None = None,
        n_steps: int | None = None, sensor_size: Sequence[int] | None = None, binary: bool = False,
        verbose: bool = True, progress: bool = False, **settings: Any):
    """Train a network on your own data; returns the finished run, a :class:`resonet.api.Run`
    (``.path``, ``.summary``, ``.predict``, ``.evaluate``, ``.forward``). The splits and their
    forms: the module docstring. ``dt``/``n_steps``/``sensor_size``/``binary``: how events are
    binned (tonic pairs; ``dt`` also bins a file's event times). ``settings``: as
    :func:`resonet.train_run` (``epochs``, ``hidden``, ``neuron``, ``preset``, ``out``, ...)."""
    from .api import train_run

    if train is None:
        raise ConfigError("fit: give the training split (train=...)")
    for key in ("task", "train", "test", "val"):
        if key in settings:
            raise ConfigError(f"fit: {key}= is fit's own argument, not a setting")
    given = {"train": train, "test": test, "val": val}
    paths: dict[str, str] = {}
    arrays: dict[str, SplitArrays] = {}
    fixed_dt, fixed_T = dt, n_steps
    for name in SPLITS:
        split = given[name]
        if split is None:
            continue
        if isinstance(split, (str, os.PathLike)):
            paths[name] = os.fspath(split)  # read by the run (an .h5 file batch by batch)
            continue
        s = as_split(split, name, dt=fixed_dt, n_steps=fixed_T, sensor_size=sensor_size,
                     binary=binary)
        if _tonic_like(split) and not _is_pair(split) and not isinstance(split, Mapping):
            # the first tonic split fixes the binning of the others
            fixed_T = s.n_steps
            fixed_dt = s.dt if s.dt is not None else fixed_dt
        arrays[name] = s
    ref = arrays.get("train")
    for name, split in arrays.items():
        if ref is not None and split.events != ref.events:
            form = {True: "events", False: "dense arrays"}
            raise DataError(f"fit({name}=...): {form[split.events]}, but the training split is "
                            f"{form[ref.events]}; give every split in the same form")
    if arrays:
        stored = store(arrays, settings.get("data_dir"))
        paths.update(stored)
        if verbose:
            args = " ".join(f"--{k} {paths[k]}" for k in SPLITS if k in paths)
            print(f"fit: data stored in resonet's format; the same run from the command line: "
                  f"python -m resonet.train custom {args}")
    file_dt = dt if any(isinstance(given[k], (str, os.PathLike)) for k in SPLITS) else None
    kwargs: dict[str, Any] = {k: paths.get(k) for k in SPLITS}
    return train_run("custom", verbose=verbose, progress=progress, dt=file_dt, **kwargs, **settings)
