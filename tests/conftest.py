"""Shared fixtures: paths to the shared material beside the checkout."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# ../shared beside the checkout (the project never copies these files in); overridable.
SHARED = Path(os.environ.get("RESONET_SHARED", ROOT.parent / "shared"))
GOLDEN_DIR = SHARED / "golden"
ECG_DIR = SHARED / "data" / "ecg"


def _golden_model(path: Path) -> str:
    import json

    import numpy as np

    with np.load(path, allow_pickle=False) as d:
        return json.loads(str(d["meta_json"]))["model"]


def golden_files() -> list[Path]:
    """Golden files of the models resonet implements (a file may arrive before its model)."""
    from resonet.neurons import NEURONS

    return [p for p in sorted(GOLDEN_DIR.glob("*.npz")) if _golden_model(p) in NEURONS]


def pending_golden_files() -> list[Path]:
    """Golden files of models resonet does not implement yet."""
    from resonet.neurons import NEURONS

    return [p for p in sorted(GOLDEN_DIR.glob("*.npz")) if _golden_model(p) not in NEURONS]


@pytest.fixture
def require_golden():
    files = golden_files()
    if not files:
        pytest.skip(f"no golden files in {GOLDEN_DIR} (set RESONET_SHARED to the shared folder)")
    return files


# The CUDA-simulator tests need NUMBA_ENABLE_CUDASIM=1 set before numba is imported, so they run
# in their own pytest process (tests/test_cudasim.py starts it); the main run does not collect them.
collect_ignore = [] if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1" else ["cudasim"]


@pytest.fixture(scope="session")
def tiny_trial(tmp_path_factory):
    """Settings of a tiny but real training run (tests/sweep_helpers.py): ECG segments when the
    ECG files are here, else the synthetic SHD-format stand-in, generated once per session."""
    from tests.sweep_helpers import HAVE_ECG, tiny_base

    if HAVE_ECG:
        return tiny_base(None)
    from resonet.data import load_task

    d = tmp_path_factory.mktemp("synthetic-shd")
    load_task("shd", d, synthetic=True)
    return tiny_base(d)
