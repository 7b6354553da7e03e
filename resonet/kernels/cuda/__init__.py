"""``numba.cuda`` kernels: forward and BPTT of every model fused over time, training on the device.

Imported only through :func:`resonet.kernels.cuda_loader.load_cuda_backend` (``get_backend("cuda")``),
so nothing on the CPU path imports ``numba.cuda``.

- :class:`CudaBackend`: the :class:`resonet.contract.Backend` contract (host inputs, float32 or
  float64); :meth:`CudaBackend.device_session` returns a :class:`DeviceSession` that keeps a
  training run (data, parameters, optimizer state) on the device.
- Modules: one per neuron model, named like the model's module in resonet.neurons and mirroring
  resonet/kernels/cpu/ (:mod:`.brf`, :mod:`.bhrf`, :mod:`.rf`, :mod:`.alif`: the device step and
  VJP of one neuron, derive/finish, the constants' layout), :mod:`.common` (what they share and
  the contract of their names), :mod:`.network` (the fused forward/BPTT kernels, loss,
  reductions; built per dtype and model), :mod:`.optim` (clipping, optimizer, bounds),
  :mod:`.device` (Engine, Workspace, uploads, parameter layout), :mod:`.backend` and
  :mod:`.session` (the two front ends on the device layer), :mod:`.config` (threads per block and
  other knobs).

Design, memory layout, shared-memory budget and the determinism argument: docs/cuda-kernels.md.
Tests run under the CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``, tests/cudasim).
"""

from ._numpy_compat import ensure as _ensure_numpy_compat

_ensure_numpy_compat()  # before any kernel compiles (numpy 2.5 and numba-cuda, see the module)

from .backend import CudaBackend  # noqa: E402
from .session import DeviceSession  # noqa: E402

__all__ = ["CudaBackend", "DeviceSession"]
