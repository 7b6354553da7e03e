"""The simulator patches of :mod:`resonet.kernels.cuda.simulator` (installed by conftest) hold
under contention."""

from __future__ import annotations

import sys
import threading

import numpy as np


def _contend(n_threads, fn):
    """Run ``fn(i)`` in ``n_threads`` threads released together by a barrier."""
    bar = threading.Barrier(n_threads)
    out = [None] * n_threads

    def run(i):
        bar.wait()
        out[i] = fn(i)

    ts = [threading.Thread(target=run, args=(i,)) for i in range(n_threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return out


def test_every_thread_of_a_block_gets_the_same_shared_array():
    """Unpatched, 16 threads racing into ``cuda.shared.array`` got two or more arrays in about
    one launch in ten (measured: 32 of 300 at a 1 µs switch interval); one launch suffices to
    lose a thread's share of a reduction."""
    from numba.cuda.simulator import kernelapi

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        for _ in range(200):
            sh = kernelapi.FakeCUDAShared(0)
            ids = _contend(16, lambda i, sh=sh: id(sh.array(8, np.float64)))
            assert len(set(ids)) == 1
    finally:
        sys.setswitchinterval(old)


def test_module_swap_survives_overlapping_device_calls():
    """Thread 0 enters a device function first (so, unpatched, it alone records the real module)
    and leaves first; the threads still inside must keep seeing the fake ``cuda`` (unpatched they
    see the real one: numba-cuda pull request 690), and the last one out restores it."""
    from numba import cuda
    from numba.cuda.simulator import kernel

    fake = object()

    def fn():
        pass

    globs = {"cuda": cuda}
    fn = type(fn)(fn.__code__, globs)
    first_in, first_out = threading.Event(), threading.Event()
    all_in = threading.Barrier(8)
    seen = []

    def inside(i):
        if i:
            first_in.wait()
        with kernel.swapped_cuda_module(fn, fake):
            first_in.set()
            all_in.wait()
            if i:
                first_out.wait()
                seen.append(globs["cuda"] is fake)
        if not i:
            first_out.set()

    _contend(8, inside)
    assert seen == [True] * 7
    assert globs["cuda"] is cuda
