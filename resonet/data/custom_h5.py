"""A user's split in an ``.h5`` file, for data sets larger than memory: the keys of the format
(:mod:`resonet.data.custom`) as datasets at the file's root (scalars may also be root
attributes), read batch by batch.

Opening a split reads its labels and, for events, one int64 offset per sample; the samples are
checked in chunks of :data:`resonet.data.custom.CHUNK` values (NaN/Inf, indices in range) and
never held whole. Events in an ``.h5`` file must be sorted by ``sample`` (each batch reads the
contiguous events of its samples); within a sample any order, repeats summed, as in ``.npz``.
An engine that keeps a whole split on a device (cuda) reads it once (:meth:`resident`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from ..errors import DataError
from ..events import SpikeEvents
from .custom import (
    CHUNK,
    FileInfo,
    bin_times,
    check_finite,
    check_range,
    check_version,
    class_names_of,
    dense_shape,
    event_header,
    form_of,
    int_events,
    need,
    pack_events,
    probe_arrays,
    scalar,
)
from .dataset import Dataset, DenseDataset, EventDataset


class _H5(Mapping):
    """The root datasets (lazy h5py datasets; strings and scalars read) and attributes of a file."""

    def __init__(self, f: h5py.File):
        self.f = f

    def __getitem__(self, key: str) -> Any:
        if key in self.f:
            ds = self.f[key]
            if not isinstance(ds, h5py.Dataset):
                raise DataError(f"{self.f.filename}: '{key}' is a group; the keys of the format are "
                                "datasets at the file's root")
            if h5py.check_string_dtype(ds.dtype) is not None:
                return np.array(ds.asstr()[()], dtype=str)
            return ds[()] if ds.ndim == 0 else ds
        if key in self.f.attrs:
            return np.asarray(self.f.attrs[key])
        raise KeyError(key)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and (key in self.f or key in self.f.attrs)

    def __iter__(self):
        return iter([*self.f.keys(), *self.f.attrs.keys()])

    def __len__(self) -> int:
        return len(self.f.keys()) + len(self.f.attrs.keys())


def _open(path: Path) -> h5py.File:
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise DataError(f"{path}: not a readable HDF5 file ({exc}); is it complete?") from None


def probe_h5(path: Path) -> FileInfo:
    """:func:`resonet.data.custom.probe` of an ``.h5`` split."""
    with _open(path) as f:
        arrays = _H5(f)

        def shape_dtype(key: str) -> tuple[tuple[int, ...], np.dtype]:
            ds = f[key]
            return tuple(ds.shape), ds.dtype

        return probe_arrays(arrays, str(path), shape_dtype)


def open_h5(path: str | os.PathLike[str], *, dt: float | None, name: str, n_out: int | None
            ) -> Dataset:
    """The split of an ``.h5`` file as a dataset read batch by batch, every value checked (in
    chunks). ``n_out``: C of the run (default: the file's n_classes, else max label + 1)."""
    path = Path(path)
    where = str(path)
    with _open(path) as f:
        arrays = _H5(f)
        check_version(arrays, where)
        declared = scalar(arrays, "n_classes", where, integer=True) if "n_classes" in arrays else None
        names = class_names_of(arrays, where)
        if form_of(arrays, where) == "dense":
            x = f["x"]
            N, T, I = dense_shape(tuple(x.shape), x.dtype, where)
            from .custom import check_labels

            y = check_labels(need(arrays, "y", where, "the labels"), N, T, declared, where)
            for k in range(0, N, max(1, CHUNK // (T * I))):  # NaN/Inf, chunk by chunk
                check_finite(x[k:k + max(1, CHUNK // (T * I))], "x", where)
            div = scalar(arrays, "x_divisor", where) if "x_divisor" in arrays else None
            C = n_out or declared or (len(names) if names else int(y.max()) + 1)
            return H5DenseDataset(path, div, name=name, n_in=I, n_out=C, T=T, labels=y,
                                  per_step_labels=y.ndim == 2, synthetic=False, source=where)
        T, I, y, dt = event_header(arrays, where, dt, declared)
        N = len(y)
        offsets, time_key = _event_offsets(f, arrays, where, N, T, I, dt)
        C = n_out or declared or (len(names) if names else int(y.max()) + 1)
        return H5EventDataset(path, offsets, time_key, dt, "value" in f, name=name, n_in=I,
                              n_out=C, T=T, labels=y, per_step_labels=y.ndim == 2,
                              synthetic=False, source=where)


def _event_offsets(f: h5py.File, arrays: _H5, where: str, N: int, T: int, I: int,
                   dt: float | None) -> tuple[np.ndarray, bool]:
    """Check every event in chunks and count them per sample: (offsets (N+1,), whether the
    file gives times)."""
    need(arrays, "sample", where, "the sample of each event")
    need(arrays, "channel", where, "the input channel of each event")
    sample, chan = f["sample"], f["channel"]
    if "step" in f:
        tkey, use_time = "step", False
    else:
        need(arrays, "time", where, "the step or time of each event")
        tkey, use_time = "time", True
        if dt is None:
            raise DataError(f"{where}: events are given as 'time' (seconds) but no 'dt' says how "
                            "long a step is; add the scalar dt to the file or pass --dt SECONDS")
    E = sample.shape[0] if sample.ndim == 1 else -1
    tarr = f[tkey]
    value = f["value"] if "value" in f else None
    counts = np.zeros(N, dtype=np.int64)
    last = -1
    for k in range(0, max(E, 0), CHUNK):
        chunk = {"sample": sample[k:k + CHUNK], "channel": chan[k:k + CHUNK]}
        n = chunk["sample"].shape[0]
        s = int_events(chunk, "sample", where, None)
        int_events(chunk, "channel", where, n)
        if np.asarray(tarr[k:k + CHUNK]).shape != (n,):
            raise DataError(f"{where}: '{tkey}' has {tarr.shape[0]} events, 'sample' has {E}; every "
                            "event array needs one entry per event")
        if use_time:
            bin_times(tarr[k:k + CHUNK], float(dt), T, where)  # type: ignore[arg-type]
        else:
            st = int_events({"step": tarr[k:k + CHUNK]}, "step", where, n)
            check_range(st, "step", T, "n_steps", where, "fix the steps or raise n_steps")
        check_range(s, "sample", N, "N", where, "every event's sample must index a label of y")
        check_range(chunk["channel"], "channel", I, "n_inputs", where,
                    "fix the channels or raise n_inputs")
        if value is not None:
            v = value[k:k + CHUNK]
            if v.shape != (n,) or v.dtype.kind not in "biuf":
                raise DataError(f"{where}: 'value' must be a 1-D array of numbers, one per event")
            check_finite(v, "value", where)
        if s.size and (int(s[0]) < last or bool(np.any(s[1:] < s[:-1]))):
            raise DataError(f"{where}: the events of an .h5 file must be sorted by 'sample' (each "
                            "batch reads its samples' events in one piece); sort them, or use .npz")
        if s.size:
            last = int(s[-1])
        counts += np.bincount(s.astype(np.int64), minlength=N)
    if sample.ndim != 1:
        int_events({"sample": sample[()]}, "sample", where, None)  # its one-line error
    if chan.shape[0] != E:
        raise DataError(f"{where}: 'channel' has {chan.shape[0]} events, 'sample' has {E}; every "
                        "event array needs one entry per event")
    offsets = np.zeros(N + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return offsets, use_time


class _Lazy:
    """The open file of a split, per process (h5py handles do not cross a fork or a pickle)."""

    def __init__(self, path: Path):
        self.path = path
        self._pid = -1
        self._f: h5py.File | None = None
        self.resident: Dataset | None = None  # the samples read once (shared by the views)

    def file(self) -> h5py.File:
        if self._f is None or self._pid != os.getpid():
            self._f = _open(self.path)
            self._pid = os.getpid()
        return self._f

    def __getstate__(self) -> dict:
        return {"path": self.path, "_pid": -1, "_f": None, "resident": None}


class H5DenseDataset(Dataset):
    """Dense samples ``x`` (N, T, I) of an ``.h5`` file, read per batch (as
    :class:`resonet.data.DenseDataset` presents them: ``x / x_divisor`` in the batch dtype)."""

    def __init__(self, path: Path, divisor: float | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.store = _Lazy(path)
        self.divisor = divisor

    def _read(self, rows: np.ndarray) -> np.ndarray:
        """x[rows] as (B, T, I) in the stored dtype (h5py reads increasing unique rows)."""
        uniq, inv = np.unique(rows, return_inverse=True)
        xb = self.store.file()["x"][uniq]
        xb = xb[:, :, None] if xb.ndim == 2 else xb
        return xb[inv]

    def _inputs(self, rows: np.ndarray, *, sparse: bool, dtype: np.dtype) -> np.ndarray | SpikeEvents:
        x = np.ascontiguousarray(self._read(rows).transpose(1, 0, 2), dtype=dtype)  # (T, B, I)
        if self.divisor is not None:
            x /= dtype.type(self.divisor)
        return SpikeEvents.from_dense(x) if sparse else x

    def resident(self) -> Dataset:
        if self.store.resident is None:
            x = self.store.file()["x"][()]
            self.store.resident = DenseDataset(
                x=x, divisor=self.divisor, name=self.name, n_in=self.n_in, n_out=self.n_out,
                T=self.T, labels=self._all_labels, per_step_labels=self.per_step_labels,
                synthetic=self.synthetic, source=self.source)
        return self.store.resident.subset(self._rows, name=self.name)


class H5EventDataset(Dataset):
    """Events of an ``.h5`` file sorted by sample, read per batch: a batch reads its samples'
    events (``offsets``), bins times, sums repeats and presents them exactly as
    :class:`resonet.data.EventDataset` does."""

    is_events = True

    def __init__(self, path: Path, offsets: np.ndarray, use_time: bool, dt: float | None,
                 has_value: bool, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.store = _Lazy(path)
        self.offsets = offsets
        self.use_time = use_time
        self.dt = dt
        self.has_value = has_value

    def spike_counts(self) -> np.ndarray:
        """Number of events per sample of this split as stored (before repeats are summed)."""
        return np.diff(self.offsets)[self._rows]

    def _events(self, rows: np.ndarray) -> EventDataset:
        """The samples ``rows`` (storage rows) as an in-memory EventDataset (sample b = rows[b])."""
        f = self.store.file()
        parts: dict[str, list[np.ndarray]] = {"b": [], "t": [], "c": [], "v": []}
        for k, r in enumerate(rows):
            a, e = int(self.offsets[r]), int(self.offsets[r + 1])
            parts["b"].append(np.full(e - a, k, dtype=np.int64))
            parts["t"].append(f["time" if self.use_time else "step"][a:e])
            parts["c"].append(f["channel"][a:e])
            if self.has_value:
                parts["v"].append(f["value"][a:e])
        b = np.concatenate(parts["b"]) if rows.size else np.zeros(0, np.int64)
        t = np.concatenate(parts["t"]) if rows.size else np.zeros(0, np.int64)
        c = np.concatenate(parts["c"]) if rows.size else np.zeros(0, np.int64)
        v = np.concatenate(parts["v"]) if self.has_value and rows.size else None
        step = bin_times(t, float(self.dt), self.T, str(self.store.path)) if self.use_time else t  # type: ignore[arg-type]
        off, steps, chans, values = pack_events(b, step, c, v, rows.shape[0], self.T, self.n_in)
        return EventDataset(offsets=off, steps=steps, chans=chans, values=values, name=self.name,
                            n_in=self.n_in, n_out=self.n_out, T=self.T,
                            labels=np.zeros(rows.shape[0], np.int64), per_step_labels=False,
                            synthetic=self.synthetic, source=self.source)

    def _inputs(self, rows: np.ndarray, *, sparse: bool, dtype: np.dtype) -> np.ndarray | SpikeEvents:
        ev = self._events(rows)
        return ev._inputs(np.arange(rows.shape[0], dtype=np.int64), sparse=sparse, dtype=dtype)

    def resident(self) -> Dataset:
        if self.store.resident is None:
            ev = self._events(np.arange(len(self._all_labels), dtype=np.int64))
            ev._all_labels = self._all_labels
            ev.per_step_labels = self.per_step_labels
            ev._rows = np.arange(len(self._all_labels), dtype=np.int64)
            self.store.resident = ev
        return self.store.resident.subset(self._rows, name=self.name)
