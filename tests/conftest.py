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


def golden_files() -> list[Path]:
    return sorted(GOLDEN_DIR.glob("*.npz"))


@pytest.fixture
def require_golden():
    files = golden_files()
    if not files:
        pytest.skip(f"no golden files in {GOLDEN_DIR} (set RESONET_SHARED to the shared folder)")
    return files


# The CUDA-simulator tests need NUMBA_ENABLE_CUDASIM=1 set before numba is imported, so they run
# in their own pytest process (tests/test_cudasim.py starts it); the main run does not collect them.
collect_ignore = [] if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1" else ["cudasim"]
