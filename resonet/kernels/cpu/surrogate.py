"""The surrogate derivative σ' of the backward pass inside the fused kernels, with the kernels' own
vectorisable exp, and the common constants ``kc`` they read (every model's kernels and the loss).

Scalar constants come in as arrays of the run's dtype (``kc``), never as Python literals, so a
float32 run never silently promotes to float64.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, types
from numba.extending import overload

from ...surrogate import C1, C2, GAMMA, H_SG, SIGMA1, SIGMA2
from ..graded import graded_count as _graded_count
from .config import FASTMATH
from .intrinsics import pow2

# Indices into ``kc``, the common constants (in the run's dtype): 0, 1, the surrogate's constants,
# the graded-spike flag (1: reset-to-mod's graded spikes, eq. (S6), which the network templates
# scale their spike rows by), then those of exp_neg (KC_EXP…: x_min, log2 e, rounding magic,
# ln 2 hi/lo, Taylor coefficients).
KC_ZERO, KC_ONE, KC_C1, KC_C2, KC_S1, KC_S2, KC_H1, KC_H2, KC_GAMMA, KC_GRADED, KC_EXP = range(11)


def common_consts(dtype, graded: bool = False) -> np.ndarray:
    """``kc``: 0, 1, the surrogate constants of eq. (S2), the graded-spike flag and the constants
    of :func:`exp_neg`."""
    dtype = np.dtype(dtype)
    deg = EXP_DEGREE[dtype]
    # Cody-Waite split ln 2 = ln2_hi + ln2_lo, ln2_hi with trailing zero bits (n·ln2_hi exact)
    if dtype == np.float64:
        xmin, magic = -708.0, 1.5 * 2.0**52
        ln2hi, ln2lo = 6.93147180369123816490e-01, 1.90821492927058770002e-10
    else:
        xmin, magic = -87.0, 1.5 * 2.0**23
        ln2hi, ln2lo = 0.693359375, -2.12194440e-4
    coef = [1.0 / math.factorial(i) for i in range(deg, -1, -1)]  # Horner order, highest first
    return np.array([0.0, 1.0, C1, C2, 2.0 * SIGMA1 * SIGMA1, 2.0 * SIGMA2 * SIGMA2,
                     1.0 + H_SG, 2.0 * H_SG, GAMMA, 1.0 if graded else 0.0, xmin,
                     1.0 / math.log(2.0), magic, ln2hi, ln2lo]
                    + coef, dtype=dtype)


# ------------------------------------------------------------------------- vectorisable exp
# libm's exp is a call LLVM cannot vectorise; the surrogate needs two per neuron and step, which
# made them the largest single cost of BPTT (docs/cpu-kernels.md). exp_neg is a branch-free exp
# for x <= 0 (all the kernels need: −s²/2σ², o − max) that LLVM vectorises: x = n·ln2 + r
# (Cody-Waite), exp(r) by its Taylor polynomial of degree 13 in float64 and 7 in float32
# (truncation < 0.1 ulp for |r| <= ln2/2), times 2^n built from its bits. Measured against
# np.exp: <= 1 ulp (float64), <= 2 ulp (float32). x < x_min (-708 / -87, where exp drops below
# the smallest normal number) gives 0 instead of a subnormal; -inf gives 0 and NaN gives NaN.
# The constants travel as a tuple: SSA values that LLVM keeps in registers (loads from an array
# might alias the output array and would be repeated, and block vectorisation).
EXP_DEGREE = {np.dtype(np.float64): 13, np.dtype(np.float32): 7}


def surrogate_tuple(kc):
    """The constants of eq. (S2) and of :func:`exp_neg` as one tuple (see :func:`dspike`);
    callable from jitted code only (27 entries in float64, 21 in float32)."""
    raise NotImplementedError("surrogate_tuple is called from numba-compiled code only")


@overload(surrogate_tuple, jit_options={"fastmath": FASTMATH})
def _surrogate_tuple(kc):
    e = KC_EXP
    if kc.dtype == types.float32:  # degree-7 polynomial
        def impl32(kc):
            return (kc[KC_C1], kc[KC_C2], kc[KC_S1], kc[KC_S2], kc[KC_H1], kc[KC_H2], kc[KC_GAMMA],
                    kc[KC_ZERO], kc[e], kc[e + 1], kc[e + 2], kc[e + 3], kc[e + 4],
                    kc[e + 5], kc[e + 6], kc[e + 7], kc[e + 8], kc[e + 9], kc[e + 10], kc[e + 11],
                    kc[e + 12])
        return impl32

    def impl64(kc):  # degree 13
        return (kc[KC_C1], kc[KC_C2], kc[KC_S1], kc[KC_S2], kc[KC_H1], kc[KC_H2], kc[KC_GAMMA],
                kc[KC_ZERO], kc[e], kc[e + 1], kc[e + 2], kc[e + 3], kc[e + 4],
                kc[e + 5], kc[e + 6], kc[e + 7], kc[e + 8], kc[e + 9], kc[e + 10], kc[e + 11],
                kc[e + 12], kc[e + 13], kc[e + 14], kc[e + 15], kc[e + 16], kc[e + 17], kc[e + 18])
    return impl64


def _exp_poly(r, g):
    """The Taylor polynomial of exp at r (Horner), its degree fixed by the length of ``g``."""
    raise NotImplementedError("_exp_poly is called from numba-compiled code only")


@overload(_exp_poly, jit_options={"fastmath": FASTMATH}, inline="always")
def _exp_poly_impl(r, g):
    if len(g) == 21:  # float32, degree 7
        def impl7(r, g):
            p = ((((g[13] * r + g[14]) * r + g[15]) * r + g[16]) * r + g[17]) * r + g[18]
            return (p * r + g[19]) * r + g[20]
        return impl7

    def impl13(r, g):
        p = ((((((g[13] * r + g[14]) * r + g[15]) * r + g[16]) * r + g[17]) * r + g[18]) * r + g[19])
        p = ((((((p * r + g[20]) * r + g[21]) * r + g[22]) * r + g[23]) * r + g[24]) * r + g[25])
        return p * r + g[26]
    return impl13


@njit(fastmath=FASTMATH, inline="always")
def exp_neg(x, g):
    """exp(x) for x <= 0 (or NaN), vectorisable; ``g`` from :func:`surrogate_tuple`."""
    xmin = g[8]
    xc = x if x >= xmin else xmin  # also maps NaN and -inf to x_min (finite n below)
    nf = (xc * g[9] + g[10]) - g[10]  # round(x·log2 e)
    r = (xc - nf * g[11]) - nf * g[12]
    res = _exp_poly(r, g) * pow2(nf)
    res = g[7] if x < xmin else res
    return x if x != x else res


@njit(fastmath=FASTMATH, inline="always")
def dspike_linear(s, one, zero):
    """σ'(s) = max(0, 1 − |s|), the linear surrogate of eq. (S4) (resonet.surrogate.dspike_linear,
    same operations); ``one``, ``zero`` in the run's dtype."""
    d = one - abs(s)
    return d if d > zero else zero


graded_count = njit(fastmath=FASTMATH, inline="always")(_graded_count)  # (S6)


@njit(fastmath=FASTMATH, inline="always")
def dgraded_linear(u, theta, one, zero, levels):
    """dz/du of eq. (S7) with the linear surrogate (S4), in resonet.surrogate.dgraded's order
    (pairs k = 1, …, K)."""
    d = dspike_linear(u - theta, one, zero) + dspike_linear(-u - theta, one, zero)
    kt = theta
    for _ in range(1, levels):
        kt = kt + theta
        d += dspike_linear(u - kt, one, zero) + dspike_linear(-u - kt, one, zero)
    return d


@njit(fastmath=FASTMATH, inline="always")
def dspike(s, g):
    """σ'(s), eq. (S2), in the association of resonet.surrogate.dspike (exp: :func:`exp_neg`);
    ``g`` from :func:`surrogate_tuple`."""
    s2 = s * s
    g1 = g[0] * exp_neg(-s2 / g[2], g)
    g2 = g[1] * exp_neg(-s2 / g[3], g)
    return (g[4] * g1 - g[5] * g2) * g[6]
