"""The scalar count of a graded spike, shared by the CPU and CUDA kernels (each compiles it with
its own decorator: ``njit`` in :mod:`.cpu.surrogate`, ``cuda.jit(device=True)`` in
:mod:`.cuda.common`). Pure Python: importing this module compiles nothing.
"""

from __future__ import annotations


def graded_count(u, theta, one, zero, levels):
    """z of eq. (S6) with f = Θ (docs/derivations/surrogate.md): Σ_{k=1..K} [Θ(u − kϑ) −
    Θ(−u − kϑ)] = trunc(u/ϑ) clipped to ±K (strict, as Θ; K = ``levels``), counted until the
    first term that is zero (the terms fall monotonically). ``one``, ``zero``, ``theta`` in the
    run's dtype; kϑ is summed in it too (an integer times a float32 would be float64)."""
    z = zero
    kt = theta
    for _ in range(levels):
        if u - kt > zero:
            z += one
        elif -u - kt > zero:
            z -= one
        else:
            break
        kt = kt + theta
    return z
