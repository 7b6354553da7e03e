"""The CUDA kernels under numba's CUDA simulator.

Run them in their own process, with the variable set before numba is imported::

    NUMBA_ENABLE_CUDASIM=1 python -m pytest tests/cudasim -q

(``tests/test_cudasim.py`` in the main suite does exactly that). Without the variable every test
here is skipped, and nothing in these modules imports ``numba.cuda`` at import time.

Every test runs with tiny thread blocks (4 threads per per-sample block, 8 per flat block), so
that the strided loops are exercised: several neurons and classes per thread, several blocks per
reduction and optimizer launch, several levels of the norm's tree.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

SIM = os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"
HERE = Path(__file__).resolve().parent
TPB_RECURRENT, TPB_FLAT = 4, 8
# The simulator runs every CUDA thread as a Python thread and its block manager polls them in a
# busy loop; a short GIL switch interval lets the simulated threads run instead of the poller
# (measured: 5x faster than the default 5 ms).
SWITCH_INTERVAL = 1e-4
if SIM:
    sys.setswitchinterval(SWITCH_INTERVAL)
    # ... which widens two races in the simulator's own bookkeeping; close them.
    from resonet.kernels.cuda import simulator

    simulator.install()


def pytest_collection_modifyitems(config, items):
    skip = pytest.mark.skip(reason="CUDA simulator tests: run with NUMBA_ENABLE_CUDASIM=1 "
                                   "(tests/test_cudasim.py does)")
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.cudasim)
            if not SIM:
                item.add_marker(skip)


@pytest.fixture(autouse=True)
def small_blocks():
    if not SIM:
        yield
        return
    from resonet.kernels.cuda import config

    with config.override(recurrent=TPB_RECURRENT, flat=TPB_FLAT):
        yield


@pytest.fixture(scope="session")
def cuda_backend():
    from resonet.backends import get_backend

    return get_backend("cuda")


@pytest.fixture(scope="session")
def host_backend():
    """The CPU kernels (the contract the CUDA kernels share); the NumPy reference, which equals
    them in float64, if the CPU engine cannot be imported or run here (with a warning)."""
    import warnings

    import numpy as np

    from resonet.backends import get_backend
    from resonet.network import NetworkSpec, init_params

    try:
        cpu = get_backend("cpu")
        spec = NetworkSpec("brf", 2, 3, 2)
        p = init_params(spec, np.random.default_rng(0))
        for dt in (np.float64, np.float32):
            cpu.run(spec, p, np.ones((3, 2, 2)), np.array([0, 1]), dtype=dt)
        return cpu
    except Exception as exc:  # pragma: no cover - the CPU engine is developed separately
        warnings.warn(f"cpu backend unusable ({type(exc).__name__}: {exc}); comparing the CUDA "
                      "kernels against the reference backend", stacklevel=1)
        return get_backend("reference")
