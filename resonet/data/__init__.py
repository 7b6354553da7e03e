"""Data: the readers of the paper's data sets (SHD, ECG (QTDB), S-MNIST and PS-MNIST), a user's
files in resonet's format (:mod:`.custom`, docs/data.md "Your own data"), tonic interop
(:mod:`.tonic`), and the datasets and batches every task shares.

Public API::

    load_task(task, data_dir=None, *, split_seed=0, download=False, synthetic=None, **options)
        -> TaskData(train, val, test, info, split)
    iterate_batches(dataset, batch_size, *, seed, epoch, shuffle=True, sparse=False,
                    dtype=np.float32, start_batch=0) -> iterator of (x, y)
    Dataset.batch(indices, *, sparse=False, dtype=np.float32) -> (x, y)
    official_labels(y)   # ECG: unlabelled (-1) -> class 0, the official argmax rule
    read_split(path_or_arrays) -> SplitArrays      # a user's split, checked (docs/data.md)
    from_tonic(dataset, *, dt=None, n_steps=None) -> SplitArrays

Tasks themselves (sizes, label kind, loader, split rule, presets) are declared in the task
registry, :mod:`resonet.tasks`; ``load_task`` and ``TASKS`` (the paper's tasks) are read from it.
See ``docs/data.md`` for formats, the SHD binning rule, the synthetic SHD stand-in, the cache and
data-directory rules, and the download URLs and checksums.
"""

from __future__ import annotations

import os
from typing import Any

from .batching import epoch_order, iterate_batches, num_batches
from .custom import FORMAT_VERSION, SplitArrays
from .dataset import SYNTHETIC_SOURCE, Dataset, DenseDataset, EventDataset, TaskData, split_indices
from .ecg import official_labels
from .paths import resolve_data_dir
from .tonic import from_tonic
from .userdata import read_split

__all__ = [
    "FORMAT_VERSION",
    "SYNTHETIC_SOURCE",
    "TASKS",
    "Dataset",
    "DenseDataset",
    "EventDataset",
    "SplitArrays",
    "TaskData",
    "epoch_order",
    "from_tonic",
    "iterate_batches",
    "load_task",
    "num_batches",
    "official_labels",
    "read_split",
    "resolve_data_dir",
    "split_indices",
]


def load_task(task: str, data_dir: str | os.PathLike[str] | None = None, **kwargs: Any) -> TaskData:
    """A task's train/validation/test splits: :func:`resonet.tasks.load_task` (the registry
    imports these readers, so it is imported on first use)."""
    from ..tasks import load_task as load

    return load(task, data_dir, **kwargs)


def __getattr__(name: str) -> Any:
    if name == "TASKS":  # the paper's tasks, from the registry
        from ..tasks import preset_tasks

        return preset_tasks()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
