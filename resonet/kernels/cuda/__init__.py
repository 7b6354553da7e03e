"""``numba.cuda`` kernels: forward and BPTT of every model fused over time, training on the device.

Imported only through :func:`resonet.kernels.cuda_loader.load_cuda_backend` (``get_backend("cuda")``),
so nothing on the CPU path imports ``numba.cuda``.

- :class:`CudaBackend`: the :class:`resonet.contract.Backend` contract (host inputs, float32 or
  float64); :meth:`CudaBackend.device_session` returns a :class:`DeviceSession` that keeps a
  training run (data, parameters, optimizer state) on the device.
- Modules: :mod:`.cells` (per-neuron step and VJP of each model), :mod:`.network` (the fused
  forward/BPTT kernels, loss, reductions), :mod:`.optim` (clipping and optimizer kernels),
  :mod:`.backend`, :mod:`.session`, :mod:`.config` (threads per block and other knobs).

Design, memory layout, shared-memory budget and the determinism argument: docs/cuda-kernels.md.
Tests run under the CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``, tests/cudasim).
"""

from .backend import CudaBackend
from .session import DeviceSession

__all__ = ["CudaBackend", "DeviceSession"]
