"""Numerical and launch knobs of the CUDA kernels, in one place (stumpy's ``config`` pattern).

- ``FASTMATH = False``: no fast-math flags (they would allow flush-to-zero, approximate division
  and square roots, and let NVVM assume there is no NaN/Inf, which hides a diverging network).
  Note that NVVM still contracts ``a*b + c`` into fused multiply-adds on a real GPU; in float64
  that changes results in the last ulp only (docs/cuda-kernels.md, "Parity").
- Threads per block, overridable so tests can force tiny blocks and exercise the strided loops
  (several neurons per thread, several classes per thread, several blocks per reduction):

  ===================  ==========================  =========================================
  knob                 environment variable        default
  ===================  ==========================  =========================================
  recurrent threads    ``RESONET_CUDA_TPB``        H rounded up to a multiple of 32 (≤ 256)
  flat threads         ``RESONET_CUDA_TPB_FLAT``   256 (elementwise, reductions, optimizer)
  ===================  ==========================  =========================================

  :func:`set_threads` (or the :func:`override` context manager) sets them from Python; the
  environment variables are read when a value is asked for, so a test process can set them
  before the first launch. The kernels themselves never depend on the values (every loop over
  neurons, classes or elements is strided), only their speed does. A value is a wish: each
  launch is clamped to what the compiled kernel can run with (:func:`clamp`; a kernel that
  needs many registers per thread cannot launch 1,024 threads).
- ``CACHE``: numba-cuda's on-disk cache of compiled kernels (``cache=True``), on unless
  ``RESONET_CUDA_CACHE=0``. A second process (the next training run, the next step of
  ``benchmarks/gpu_check.sh``) loads the kernels instead of compiling them again. numba keys an
  entry by the kernel's signature, the compiling numba-cuda and GPU architecture, the bytecode
  of the kernel and a pickle of its closure (which holds the model's device functions by value),
  and invalidates its file when the kernel's source file changes. The cache lives in
  ``__pycache__`` beside the source, or under ``NUMBA_CACHE_DIR`` when that is set.
"""

from __future__ import annotations

import os
from contextlib import contextmanager

FASTMATH = False
CACHE = os.environ.get("RESONET_CUDA_CACHE", "1").strip() != "0"
MAX_TPB = 1024  # hardware limit of threads per block
TPB_RECURRENT_MAX = 256  # one block per sample: up to 256 neurons get a thread each
TPB_FLAT = 256
# The BPTT kernel's launch bounds: at most TPB_RECURRENT_MAX threads per block and at least 2 such
# blocks resident per SM, so the compiler keeps it within 64K / (256 · 2) = 128 registers per
# thread. Without them it used 132–164 registers (ptxas -v, sm_90): one 256-thread block per SM,
# so an S-MNIST batch of 256 samples ran in two waves on a 132-SM H200 (epoch 6.7 s → 10.0 s,
# measured when biases and stacked layers added registers). With them ptxas reports 100–128
# registers and no spills (tests/cudasim/ptx_check.py --ptxas).
BACKWARD_LAUNCH_BOUNDS = (TPB_RECURRENT_MAX, 2)

_override: dict[str, int | None] = {"recurrent": None, "flat": None}


def _env_int(name: str) -> int | None:
    v = os.environ.get(name)
    if v is None or v == "":
        return None
    try:
        n = int(v)
    except ValueError:
        raise ValueError(f"{name} must be a positive integer, got {v!r}") from None
    if not 1 <= n <= MAX_TPB:
        raise ValueError(f"{name} must lie in [1, {MAX_TPB}], got {n}")
    return n


def backward_jit_options() -> dict:
    """``cuda.jit`` options of the BPTT kernel: its launch bounds (the CUDA simulator knows none)."""
    from numba import config

    return {} if config.ENABLE_CUDASIM else {"launch_bounds": BACKWARD_LAUNCH_BOUNDS}


def recurrent_threads(H: int) -> int:
    """Threads per block of the per-sample kernels (forward, BPTT) for H hidden neurons.

    At most 256: the BPTT kernel uses up to ~180 registers per thread (ptxas, sm_90), and a
    block may hold 64K registers.
    """
    n = _override["recurrent"] or _env_int("RESONET_CUDA_TPB")
    if n is not None:
        return min(n, TPB_RECURRENT_MAX)
    return max(32, min(TPB_RECURRENT_MAX, -(-H // 32) * 32))


def flat_threads() -> int:
    """Threads per block of the elementwise and reduction kernels."""
    return _override["flat"] or _env_int("RESONET_CUDA_TPB_FLAT") or TPB_FLAT


def set_threads(recurrent: int | None = None, flat: int | None = None) -> None:
    """Force the thread counts (``None`` restores the default / environment value)."""
    for name, v in (("recurrent", recurrent), ("flat", flat)):
        if v is not None and not 1 <= int(v) <= MAX_TPB:
            raise ValueError(f"{name} threads must lie in [1, {MAX_TPB}], got {v}")
        _override[name] = None if v is None else int(v)


@contextmanager
def override(recurrent: int | None = None, flat: int | None = None):
    """``with override(recurrent=4, flat=8): ...`` -- temporary thread counts."""
    old = dict(_override)
    set_threads(recurrent, flat)
    try:
        yield
    finally:
        _override.update(old)


def clamp(n: int, limit: int, *, warp: bool = True, pow2: bool = False) -> int:
    """Threads per block for a launch: the wish ``n`` cut to the kernel's ``limit`` (from
    :func:`kernel_limit`), rounded down to a multiple of 32 when that leaves at least one warp
    (``warp``) or to a power of two (``pow2``, for the tree reductions); at least 1."""
    n = max(1, min(int(n), int(limit)))
    if pow2:
        p = 1
        while p * 2 <= n:
            p *= 2
        return p
    if warp and n >= 32:
        n -= n % 32
    return n


def kernel_limit(kernel, args) -> int:
    """The most threads per block the kernel, compiled for these arguments, can launch with
    (its register use decides), or MAX_TPB where the runtime does not say (the simulator).
    Compiles the kernel if it is not yet (as the first launch would)."""
    typer = getattr(kernel, "typeof_pyval", None)
    if typer is None or not hasattr(kernel, "compile"):  # the simulator's FakeCUDAKernel
        return MAX_TPB
    try:
        compiled = kernel.compile(tuple(typer(a) for a in args))  # as the launch types them
        return int(min(MAX_TPB, compiled.max_threads_per_block))
    except Exception:  # a compile error: the launch itself will raise it, with its message
        return MAX_TPB
