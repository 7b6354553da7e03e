"""A user's data set in resonet's file format, version 1 (docs/data.md, "Your own data").

One file per split (train, test, optionally validation), ``.npz`` (``numpy.savez``) or ``.h5``
with the same keys (read batch by batch: :mod:`resonet.data.custom_h5`). Shape letters: N
samples, T steps, I input channels, C classes, E events.

- **dense**: ``x`` (N, T, I) or (N, T) (I = 1), bool, integer or float; optional scalar
  ``x_divisor``: the input is ``x / x_divisor`` computed in the training precision (uint8 pixels
  with ``x_divisor = 255`` are exactly torchvision's ``ToTensor``).
- **events**: ``sample``, ``channel`` and ``step`` (integers) or ``time`` (seconds, binned with
  ``dt``: step i holds [i·dt, (i+1)·dt), float64 edges i·dt), each (E,), optional ``value`` (E,)
  (default 1), scalars ``n_steps`` (T) and ``n_inputs`` (I), and ``dt`` with ``time`` (or
  ``--dt``). Events of one (sample, step, channel) are summed. Memory O(E) end to end.
- **labels** ``y``: (N,) integers in [0, C), or (N, T) per step with −1 = unlabelled.
- optional: ``n_classes`` (C; default max label + 1 over the splits), ``class_names`` (C,),
  ``format_version`` (1).

Everything is checked; a bad file is a :class:`resonet.errors.DataError` of one line naming the
file, the key and the fix. :func:`from_arrays` checks a split (a mapping of arrays in the
layout: an ``.npz`` file's, :func:`read_npz`) into :class:`SplitArrays`; :meth:`SplitArrays.save`
writes one; :func:`probe_arrays` reads only what a run's settings need (sizes, label kind,
classes).
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError
from .dataset import Dataset, DenseDataset, EventDataset

FORMAT_VERSION = 1
DOC = "docs/data.md"
EVENT_KEYS = ("sample", "channel", "step", "time", "value")
_NPZ_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a zip archive (numpy.savez), or an empty one
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_NPY_MAGIC = b"\x93NUMPY"
CHUNK = 1 << 22  # values checked at a time in the chunked passes (bounds their extra memory)


# ------------------------------------------------------------------------------------------------
# one split, checked, in memory
# ------------------------------------------------------------------------------------------------
@dataclass
class SplitArrays:
    """One split in the file layout, checked (:func:`read_split`).

    ``y`` int64 (N,) or (N, T); dense: ``x`` (N, T, I) as given and ``x_divisor``; events: the
    packed storage of :class:`resonet.data.EventDataset` (``offsets`` (N+1,), ``steps``,
    ``chans``, ``values`` or None), sorted by (sample, step, channel), repeats summed.
    """

    y: np.ndarray
    n_steps: int
    n_inputs: int
    x: np.ndarray | None = None
    x_divisor: float | None = None
    offsets: np.ndarray | None = None
    steps: np.ndarray | None = None
    chans: np.ndarray | None = None
    values: np.ndarray | None = None
    n_classes: int | None = None
    class_names: list[str] | None = None
    source: str = "arrays"
    dt: float | None = None  # seconds per step, where known (events binned from times)

    @property
    def events(self) -> bool:
        return self.offsets is not None

    @property
    def per_step(self) -> bool:
        return self.y.ndim == 2

    def __len__(self) -> int:
        return int(self.y.shape[0])

    @property
    def n_events(self) -> int:
        return 0 if self.steps is None else int(self.steps.shape[0])

    def arrays(self) -> dict[str, np.ndarray]:
        """The file's arrays (format version 1; events sorted by sample, step, channel)."""
        lo, hi = (int(self.y.min()), int(self.y.max())) if self.y.size else (0, 0)
        out: dict[str, Any] = {"format_version": np.int64(FORMAT_VERSION),
                               "y": self.y.astype(np.result_type(np.min_scalar_type(lo),
                                                                 np.min_scalar_type(hi)))}
        if self.events:
            assert self.offsets is not None and self.steps is not None and self.chans is not None
            counts = np.diff(self.offsets)
            out["sample"] = np.repeat(np.arange(len(self), dtype=_index_dtype(len(self))), counts)
            out["step"], out["channel"] = self.steps, self.chans
            if self.values is not None:
                out["value"] = self.values
            out["n_steps"], out["n_inputs"] = np.int64(self.n_steps), np.int64(self.n_inputs)
            if self.dt is not None:
                out["dt"] = np.float64(self.dt)
        else:
            out["x"] = self.x
            if self.x_divisor is not None:
                out["x_divisor"] = np.float64(self.x_divisor)
        if self.n_classes is not None:
            out["n_classes"] = np.int64(self.n_classes)
        if self.class_names is not None:
            out["class_names"] = np.array(self.class_names, dtype=str)
        return out

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write this split as an ``.npz`` file of the format (atomically: a file that exists is
        either the old one or the complete new one)."""
        path = Path(path)
        if path.suffix != ".npz":
            raise DataError(f"{path}: the file name must end in .npz (numpy.savez adds it)")
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        try:
            with open(tmp, "wb") as fh:
                np.savez(fh, **self.arrays())  # type: ignore[arg-type]
            os.replace(tmp, path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise DataError(f"{path}: cannot write the file ({exc.strerror or exc})") from None
        return path

    def dataset(self, *, name: str, n_out: int) -> Dataset:
        """The split as a :class:`resonet.data.Dataset` (no copy of the samples)."""
        common: dict[str, Any] = dict(name=name, n_in=self.n_inputs, n_out=n_out, T=self.n_steps,
                                      labels=self.y, per_step_labels=self.per_step,
                                      synthetic=False, source=self.source)
        if self.offsets is not None:
            assert self.steps is not None and self.chans is not None
            return EventDataset(offsets=self.offsets, steps=self.steps, chans=self.chans,
                                values=self.values, **common)
        assert self.x is not None
        return DenseDataset(x=self.x, divisor=self.x_divisor, **common)


def from_dataset(ds: Dataset) -> SplitArrays:
    """The samples of a dataset (e.g. a paper task's preprocessed training file) in the file
    layout, exactly as its batches present them (``resonet.data export``)."""
    rows = ds.storage_rows
    labels = ds.labels
    if isinstance(ds, EventDataset):
        b, pos = ds.events_of(rows)
        offsets = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(np.bincount(b, minlength=len(rows)), out=offsets[1:])
        return SplitArrays(y=labels, n_steps=ds.T, n_inputs=ds.n_in, offsets=offsets,
                           steps=ds.steps[pos], chans=ds.chans[pos],
                           values=None if ds.values is None else ds.values[pos],
                           n_classes=ds.n_out, source=ds.source)
    if isinstance(ds, DenseDataset):
        x = ds.x[rows]
        if ds.time_perm is not None:  # PS-MNIST: the permutation is part of the data
            x = x[:, ds.time_perm]
        return SplitArrays(y=labels, n_steps=ds.T, n_inputs=ds.n_in, x=x, x_divisor=ds.divisor,
                           n_classes=ds.n_out, source=ds.source)
    return from_dataset(ds.resident())


# ------------------------------------------------------------------------------------------------
# opening a file
# ------------------------------------------------------------------------------------------------
def file_kind(path: Path) -> str:
    """``"npz"`` or ``"h5"`` by the file's first bytes; a DataError for anything else."""
    if not path.exists():
        raise DataError(f"{path}: no such file; check the path")
    if not path.is_file():
        raise DataError(f"{path}: not a file; give the .npz or .h5 file of the split")
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
    except OSError as exc:
        raise DataError(f"{path}: cannot read the file ({exc.strerror})") from None
    if head.startswith(_NPZ_MAGIC):
        return "npz"
    if head.startswith(HDF5_MAGIC):
        return "h5"
    hint = ("a single .npy array: save x and y together with numpy.savez(path, x=x, y=y)"
            if head.startswith(_NPY_MAGIC) else "not an .npz or .h5 file")
    raise DataError(f"{path}: {hint}; resonet reads numpy.savez archives and HDF5 files with the "
                    f"keys of {DOC} (\"Your own data\")")


class Npz(Mapping):
    """The arrays of an ``.npz`` file, each read when first asked for (never pickles)."""

    def __init__(self, path: Path):
        self.path = path
        try:
            self._f = np.load(path, allow_pickle=False)
        except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
            raise DataError(f"{path}: not a readable .npz file ({exc}); write it again with "
                            "numpy.savez") from None
        self._cache: dict[str, np.ndarray] = {}

    def __getitem__(self, key: str) -> np.ndarray:
        if key not in self._cache:
            try:
                self._cache[key] = self._f[key]
            except KeyError:
                raise
            except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
                why = "an object (pickled) array" if "allow_pickle" in str(exc) else str(exc)
                raise DataError(f"{self.path}: key '{key}' cannot be read ({why}); store plain "
                                "numeric arrays") from None
        return self._cache[key]

    def __contains__(self, key: object) -> bool:  # (Mapping's default would read the array)
        return key in self._f.files

    def __iter__(self):
        return iter(self._f.files)

    def __len__(self) -> int:
        return len(self._f.files)

    def shape_dtype(self, key: str) -> tuple[tuple[int, ...], np.dtype]:
        """Shape and dtype of an array from its header, without reading the data."""
        try:
            with zipfile.ZipFile(self.path) as z, z.open(f"{key}.npy") as fh:
                version = np.lib.format.read_magic(fh)
                if version == (1, 0):
                    shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
                elif version == (2, 0):
                    shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
                else:
                    raise ValueError("newer header")
            return tuple(shape), np.dtype(dtype)
        except (OSError, ValueError, KeyError, zipfile.BadZipFile):
            a = self[key]
            return a.shape, a.dtype

    def close(self) -> None:
        self._f.close()


# ------------------------------------------------------------------------------------------------
# checks shared by every reader
# ------------------------------------------------------------------------------------------------
def need(arrays: Mapping, key: str, where: str, what: str) -> Any:
    if key not in arrays:
        have = ", ".join(sorted(arrays)) or "none"
        raise DataError(f"{where}: no key '{key}' ({what}); the file has: {have}; see {DOC} "
                        "(\"Your own data\")")
    return arrays[key]


def form_of(arrays: Mapping, where: str) -> str:
    """``"dense"`` (``x``) or ``"events"`` (``sample``/``channel``/...)."""
    dense = "x" in arrays
    events = any(k in arrays for k in EVENT_KEYS)
    if dense and events:
        raise DataError(f"{where}: has both 'x' (dense) and event keys "
                        f"({', '.join(k for k in EVENT_KEYS if k in arrays)}); give one form")
    if not dense and not events:
        have = ", ".join(sorted(arrays)) or "none"
        raise DataError(f"{where}: no key 'x' (dense samples (N, T, I)) and no events ('sample', "
                        f"'channel', 'step' or 'time'); the file has: {have}; see {DOC}")
    return "dense" if dense else "events"


def check_version(arrays: Mapping, where: str) -> None:
    if "format_version" in arrays:
        v = scalar(arrays, "format_version", where, integer=True)
        if v > FORMAT_VERSION:
            raise DataError(f"{where}: format_version {v}, but this resonet reads version "
                            f"{FORMAT_VERSION}; upgrade resonet")
        if v < 1:
            raise DataError(f"{where}: format_version {v} is not a version (1 is the first)")


def scalar(arrays: Mapping, key: str, where: str, *, integer: bool = False, positive: bool = True
           ) -> Any:
    """The scalar ``key``: a finite number (an integer with ``integer``), > 0 with ``positive``."""
    a = np.asarray(arrays[key])
    if a.size != 1 or a.dtype.kind not in ("iu" if integer else "iuf"):
        kind = "an integer" if integer else "a number"
        raise DataError(f"{where}: '{key}' must be one {kind} (a scalar), got "
                        f"{a.dtype} of shape {a.shape}")
    v = a.reshape(()).item()
    if not np.isfinite(v) or (positive and v <= 0):
        raise DataError(f"{where}: '{key}' = {v} must be a positive{' integer' if integer else ''}")
    return int(v) if integer else float(v)


def class_names_of(arrays: Mapping, where: str) -> list[str] | None:
    if "class_names" not in arrays:
        return None
    a = np.asarray(arrays["class_names"])
    if a.ndim != 1 or a.dtype.kind not in "US":
        raise DataError(f"{where}: 'class_names' must be a 1-D array of strings, got {a.dtype} "
                        f"of shape {a.shape}")
    return [str(v) for v in a.tolist()]


def check_labels(y: Any, N: int, T: int, n_classes: int | None, where: str) -> np.ndarray:
    """``y`` as int64 (N,) or (N, T), checked: integers, one per sample (or per step, −1 =
    unlabelled), in [0, n_classes) when it is declared, at least one sample and two classes."""
    y = np.asarray(y)
    if y.dtype.kind not in "iu":
        raise DataError(f"{where}: 'y' has dtype {y.dtype}; labels must be integers (class indices "
                        "0..C-1): convert them, e.g. y.astype(int)")
    if y.ndim not in (1, 2):
        raise DataError(f"{where}: 'y' has shape {y.shape}; give (N,) labels, one per sample, or "
                        "(N, T) labels, one per step")
    if y.shape[0] != N:
        raise DataError(f"{where}: 'y' has {y.shape[0]} samples but the inputs have {N}; give one "
                        "label (or one row of labels) per sample")
    if N == 0:
        raise DataError(f"{where}: no sample (y is empty); a split needs at least one sample")
    if y.ndim == 2 and y.shape[1] != T:
        raise DataError(f"{where}: per-step labels 'y' have {y.shape[1]} steps, the inputs {T}; "
                        f"give y of shape (N, {T})")
    y = y.astype(np.int64, copy=False)
    low = -1 if y.ndim == 2 else 0
    lo, hi = int(y.min()), int(y.max())
    if lo < low:
        allowed = ("−1 (unlabelled) and 0..C-1" if y.ndim == 2 else
                   "0..C-1 (−1 = unlabelled only for per-step labels y of shape (N, T))")
        raise DataError(f"{where}: 'y' has the label {lo}; labels are {allowed}")
    if n_classes is not None and hi >= n_classes:
        raise DataError(f"{where}: 'y' has the label {hi}, outside [0, n_classes={n_classes}); "
                        "fix the labels or n_classes")
    classes = np.unique(y[y >= 0]) if y.ndim == 2 else np.unique(y)
    if classes.size == 0:
        raise DataError(f"{where}: every step is unlabelled (−1); label some steps")
    if classes.size < 2:
        raise DataError(f"{where}: every label is {int(classes[0])}; a split needs at least two "
                        "classes (check the labels, or the file)")
    return y


def int_events(arrays: Mapping, key: str, where: str, E: int | None) -> np.ndarray:
    a = np.asarray(arrays[key])
    if a.ndim != 1 or a.dtype.kind not in "iu":
        fix = (" (event times in seconds go in 'time', with dt)" if key == "step" and
               a.dtype.kind == "f" else "")
        raise DataError(f"{where}: '{key}' must be a 1-D integer array (one entry per event), got "
                        f"{a.dtype} of shape {a.shape}{fix}")
    if E is not None and a.shape[0] != E:
        raise DataError(f"{where}: '{key}' has {a.shape[0]} events, 'sample' has {E}; every event "
                        "array needs one entry per event")
    return a


def check_range(a: np.ndarray, key: str, n: int, what: str, where: str, fix: str) -> None:
    """Every entry of ``a`` in [0, n) (checked in chunks: no copy of ``a``)."""
    for k in range(0, a.shape[0], CHUNK):
        c = a[k:k + CHUNK]
        if c.size and (int(c.min()) < 0 or int(c.max()) >= n):
            bad = int(c.min()) if int(c.min()) < 0 else int(c.max())
            raise DataError(f"{where}: '{key}' has the value {bad}, outside [0, {what}={n}); {fix}")


def check_finite(a: np.ndarray, key: str, where: str) -> None:
    """No NaN or Inf in ``a`` (in chunks along axis 0)."""
    if np.asarray(a).dtype.kind != "f":
        return
    rows = max(1, CHUNK // max(1, int(np.prod(a.shape[1:]))))
    for k in range(0, a.shape[0], rows):
        c = a[k:k + rows]
        if not np.all(np.isfinite(c)):
            i = k + int(np.argwhere(~np.isfinite(c))[0][0])
            raise DataError(f"{where}: '{key}' has NaN or Inf (first at index {i}); replace or "
                            "drop those entries")


def bin_times(time: np.ndarray, dt: float, n_steps: int, where: str) -> np.ndarray:
    """Steps of event times (seconds): step i holds [i·dt, (i+1)·dt), with the float64 edges
    i·dt (the SHD rule of :mod:`resonet.data.shd`). A time < 0 or ≥ n_steps·dt is an error."""
    t = np.asarray(time)
    if t.ndim != 1 or t.dtype.kind not in "iuf":
        raise DataError(f"{where}: 'time' must be a 1-D array of numbers (seconds), got {t.dtype} "
                        f"of shape {t.shape}")
    check_finite(t, "time", where)
    edges = np.arange(n_steps + 1, dtype=np.float64) * dt
    step = np.searchsorted(edges, t.astype(np.float64), side="right") - 1
    if step.size and int(step.min()) < 0:
        raise DataError(f"{where}: 'time' has the negative time {float(t.min())} s; times count "
                        "from the start of each sample (>= 0)")
    if step.size and int(step.max()) >= n_steps:
        late = int(np.count_nonzero(step >= n_steps))
        need = int(np.floor(float(t.max()) / dt)) + 1
        raise DataError(f"{where}: 'time' has {late} event(s) at or after n_steps·dt = "
                        f"{n_steps * dt:g} s (latest {float(t.max()):g} s); raise n_steps to "
                        f"{need} or drop those events")
    return step


def _index_dtype(n: int) -> type[np.integer]:
    """The smallest of int16/int32/int64 holding 0..n-1 (event storage is O(E) at 2-4 bytes)."""
    return np.int16 if n <= np.iinfo(np.int16).max + 1 else \
        np.int32 if n <= np.iinfo(np.int32).max + 1 else np.int64


def pack_events(sample: np.ndarray, step: np.ndarray, chan: np.ndarray, value: np.ndarray | None,
                N: int, T: int, I: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """``(offsets, steps, chans, values)``: the events sorted by (sample, step, channel), the
    repeats of one (sample, step, channel) summed into one event, ``values`` None when every
    event is a 1 (binary spikes). Indices must be in range (checked by the callers). Memory: a
    few arrays of E int64 (the sort key and its order), none of N·T·I."""
    key = (sample.astype(np.int64) * T + step.astype(np.int64)) * I + chan.astype(np.int64)
    if key.size > 1 and not bool(np.all(key[1:] > key[:-1])):  # files written by resonet are sorted
        order = np.argsort(key, kind="stable")
        key = key[order]
        value = None if value is None else np.asarray(value)[order]
    if key.size > 1:
        first = np.flatnonzero(np.concatenate(([True], key[1:] != key[:-1])))
        if first.size < key.size:  # repeats: summed
            v = np.ones(key.size, np.float32) if value is None else np.asarray(value)
            value = np.add.reduceat(v, first)
            key = key[first]
    if value is not None:
        value = np.asarray(value)
        if value.dtype.kind in "biu":
            value = value.astype(np.float32)  # exact for counts below 2**24
        if bool(np.all(value == 1)):
            value = None
    sample_s = key // (T * I)
    rest = key - sample_s * (T * I)
    offsets = np.searchsorted(sample_s, np.arange(N + 1, dtype=np.int64)).astype(np.int64)
    return (offsets, (rest // I).astype(_index_dtype(T)), (rest % I).astype(_index_dtype(I)),
            value)


# ------------------------------------------------------------------------------------------------
# reading a split
# ------------------------------------------------------------------------------------------------
def classes_of(arrays: Mapping, where: str) -> tuple[int | None, list[str] | None]:
    """``n_classes`` and ``class_names`` of a split (each optional; they must agree), the count
    taken from the names where only they are given."""
    n_classes = scalar(arrays, "n_classes", where, integer=True) if "n_classes" in arrays else None
    names = class_names_of(arrays, where)
    if names is not None and n_classes is not None and len(names) != n_classes:
        raise DataError(f"{where}: 'class_names' has {len(names)} names, n_classes is {n_classes}")
    return (n_classes if n_classes is not None else (len(names) if names is not None else None)), names


def from_arrays(arrays: Mapping, *, where: str, dt: float | None = None, source: str | None = None
                ) -> SplitArrays:
    """A split from a mapping of arrays in the file layout, every check of the module docstring."""
    check_version(arrays, where)
    n_classes, names = classes_of(arrays, where)
    common: dict[str, Any] = dict(n_classes=n_classes, class_names=names, source=source or where)
    if form_of(arrays, where) == "dense":
        x = np.asarray(arrays["x"])
        N, T, I = dense_shape(x.shape, x.dtype, where)
        y = check_labels(need(arrays, "y", where, "the labels"), N, T, n_classes, where)
        check_finite(x, "x", where)
        div = scalar(arrays, "x_divisor", where) if "x_divisor" in arrays else None
        return SplitArrays(y=y, n_steps=T, n_inputs=I, x=x if x.ndim == 3 else x[:, :, None],
                           x_divisor=div, **common)
    T, I, y, dt = event_header(arrays, where, dt, n_classes)
    N = len(y)
    need(arrays, "sample", where, "the sample of each event")
    need(arrays, "channel", where, "the input channel of each event")
    sample = int_events(arrays, "sample", where, None)
    E = sample.shape[0]
    chan = int_events(arrays, "channel", where, E)
    if "step" in arrays:
        step = int_events(arrays, "step", where, E)
        check_range(step, "step", T, "n_steps", where, "fix the steps or raise n_steps")
    else:
        t = need(arrays, "time", where, "the step or time of each event")
        if np.asarray(t).shape != (E,):
            raise DataError(f"{where}: 'time' has shape {np.asarray(t).shape}, 'sample' has {E} "
                            "events; give one time per event")
        if dt is None:
            raise DataError(f"{where}: events are given as 'time' (seconds) but no 'dt' says how "
                            "long a step is; add the scalar dt to the file or pass --dt SECONDS")
        step = bin_times(t, dt, T, where)
    check_range(sample, "sample", N, "N", where, "every event's sample must index a label of y")
    check_range(chan, "channel", I, "n_inputs", where, "fix the channels or raise n_inputs")
    value = None
    if "value" in arrays:
        value = np.asarray(arrays["value"])
        if value.shape != (E,) or value.dtype.kind not in "biuf":
            raise DataError(f"{where}: 'value' must be a 1-D array of numbers, one per event "
                            f"({E}), got {value.dtype} of shape {value.shape}")
        check_finite(value, "value", where)
    offsets, steps, chans, values = pack_events(sample, step, chan, value, N, T, I)
    return SplitArrays(y=y, n_steps=T, n_inputs=I, offsets=offsets, steps=steps, chans=chans,
                       values=values, dt=dt, **common)


def dense_shape(shape: tuple[int, ...], dtype: np.dtype, where: str) -> tuple[int, int, int]:
    """(N, T, I) of a dense ``x``; its dtype must be bool, integer or float."""
    if len(shape) not in (2, 3):
        raise DataError(f"{where}: 'x' has shape {shape}; give (N, T, I) samples (or (N, T) for "
                        "one input channel)")
    if np.dtype(dtype).kind not in "biuf":
        raise DataError(f"{where}: 'x' has dtype {dtype}; give bool, integer or float inputs")
    N, T = int(shape[0]), int(shape[1])
    I = int(shape[2]) if len(shape) == 3 else 1
    if T < 1 or I < 1:
        raise DataError(f"{where}: 'x' has shape {shape}; T and I must be at least 1")
    return N, T, I


def event_header(arrays: Mapping, where: str, dt: float | None, n_classes: int | None
                 ) -> tuple[int, int, np.ndarray, float | None]:
    """(T, I, y, dt) of an events split: ``n_steps``, ``n_inputs``, the checked labels and the
    step length (the argument, else the file's ``dt``)."""
    need(arrays, "n_steps", where, "T, the steps per sample")
    need(arrays, "n_inputs", where, "I, the input channels")
    T = scalar(arrays, "n_steps", where, integer=True)
    I = scalar(arrays, "n_inputs", where, integer=True)
    y = np.asarray(need(arrays, "y", where, "the labels"))
    y = check_labels(y, y.shape[0] if y.ndim else -1, T, n_classes, where)
    if dt is None and "dt" in arrays:
        dt = scalar(arrays, "dt", where)
    return T, I, y, dt


# ------------------------------------------------------------------------------------------------
# what a run's settings need, without reading the samples
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FileInfo:
    """What :func:`probe` learns of a split: N, T, I, ``events``, ``per_step`` labels, the
    declared ``n_classes`` (or None), the largest label, ``class_names``."""

    path: str
    N: int
    T: int
    I: int
    events: bool
    per_step: bool
    n_classes: int | None
    max_label: int
    class_names: list[str] | None


def probe_npz(path: Path) -> FileInfo:
    """:func:`resonet.data.userdata.probe` of an ``.npz`` split."""
    arrays = Npz(path)
    try:
        return probe_arrays(arrays, str(path), arrays.shape_dtype)
    finally:
        arrays.close()


def read_npz(path: Path, *, dt: float | None = None, where: str | None = None) -> SplitArrays:
    """An ``.npz`` split, read and checked (:func:`from_arrays`)."""
    arrays = Npz(path)
    try:
        return from_arrays(arrays, where=where or str(path), dt=dt, source=str(path))
    finally:
        arrays.close()


def probe_arrays(arrays: Mapping, where: str,
                 shape_dtype: Callable[[str], tuple[tuple[int, ...], np.dtype]]) -> FileInfo:
    """:func:`probe` of a mapping of arrays; ``shape_dtype(key)`` reads a header only."""
    check_version(arrays, where)
    n_classes, names = classes_of(arrays, where)
    if form_of(arrays, where) == "dense":
        shape, dtype = shape_dtype("x")
        N, T, I = dense_shape(shape, dtype, where)
        y = check_labels(need(arrays, "y", where, "the labels"), N, T, n_classes, where)
        events = False
    else:
        T, I, y, _ = event_header(arrays, where, None, n_classes)
        for key in ("sample", "channel"):
            need(arrays, key, where, f"the {key} of each event")
        if "step" not in arrays and "time" not in arrays:
            need(arrays, "step", where, "the step (or 'time') of each event")
        N, events = len(y), True
    return FileInfo(where, N, T, I, events, y.ndim == 2, n_classes, int(y.max()), names)
