"""Sparse event input: spike trains stored as the indices of the active input channels.

Shapes (fixed letters used everywhere in resonet): T time steps, B batch, I input channels.

A dense input batch is a time-major array ``x`` of shape (T, B, I). Spike data are mostly zero
(SHD: about 4 % ones), so kernels can take the same batch as a CSR matrix over the rows
``row = t * B + b`` of ``x.reshape(T * B, I)``:

- ``indptr``  int64 (T*B + 1,): the active channels of row r are ``indices[indptr[r]:indptr[r+1]]``
- ``indices`` int32 (nnz,): channel indices, each in [0, I), strictly increasing within a row
- ``values``  float32/float64 (nnz,) or None: the input value of each event (None means 1.0,
  i.e. binary spikes)

This is exactly ``scipy.sparse.csr_matrix(x.reshape(T * B, I))`` (with ``values`` dropped when all
ones), so ``SpikeEvents.from_dense(x).to_dense()`` round-trips.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import ConfigError


@dataclass(frozen=True)
class SpikeEvents:
    """A batch of spike trains in CSR form over time-major rows (see the module docstring)."""

    indptr: np.ndarray  # int64 (T*B + 1,)
    indices: np.ndarray  # int32 (nnz,)
    values: np.ndarray | None  # (nnz,) or None for binary spikes
    T: int
    B: int
    I: int  # the shape letter of the project

    def __post_init__(self) -> None:
        if self.indptr.ndim != 1 or self.indptr.shape[0] != self.T * self.B + 1:
            raise ConfigError(
                f"SpikeEvents.indptr has shape {self.indptr.shape}, expected ({self.T * self.B + 1},)"
                " = (T*B + 1,)"
            )
        nnz = int(self.indptr[-1]) if self.indptr.size else 0
        if self.indices.shape != (nnz,):
            raise ConfigError(
                f"SpikeEvents.indices has shape {self.indices.shape}, expected ({nnz},) from indptr[-1]"
            )
        if self.values is not None and self.values.shape != (nnz,):
            raise ConfigError(
                f"SpikeEvents.values has shape {self.values.shape}, expected ({nnz},) or None"
            )
        if nnz and (self.indices.min() < 0 or self.indices.max() >= self.I):
            raise ConfigError(f"SpikeEvents.indices must lie in [0, {self.I}) (the input size I)")
        if np.any(np.diff(self.indptr) < 0):
            raise ConfigError("SpikeEvents.indptr must be non-decreasing")
        if nnz > 1:
            # Within a row (t, b) the channels must increase strictly: a channel listed twice
            # would be summed twice by the kernels but set once by to_dense. O(nnz), no sort; a
            # comparison rather than np.diff, which would wrap for unsigned indices.
            repeat = self.indices[1:] <= self.indices[:-1]
            starts = self.indptr[1:-1]
            repeat[starts[(starts > 0) & (starts < nnz)] - 1] = False  # row boundaries
            if repeat.any():
                raise ConfigError(
                    "SpikeEvents.indices must increase strictly within each row (t, b): sort "
                    "each row's channels and merge repeats (SpikeEvents.from_samples does both)"
                )

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.T, self.B, self.I)

    @property
    def nnz(self) -> int:
        return int(self.indptr[-1])

    @classmethod
    def from_dense(cls, x: np.ndarray) -> SpikeEvents:
        """Build events from a dense (T, B, I) array; values are kept unless all are 1."""
        x = np.asarray(x)
        if x.ndim != 3:
            raise ConfigError(f"input must have shape (T, B, I), got {x.shape}")
        T, B, I = x.shape
        flat = x.reshape(T * B, I)
        rows, cols = np.nonzero(flat)
        counts = np.bincount(rows, minlength=T * B)
        indptr = np.zeros(T * B + 1, dtype=np.int64)
        np.cumsum(counts, out=indptr[1:])
        vals = flat[rows, cols]
        values = None if np.all(vals == 1) else vals.copy()
        return cls(indptr, cols.astype(np.int32), values, T, B, I)

    @classmethod
    def from_samples(
        cls, samples: list[tuple[np.ndarray, np.ndarray]], T: int, I: int
    ) -> SpikeEvents:
        """Build a batch from per-sample (steps, channels) event lists (binary spikes).

        ``steps[k]`` in [0, T) and ``channels[k]`` in [0, I) give the k-th spike of a sample;
        duplicates (two spikes of one channel in one step) are merged into one, like the binning
        of the official SHD preprocessing.
        """
        B = len(samples)
        keys = []
        for b, (steps, chans) in enumerate(samples):
            steps = np.asarray(steps, dtype=np.int64)
            chans = np.asarray(chans, dtype=np.int64)
            if steps.shape != chans.shape:
                raise ConfigError(f"sample {b}: steps and channels differ in length")
            if steps.size and (steps.min() < 0 or steps.max() >= T):
                raise ConfigError(f"sample {b}: a spike step lies outside [0, {T})")
            if chans.size and (chans.min() < 0 or chans.max() >= I):
                raise ConfigError(f"sample {b}: a spike channel lies outside [0, {I})")
            keys.append((steps * B + b) * I + chans)
        allkeys = np.unique(np.concatenate(keys)) if keys else np.zeros(0, np.int64)
        rows = allkeys // I
        cols = (allkeys % I).astype(np.int32)
        counts = np.bincount(rows, minlength=T * B)
        indptr = np.zeros(T * B + 1, dtype=np.int64)
        np.cumsum(counts, out=indptr[1:])
        return cls(indptr, cols, None, T, B, I)

    def to_dense(self, dtype: np.dtype | type = np.float64) -> np.ndarray:
        """The dense (T, B, I) array these events describe."""
        out = np.zeros((self.T * self.B, self.I), dtype=dtype)
        rows = np.repeat(np.arange(self.T * self.B), np.diff(self.indptr))
        out[rows, self.indices] = 1 if self.values is None else self.values
        return out.reshape(self.T, self.B, self.I)
