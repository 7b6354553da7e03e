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


# Input-weight factor that makes a small random network of each model spike: the resonators
# integrate I·δ (δ = 0.01), the leaky cells (1 − α)·I (α ≈ 0.95), IF the whole current I.
SPIKE_SCALE = {"brf": 150.0, "bhrf": 150.0, "rf": 150.0, "alif": 2.0, "lif": 8.0, "if": 1.0}
RESONATORS = ("brf", "bhrf", "rf")


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
