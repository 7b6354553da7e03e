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
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.core import cgutils
from numba.extending import intrinsic, overload

from ...surrogate import C1, C2, GAMMA, H_SG, SIGMA1, SIGMA2
from .config import CACHE, FASTMATH

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


@intrinsic
def _pow2(typingctx, nf):
    """2.0**n for a float ``nf`` holding an integer n in the normal exponent range."""
    if nf == types.float64:
        ity, bias, shift, fty = ir.IntType(64), 1023, 52, ir.DoubleType()
    elif nf == types.float32:
        ity, bias, shift, fty = ir.IntType(32), 127, 23, ir.FloatType()
    else:
        return None

    def codegen(context, builder, sig, args):
        n = builder.fptosi(args[0], ity)
        bits = builder.shl(builder.add(n, ir.Constant(ity, bias)), ir.Constant(ity, shift))
        return builder.bitcast(bits, fty)

    return nf(nf), codegen


@intrinsic
def _cttz(typingctx, m):
    """Number of trailing zero bits of a nonzero uint64 (LLVM's cttz: one ``tzcnt``)."""
    if m != types.uint64:
        return None

    def codegen(context, builder, sig, args):
        return builder.cttz(args[0], ir.Constant(ir.IntType(1), 1))

    return types.uint64(types.uint64), codegen


def _lanes(dtype) -> int:
    """Elements per 64-byte vector (one AVX-512 register): 16 float32, 8 float64."""
    return 16 if dtype == types.float32 else 8


@intrinsic
def _lanes_of(typingctx, a):
    """:func:`_lanes` of an array's dtype, as a compile-time constant."""
    n = _lanes(a.dtype)

    def codegen(context, builder, sig, args):
        return ir.Constant(ir.IntType(64), n)

    return types.int64(a), codegen


@intrinsic
def _nonzero_mask(typingctx, z, off):
    """Bit l set iff z[off + l] != 0, for the :func:`_lanes` elements from ``off`` (which must
    lie inside ``z``): one vector compare (``vcmpps`` into a mask register on AVX-512) instead
    of a branch per neuron. NaN counts as nonzero, as ``z != 0`` does."""
    if not isinstance(z, types.Array) or z.ndim != 1 or z.dtype not in (types.float32,
                                                                        types.float64):
        return None
    n = _lanes(z.dtype)

    def codegen(context, builder, sig, args):
        arr = context.make_array(sig.args[0])(context, builder, args[0])
        et = context.get_data_type(sig.args[0].dtype)
        vt = ir.VectorType(et, n)
        ptr = builder.bitcast(builder.gep(arr.data, [args[1]]), vt.as_pointer())
        v = builder.load(ptr, align=4 if n == 16 else 8)
        bits = builder.bitcast(builder.fcmp_unordered("!=", v, ir.Constant(vt, None)),
                               ir.IntType(n))
        return builder.zext(bits, ir.IntType(64))

    return types.uint64(z, types.int64), codegen


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
    res = _exp_poly(r, g) * _pow2(nf)
    res = g[7] if x < xmin else res
    return x if x != x else res


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
@intrinsic
def _add_rows_vec(typingctx, cur, w, idx, n):
    """The whole-vector columns of :func:`add_rows` (returns how many: H rounded down to
    16 float32 / 8 float64), accumulators in registers.

    numba's loop keeps ``cur`` in memory and, not knowing that ``cur`` and the weight rows do
    not overlap, checks every group of rows for aliasing before its short vector loop; for the
    2–5 groups of a step that overhead was most of the cost (12 ns per 512-byte row). Here each
    block of four vectors of ``cur`` is loaded once, every row group is added in registers and
    the block is stored once. Same grouping and plain fadd as :func:`add_rows`' loops, hence the
    same bits."""
    if not (isinstance(cur, types.Array) and cur.ndim == 1 and isinstance(w, types.Array)
            and w.ndim == 2 and isinstance(idx, types.Array) and idx.ndim == 1
            and isinstance(idx.dtype, types.Integer) and cur.dtype == w.dtype
            and cur.dtype in (types.float32, types.float64)):
        return None
    lanes = _lanes(cur.dtype)
    esz = 64 // lanes

    def codegen(context, builder, sig, args):
        i64 = ir.IntType(64)
        et = context.get_data_type(sig.args[0].dtype)
        vt = ir.VectorType(et, lanes)
        i8p = ir.IntType(8).as_pointer()
        ca = context.make_array(sig.args[0])(context, builder, args[0])
        wa = context.make_array(sig.args[1])(context, builder, args[1])
        ia = context.make_array(sig.args[2])(context, builder, args[2])
        n = args[3]
        H = cgutils.unpack_tuple(builder, ca.shape, 1)[0]
        ws0 = cgutils.unpack_tuple(builder, wa.strides, 2)[0]
        cp = builder.bitcast(ca.data, i8p)
        wp = builder.bitcast(wa.data, i8p)

        def c(v):
            return ir.Constant(i64, v)

        def row(m):  # byte offset of row idx[m]
            i = builder.load(builder.gep(ia.data, [m]))
            i = builder.sext(i, i64) if i.type.width < 64 else i
            return builder.mul(i, ws0)

        def vld(base, off):
            return builder.load(builder.bitcast(builder.gep(base, [off]), vt.as_pointer()),
                                align=esz)

        nvec = builder.udiv(H, c(lanes))
        acc = [cgutils.alloca_once(builder, vt) for _ in range(4)]

        def block(col, nv):  # cur[col : col + nv vectors] += Σ rows
            for v in range(nv):
                builder.store(vld(cp, builder.add(col, c(v * 64))), acc[v])

            def add_group(m0, size):
                offs = [builder.add(row(builder.add(m0, c(i))), col) for i in range(size)]
                for v in range(nv):
                    x = [vld(wp, builder.add(o, c(v * 64))) for o in offs]
                    if size == 8:
                        t = builder.fadd(builder.fadd(builder.fadd(x[0], x[1]), builder.fadd(x[2], x[3])),
                                         builder.fadd(builder.fadd(x[4], x[5]), builder.fadd(x[6], x[7])))
                    elif size == 4:
                        t = builder.fadd(builder.fadd(x[0], x[1]), builder.fadd(x[2], x[3]))
                    else:
                        t = x[0]
                    builder.store(builder.fadd(builder.load(acc[v]), t), acc[v])

            g8 = builder.udiv(n, c(8))
            with cgutils.for_range(builder, g8) as gl:
                add_group(builder.mul(gl.index, c(8)), 8)
            m = builder.mul(g8, c(8))
            has4 = builder.icmp_signed(">=", builder.sub(n, m), c(4))
            with builder.if_then(has4):
                add_group(m, 4)
            m = builder.select(has4, builder.add(m, c(4)), m)
            with cgutils.for_range_slice(builder, m, n, c(1)) as (mm, _):
                add_group(mm, 1)
            for v in range(nv):
                builder.store(builder.load(acc[v]),
                              builder.bitcast(builder.gep(cp, [builder.add(col, c(v * 64))]),
                                              vt.as_pointer()), align=esz)

        nb4 = builder.udiv(nvec, c(4))
        with cgutils.for_range(builder, nb4) as bl:
            block(builder.mul(bl.index, c(256)), 4)
        with cgutils.for_range_slice(builder, builder.mul(nb4, c(4)), nvec, c(1)) as (vi, _):
            block(builder.mul(vi, c(64)), 1)
        return builder.mul(nvec, c(lanes))

    return types.int64(cur, w, idx, types.int64), codegen


@njit(fastmath=FASTMATH)
def add_rows(cur, w, idx, n):
    """cur += Σ_{m<n} w[idx[m]] (the rows of the spiking neurons / active binary inputs),
    eight rows at a time, then four, then one (one load and store of the accumulator per group
    instead of per row). Whole vectors by :func:`_add_rows_vec`, the remaining columns (H not
    a multiple of 16 / 8) by the loops below, in the same grouping."""
    H = cur.shape[0]
    h0 = _add_rows_vec(cur, w, idx, np.int64(n))
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


# Column blocks of 16 that _tile4_blocks keeps in registers during one pass over k: 4 × 4
# accumulators (samples × blocks) plus the 16 weight vectors of four rows fill the 32 zmm
# registers. With one block per pass every weight vector load came with four broadcasts of A
# and the loop was bound by loads (117 GFLOP/s on one core, 266 × 256, float32); with four,
# one broadcast serves four blocks: 180–224 GFLOP/s. 2 gave 164, 3 and 8 148 (remainder
# passes; spills).
NB_TILE = 4


@intrinsic
def _tile4_blocks(typingctx, out, A, w, kdim):
    """out[s, :m] = A[s, :kdim] @ w[:kdim, :m] for the four rows s of A, in float32 only;
    returns m, the columns done (whole 16-column blocks; 0 for float64, whose caller does all).

    Written in LLVM IR because the loop order matters and numba cannot express it: for each
    group of NB_TILE blocks of 16 columns (then single blocks for the rest) the 4 · NB_TILE
    accumulators stay in vector registers over the whole k loop, and each broadcast of A[s, k]
    serves all blocks of the group
    (numba's loops keep ``out`` in memory, a load and a store per four rows, because it cannot
    prove that ``out`` does not alias ``w``). The arithmetic is exactly that of
    :func:`matvec_rows`: per sample acc = 0, then acc += (b₀x₀ + b₁x₁) + (b₂x₂ + b₃x₃) for each
    group of four rows, then acc += b·x for the remaining rows; plain fmul/fadd (no contraction,
    FASTMATH is off), so the result is bit-identical to the numba code and to any tiling.
    Measured 1.4 µs instead of 2.0 µs per S-MNIST sample-step (266 × 256)."""
    if not (isinstance(out, types.Array) and isinstance(A, types.Array)
            and isinstance(w, types.Array) and out.ndim == A.ndim == w.ndim == 2):
        return None
    sig = types.int64(out, A, w, kdim)
    if out.dtype != types.float32:
        def codegen_none(context, builder, sig, args):
            return ir.Constant(ir.IntType(64), 0)
        return sig, codegen_none
    n = 16

    def codegen(context, builder, sig, args):
        i64 = ir.IntType(64)
        et = context.get_data_type(sig.args[0].dtype)
        vt = ir.VectorType(et, n)
        i8p = ir.IntType(8).as_pointer()
        o = context.make_array(sig.args[0])(context, builder, args[0])
        a = context.make_array(sig.args[1])(context, builder, args[1])
        wa = context.make_array(sig.args[2])(context, builder, args[2])
        kd = args[3]
        os0 = cgutils.unpack_tuple(builder, o.strides, 2)[0]
        as0 = cgutils.unpack_tuple(builder, a.strides, 2)[0]
        ws0 = cgutils.unpack_tuple(builder, wa.strides, 2)[0]
        ncol = cgutils.unpack_tuple(builder, o.shape, 2)[1]
        op = builder.bitcast(o.data, i8p)
        ap = builder.bitcast(a.data, i8p)
        wp = builder.bitcast(wa.data, i8p)

        def c(v):
            return ir.Constant(i64, v)

        nblk = builder.udiv(ncol, c(n))
        k4 = builder.udiv(kd, c(4))
        # accumulators of (sample s, column block v) at accs[v][s], promoted to registers
        accs = [[cgutils.alloca_once(builder, vt) for _ in range(4)] for _ in range(NB_TILE)]
        zero = ir.Constant(vt, None)
        undef = ir.Constant(vt, ir.Undefined)
        bcast = ir.Constant(ir.VectorType(ir.IntType(32), n), [0] * n)

        def splat(x):
            v = builder.insert_element(undef, x, ir.Constant(ir.IntType(32), 0))
            return builder.shuffle_vector(v, undef, bcast)

        def vload(off):
            return builder.load(builder.bitcast(builder.gep(wp, [off]), vt.as_pointer()), align=4)

        def sload(s, k):
            off = builder.add(builder.mul(c(s), as0), builder.mul(k, c(4)))
            return splat(builder.load(builder.bitcast(builder.gep(ap, [off]), et.as_pointer()),
                                      align=4))

        def blocks(col, nb):  # out[:, col : col + nb·16] over the whole k loop
            for v in range(nb):
                for s in range(4):
                    builder.store(zero, accs[v][s])
            with cgutils.for_range(builder, k4) as kl:
                k = builder.mul(kl.index, c(4))
                ks = [builder.add(k, c(i)) for i in range(4)]
                xs = [[vload(builder.add(builder.add(builder.mul(kk, ws0), col), c(v * 4 * n)))
                       for kk in ks] for v in range(nb)]
                for s in range(4):
                    b = [sload(s, kk) for kk in ks]  # one broadcast serves all nb blocks
                    for v in range(nb):
                        x = xs[v]
                        g = builder.fadd(builder.fadd(builder.fmul(b[0], x[0]), builder.fmul(b[1], x[1])),
                                         builder.fadd(builder.fmul(b[2], x[2]), builder.fmul(b[3], x[3])))
                        builder.store(builder.fadd(builder.load(accs[v][s]), g), accs[v][s])
            with cgutils.for_range_slice(builder, builder.mul(k4, c(4)), kd, c(1)) as (kk, _):
                for v in range(nb):
                    x = vload(builder.add(builder.add(builder.mul(kk, ws0), col), c(v * 4 * n)))
                    for s in range(4):
                        builder.store(builder.fadd(builder.load(accs[v][s]),
                                                   builder.fmul(sload(s, kk), x)), accs[v][s])
            for v in range(nb):
                for s in range(4):
                    off = builder.add(builder.add(builder.mul(c(s), os0), col), c(v * 4 * n))
                    builder.store(builder.load(accs[v][s]),
                                  builder.bitcast(builder.gep(op, [off]), vt.as_pointer()), align=4)

        nwide = builder.udiv(nblk, c(NB_TILE))
        with cgutils.for_range(builder, nwide) as jl:
            blocks(builder.mul(jl.index, c(NB_TILE * 4 * n)), NB_TILE)
        with cgutils.for_range_slice(builder, builder.mul(nwide, c(NB_TILE)), nblk, c(1)) as (jb, _):
            blocks(builder.mul(jb, c(4 * n)), 1)
        return builder.mul(nblk, c(n))

    return sig, codegen


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
    float32: whole 16-column blocks by :func:`_tile4_blocks` (accumulators in registers), the
    rest (and all of float64, where that kernel measured slower than this loop) by the loop
    below. Every out[j][n] is summed in exactly the grouping of :func:`matvec_rows_k`, so the
    result does not depend on the tiling or on which code computed it.
    """
    if nt < 4:
        for j in range(nt):
            matvec_rows_k(out[j], A[j], w, kdim)
        return
    N = out.shape[1]
    c0 = _tile4_blocks(out, A, w, kdim)
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
    neurons at a time become one bit mask (vector compares, :func:`_nonzero_mask`), whose set
    bits are then listed with ``tzcnt`` — a branch per spike instead of one per neuron
    (measured 50 ns instead of 150 ns for 256 neurons).
    """
    H = z.shape[0]
    nb = bits.shape[0]
    L = _lanes_of(z)
    n = 0
    for w0 in range(0, H, 64):
        cnt = min(64, H - w0)
        m = np.uint64(0)
        lane = 0
        while lane + L <= cnt:
            m |= _nonzero_mask(z, w0 + lane) << np.uint64(lane)
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
            idx[n] = w0 + np.int64(_cttz(m))
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
            h = j0 * 8 + np.int64(_cttz(m))
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
