"""Lazy entry point of the GPU engine: ``get_backend("cuda")`` calls :func:`load_cuda_backend`.

This module imports nothing from numba at import time, so importing it (or anything else on the
CPU path) never loads ``numba.cuda``. :func:`load_cuda_backend` imports it, checks that a GPU
(or the simulator, ``NUMBA_ENABLE_CUDASIM=1``) is there and raises a one-line
:class:`~resonet.errors.ConfigError` otherwise.
"""

from __future__ import annotations

from ..errors import ConfigError

NO_NUMBA_CUDA = "numba-cuda is not installed: pip install -e '.[cuda]'"
NO_GPU = "no CUDA GPU found (numba.cuda.is_available() is False); use --backend cpu"


def load_cuda_backend():
    """Return a :class:`resonet.kernels.cuda.CudaBackend`; ConfigError when it cannot run."""
    try:
        from numba import cuda
    except ImportError:
        raise ConfigError(NO_NUMBA_CUDA) from None
    try:
        available = bool(cuda.is_available())
    except Exception:  # a broken driver or toolkit: treat it as no GPU
        available = False
    if not available:
        raise ConfigError(NO_GPU)
    # One block per sample: small batches launch few blocks on purpose, so numba's low-occupancy
    # warning would fire on every launch. numba-cuda reads its own config module, the numba
    # built-in CUDA target numba's.
    import importlib
    from typing import Any

    for name in ("numba.cuda.core.config", "numba.core.config"):
        try:
            config: Any = importlib.import_module(name)
        except ImportError:
            continue
        config.CUDA_LOW_OCCUPANCY_WARNINGS = 0
    from .cuda.backend import CudaBackend

    return CudaBackend()
