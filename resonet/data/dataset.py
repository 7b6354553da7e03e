"""One split of a task (:class:`Dataset`) and a task's three splits (:class:`TaskData`).

Shape letters: N samples, T time steps, B batch, I input channels.

A dataset stores its samples compactly and converts them **per batch**:

- :class:`EventDataset` (SHD): binary spike events, per sample the (step, channel) pairs sorted by
  step then channel, in one concatenated int16 array pair with offsets. The dense SHD training
  set would be 8,156 × 250 × 700 float32 ≈ 5.7 GB; the events take a few hundred MB at most.
- :class:`DenseDataset` (ECG, (P)S-MNIST): a small-integer array (N, T, I) (int8 spikes, uint8
  pixels) with a scale (1/255 for pixels) and an optional fixed time permutation (PS-MNIST).

``Dataset.batch(indices)`` returns ``(x, y)``: ``x`` time-major dense ``(T, B, I)`` in ``dtype``
(float32 by default) or a :class:`resonet.events.SpikeEvents` (``sparse=True``); ``y`` int64
``(B,)``, or ``(T, B)`` time-major when ``per_step_labels`` (ECG; −1 marks an unlabelled step).

Train/validation views share the parent's storage: :meth:`Dataset.subset` keeps only an index
array, so splitting never copies the samples.
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..events import SpikeEvents

SYNTHETIC_SOURCE = "synthetic SHD-format data (NOT the real SHD)"


class Dataset:
    """One split of a task. Subclasses implement :meth:`_inputs` for the stored format.

    Attributes: ``name``, ``n_in`` (I), ``n_out`` (C), ``T``, ``per_step_labels``, ``synthetic``,
    ``source`` (a path, or :data:`SYNTHETIC_SOURCE`), ``labels`` (int64 (N,) or (N, T)), and
    ``is_events``: whether the samples are spike events (an engine that skips zeros takes them
    as such, :func:`resonet.contract.feeds_events`).
    """

    is_events = False

    def __init__(
        self,
        *,
        name: str,
        n_in: int,
        n_out: int,
        T: int,
        labels: np.ndarray,
        per_step_labels: bool,
        synthetic: bool,
        source: str,
    ) -> None:
        self.name = name
        self.n_in = int(n_in)
        self.n_out = int(n_out)
        self.T = int(T)
        self.per_step_labels = bool(per_step_labels)
        self.synthetic = bool(synthetic)
        self.source = str(source)
        self._all_labels = np.asarray(labels)
        self._rows = np.arange(len(self._all_labels), dtype=np.int64)  # view → storage row

    # -- views ---------------------------------------------------------------------------------
    def __len__(self) -> int:
        return int(self._rows.shape[0])

    @property
    def storage_rows(self) -> np.ndarray:
        """int64 (len,): the row of the underlying storage behind each sample of this view (a
        copy; device engines upload the storage once and index it with these)."""
        return self._rows.copy()

    @property
    def labels(self) -> np.ndarray:
        """int64 labels of this split: (N,) or (N, T) for per-step labels (−1 = unlabelled)."""
        return self._all_labels[self._rows].astype(np.int64, copy=False)

    def subset(self, indices: np.ndarray, name: str | None = None) -> Dataset:
        """A view on the samples ``indices`` of this dataset (no copy of the stored samples)."""
        idx = self._check_indices(indices)
        view = copy.copy(self)
        view._rows = self._rows[idx]
        if name is not None:
            view.name = name
        return view

    def _check_indices(self, indices: Any) -> np.ndarray:
        idx = np.asarray(indices)
        if idx.ndim != 1 or not (idx.size == 0 or np.issubdtype(idx.dtype, np.integer)):
            raise ConfigError(f"{self.name}: batch indices must be a 1-D integer array")
        idx = idx.astype(np.int64, copy=False)
        if idx.size and (idx.min() < 0 or idx.max() >= len(self)):
            raise ConfigError(
                f"{self.name}: batch index out of range [0, {len(self)}) "
                f"(got {int(idx.min())}..{int(idx.max())})"
            )
        return idx

    # -- batches -------------------------------------------------------------------------------
    def batch(
        self, indices: Any, *, sparse: bool = False, dtype: Any = np.float32
    ) -> tuple[np.ndarray | SpikeEvents, np.ndarray]:
        """``(x, y)`` for the samples ``indices`` of this split (see the module docstring)."""
        rows = self._rows[self._check_indices(indices)]
        x = self._inputs(rows, sparse=sparse, dtype=np.dtype(dtype))
        y = self._all_labels[rows].astype(np.int64)
        if self.per_step_labels:
            y = np.ascontiguousarray(y.T)  # (B, T) -> time-major (T, B)
        return x, y

    def _inputs(self, rows: np.ndarray, *, sparse: bool, dtype: np.dtype) -> np.ndarray | SpikeEvents:
        raise NotImplementedError

    def resident(self) -> Dataset:
        """This split with its samples in memory (an :class:`EventDataset` or
        :class:`DenseDataset`): itself, or, for a split read from disk batch by batch, its
        samples read once (an engine that keeps the whole split on a device needs them)."""
        return self

    def __repr__(self) -> str:
        syn = ", SYNTHETIC" if self.synthetic else ""
        return (
            f"<{type(self).__name__} {self.name}: N={len(self)}, T={self.T}, I={self.n_in}, "
            f"C={self.n_out}{syn}, source={self.source!r}>"
        )


class EventDataset(Dataset):
    """Spike events per sample (SHD; a user's events, :mod:`resonet.data.custom`).

    Storage: ``offsets`` int64 (N+1,); sample n owns ``steps[offsets[n]:offsets[n+1]]`` (in
    [0, T)), ``chans[...]`` (in [0, I)) and, unless every event is a 1 (``values`` None: binary
    spikes), ``values[...]``, sorted by (step, channel) with no (step, channel) twice. Memory
    O(events): SHD stores int16 steps and channels, a user's file the smallest integer type that
    holds T and I.
    """

    is_events = True

    def __init__(self, *, offsets: np.ndarray, steps: np.ndarray, chans: np.ndarray,
                 values: np.ndarray | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.offsets = np.asarray(offsets, dtype=np.int64)
        self.steps = np.asarray(steps)
        self.chans = np.asarray(chans)
        self.values = None if values is None else np.asarray(values)
        if self.offsets.shape != (len(self._all_labels) + 1,):
            raise ConfigError(f"{self.name}: offsets must have N+1 entries")
        if self.values is not None and self.values.shape != self.steps.shape:
            raise ConfigError(f"{self.name}: values must have one entry per event")

    def spike_counts(self) -> np.ndarray:
        """Number of (binned, merged) events per sample of this split, int64 (N,)."""
        return np.diff(self.offsets)[self._rows]

    def events_of(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(b, pos) of every event of the storage rows ``rows``: ``b`` the position of its sample
        in ``rows``, ``pos`` its index in the storage arrays (per sample in stored order)."""
        starts = self.offsets[rows]
        counts = self.offsets[rows + 1] - starts
        total = int(counts.sum())
        b = np.repeat(np.arange(rows.shape[0], dtype=np.int64), counts)
        # position of each event in the storage: start of its sample + rank within the sample
        first = np.cumsum(counts) - counts
        pos = np.arange(total, dtype=np.int64) - np.repeat(first - starts, counts)
        return b, pos

    def _inputs(self, rows: np.ndarray, *, sparse: bool, dtype: np.dtype) -> np.ndarray | SpikeEvents:
        B, T, I = rows.shape[0], self.T, self.n_in
        b, pos = self.events_of(rows)
        s, c = self.steps[pos].astype(np.int64), self.chans[pos].astype(np.int64)
        v = None if self.values is None else self.values[pos].astype(dtype)
        if not sparse:
            x = np.zeros((T, B, I), dtype=dtype)  # (T, B, I)
            x[s, b, c] = 1 if v is None else v
            return x
        r = s * B + b  # CSR row of x.reshape(T*B, I)
        # stable sort keeps each row's channels in ascending order (they are sorted per sample)
        order = np.argsort(r, kind="stable")
        indptr = np.zeros(T * B + 1, dtype=np.int64)
        np.cumsum(np.bincount(r, minlength=T * B), out=indptr[1:])
        return SpikeEvents(indptr, c[order].astype(np.int32), None if v is None else v[order],
                           T, B, I)


class DenseDataset(Dataset):
    """Small-integer sequences (ECG spikes, MNIST pixels), converted per batch.

    ``x`` has shape (N, T, I) (or (N, T) for I = 1). A batch is
    ``x̃[t, b, i] = scale · x[rows[b], perm[t], i]`` in ``dtype`` (computed as
    ``x.astype(dtype) / divisor`` when a divisor is given, so uint8/255 in float32 is exactly
    torchvision's ``ToTensor``), with ``perm`` the identity unless a fixed time permutation is set.
    """

    def __init__(
        self,
        *,
        x: np.ndarray,
        divisor: float | None = None,
        time_perm: np.ndarray | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        x = np.asarray(x)
        self.x = x[:, :, None] if x.ndim == 2 else x  # (N, T, I), a view for I = 1
        self.divisor = divisor
        self.time_perm = None if time_perm is None else np.asarray(time_perm, dtype=np.int64)
        if self.x.shape[1:] != (self.T, self.n_in):
            raise ConfigError(f"{self.name}: x has shape {x.shape}, expected (N, {self.T}, ...)")

    def _inputs(self, rows: np.ndarray, *, sparse: bool, dtype: np.dtype) -> np.ndarray | SpikeEvents:
        xb = self.x[rows]  # (B, T, I), stored dtype
        if self.time_perm is not None:
            xb = xb[:, self.time_perm]
        x = np.ascontiguousarray(xb.transpose(1, 0, 2), dtype=dtype)  # (T, B, I)
        if self.divisor is not None:
            x /= dtype.type(self.divisor)
        return SpikeEvents.from_dense(x) if sparse else x


def split_indices(n: int, seed: int, val_fraction: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """Seeded train/validation split of ``n`` samples: ``int(val_fraction·n)`` go to validation.

    ``perm = default_rng(seed).permutation(n)``; validation = ``perm[:n_val]``, train = the rest,
    each returned sorted (int64). The split is a pure function of (n, seed, val_fraction): SHD
    8,156 → 7,341/815, ECG 618 → 557/61, MNIST 60,000 → 54,000/6,000, as in the official code
    (whose ``random_split`` is unseeded, so the exact membership cannot be reproduced).
    """
    if not 0.0 <= val_fraction < 1.0:
        raise ConfigError(f"val_fraction must lie in [0, 1), got {val_fraction}")
    n_val = int(val_fraction * n)
    perm = np.random.default_rng(seed).permutation(n)
    return np.sort(perm[n_val:]).astype(np.int64), np.sort(perm[:n_val]).astype(np.int64)


def indices_digest(idx: np.ndarray) -> str:
    """Short sha256 of an index array (int64 little-endian), to record a split in metadata."""
    return hashlib.sha256(np.asarray(idx, dtype="<i8").tobytes()).hexdigest()[:16]


@dataclass
class TaskData:
    """The train/validation/test splits of a task and what a run should record about them.

    ``split`` holds the train/validation index arrays into the *training file* (and, for
    PS-MNIST, ``permutation``); :meth:`save` writes them to the run directory, which is where
    resonet keeps them (data directories may be read-only or shared). ``info`` is JSON-ready.
    """

    train: Dataset
    val: Dataset
    test: Dataset
    info: dict[str, Any] = field(default_factory=dict)
    split: dict[str, np.ndarray] = field(default_factory=dict)

    def save(self, run_dir: str | Path, filename: str = "data_split.npz") -> Path:
        """Write the split indices (and PS-MNIST permutation) to ``run_dir/filename``."""
        path = Path(run_dir) / filename
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, Any] = {k: np.asarray(v) for k, v in self.split.items()}
        np.savez(path, **arrays)
        return path
