"""The CUDA engine from the main suite (no GPU needed).

- the simulator suite (tests/cudasim) in its own process, with NUMBA_ENABLE_CUDASIM=1 set before
  numba is imported;
- the CPU path never imports numba.cuda;
- without a GPU (or without numba-cuda) ``--backend cuda`` fails with one line, exit code 2;
- every kernel compiles to PTX for a real GPU (sm_90) when a CUDA toolkit's NVVM is present.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from resonet.kernels.cuda_loader import NO_GPU, NO_NUMBA_CUDA
from tests.conftest import golden_files

ROOT = Path(__file__).resolve().parent.parent


def _env(**kw) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("NUMBA_ENABLE_CUDASIM", "RESONET_CUDA_TPB", "RESONET_CUDA_TPB_FLAT")}
    env.update(kw)
    return env


def _py(code: str, *args, **env):
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, env=_env(**env), timeout=600)


@pytest.mark.slow
def test_cuda_simulator_suite_passes():
    r = subprocess.run([sys.executable, "-m", "pytest", "tests/cudasim", "-q", "-p",
                        "no:cacheprovider"], cwd=ROOT, capture_output=True, text=True,
                       env=_env(NUMBA_ENABLE_CUDASIM="1"), timeout=900)
    assert r.returncode == 0, r.stdout[-6000:] + r.stderr[-3000:]
    assert " passed" in r.stdout and " failed" not in r.stdout


CPU_PATH = """
import sys
import numpy as np
import resonet, resonet.train, resonet.verify, resonet.backends, resonet.kernels
import resonet.kernels.cpu, resonet.kernels.cuda_loader
from resonet.backends import get_backend
from resonet.network import NetworkSpec, init_params
spec = NetworkSpec("brf", 3, 4, 2)
p = init_params(spec, np.random.default_rng(0))
try:
    be = get_backend("cpu")
    be.run(spec, p, np.ones((3, 2, 3)), np.array([0, 1]))
except Exception as exc:  # the CPU engine itself is not what this test checks
    print("cpu backend unusable here:", type(exc).__name__, file=sys.stderr)
    get_backend("reference").run(spec, p, np.ones((3, 2, 3)), np.array([0, 1]))
bad = sorted(m for m in sys.modules
             if m == "numba.cuda" or m.startswith(("numba.cuda.", "numba_cuda", "resonet.kernels.cuda.")))
print(bad)
sys.exit(1 if bad else 0)
"""


def test_cpu_path_never_imports_numba_cuda():
    r = _py(CPU_PATH)
    assert r.returncode == 0, r.stdout + r.stderr


NO_GPU_CLI = """
import runpy, sys
import numba.cuda
numba.cuda.is_available = lambda: False  # as on a machine without a GPU
sys.argv[0] = sys.argv[1]
del sys.argv[1]
runpy.run_module(sys.argv[0], run_name="__main__")
"""

NO_NUMBA_CUDA_CLI = """
import runpy, sys
sys.modules["numba.cuda"] = None  # as without numba-cuda: `from numba import cuda` fails
sys.argv[0] = sys.argv[1]
del sys.argv[1]
runpy.run_module(sys.argv[0], run_name="__main__")
"""


@pytest.mark.parametrize("code,message", [(NO_GPU_CLI, NO_GPU), (NO_NUMBA_CUDA_CLI, NO_NUMBA_CUDA)],
                         ids=["no-gpu", "no-numba-cuda"])
def test_cuda_backend_unavailable_is_one_line(tmp_path, code, message):
    out = tmp_path / "run"
    r = _py(code, "resonet.train", "shd", "--backend", "cuda", "--synthetic", "yes", "--out", out)
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stderr.strip().splitlines() == [f"error: {message}"]
    assert not out.exists()  # nothing left behind
    if golden_files():
        r = _py(code, "resonet.verify", "--backend", "cuda", golden_files()[0])
        assert r.returncode == 2 and r.stderr.strip() == f"error: {message}", r.stdout + r.stderr


@pytest.mark.slow
@pytest.mark.cuda_toolkit
def test_kernels_compile_for_a_real_gpu():
    """Typing and NVVM compilation of every kernel (what the simulator cannot check)."""
    r = subprocess.run([sys.executable, str(ROOT / "tests" / "cudasim" / "ptx_check.py")], cwd=ROOT,
                       capture_output=True, text=True, env=_env(), timeout=900)
    if r.returncode == 77:
        pytest.skip(r.stdout.strip())
    assert r.returncode == 0, r.stdout + r.stderr
