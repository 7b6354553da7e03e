"""Backends: one call that runs forward (+ loss + BPTT) on a batch, whatever engine does it.

- ``reference``: the readable NumPy implementation (:mod:`resonet.network`), float64 spec.
- ``cpu``: fused ``@njit(parallel=True)`` kernels (:mod:`resonet.kernels.cpu`).
- ``cuda``: ``numba.cuda`` kernels (:mod:`resonet.kernels.cuda`), imported only when asked for,
  so the CPU path never imports CUDA.

Every backend implements :meth:`Backend.run` with the same arguments and returns a
:class:`Result` (the contract, :mod:`resonet.contract`); the tests compare backends through this
one entry point. This module is the registry of the engines: it imports them lazily, and they
import only the contract, never this module.
"""

from __future__ import annotations

import numpy as np

from .contract import Backend, Result
from .errors import ConfigError
from .loss import nll_loss, step_targets
from .network import backward, forward

__all__ = ["BACKENDS", "Backend", "ReferenceBackend", "Result", "get_backend"]

BACKENDS = ("reference", "cpu", "cuda")


class ReferenceBackend(Backend):
    """The NumPy reference (:mod:`resonet.network`). ``dtype`` float64 (the spec) or float32 (for
    comparisons); the arguments are those of :class:`resonet.contract.Backend`."""

    name = "reference"

    def run(self, spec, params, x, y=None, *, grads=True, dtype=np.float64, truncation=None,
            return_states=False, return_dx=False, spike="heaviside") -> Result:
        p = {k: np.asarray(v, dtype=dtype) for k, v in params.items()}
        fwd = forward(spec, p, x, spike=spike)
        res = Result(fwd.outputs, fwd.num_spikes)
        if return_states:
            res.states = fwd.states
        if y is None:
            return res
        T = fwd.x.shape[0]
        loss, d_out = nll_loss(fwd.outputs, step_targets(y, fwd.recorded, T))
        res.loss = loss
        if grads:
            g, dx = backward(spec, p, fwd, d_out, truncation=truncation)
            res.grads = g
            if return_dx:
                res.dx = dx
        return res


def get_backend(name: str) -> Backend:
    """The backend called ``name``; a one-line ConfigError if it is unknown or unavailable."""
    if name == "reference":
        return ReferenceBackend()
    if name == "cpu":
        try:
            from .kernels.cpu import CpuBackend
        except ImportError as exc:  # pragma: no cover - numba is a hard dependency
            raise ConfigError(f"the cpu backend needs numba ({exc}); pip install numba") from None
        return CpuBackend()
    if name == "cuda":
        from .kernels.cuda_loader import load_cuda_backend

        return load_cuda_backend()
    raise ConfigError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
