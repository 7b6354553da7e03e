"""``load_task``: one call from a task name to its train/validation/test datasets.

==========  ==========================  ===  ====  ====  ==============================
task        files looked for            I    C     T     labels
==========  ==========================  ===  ====  ====  ==============================
shd         shd_{train,test}.h5         700  20    250   one per sample
ecg         QTDB_{train,test}.mat       4    6     1300  one per step (−1 = unlabelled)
            (or raw QTDB + wfdb)
smnist      MNIST IDX files             1    10    784   one per sample
psmnist     MNIST IDX files             1    10    784   one per sample (fixed permutation)
==========  ==========================  ===  ====  ====  ==============================

The training file is split 90/10 into train/validation with :func:`split_indices` (seeded by
``split_seed``); the test file is the test set. The split indices (and the PS-MNIST permutation)
are returned in ``TaskData.split`` and written to the run directory by ``TaskData.save``; their
digests are in ``TaskData.info``.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, DataError
from . import ecg, mnist, shd, synthetic
from .dataset import (
    SYNTHETIC_SOURCE,
    DenseDataset,
    EventDataset,
    TaskData,
    indices_digest,
    split_indices,
)
from .paths import resolve_data_dir

log = logging.getLogger("resonet.data")

TASKS = ("shd", "ecg", "smnist", "psmnist")
VAL_FRACTION = 0.1
_OPTIONS = {
    "shd": {
        "dt",
        "n_steps",
        "official_binning",
        "synthetic_seed",
        "synthetic_n_train",
        "synthetic_n_test",
        "base_url",
    },
    "ecg": {"source", "annotation", "test_fraction", "record_seed", "level", "base_url"},
    "smnist": {"base_url"},
    "psmnist": {"base_url", "perm_seed", "permutation"},
}


def load_task(
    task: str,
    data_dir: str | os.PathLike[str] | None = None,
    *,
    split_seed: int = 0,
    download: bool = False,
    synthetic: bool | None = None,
    **task_options: Any,
) -> TaskData:
    """Load a task's splits. ``data_dir``: argument > ``$RESONET_DATA`` > the user cache dir.

    An explicit ``data_dir`` must exist unless ``download=True`` (which creates it and downloads
    the task's files into it): a mistyped folder is an error, never a new folder.

    SHD: real files if present (downloaded first when ``download=True``); otherwise the generated
    stand-in of :mod:`resonet.data.synthetic` with a loud warning in the log and
    ``info["synthetic"] = True`` / ``info["warning"]``. The stand-in is generated automatically
    (``synthetic=None``) only in the default data directory (``$RESONET_DATA`` or the user cache);
    in an explicit ``data_dir`` only with ``synthetic=True``, which forces it. ``synthetic=False``
    never uses it.

    ECG: the ``QTDB_{train,test}.mat`` files (downloaded first when ``download=True``), else raw
    QTDB records. (P)S-MNIST: the four IDX files (downloaded first when ``download=True``).

    Options: shd — ``dt`` (4e-3), ``n_steps`` (250), ``official_binning`` (False),
    ``synthetic_seed`` (0), ``synthetic_n_train``/``synthetic_n_test`` (8156/2264), ``base_url``;
    ecg — ``source`` ('auto' | 'mat' | 'raw'), ``annotation`` ('q1c'), ``test_fraction`` (0.2,
    raw only), ``record_seed`` (0, raw only), ``level`` (0.3, raw only), ``base_url``;
    smnist/psmnist — ``base_url``; psmnist — ``perm_seed`` (default ``split_seed``) or
    ``permutation``, a given pixel order (int (784,), e.g. an official run's; overrides the seed).
    """
    if task not in TASKS:
        raise ConfigError(f"unknown task {task!r}; choose one of {', '.join(TASKS)}")
    unknown = set(task_options) - _OPTIONS[task]
    if unknown:
        raise ConfigError(
            f"unknown option(s) for task {task}: {', '.join(sorted(unknown))}; "
            f"allowed: {', '.join(sorted(_OPTIONS[task]))}"
        )
    if synthetic and task != "shd":
        raise ConfigError(f"task {task} has no synthetic stand-in (only shd has); drop --synthetic")
    explicit = data_dir is not None and str(data_dir) != ""
    d = resolve_data_dir(data_dir)
    if explicit and not d.is_dir() and not download:
        what = "is not a directory" if d.exists() else "does not exist"
        raise DataError(
            f"{d}: data directory {what}; check --data-dir, or add --download to create it and "
            f"download the {task} data into it"
        )
    if task == "shd":
        return _load_shd(d, split_seed, download, synthetic, explicit, **task_options)
    if task == "ecg":
        return _load_ecg(d, split_seed, download, **task_options)
    return _load_mnist(d, split_seed, download, permuted=task == "psmnist", **task_options)


def _finish(task: str, full_train, test, split_seed: int, info: dict[str, Any]) -> TaskData:
    """Split the training set 90/10 and fill the common info fields."""
    tr_idx, va_idx = split_indices(len(full_train), split_seed, VAL_FRACTION)
    train = full_train.subset(tr_idx, name=f"{task}/train")
    val = full_train.subset(va_idx, name=f"{task}/val")
    test.name = f"{task}/test"
    info = {
        "task": task,
        "synthetic": bool(full_train.synthetic),
        "source": full_train.source,
        **info,
        "n_in": full_train.n_in,
        "n_out": full_train.n_out,
        "T": full_train.T,
        "per_step_labels": full_train.per_step_labels,
        "split_seed": split_seed,
        "val_fraction": VAL_FRACTION,
        "sizes": {"train": len(train), "val": len(val), "test": len(test)},
        "split_digest": {"train": indices_digest(tr_idx), "val": indices_digest(va_idx)},
        "split_file": "data_split.npz (written by TaskData.save into the run directory)",
    }
    return TaskData(train, val, test, info, {"train": tr_idx, "val": va_idx})


# ------------------------------------------------------------------------------------------------
def _load_shd(
    d: Path,
    split_seed: int,
    download: bool,
    use_synthetic: bool | None,
    explicit_dir: bool,
    *,
    dt: float = shd.DT,
    n_steps: int = shd.N_STEPS,
    official_binning: bool = False,
    synthetic_seed: int = 0,
    synthetic_n_train: int = shd.N_TRAIN,
    synthetic_n_test: int = shd.N_TEST,
    base_url: str | None = None,
) -> TaskData:
    files = None if use_synthetic else shd.find_shd_files(d)
    if files is None and download and not use_synthetic:
        files = shd.fetch_shd(d, base_url=base_url)
    if files is None and (use_synthetic is False or (use_synthetic is None and explicit_dir)):
        # the stand-in is generated on its own only in the default data directory: a folder the
        # user named is meant to hold real data, and 117 MB of generated files there would hide
        # a wrong path behind a run on data that is not SHD
        alt = (" or pass --synthetic yes to use the generated SHD-format stand-in"
               if use_synthetic is None else "")
        raise DataError(
            f"{d}: SHD files not found (looked for shd_train.h5 and shd_test.h5, or their .gz/.zip "
            f"archives, in {d} and its shd/, SHD/, hdspikes/ folders); run python -m resonet.data "
            f"fetch shd --data-dir {d} or copy the files there{alt}"
        )
    info: dict[str, Any] = {}
    if files is None:
        files = synthetic.ensure_synthetic_shd(
            d, seed=synthetic_seed, n_train=synthetic_n_train, n_test=synthetic_n_test
        )
        info["synthetic_seed"] = synthetic_seed
        info["warning"] = synthetic.SYNTHETIC_WARNING
    sets = {}
    for split, path in files.items():
        ev = shd.read_shd(path, dt=dt, n_steps=n_steps, official_binning=official_binning)
        sets[split] = EventDataset(
            offsets=ev.offsets,
            steps=ev.steps,
            chans=ev.chans,
            name=f"shd/{split}",
            n_in=shd.N_CHANNELS,
            n_out=shd.N_CLASSES,
            T=n_steps,
            labels=ev.labels,
            per_step_labels=False,
            synthetic=ev.synthetic,
            source=SYNTHETIC_SOURCE if ev.synthetic else str(path),
        )
    if sets["train"].synthetic or sets["test"].synthetic:
        info.setdefault("warning", synthetic.SYNTHETIC_WARNING)
        bar = "!" * 100
        log.warning(
            "%s\n%s\n  files: %s\n%s",
            bar,
            synthetic.SYNTHETIC_WARNING,
            ", ".join(str(p) for p in files.values()),
            bar,
        )
        for s in sets.values():  # one synthetic file makes the whole task synthetic
            s.synthetic, s.source = True, SYNTHETIC_SOURCE
    else:
        log.info("SHD from %s", ", ".join(str(p) for p in files.values()))
    info["files"] = {k: str(p) for k, p in files.items()}
    info["binning"] = {"dt": dt, "n_steps": n_steps, "rule": "official" if official_binning else "resonet"}
    return _finish("shd", sets["train"], sets["test"], split_seed, info)


# ------------------------------------------------------------------------------------------------
def _load_ecg(
    d: Path,
    split_seed: int,
    download: bool,
    *,
    source: str = "auto",
    annotation: str = "q1c",
    test_fraction: float = 0.2,
    record_seed: int = 0,
    level: float = ecg.LEVEL,
    base_url: str | None = None,
) -> TaskData:
    if source not in ("auto", "mat", "raw"):
        raise ConfigError(f"ecg source must be 'auto', 'mat' or 'raw', got {source!r}")
    info: dict[str, Any] = {}
    arrays: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    mats = ecg.find_mat_files(d) if source in ("auto", "mat") else None
    raw = None
    if mats is None and source in ("auto", "raw"):
        raw = next((p for p in (d, d / "qtdb") if ecg.list_records(p, annotation)), None)
    if mats is None and raw is None and download:
        if source == "raw":
            raw = ecg.fetch_qtdb_raw(d)
        else:
            mats = ecg.fetch_qtdb_mat(d, base_url=base_url)
    if mats is not None:
        for split, p in mats.items():
            arrays[split] = ecg.read_qtdb_mat(p)
        info["files"] = {k: str(p) for k, p in mats.items()}
        src = str(mats["train"].parent)
    elif source == "mat":
        raise DataError(
            f"{d}: QTDB_train.mat/QTDB_test.mat not found (also looked in ecg/, qtdb/); run "
            f"python -m resonet.data fetch ecg --data-dir {d} (or add --download), or pass "
            "--data-dir pointing at the folder that holds them"
        )
    else:
        if raw is None:
            what = "ecg-raw" if source == "raw" else "ecg"
            raise DataError(
                f"{d}: no ECG data found: neither QTDB_train.mat/QTDB_test.mat nor raw QTDB "
                f"records with .{annotation} annotations (in {d} or {d / 'qtdb'}); run python -m "
                f"resonet.data fetch {what} --data-dir {d} (or add --download), or pass --data-dir "
                "with the .mat files"
            )
        out = ecg.qtdb_from_raw(
            raw, annotation=annotation, test_fraction=test_fraction, seed=record_seed, level=level
        )
        arrays = {"train": out["train"], "test": out["test"]}
        info.update(raw_records=out["records"], annotation=annotation, record_seed=record_seed, level=level)
        src = f"{raw} (raw QTDB, resonet segmentation)"
    sets = {}
    for split, (x, lab) in arrays.items():
        sets[split] = DenseDataset(
            x=x,
            name=f"ecg/{split}",
            n_in=ecg.N_CHANNELS,
            n_out=ecg.N_CLASSES,
            T=ecg.T_SEG,
            labels=lab,
            per_step_labels=True,
            synthetic=False,
            source=src,
        )
        info[f"unlabelled_fraction_{split}"] = float(np.mean(lab < 0)) if lab.size else 0.0
    info["labels"] = (
        "per step; -1 = unlabelled; the official argmax rule (resonet.data."
        "official_labels) maps -1 to class 0"
    )
    info["class_names"] = list(ecg.CLASS_NAMES)
    log.info("ECG from %s", src)
    return _finish("ecg", sets["train"], sets["test"], split_seed, info)


# ------------------------------------------------------------------------------------------------
def _load_mnist(
    d: Path,
    split_seed: int,
    download: bool,
    *,
    permuted: bool,
    base_url: str | None = None,
    perm_seed: int | None = None,
    permutation: np.ndarray | None = None,
) -> TaskData:
    files = mnist.find_mnist(d)
    if files is None and download:
        files = mnist.fetch_mnist(d, base_url=base_url)
    if files is None:
        raise mnist.missing_error(d)
    data = mnist.read_mnist(files)
    task = "psmnist" if permuted else "smnist"
    info: dict[str, Any] = {"files": {k: str(p) for k, p in files.items()}}
    perm = None
    if permuted and permutation is not None:
        perm = np.asarray(permutation)
        if perm.shape != (mnist.T_MNIST,) or not np.array_equal(np.sort(perm), np.arange(mnist.T_MNIST)):
            raise ConfigError(f"permutation must be a permutation of 0..{mnist.T_MNIST - 1}")
        perm = perm.astype(np.int64)
        info["perm_seed"] = None
        info["permutation"] = perm.tolist()
    elif permuted:
        ps = split_seed if perm_seed is None else perm_seed
        perm = mnist.permutation(ps)
        info["perm_seed"] = ps
        info["permutation"] = perm.tolist()
    sets = {}
    for split, (x, y) in data.items():
        sets[split] = DenseDataset(
            x=x,
            divisor=255.0,
            time_perm=perm,
            name=f"{task}/{split}",
            n_in=1,
            n_out=10,
            T=mnist.T_MNIST,
            labels=y,
            per_step_labels=False,
            synthetic=False,
            source=str(files[f"{split}_images"].parent),
        )
    td = _finish(task, sets["train"], sets["test"], split_seed, info)
    if perm is not None:
        td.split["permutation"] = perm
    return td
