"""``numba.cuda`` kernels: forward and BPTT of every model fused over time, training on the device.

Imported only through :func:`resonet.kernels.cuda_loader.load_cuda_backend` (``get_backend("cuda")``),
so nothing on the CPU path imports ``numba.cuda``.

- :class:`CudaBackend`: the :class:`resonet.contract.Backend` contract (host inputs, float32 or
  float64); :meth:`CudaBackend.session` returns a :class:`DeviceSession` that keeps a
  training run (data, parameters, optimizer state) on the device.
- Modules: one per neuron model of the registry, named like the model's module in
  resonet.neurons and mirroring resonet/kernels/cpu/ (the device step ``cell_forward`` and VJP
  ``cell_backward`` of one neuron, derive/finish, the constants' layout;
  :class:`resonet.kernels.contract.CudaKernels`), :mod:`.common` (what they share and
  the conventions of their arguments), :mod:`.network` (the fused forward/BPTT kernels, loss,
  reductions; built per dtype and model), :mod:`.optim` (clipping, optimizer, bounds),
  :mod:`.device` (Engine, Workspace, uploads, parameter layout), :mod:`.backend` and
  :mod:`.session` (the two front ends on the device layer), :mod:`.config` (threads per block and
  other knobs).

Design, memory layout, shared-memory budget and the determinism argument: docs/cuda-kernels.md.
Tests run under the CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``, tests/cudasim;
:mod:`.simulator` closes two races of the simulator itself).

The package imports its members lazily: importing ``resonet.kernels.cuda.backend`` (what the
backend declares) or ``.simulator`` loads no ``numba.cuda``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["CudaBackend", "DeviceSession"]


def __getattr__(name: str) -> Any:
    if name == "CudaBackend":
        from .backend import CudaBackend

        return CudaBackend
    if name == "DeviceSession":
        from .session import DeviceSession

        return DeviceSession
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
