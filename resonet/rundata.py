"""The data a training run reads, from its settings: :func:`task_data`.

The task registry (:mod:`resonet.tasks`) loads a task's splits from its options; a run's
settings imply some of those options (a user's files, the data directory and split seed, the
stand-in choice, a PS-MNIST pixel order, the official SHD binning when fine-tuning an official
network) and cut the splits to ``subset``. This module sits above the registry, the settings
and :mod:`resonet.official`, so that none of them imports another that imports it back.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .data.dataset import TaskData
from .errors import CheckpointError, DataError
from .tasks import Task, get_task, load_task

__all__ = ["task_data"]


def task_data(s: Mapping[str, Any], log_line=None, options: Mapping[str, Any] | None = None
              ) -> TaskData:
    """The splits a run trains on, from its settings (a :class:`resonet.settings.Settings` or the
    ``"settings"`` of its config.json): the task's data with the run's data directory, split seed
    and task options (:func:`_run_options`; ``options`` adds others, e.g. an official
    checkpoint's ``task_options``), cut to ``subset``; a DataError if the data no longer have the
    sizes the run was set up with (a user's file changed since). ``log_line(text)`` announces
    slow loads."""
    t = get_task(s["task"])
    kwargs: dict[str, Any] = {}
    if t.stand_in:
        kwargs["synthetic"] = {"auto": None, "yes": True, "no": False}[s.get("synthetic") or "auto"]
        if kwargs["synthetic"] is not False and log_line is not None:
            log_line(f"loading {t.name.upper()} (generating the offline {t.name.upper()}-format "
                     "stand-in on first use if the real files are absent; this can take a minute) ...")
    if t.from_files:
        kwargs.update({k: s.get(k) for k in ("train", "test", "val", "dt")})
    kwargs.update(_run_options(t, s))
    kwargs.update(options or {})
    data = load_task(t.name, s.get("data_dir"), split_seed=int(s.get("split_seed") or 0),
                     download=bool(s.get("download")), **kwargs)
    _check_sizes(data, s)
    k = s.get("subset")
    if k:
        data.train = data.train.subset(np.arange(min(k, len(data.train))))
        data.val = data.val.subset(np.arange(min(k, len(data.val))))
        data.test = data.test.subset(np.arange(min(k, len(data.test))))
    return data


def _run_options(t: Task, s: Mapping[str, Any]) -> dict[str, Any]:
    """The task options a run's settings imply: a given pixel order (``permutation``, a task
    that takes one: PS-MNIST), and the official binning of a task that has one (SHD) when the
    run starts from an official network (``--init-from``), which was trained on it."""
    out: dict[str, Any] = {}
    init_from = s.get("init_from")
    if init_from is not None and "official_binning" in t.options:
        # an official network was trained on the official binning (unit 0 dropped, channel
        # 700 - unit): fine-tuning it must feed it the same channels
        from .official import is_official

        if not Path(init_from).exists():
            raise CheckpointError(f"{init_from}: the --init-from checkpoint is gone; it decides "
                                  f"how {t.name.upper()} is binned for this run, put it back")
        if is_official(init_from):
            out["official_binning"] = True
    if s.get("permutation") is not None and "permutation" in t.options:
        from .settings import load_permutation  # a given or inherited pixel order

        out["permutation"] = load_permutation(s["permutation"])
    return out


def _check_sizes(data: TaskData, s: Mapping[str, Any]) -> None:
    """The data's I, C, T and label kind are those the run's network was built for."""
    preset = s.get("preset") or {}
    want = {"I": preset.get("n_in"), "C": preset.get("n_out"), "T": preset.get("T"),
            "per-step labels": preset.get("per_step_labels")}
    d = data.train
    have = {"I": d.n_in, "C": d.n_out, "T": d.T, "per-step labels": d.per_step_labels}
    diff = [f"{k} {have[k]} (the run has {want[k]})" for k in want
            if want[k] is not None and have[k] != want[k]]
    if diff:
        raise DataError(f"{d.source}: the data have {', '.join(diff)}; did the files change "
                        "since the run was set up? Restore them, or start a new run")
