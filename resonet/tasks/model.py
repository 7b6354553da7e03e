"""What a task declares (:class:`Task`), what its loader returns (:class:`Loaded`), and the one
split rule every task shares (:func:`finish`).

A task is one entry of the registry (:data:`resonet.tasks.TASKS`), declared once in its own module
(``resonet/tasks/<name>.py``), like a neuron model in ``resonet/neurons``:

==================  =================================================================================
``name``            the name (``python -m resonet.train NAME``, ``Settings.task``, run directories)
``summary``         one line for listings and ``--help``
``files``           the files its loader looks for (for messages and docs)
``n_in`` ``n_out``  the sizes I, C and the sequence length T (None for a task whose files decide
``T``               them: ``from_files``)
``n_hidden``        H of its training presets
``labels``          ``"sample"`` (one label per sequence, the readout averaged over the recorded
                    steps), ``"step"`` (a label per step, −1 = unlabelled) or ``"last"`` (one label,
                    only the last step recorded)
``events``          whether its samples are spike events (an :class:`resonet.data.EventDataset`;
                    an engine that ``accepts_events`` takes them as such)
``loader``          ``loader(data_dir, *, split_seed, download, explicit_dir, synthetic, **options)
                    -> Loaded``: the whole training file and the test file
``options``         the loader's own options (``load_task(..., **options)``)
``stand_in``        whether it has a generated stand-in for absent files (``--synthetic``)
``from_files``      whether the sizes, labels and input form come from a user's files
                    (``--train/--test/--val``); ``probe`` then reads them
``has_presets``     whether the neuron modules declare ``PRESETS[name]`` (the paper's tasks)
``defaults_from``   for a task without presets: whose presets it starts from by default
``val_fraction``    the validation share of the training file (:func:`finish`)
==================  =================================================================================
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..data.dataset import Dataset, TaskData, indices_digest, split_indices
from ..errors import ConfigError

LABELS = ("sample", "step", "last")
VAL_FRACTION = 0.1


@dataclass
class Loaded:
    """What a task's loader returns: the whole training file (before the validation split), the
    test file (None: the validation split doubles as the test split), a validation file where the
    task has one, JSON-ready ``info``, and ``extra`` arrays for the run's split file (e.g. the
    PS-MNIST permutation)."""

    train: Dataset
    test: Dataset | None
    info: dict[str, Any]
    val: Dataset | None = None
    extra: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass(frozen=True)
class Task:
    """One task of the registry (the fields are described in the module docstring)."""

    name: str
    summary: str
    files: str
    n_in: int | None
    n_out: int | None
    T: int | None
    n_hidden: int
    labels: str
    events: bool
    loader: Callable[..., Loaded]
    options: frozenset[str] = frozenset()
    stand_in: bool = False
    from_files: bool = False
    has_presets: bool = True
    defaults_from: str | None = None
    val_fraction: float = VAL_FRACTION
    probe: Callable[..., Task] | None = None

    def __post_init__(self) -> None:
        if self.labels not in LABELS:
            raise ConfigError(f"task {self.name}: labels must be one of {LABELS}, got {self.labels!r}")

    @property
    def per_step_labels(self) -> bool:
        return self.labels == "step"

    @property
    def label_last(self) -> bool:
        return self.labels == "last"

    @property
    def sized(self) -> bool:
        """Whether the sizes are known (a paper task, or a user's task after :meth:`with_files`)."""
        return self.n_in is not None and self.n_out is not None and self.T is not None

    def with_files(self, **files: Any) -> Task:
        """This task with the sizes, labels and input form of a user's files (``probe``)."""
        if self.probe is None:
            raise ConfigError(f"task {self.name} reads its own files; --train, --test, --val and "
                              "--dt are for the task custom")
        return self.probe(self, **files)

    def replace(self, **changes: Any) -> Task:
        return dataclasses.replace(self, **changes)


def finish(task: Task, loaded: Loaded, split_seed: int) -> TaskData:
    """The run's three splits: the validation split is ``loaded.val`` where the task has one, else
    ``int(val_fraction·N)`` samples of the training file drawn by :func:`split_indices`
    (``split_seed``); without a test file the validation split is also the test split (its
    scores are then no independent test: ``info["test"]`` says so); the common ``info`` fields
    filled in."""
    full = loaded.train
    if loaded.val is None:
        tr_idx, va_idx = split_indices(len(full), split_seed, task.val_fraction)
        train = full.subset(tr_idx, name=f"{task.name}/train")
        val = full.subset(va_idx, name=f"{task.name}/val")
        split_info: dict[str, Any] = {"split_seed": split_seed, "val_fraction": task.val_fraction}
    else:  # a validation file: the training file is all training data
        tr_idx = np.arange(len(full), dtype=np.int64)
        va_idx = np.arange(len(loaded.val), dtype=np.int64)
        train = full.subset(tr_idx, name=f"{task.name}/train")
        val = loaded.val
        val.name = f"{task.name}/val"
        split_info = {"split_seed": split_seed, "val_fraction": None,
                      "val_file": loaded.info.get("files", {}).get("val")}
    if loaded.test is None:
        test = val.subset(np.arange(len(val)), name=f"{task.name}/test")
        split_info["test"] = "the validation split (no test data given): not an independent test"
    else:
        test = loaded.test
        test.name = f"{task.name}/test"
    info = {
        "task": task.name,
        "synthetic": bool(full.synthetic),
        "source": full.source,
        **loaded.info,
        "n_in": full.n_in,
        "n_out": full.n_out,
        "T": full.T,
        "per_step_labels": full.per_step_labels,
        **split_info,
        "sizes": {"train": len(train), "val": len(val), "test": len(test)},
        "split_digest": {"train": indices_digest(tr_idx), "val": indices_digest(va_idx)},
        "split_file": "data_split.npz (written by TaskData.save into the run directory)",
    }
    return TaskData(train, val, test, info, {"train": tr_idx, "val": va_idx, **loaded.extra})
