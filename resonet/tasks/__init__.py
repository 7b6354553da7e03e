"""The task registry (:data:`TASKS`): the one place that lists the tasks resonet trains, each
declared once in its own module (``resonet/tasks/<name>.py``, a :class:`resonet.tasks.model.Task`:
sizes, label kind, input form, loader, split rule, presets, stand-in), like the neuron models in
:mod:`resonet.neurons`. Code asks the task (``get_task(name).events``), never compares names.

==========  ==========================  ===  ====  ====  ==================================
task        files                       I    C     T     labels
==========  ==========================  ===  ====  ====  ==================================
shd         shd_{train,test}.h5         700  20    250   per sample (events)
ecg         QTDB_{train,test}.mat       4    6     1300  per step (−1 = unlabelled)
smnist      MNIST IDX files             1    10    784   last step
psmnist     MNIST IDX files             1    10    784   per sample (fixed permutation)
custom      a user's .npz/.h5 files     from the files (docs/data.md, "Your own data")
==========  ==========================  ===  ====  ====  ==================================

Adding a task: its module here (a ``TASK`` and its loader) and one :func:`register` line below.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from ..data.dataset import TaskData
from ..data.paths import resolve_data_dir
from ..errors import ConfigError, DataError
from . import custom, ecg, psmnist, shd, smnist
from .model import LABELS, Loaded, Task, finish

log = logging.getLogger("resonet.data")

TASKS: dict[str, Task] = {}


def register(task: Task) -> Task:
    """Add a task to the registry (in registration order); ConfigError if its name is taken."""
    other = TASKS.get(task.name)
    if other is not None and other is not task:
        raise ConfigError(f"a task named {task.name!r} is registered already")
    TASKS[task.name] = task
    return task


def unregister(name: str) -> None:
    """Remove a task from the registry (tests that register a task of their own)."""
    TASKS.pop(name, None)


# The registry, in the order of the paper's tables and the CLIs' listings; a user's files last.
register(shd.TASK)
register(ecg.TASK)
register(smnist.TASK)
register(psmnist.TASK)
register(custom.TASK)

__all__ = ["LABELS", "TASKS", "Loaded", "Task", "export_task", "finish", "get_task", "load_task",
           "preset_tasks", "register", "task_names", "unregister"]


def task_names() -> tuple[str, ...]:
    """Every registered task's name (read at call time: a task registered later counts)."""
    return tuple(TASKS)


def preset_tasks() -> tuple[str, ...]:
    """The tasks the neuron models declare presets for (the paper's four)."""
    return tuple(n for n, t in TASKS.items() if t.has_presets)


def get_task(name: str) -> Task:
    """The task ``name`` of the registry; ConfigError naming the choices."""
    try:
        return TASKS[name]
    except (KeyError, TypeError):
        raise ConfigError(f"unknown task {name!r}; choose one of {', '.join(TASKS)}") from None


def load_task(
    task: str,
    data_dir: str | os.PathLike[str] | None = None,
    *,
    split_seed: int = 0,
    download: bool = False,
    synthetic: bool | None = None,
    **task_options: Any,
) -> TaskData:
    """A task's train/validation/test splits. ``data_dir``: argument > ``$RESONET_DATA`` > the
    user cache dir.

    An explicit ``data_dir`` must exist unless ``download=True`` (which creates it and downloads
    the task's files into it): a mistyped folder is an error, never a new folder. ``synthetic``
    (the tasks with a ``stand_in``): None uses it when the real files are absent, in the default
    data directory only; True forces it, False never uses it. ``task_options`` are the task's own
    (``Task.options``; e.g. shd ``dt``, ``n_steps``, ``official_binning``; custom ``train``,
    ``test``, ``val``, ``dt``). The validation split is the task's (:func:`finish`).
    """
    t = get_task(task)
    unknown = set(task_options) - t.options
    if unknown:
        raise ConfigError(
            f"unknown option(s) for task {task}: {', '.join(sorted(unknown))}; "
            f"allowed: {', '.join(sorted(t.options)) or 'none'}"
        )
    if synthetic and not t.stand_in:
        raise ConfigError(f"task {task} has no synthetic stand-in; drop --synthetic")
    explicit = data_dir is not None and str(data_dir) != ""
    d = resolve_data_dir(data_dir)
    if explicit and not t.from_files and not d.is_dir() and not download:
        what = "is not a directory" if d.exists() else "does not exist"
        raise DataError(
            f"{d}: data directory {what}; check --data-dir, or add --download to create it and "
            f"download the {task} data into it"
        )
    loaded = t.loader(d, split_seed=split_seed, download=download, explicit_dir=explicit,
                      synthetic=synthetic, **task_options)
    return finish(t, loaded, split_seed)


def export_task(task: str, out: str | os.PathLike[str], data_dir: str | os.PathLike[str] | None = None,
                *, split_seed: int = 0, download: bool = False, synthetic: bool | None = None,
                **task_options: Any) -> dict[str, Path]:
    """Write a task's preprocessed training and test files in resonet's file format
    (``out/train.npz``, ``out/test.npz``; docs/data.md): the samples exactly as its batches
    present them (SHD binned events, ECG spikes and per-step labels, MNIST pixels with
    ``x_divisor = 255``, PS-MNIST permuted), the training file whole (the validation split is
    drawn from it by the same rule when it is trained as ``custom``; ``split_seed`` matters only
    where the data depend on it, the PS-MNIST permutation). Existing files are never
    overwritten."""
    from ..data.custom import from_dataset

    t = get_task(task)
    if t.from_files:
        raise ConfigError(f"the task {task} is already files of the format; nothing to export")
    out = Path(out)
    paths = {split: out / f"{split}.npz" for split in ("train", "test")}
    for p in paths.values():
        if p.exists():
            raise DataError(f"{p} exists; choose another --out or remove it (an export never "
                            "overwrites a file)")
    explicit = data_dir is not None and str(data_dir) != ""
    loaded = t.loader(resolve_data_dir(data_dir), split_seed=split_seed, download=download,
                      explicit_dir=explicit, synthetic=synthetic, **task_options)
    names = loaded.info.get("class_names")
    for split, ds in (("train", loaded.train), ("test", loaded.test)):
        if ds is None:
            raise ConfigError(f"the task {task} has no {split} file to export")
        arrays = from_dataset(ds)
        arrays.class_names = list(names) if names else None
        arrays.save(paths[split])
    return paths
