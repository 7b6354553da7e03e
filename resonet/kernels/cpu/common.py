"""Pieces shared by every model's fused kernels: input, spikes, surrogate, readout, loss.

Shapes: T time, B batch, I inputs, H hidden, C classes. Every function here works on one sample
(one row ``row = t*B + b`` of the input, one hidden vector) and is called from the ``prange``
loops of :mod:`resonet.kernels.cpu.network`. Everything is computed in the dtype of the arrays
passed in (float32 or float64); scalar constants come in as arrays of that dtype (``kc`` below),
never as Python literals, so a float32 run never silently promotes to float64.

Layouts (chosen so that every hot loop is a contiguous axpy over H):

- ``w_inT`` (I, H) = W_h[:, :I]ᵀ and ``w_recT`` (H, H) = W_h[:, I:]ᵀ: the input current of an
  active input channel i (or a spiking neuron j) is the contiguous row ``w_inT[i]`` (``w_recT[j]``),
  eq. (N1) summed over active entries only (event-driven: zeros are skipped).
- ``w_oT`` (H, C) = W_oᵀ: the readout input r_t = Σ_{j spiking} w_oT[j], eq. (L2).
- spikes of one step are kept as an index list (``idx[:n]``) and stored on the tape as bits
  (``bits`` uint8 (⌈H/8⌉,), bit h of byte h//8).

The few hand-written LLVM IR pieces (register tiles, vector masks, 2ⁿ) are in :mod:`.intrinsics`.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange, types
from numba.extending import overload

from ...surrogate import C1, C2, GAMMA, H_SG, SIGMA1, SIGMA2
from .config import CACHE, FASTMATH
from .intrinsics import add_rows_vec, cttz, lanes_of, nonzero_mask, pow2, tile4_blocks

# Indices into ``kc``, the common constants (in the run's dtype): 0, 1, the surrogate's constants,
# then those of exp_neg (KC_EXP…: x_min, log2 e, rounding magic, ln 2 hi/lo, Taylor coefficients).
KC_ZERO, KC_ONE, KC_C1, KC_C2, KC_S1, KC_S2, KC_H1, KC_H2, KC_GAMMA, KC_EXP = range(10)


def common_consts(dtype) -> np.ndarray:
    """``kc``: 0, 1, the surrogate constants of eq. (S2) and the constants of :func:`exp_neg`."""
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
                     1.0 + H_SG, 2.0 * H_SG, GAMMA, xmin, 1.0 / math.log(2.0), magic, ln2hi, ln2lo]
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


@njit(fastmath=FASTMATH, inline="always")
def dspike(s, g):
    """σ'(s), eq. (S2), in the association of resonet.surrogate.dspike (exp: :func:`exp_neg`);
    ``g`` from :func:`surrogate_tuple`."""
    s2 = s * s
    g1 = g[0] * exp_neg(-s2 / g[2], g)
    g2 = g[1] * exp_neg(-s2 / g[3], g)
    return (g[4] * g1 - g[5] * g2) * g[6]


# ------------------------------------------------------------------------------------ input
# Sums of weight rows are unrolled several rows at a time: cur[h] += (w0[h] + w1[h]) + (w2[h] + w3[h])
# loads and stores the accumulator once per four rows instead of once per row (the loops are
# bound by loads and stores, not by the additions): measured 3.3x faster for H = 128 in float32
# (docs/cpu-kernels.md). The grouping changes only the rounding of a sum whose order already
# differs from NumPy's BLAS, and forward and recomputation use the same code.
@njit(fastmath=FASTMATH)
def add_rows(cur, w, idx, n):
    """cur += Σ_{m<n} w[idx[m]] (the rows of the spiking neurons / active binary inputs),
    eight rows at a time, then four, then one (one load and store of the accumulator per group
    instead of per row). Whole vectors by :func:`.intrinsics.add_rows_vec`, the remaining columns (H not
    a multiple of 16 / 8) by the loops below, in the same grouping."""
    H = cur.shape[0]
    h0 = add_rows_vec(cur, w, idx, np.int64(n))
    if h0 == H:
        return
    m = 0
    while m + 8 <= n:
        w0 = w[idx[m]]
        w1 = w[idx[m + 1]]
        w2 = w[idx[m + 2]]
        w3 = w[idx[m + 3]]
        w4 = w[idx[m + 4]]
        w5 = w[idx[m + 5]]
        w6 = w[idx[m + 6]]
        w7 = w[idx[m + 7]]
        for h in range(h0, H):
            cur[h] += ((w0[h] + w1[h]) + (w2[h] + w3[h])) + ((w4[h] + w5[h]) + (w6[h] + w7[h]))
        m += 8
    while m + 4 <= n:
        w0 = w[idx[m]]
        w1 = w[idx[m + 1]]
        w2 = w[idx[m + 2]]
        w3 = w[idx[m + 3]]
        for h in range(h0, H):
            cur[h] += (w0[h] + w1[h]) + (w2[h] + w3[h])
        m += 4
    while m < n:
        w0 = w[idx[m]]
        for h in range(h0, H):
            cur[h] += w0[h]
        m += 1


@njit(fastmath=FASTMATH)
def add_scaled_rows(cur, w, idx, a, n):
    """cur += Σ_{m<n} a[m]·w[idx[m]] (the rows of active inputs with non-binary values)."""
    H = cur.shape[0]
    m = 0
    while m + 4 <= n:
        w0 = w[idx[m]]
        w1 = w[idx[m + 1]]
        w2 = w[idx[m + 2]]
        w3 = w[idx[m + 3]]
        a0 = a[m]
        a1 = a[m + 1]
        a2 = a[m + 2]
        a3 = a[m + 3]
        for h in range(H):
            cur[h] += (a0 * w0[h] + a1 * w1[h]) + (a2 * w2[h] + a3 * w3[h])
        m += 4
    while m < n:
        w0 = w[idx[m]]
        a0 = a[m]
        for h in range(H):
            cur[h] += a0 * w0[h]
        m += 1


@njit(fastmath=FASTMATH)
def matvec_rows(out, a, w):
    """out = Σ_k a[k]·w[k] = a @ w for w (K, N): the dense sums z̄ = Ī W_rec, z̄ᵒ = r̄ W_o, x̄ = Ī W_in."""
    matvec_rows_k(out, a, w, a.shape[0])


@njit(fastmath=FASTMATH)
def matvec_rows_k(out, a, w, kdim):
    """out = a[:kdim] @ w[:kdim], four rows at a time: out += (a₀w₀ + a₁w₁) + (a₂w₂ + a₃w₃), then
    the remaining rows one by one (the grouping every dense product of these kernels shares)."""
    N = out.shape[0]
    for j in range(N):
        out[j] = 0
    k = 0
    while k + 4 <= kdim:
        w0 = w[k]
        w1 = w[k + 1]
        w2 = w[k + 2]
        w3 = w[k + 3]
        a0 = a[k]
        a1 = a[k + 1]
        a2 = a[k + 2]
        a3 = a[k + 3]
        for j in range(N):
            out[j] += (a0 * w0[j] + a1 * w1[j]) + (a2 * w2[j] + a3 * w3[j])
        k += 4
    while k < kdim:
        w0 = w[k]
        a0 = a[k]
        for j in range(N):
            out[j] += a0 * w0[j]
        k += 1


@njit(fastmath=FASTMATH)
def matvec_tile(out, A, w, nt, kdim):
    """out[j] = A[j, :kdim] @ w[:kdim] for the nt <= 4 rows of A (4, ≥kdim), w (≥kdim, N).

    Four samples share each load of a weight row (the per-sample product is bound by loading w).
    float32: whole 16-column blocks by :func:`.intrinsics.tile4_blocks` (accumulators in registers), the
    rest (and all of float64, where that kernel measured slower than this loop) by the loop
    below. Every out[j][n] is summed in exactly the grouping of :func:`matvec_rows_k`, so the
    result does not depend on the tiling or on which code computed it.
    """
    if nt < 4:
        for j in range(nt):
            matvec_rows_k(out[j], A[j], w, kdim)
        return
    N = out.shape[1]
    c0 = tile4_blocks(out, A, w, kdim)
    if c0 == N:
        return
    o0 = out[0]
    o1 = out[1]
    o2 = out[2]
    o3 = out[3]
    a0 = A[0]
    a1 = A[1]
    a2 = A[2]
    a3 = A[3]
    for j in range(c0, N):
        o0[j] = 0
        o1[j] = 0
        o2[j] = 0
        o3[j] = 0
    k = 0
    while k + 4 <= kdim:
        w0 = w[k]
        w1 = w[k + 1]
        w2 = w[k + 2]
        w3 = w[k + 3]
        b00, b01, b02, b03 = a0[k], a0[k + 1], a0[k + 2], a0[k + 3]
        b10, b11, b12, b13 = a1[k], a1[k + 1], a1[k + 2], a1[k + 3]
        b20, b21, b22, b23 = a2[k], a2[k + 1], a2[k + 2], a2[k + 3]
        b30, b31, b32, b33 = a3[k], a3[k + 1], a3[k + 2], a3[k + 3]
        for j in range(c0, N):
            x0 = w0[j]
            x1 = w1[j]
            x2 = w2[j]
            x3 = w3[j]
            o0[j] += (b00 * x0 + b01 * x1) + (b02 * x2 + b03 * x3)
            o1[j] += (b10 * x0 + b11 * x1) + (b12 * x2 + b13 * x3)
            o2[j] += (b20 * x0 + b21 * x1) + (b22 * x2 + b23 * x3)
            o3[j] += (b30 * x0 + b31 * x1) + (b32 * x2 + b33 * x3)
        k += 4
    while k < kdim:
        w0 = w[k]
        b00, b10, b20, b30 = a0[k], a1[k], a2[k], a3[k]
        for j in range(c0, N):
            x0 = w0[j]
            o0[j] += b00 * x0
            o1[j] += b10 * x0
            o2[j] += b20 * x0
            o3[j] += b30 * x0
        k += 1


@njit(fastmath=FASTMATH)
def input_current(cur, row, indptr, indices, values, w_inT, w_recT, idx, n):
    """cur = x_t W_inᵀ + z_{t−1} W_recᵀ for one sample (eq. (N1)), over active entries only.

    ``row = t*B + b`` selects the CSR row of the input; ``values`` of length 0 means binary
    input (every event is 1); ``idx[:n]`` are the neurons that spiked at t−1.
    """
    for h in range(cur.shape[0]):
        cur[h] = 0
    e0 = indptr[row]
    ne = indptr[row + 1] - e0
    ev = indices[e0:e0 + ne]
    if values.shape[0] == 0:
        add_rows(cur, w_inT, ev, ne)
    else:
        add_scaled_rows(cur, w_inT, ev, values[e0:e0 + ne], ne)
    add_rows(cur, w_recT, idx, n)


@njit(fastmath=FASTMATH)
def input_grad(dw_inT, row, indptr, indices, values, dI):
    """dW_in[:, i] += Ī_t · x_t[i] for the active inputs i of this row (eq. (N7))."""
    H = dI.shape[0]
    if values.shape[0] == 0:
        for e in range(indptr[row], indptr[row + 1]):
            g = dw_inT[indices[e]]
            for h in range(H):
                g[h] += dI[h]
    else:
        for e in range(indptr[row], indptr[row + 1]):
            g = dw_inT[indices[e]]
            val = values[e]
            for h in range(H):
                g[h] += dI[h] * val


@njit(fastmath=FASTMATH)
def rows_add(dst, idx, n, vec):
    """dst[idx[m]] += vec for m < n: the gradient rows of the spiking neurons (eqs. (N7), (L6))."""
    for m in range(n):
        g = dst[idx[m]]
        for h in range(vec.shape[0]):
            g[h] += vec[h]


# ----------------------------------------------------------------------------------- spikes
@njit
def collect(z, idx, bits):
    """Index list of the spiking neurons of ``z`` (values 0/1) into ``idx``; pack into ``bits``.

    Returns the number of spikes n. ``bits`` may have length 0 (no tape). Branch-free: 64
    neurons at a time become one bit mask (vector compares, :func:`.intrinsics.nonzero_mask`), whose set
    bits are then listed with ``tzcnt`` — a branch per spike instead of one per neuron
    (measured 50 ns instead of 150 ns for 256 neurons).
    """
    H = z.shape[0]
    nb = bits.shape[0]
    L = lanes_of(z)
    n = 0
    for w0 in range(0, H, 64):
        cnt = min(64, H - w0)
        m = np.uint64(0)
        lane = 0
        while lane + L <= cnt:
            m |= nonzero_mask(z, w0 + lane) << np.uint64(lane)
            lane += L
        while lane < cnt:
            if z[w0 + lane] != 0:
                m |= np.uint64(1) << np.uint64(lane)
            lane += 1
        if nb > 0:
            for i in range(8):
                j = (w0 >> 3) + i
                if j < nb:
                    bits[j] = np.uint8((m >> np.uint64(8 * i)) & np.uint64(255))
        while m != 0:
            idx[n] = w0 + np.int64(cttz(m))
            n += 1
            m &= m - np.uint64(1)
    return n


@njit
def unpack(bits, H, idx):
    """Index list of the set bits of ``bits`` (neurons < H) into ``idx``; returns their number."""
    nb = bits.shape[0]
    n = 0
    for j0 in range(0, nb, 8):
        m = np.uint64(0)
        for i in range(min(8, nb - j0)):
            m |= np.uint64(bits[j0 + i]) << np.uint64(8 * i)
        while m != 0:
            h = j0 * 8 + np.int64(cttz(m))
            if h < H:
                idx[n] = h
                n += 1
            m &= m - np.uint64(1)
    return n


@njit
def same_bytes(a, b):
    """a == b for two uint8 arrays of the same length (the recomputation check)."""
    for j in range(a.shape[0]):
        if a[j] != b[j]:
            return False
    return True


@njit
def same_bits(bits, idx, n):
    """True iff ``bits`` holds exactly the spikes idx[:n] (recomputation check)."""
    cnt = 0
    for j in range(bits.shape[0]):
        w = np.int64(bits[j])
        while w != 0:
            w &= w - 1
            cnt += 1
    if cnt != n:
        return False
    for m in range(n):
        h = idx[m]
        if not (bits[h >> 3] >> (h & 7)) & 1:
            return False
    return True


# ---------------------------------------------------------------------------------- readout
@njit(fastmath=FASTMATH)
def readout_input(r, idx, n, w_oT):
    """r_t = W_o z_t = Σ_{j spiking} w_oT[j] (eq. (L2)). ``w_oT`` (H, Cp) and ``r`` (Cp,) are
    padded with zero columns to whole vectors (:func:`pad_classes`), so the rows are summed
    like the input rows (:func:`add_rows`, eight at a time) without a scalar remainder."""
    for c in range(r.shape[0]):
        r[c] = 0
    add_rows(r, w_oT, idx, n)


@njit(fastmath=FASTMATH)
def readout_forward(o, r, idx, n, w_oT, a_o, b_o):
    """r_t = W_o z_t (sparse), o_t = o_{t−1}·α + r_t·(1 − α), eqs. (L2)–(L3), in place on o (C,)."""
    readout_input(r, idx, n, w_oT)
    for c in range(o.shape[0]):
        o[c] = o[c] * a_o[c] + r[c] * b_o[c]


@njit(fastmath=FASTMATH)
def readout_backward(t, b, r0, d_out, O, a_o, b_o, do_n, rb, r, idx, n, w_oT, dao):
    """Readout VJP at step t for sample b (eqs. (L4), (L5), (L7)) up to r̄_t, written into ``rb``.

    ``do_n`` carries ō_{t+1} in and ō_t out; ``dao`` accumulates dα_o; ``r`` is scratch (Cp,).
    The caller adds r̄_t to the dW_o rows of the neurons spiking at t (L6) together with their
    dW_rec rows, and forms z̄ᵒ_t = r̄_t W_o (N5) together with the recurrent term of (N6).
    """
    C = do_n.shape[0]
    readout_input(r, idx, n, w_oT)
    for c in range(C):
        g = d_out[b, t - r0, c] if t >= r0 else a_o[c] - a_o[c]
        do = g + a_o[c] * do_n[c]  # (L4)
        do_n[c] = do
        rb[c] = b_o[c] * do  # (L5)
        op = O[b, t - 1, c] if t > 0 else a_o[c] - a_o[c]
        dao[c] += do * (op - r[c])  # (L7)


def pad_classes(C: int, dtype) -> int:
    """C rounded up to whole 64-byte vectors (16 float32 / 8 float64): the padded width of
    ``w_oT`` and of the readout scratch."""
    lanes = 64 // np.dtype(dtype).itemsize
    return -(-C // lanes) * lanes


# ------------------------------------------------------------------------------------- loss
@njit(parallel=True, cache=CACHE, fastmath=FASTMATH)
def nll_loss(O, r0, targets, d_out, kc):
    """Summed loss (N10) of the recorded readout O[:, r0:] (O is (B, T, C)) and ∂L/∂o_t (N11)
    into d_out (B, T − r0, C); ``targets`` (T − r0, B).

    As resonet.loss.nll_loss: log-softmax as (o − max) − log Σ_c exp(o − max), gradient
    (softmax − onehot) / B, with softmax as exp(o − max)·(1/Σ) (the reference's exp(logp) differs
    in the last ulp); exp by :func:`exp_neg` (every argument is <= 0). Each sample's (T_rec, C)
    block is transposed to (C, T_rec) so that every loop runs over time and vectorises (C is
    only 6–20); the class sum runs in class order, like a sequential sum.
    """
    Tr, B = targets.shape
    C = O.shape[2]
    part = np.zeros(B, dtype=O.dtype)
    nb = np.empty(1, dtype=O.dtype)
    nb[0] = B
    Bf = nb[0]
    g = surrogate_tuple(kc)
    one = kc[KC_ONE]
    for b in prange(B):
        ot = np.empty((C, Tr), dtype=O.dtype)
        ob = O[b]
        for tr in range(Tr):
            for c in range(C):
                ot[c, tr] = ob[r0 + tr, c]
        m = ot[0].copy()
        for c in range(1, C):
            oc = ot[c]
            for tr in range(Tr):
                m[tr] = oc[tr] if oc[tr] > m[tr] else m[tr]  # exact in any order
        se = np.zeros(Tr, dtype=O.dtype)
        acc = one - one
        for tr in range(Tr):
            acc += ob[r0 + tr, targets[tr, b]] - m[tr]
        for c in range(C):
            oc = ot[c]
            for tr in range(Tr):
                e = exp_neg(oc[tr] - m[tr], g)
                oc[tr] = e
                se[tr] += e
        for tr in range(Tr):
            acc -= math.log(se[tr])  # Σ_t log softmax(o_t)[y_t]
            se[tr] = one / se[tr]
        for c in range(C):
            oc = ot[c]
            for tr in range(Tr):
                oc[tr] = oc[tr] * se[tr]  # softmax
        for tr in range(Tr):
            ot[targets[tr, b], tr] -= one
        gb = d_out[b]
        for tr in range(Tr):
            for c in range(C):
                gb[tr, c] = ot[c, tr] / Bf
        part[b] = acc
    return -part.sum() / Bf


# ----------------------------------------------------------------------------- dense → CSR
@njit(parallel=True, cache=CACHE)
def dense_to_csr(x, like):
    """CSR over rows ``t*B + b`` of a dense (T, B, I) input (resonet.events layout).

    Values are converted to ``like.dtype``. Returns (indptr, indices, values, binary, finite):
    ``binary`` is True when every stored value is 1 (the caller then drops ``values``),
    ``finite`` False if any value is NaN or ±Inf after the conversion.
    """
    T, B, I = x.shape
    R = T * B
    counts = np.zeros(R + 1, dtype=np.int64)
    for r in prange(R):
        t = r // B
        b = r - t * B
        c = 0
        for i in range(I):
            if x[t, b, i] != 0:
                c += 1
        counts[r + 1] = c
    indptr = np.cumsum(counts)
    nnz = indptr[R]
    indices = np.empty(nnz, dtype=np.int32)
    values = np.empty(nnz, dtype=like.dtype)
    notone = np.zeros(R, dtype=np.uint8)
    bad = np.zeros(R, dtype=np.uint8)
    for r in prange(R):
        t = r // B
        b = r - t * B
        e = indptr[r]
        for i in range(I):
            if x[t, b, i] != 0:
                indices[e] = i
                values[e] = x[t, b, i]
                v = values[e]
                if v != 1:
                    notone[r] = 1
                if v - v != 0:  # NaN or ±Inf
                    bad[r] = 1
                e += 1
    return indptr, indices, values, notone.sum() == 0, bad.sum() == 0
