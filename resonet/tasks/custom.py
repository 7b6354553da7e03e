"""A user's own data set: ``python -m resonet.train custom --train TRAIN --test TEST [--val VAL]``.

The splits are files of resonet's format (:mod:`resonet.data.custom`, docs/data.md "Your own
data"): ``.npz``, or ``.h5`` read batch by batch. Their sizes (I, T), classes (C: the files'
``n_classes``, else the largest label + 1 over the splits), label kind (per sample, or per step
with −1 = unlabelled) and input form (events or dense) decide the task's (:func:`probe`); without
``--val`` the validation split is drawn from TRAIN by the rule of the paper's tasks. Training
settings start from a paper task's presets (``--preset TASK``, default SHD's).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ..data.custom import FORMAT_VERSION, FileInfo
from ..data.custom_h5 import H5EventDataset
from ..data.dataset import EventDataset
from ..data.userdata import open_split
from ..data.userdata import probe as probe_file
from ..errors import ConfigError, DataError
from .model import Loaded, Task

log = logging.getLogger("resonet.data")

SPLITS = ("train", "test", "val")


def _infos(train: Any, test: Any, val: Any, dt: float | None) -> dict[str, FileInfo]:
    if not train:
        raise ConfigError("the task custom needs --train FILE (and --test FILE): .npz or .h5 "
                          "files of resonet's format, docs/data.md \"Your own data\"")
    files = {"train": train, **({"test": test} if test else {}), **({"val": val} if val else {})}
    return {split: probe_file(path, dt=dt) for split, path in files.items()}


def _agree(infos: dict[str, FileInfo]) -> None:
    """Every split has the train split's T, I, input form, label kind and declared classes."""
    ref = infos["train"]
    for inf in infos.values():
        for what, a, b, fix in (
            ("input channels I", inf.I, ref.I, "all splits need the same (N, T, I) layout"),
            ("steps T", inf.T, ref.T, "all splits need the same (N, T, I) layout"),
            ("form", "events" if inf.events else "dense", "events" if ref.events else "dense",
             "give every split as events or every split dense"),
            ("labels", "per step" if inf.per_step else "per sample",
             "per step" if ref.per_step else "per sample", "label every split the same way"),
            ("n_classes", inf.n_classes, ref.n_classes, "declare the same n_classes (or none)"),
            ("class_names", inf.class_names, ref.class_names, "give the same class_names"),
        ):
            if a != b:
                raise DataError(f"{inf.path}: {what} {a}, but the train split {ref.path} has {b}; "
                                f"{fix}")


def n_classes_of(infos: dict[str, FileInfo]) -> int:
    """C: the declared n_classes, else the largest label of any split + 1 (at least 2)."""
    declared = infos["train"].n_classes
    if declared is not None:
        return declared
    C = max(inf.max_label for inf in infos.values()) + 1
    return C


def probe(task: Task, *, train: Any = None, test: Any = None, val: Any = None,
          dt: float | None = None) -> Task:
    """The task with the files' I, C, T, label kind and input form (labels and headers read,
    the samples not)."""
    infos = _infos(train, test, val, dt)
    _agree(infos)
    ref = infos["train"]
    return task.replace(n_in=ref.I, n_out=n_classes_of(infos), T=ref.T,
                        labels="step" if ref.per_step else "sample", events=ref.events)


def load(d: Path, *, split_seed: int, download: bool, explicit_dir: bool,
         synthetic: bool | None = None, train: Any = None, test: Any = None, val: Any = None,
         dt: float | None = None) -> Loaded:
    """The splits of a user's files, every value checked (:mod:`resonet.data.custom`)."""
    infos = _infos(train, test, val, dt)
    _agree(infos)
    C = n_classes_of(infos)
    paths = {split: Path(p) for split, p in (("train", train), ("test", test), ("val", val)) if p}
    sets = {split: open_split(p, name=f"custom/{split}", n_out=C, dt=dt)
            for split, p in paths.items()}
    ref = infos["train"]
    info: dict[str, Any] = {
        "files": {k: str(p) for k, p in paths.items()},
        "format": "events" if ref.events else "dense",
        "format_version": FORMAT_VERSION,
        "labels": "per step; -1 = unlabelled" if ref.per_step else "per sample",
    }
    if ref.class_names is not None:
        info["class_names"] = ref.class_names
    if dt is not None:
        info["dt"] = dt
    if ref.events:  # stored events (before repeats are summed, for an .h5 file)
        info["events"] = {k: int(s.spike_counts().sum()) for k, s in sets.items()
                          if isinstance(s, (EventDataset, H5EventDataset))}
    log.info("custom data from %s", ", ".join(str(p) for p in paths.values()))
    if "test" not in sets:
        log.warning("no test split given: the test scores are those of the validation split, "
                    "not an independent test")
    return Loaded(sets["train"], sets.get("test"), info, val=sets.get("val"))


TASK = Task(
    name="custom",
    summary="your own data: --train and --test files (.npz or .h5) of resonet's format",
    files="--train TRAIN --test TEST [--val VAL] (.npz or .h5, docs/data.md)",
    n_in=None, n_out=None, T=None, n_hidden=128,
    labels="sample",
    events=False,
    loader=load,
    options=frozenset({"train", "test", "val", "dt"}),
    from_files=True,
    has_presets=False,
    defaults_from="shd",
    probe=probe,
)
