"""Golden vectors of the official code through ``python -m resonet.verify --backend cuda``."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from resonet import verify
from tests.conftest import GOLDEN_DIR, golden_files
from tests.cudasim.conftest import SWITCH_INTERVAL, TPB_FLAT, TPB_RECURRENT

pytestmark = pytest.mark.skipif(not golden_files(), reason=f"no golden files in {GOLDEN_DIR}")


def test_verify_cli_cuda_passes_golden_files():
    # sub_seq; ALIF; two stacked ALIF layers with biases (DoubleALIFRNN)
    files = [GOLDEN_DIR / "brf_seed2.npz", GOLDEN_DIR / "alif_seed1.npz",
             GOLDEN_DIR / "alif2_seed1.npz"]
    env = dict(os.environ, RESONET_CUDA_TPB=str(TPB_RECURRENT),
               RESONET_CUDA_TPB_FLAT=str(TPB_FLAT))
    # ``python -m resonet.verify`` with the simulator-friendly switch interval (conftest.py)
    code = (f"import runpy, sys; sys.setswitchinterval({SWITCH_INTERVAL}); "
            "sys.argv[0] = 'resonet.verify'; runpy.run_module('resonet.verify', run_name='__main__')")
    r = subprocess.run([sys.executable, "-c", code, "--backend", "cuda", *map(str, files)],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count("=> PASS") == 3
    assert "[cuda, float64]" in r.stdout


def test_golden_float32_within_verify_tolerance():
    g = verify.load_golden(str(GOLDEN_DIR / "rf_seed1.npz"))
    rows, _ = verify.check(g, "cuda", dtype=__import__("numpy").float32)
    for name, err in rows:
        assert err <= verify.TOLERANCE_F32, (name, err)
