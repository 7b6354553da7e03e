"""Backends: one call that runs forward (+ loss + BPTT) on a batch, whatever engine does it.

- ``reference``: the readable NumPy implementation (:mod:`resonet.network`), float64 spec.
- ``cpu``: fused ``@njit(parallel=True)`` kernels (:mod:`resonet.kernels.cpu`).
- ``cuda``: ``numba.cuda`` kernels (:mod:`resonet.kernels.cuda`), imported only when asked for,
  so the CPU path never imports CUDA.

Every backend satisfies :class:`resonet.contract.Backend` (``run`` with the same arguments,
returning a :class:`Result`; what it accepts and needs; its training session); the tests compare
backends through this one entry point. This module is the registry of the engines: it imports
them lazily, and they import only the contract, never this module.
"""

from __future__ import annotations

import numpy as np

from .contract import BACKEND_NAMES, Backend, Result, Session
from .errors import ConfigError
from .loss import nll_loss, step_targets
from .network import backward, forward
from .session import HostSession

__all__ = ["BACKEND_NAMES", "Backend", "ReferenceBackend", "Result", "backend_class", "get_backend"]


class ReferenceBackend:
    """The NumPy reference (:mod:`resonet.network`). ``dtype`` float64 (the spec) or float32 (for
    comparisons); the arguments are those of :class:`resonet.contract.Backend`."""

    name = "reference"
    accepts_events = False  # it densifies every input: events would only be converted
    train_dtype = "float64"  # the readable specification, not an engine for speed
    on_device = False

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

    @staticmethod
    def estimate_memory(spec, *, T: int, batch: int, eval_batch: int, dtype,
                        threads: int | None = None) -> dict[str, int]:
        """Every state and spike at every step, of a training batch (the tape of
        :func:`resonet.network.forward`) and of an evaluated one (it keeps them when scoring
        too); the gradient and the dict of their float copies."""
        item = np.dtype(dtype).itemsize
        rows = len(spec.model.STATE_NAMES) - 1  # continuous states (not spikes)
        per_step = spec.n_hidden * (rows + 1) * item
        return {"gradients": 2 * spec.n_params() * item, "BPTT tape": batch * T * per_step,
                "batches": eval_batch * T * per_step}

    @staticmethod
    def free_device_memory() -> int | None:
        return None

    def session(self, spec, params, optimizer, datasets, dtype, *, clip=None, truncation=None,
                masks=None) -> Session:
        return HostSession(self, spec, params, optimizer, datasets, dtype, clip=clip,
                           truncation=truncation, masks=masks)


def backend_class(name: str) -> type[Backend]:
    """The class of the backend called ``name``, for what it declares (``accepts_events``,
    ``train_dtype``, ``estimate_memory`` …) without starting it: no GPU is needed to ask the
    cuda backend. ConfigError if the name is unknown."""
    if name == "reference":
        return ReferenceBackend
    if name == "cpu":
        from .kernels.cpu.backend import CpuBackend

        return CpuBackend
    if name == "cuda":
        from .kernels.cuda.backend import CudaBackend

        return CudaBackend
    raise ConfigError(f"unknown backend {name!r}; choose one of {', '.join(BACKEND_NAMES)}")


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
    raise ConfigError(f"unknown backend {name!r}; choose one of {', '.join(BACKEND_NAMES)}")
