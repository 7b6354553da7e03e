"""ECG wave segmentation on the QT database: 4 level-crossing spike channels, a label per step.

``QTDB_{train,test}.mat`` (the official preprocessed files), else raw QTDB records segmented by
resonet (:mod:`resonet.data.ecg`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from ..data import ecg
from ..data.dataset import DenseDataset
from ..errors import ConfigError, DataError
from .model import Loaded, Task

log = logging.getLogger("resonet.data")


def _find(d: Path, source: str, annotation: str, download: bool, base_url: str | None
          ) -> tuple[dict[str, Path] | None, Path | None]:
    """The .mat files or a raw QTDB folder (downloaded first with ``download``)."""
    mats = ecg.find_mat_files(d) if source in ("auto", "mat") else None
    raw = None
    if mats is None and source in ("auto", "raw"):
        raw = next((p for p in (d, d / "qtdb") if ecg.list_records(p, annotation)), None)
    if mats is None and raw is None and download:
        if source == "raw":
            raw = ecg.fetch_qtdb_raw(d)
        else:
            mats = ecg.fetch_qtdb_mat(d, base_url=base_url)
    if mats is None and source == "mat":
        raise DataError(
            f"{d}: QTDB_train.mat/QTDB_test.mat not found (also looked in ecg/, qtdb/); run "
            f"python -m resonet.data fetch ecg --data-dir {d} (or add --download), or pass "
            "--data-dir pointing at the folder that holds them"
        )
    if mats is None and raw is None:
        what = "ecg-raw" if source == "raw" else "ecg"
        raise DataError(
            f"{d}: no ECG data found: neither QTDB_train.mat/QTDB_test.mat nor raw QTDB "
            f"records with .{annotation} annotations (in {d} or {d / 'qtdb'}); run python -m "
            f"resonet.data fetch {what} --data-dir {d} (or add --download), or pass --data-dir "
            "with the .mat files"
        )
    return mats, raw


def load(
    d: Path,
    *,
    split_seed: int,
    download: bool,
    explicit_dir: bool,
    synthetic: bool | None = None,
    source: str = "auto",
    annotation: str = "q1c",
    test_fraction: float = 0.2,
    record_seed: int = 0,
    level: float = ecg.LEVEL,
    base_url: str | None = None,
) -> Loaded:
    if source not in ("auto", "mat", "raw"):
        raise ConfigError(f"ecg source must be 'auto', 'mat' or 'raw', got {source!r}")
    info: dict[str, Any] = {}
    mats, raw = _find(d, source, annotation, download, base_url)
    if mats is not None:
        arrays = {split: ecg.read_qtdb_mat(p) for split, p in mats.items()}
        info["files"] = {k: str(p) for k, p in mats.items()}
        src = str(mats["train"].parent)
    else:
        assert raw is not None  # (_find raises when neither is there)
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
    return Loaded(sets["train"], sets["test"], info)


TASK = Task(
    name="ecg",
    summary="ECG wave segmentation (QT database): 4 spike channels, 6 classes per step",
    files="QTDB_{train,test}.mat (or raw QTDB records)",
    n_in=ecg.N_CHANNELS, n_out=ecg.N_CLASSES, T=ecg.T_SEG, n_hidden=36,
    labels="step",
    events=False,
    loader=load,
    options=frozenset({"source", "annotation", "test_fraction", "record_seed", "level", "base_url"}),
)
