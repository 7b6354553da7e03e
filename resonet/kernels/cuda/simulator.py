"""Two data races of numba's CUDA simulator itself, closed for whatever runs the CUDA kernels
without a GPU (``NUMBA_ENABLE_CUDASIM=1``: the tests, the bit-identity benchmark).

The simulator runs every CUDA thread of a block as a Python thread. Two of its bookkeeping steps
are check-then-act sequences without a lock, so a GIL switch inside them (likely with a short
switch interval, ``sys.setswitchinterval(1e-4)``, which makes the simulator about 5x faster)
makes a correct kernel compute a wrong answer:

1. ``FakeCUDAShared.array`` looks up the block's shared array by call site and creates it when
   absent. Two threads that both miss get two different arrays; one thread's partial sums then
   never reach the tree reduction (seen as a device gradient norm of 1.697 against the true
   2.243: a whole thread's share lost).
2. ``swapped_cuda_module`` swaps a device function's module globals to the fake ``cuda`` module
   and restores them on exit; a thread entering while another holds the swap records nothing to
   restore, and the first thread's exit restores the real module under the second
   (numba-cuda pull request 690: "module 'numba.cuda' has no attribute 'local'").

A real GPU has neither race (shared memory is allocated per block before any thread runs; there
is no module swapping), so patching the simulator changes no kernel semantics: it only makes the
simulator execute the kernels as written. ``install`` is idempotent.
"""

from __future__ import annotations

import sys
import threading
import traceback
from contextlib import contextmanager

_LOCK = threading.RLock()
_installed = False


def install() -> None:
    global _installed
    if _installed:
        return
    import numpy as np
    from numba.core import types
    from numba.cuda.simulator import kernel, kernelapi
    from numba.np import numpy_support

    original_array = kernelapi.FakeCUDAShared.array

    def array(self, shape, dtype):
        if shape == 0:  # dynamic shared memory: one buffer, no per-site bookkeeping
            return original_array(self, shape, dtype)
        if isinstance(dtype, types.Type):
            dtype = numpy_support.as_dtype(dtype)
        caller = tuple(traceback.extract_stack(sys._getframe())[-2][0:2])
        with _LOCK:  # look up and create atomically: every thread of the block gets one array
            res = self._allocations.get(caller)
            if res is None:
                res = self._allocations[caller] = np.empty(shape, dtype)
        return res

    swaps: dict[int, list] = {}  # id(module globals) -> [threads inside, the real entries]

    @contextmanager
    def swapped_cuda_module(fn, fake_cuda_module):
        from numba import cuda

        globs = fn.__globals__
        key = id(globs)
        with _LOCK:  # the first thread in swaps, the last one out restores
            entry = swaps.get(key)
            if entry is None:
                orig = {k: v for k, v in globs.items() if v is cuda}
                globs.update({k: fake_cuda_module for k in orig})
                entry = swaps[key] = [0, orig]
            entry[0] += 1
        try:
            yield
        finally:
            with _LOCK:
                entry[0] -= 1
                if entry[0] == 0:
                    globs.update(entry[1])
                    del swaps[key]

    kernelapi.FakeCUDAShared.array = array
    kernelapi.swapped_cuda_module = swapped_cuda_module
    kernel.swapped_cuda_module = swapped_cuda_module  # kernel.py imported the name
    _installed = True
