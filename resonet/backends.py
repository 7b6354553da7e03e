"""Backends: one call that runs forward (+ loss + BPTT) on a batch, whatever engine does it.

- ``reference``: the readable NumPy implementation (:mod:`resonet.network`), float64 spec.
- ``cpu``: fused ``@njit(parallel=True)`` kernels (:mod:`resonet.kernels.cpu`).
- ``cuda``: ``numba.cuda`` kernels (:mod:`resonet.kernels.cuda`), imported only when asked for,
  so the CPU path never imports CUDA.

Every backend implements :meth:`Backend.run` with the same arguments and returns a
:class:`Result`; the tests compare backends through this one entry point.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import ConfigError
from .loss import nll_loss, step_targets
from .network import NetworkSpec, backward, forward

BACKENDS = ("reference", "cpu", "cuda")


@dataclass
class Result:
    """What a backend returns for one batch."""

    outputs: np.ndarray  # (T_rec, B, C) recorded readout
    num_spikes: np.ndarray  # (B,) hidden spikes per sample over all T steps
    loss: float | None = None  # summed loss (eq. (N10)); None without labels
    grads: dict | None = None  # d loss / d parameter, keyed like params
    dx: np.ndarray | None = None  # d loss / d input (T, B, I), when asked for
    states: dict | None = None  # state name -> (T, B, H), when asked for


class Backend:
    """Interface; see :class:`ReferenceBackend` for the meaning of the arguments."""

    name = "abstract"

    def run(
        self,
        spec: NetworkSpec,
        params: dict,
        x,
        y=None,
        *,
        grads: bool = True,
        dtype=np.float64,
        truncation: int | None = None,
        return_states: bool = False,
        return_dx: bool = False,
        spike: str = "heaviside",
    ) -> Result:
        raise NotImplementedError


class ReferenceBackend(Backend):
    """The NumPy reference. ``dtype`` float64 (the spec) or float32 (for comparisons)."""

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
