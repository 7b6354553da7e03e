"""The Spiking Heidelberg Digits (SHD): spoken digits as spike trains of 700 cochlea channels.

``shd_{train,test}.h5`` (:mod:`resonet.data.shd` reads and bins them: dt = 4 ms, 250 steps); without
them, the generated SHD-format stand-in of :mod:`resonet.data.synthetic` (loudly marked).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ..data import shd
from ..data import synthetic as stand_in
from ..data.dataset import SYNTHETIC_SOURCE, EventDataset
from ..errors import DataError
from .model import Loaded, Task

log = logging.getLogger("resonet.data")


def load(
    d: Path,
    *,
    split_seed: int,
    download: bool,
    explicit_dir: bool,
    synthetic: bool | None = None,
    dt: float = shd.DT,
    n_steps: int = shd.N_STEPS,
    official_binning: bool = False,
    synthetic_seed: int = 0,
    synthetic_n_train: int = shd.N_TRAIN,
    synthetic_n_test: int = shd.N_TEST,
    base_url: str | None = None,
) -> Loaded:
    """Real files if present (downloaded first with ``download``); otherwise the stand-in, generated
    on its own only in the default data directory (``synthetic=None``), always with ``True``,
    never with ``False``."""
    use_synthetic = synthetic
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
        files = stand_in.ensure_synthetic_shd(
            d, seed=synthetic_seed, n_train=synthetic_n_train, n_test=synthetic_n_test
        )
        info["synthetic_seed"] = synthetic_seed
        info["warning"] = stand_in.SYNTHETIC_WARNING
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
        info.setdefault("warning", stand_in.SYNTHETIC_WARNING)
        bar = "!" * 100
        log.warning(
            "%s\n%s\n  files: %s\n%s",
            bar,
            stand_in.SYNTHETIC_WARNING,
            ", ".join(str(p) for p in files.values()),
            bar,
        )
        for s in sets.values():  # one synthetic file makes the whole task synthetic
            s.synthetic, s.source = True, SYNTHETIC_SOURCE
    else:
        log.info("SHD from %s", ", ".join(str(p) for p in files.values()))
    info["files"] = {k: str(p) for k, p in files.items()}
    info["binning"] = {"dt": dt, "n_steps": n_steps, "rule": "official" if official_binning else "resonet"}
    return Loaded(sets["train"], sets["test"], info)


TASK = Task(
    name="shd",
    summary="Spiking Heidelberg Digits: 20 spoken digits as spikes of 700 channels",
    files="shd_{train,test}.h5",
    n_in=shd.N_CHANNELS, n_out=shd.N_CLASSES, T=shd.N_STEPS, n_hidden=128,
    labels="sample",
    events=True,
    loader=load,
    options=frozenset({"dt", "n_steps", "official_binning", "synthetic_seed", "synthetic_n_train",
                       "synthetic_n_test", "base_url"}),
    stand_in=True,
)
