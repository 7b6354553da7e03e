"""Data for the paper's tasks: SHD, ECG (QTDB), S-MNIST and PS-MNIST.

Public API::

    load_task(task, data_dir=None, *, split_seed=0, download=False, synthetic=None, **options)
        -> TaskData(train, val, test, info, split)
    iterate_batches(dataset, batch_size, *, seed, epoch, shuffle=True, sparse=False,
                    dtype=np.float32, start_batch=0) -> iterator of (x, y)
    Dataset.batch(indices, *, sparse=False, dtype=np.float32) -> (x, y)
    official_labels(y)   # ECG: unlabelled (-1) -> class 0, the official argmax rule

See ``docs/data.md`` for formats, the SHD binning rule, the synthetic SHD stand-in, the cache and
data-directory rules, and the download URLs and checksums.
"""

from .batching import epoch_order, iterate_batches, num_batches
from .dataset import SYNTHETIC_SOURCE, Dataset, DenseDataset, EventDataset, TaskData, split_indices
from .ecg import official_labels
from .paths import resolve_data_dir
from .tasks import TASKS, load_task

__all__ = [
    "SYNTHETIC_SOURCE",
    "TASKS",
    "Dataset",
    "DenseDataset",
    "EventDataset",
    "TaskData",
    "epoch_order",
    "iterate_batches",
    "load_task",
    "num_batches",
    "official_labels",
    "resolve_data_dir",
    "split_indices",
]
