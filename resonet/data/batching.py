"""The batch iterator shared by all tasks.

The sample order of epoch ``e`` is a pure function of ``(seed, e)``:

    order = numpy.random.default_rng([seed, e]).permutation(N)      (shuffle=True)
    order = arange(N)                                                (shuffle=False)

and batch k holds ``order[k·B : (k+1)·B]``; the last, smaller batch is kept (as torch's
``DataLoader(drop_last=False)`` in the official code). Nothing but this index array is created per
epoch -- the samples are converted batch by batch -- and ``start_batch=k`` skips the first k
batches without building them, so a killed run resumes mid-epoch on exactly the same batches.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..events import SpikeEvents
from .dataset import Dataset


def epoch_order(n: int, *, seed: int, epoch: int, shuffle: bool = True) -> np.ndarray:
    """The sample order of one epoch (int64 (n,)), a pure function of (n, seed, epoch)."""
    if seed < 0 or epoch < 0:
        raise ConfigError(f"seed and epoch must be non-negative (got seed={seed}, epoch={epoch})")
    if not shuffle:
        return np.arange(n, dtype=np.int64)
    return np.random.default_rng([int(seed), int(epoch)]).permutation(n).astype(np.int64)


def num_batches(n: int, batch_size: int) -> int:
    """Number of batches per epoch with the last partial batch kept: ceil(n / batch_size)."""
    return -(-n // batch_size)


def iterate_batches(
    dataset: Dataset,
    batch_size: int,
    *,
    seed: int,
    epoch: int,
    shuffle: bool = True,
    sparse: bool = False,
    dtype: Any = np.float32,
    start_batch: int = 0,
) -> Iterator[tuple[np.ndarray | SpikeEvents, np.ndarray]]:
    """Yield ``dataset.batch(order[k·B:(k+1)·B])`` for k = start_batch, …, ceil(N/B) − 1."""
    if batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
    n = len(dataset)
    nb = num_batches(n, batch_size)
    if not 0 <= start_batch <= nb:
        raise ConfigError(f"start_batch must lie in [0, {nb}] for {n} samples, got {start_batch}")
    order = epoch_order(n, seed=seed, epoch=epoch, shuffle=shuffle)
    for k in range(start_batch, nb):
        yield dataset.batch(order[k * batch_size : (k + 1) * batch_size], sparse=sparse, dtype=dtype)
