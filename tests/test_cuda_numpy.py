"""numba-cuda under numpy 2.5 (which removed ``np.row_stack``): resonet's kernels compile.

numpy 2.5 is simulated by deleting ``row_stack`` from numpy's namespace (and ``__all__``) before
numba-cuda's array typing is first imported, which is exactly what numpy 2.5 presents to it.
Compiling needs a CUDA toolkit's NVRTC/NVVM (``pip install -e ".[cuda]"``), not a GPU; without
one the tests skip (and fail under ``RESONET_REQUIRE_CUDA_TOOLKIT=1``, as in CI). The fix was also
run for real on a GPU machine with numpy 2.5.2 (docs/cuda-kernels.md, "Set-up").
"""

from __future__ import annotations

import functools
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

PRELUDE = r"""
import sys
import numpy as np
import numba  # numba's own CPU target: already guarded for numpy 2.5
if "--keep" not in sys.argv:
    del np.row_stack  # what numpy 2.5 looks like to numba-cuda
    np.__all__ = [n for n in np.__all__ if n != "row_stack"]
from numba import cuda, float32
"""

# Run with numpy intact, in a process of its own: can this machine compile to PTX at all?
TOOLKIT = r"""
from numba import cuda, float32
@cuda.jit
def k(a):
    a[0] = float32(1.0)
cuda.compile_ptx(k.py_func, (float32[:],), cc=(9, 0))
"""


@functools.lru_cache(maxsize=1)
def _toolkit_error() -> str:
    r = subprocess.run([sys.executable, "-c", TOOLKIT], cwd=ROOT, capture_output=True, text=True,
                       timeout=600)
    return "" if r.returncode == 0 else (r.stderr.strip().splitlines() or ["?"])[-1]


WITH_RESONET = PRELUDE + r"""
import numpy as np
import resonet.kernels.cuda  # the fix runs here, before any compile
import numba.cuda.dispatcher as disp
class _Device:  # device functions compile for the "current" device: pretend an H100
    compute_capability = (9, 0)
disp.get_current_device = lambda: _Device()
from numba import typeof
from resonet.kernels import kernel_module
from resonet.kernels.cuda.network import get_kernels
from resonet.neurons import NEURONS
assert not hasattr(np, "row_stack") or "--keep" in sys.argv  # numpy's namespace left as it was
ks = get_kernels(np.float32, kernel_module("cuda", NEURONS["brf"]), 2)
H, C, T, B = 8, 3, 5, 2
args = (np.zeros((T, B, H), np.float32), np.zeros((T, B, 1), np.uint32), 1, 1,
        np.zeros((1, H, H), np.float32), 0, np.zeros((1, 1, 1), np.float32))  # ..., graded, zv
ptx, _ = cuda.compile_ptx(ks.grad_rec.py_func, tuple(typeof(a) for a in args), cc=(9, 0))
assert ".entry" in ptx
print("compiled")
"""

WITHOUT_FIX = PRELUDE + r"""
@cuda.jit
def k(a):
    a[0] = float32(1.0)
try:
    cuda.compile_ptx(k.py_func, (float32[:],), cc=(9, 0))
except AttributeError as exc:
    print(f"failed: {exc}")
    sys.exit(3)
print("compiled")
"""


def _run(code: str, *args: str) -> subprocess.CompletedProcess:
    if err := _toolkit_error():
        pytest.skip(f"no CUDA toolkit to compile with ({err[:200]}): pip install -e '.[cuda]'")
    return subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)


@pytest.mark.cuda_toolkit
def test_resonet_kernels_compile_without_np_row_stack():
    r = _run(WITH_RESONET)
    assert r.returncode == 0 and "compiled" in r.stdout, r.stdout + r.stderr[-3000:]


@pytest.mark.cuda_toolkit
def test_without_the_fix_numba_cuda_fails_there():
    """The control: the same numba-cuda, numpy without row_stack, no resonet: no kernel
    compiles (if a numba-cuda release fixes this, the fix may go)."""
    r = _run(WITHOUT_FIX)
    assert r.returncode == 3 and "row_stack" in r.stdout, r.stdout + r.stderr[-3000:]
    r = _run(WITHOUT_FIX, "--keep")  # and with numpy's row_stack in place it does compile
    assert r.returncode == 0 and "compiled" in r.stdout, r.stdout + r.stderr[-3000:]
