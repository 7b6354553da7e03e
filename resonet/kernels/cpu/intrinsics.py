"""Hand-written LLVM IR for the few places where numba's own code generation is the bottleneck
of the CPU kernels (docs/cpu-kernels.md): every function here is a numba ``@intrinsic`` that emits
plain IR (no fast-math flags, no contraction), so each computes exactly what the equivalent numba
loop in :mod:`.inputs` or :mod:`.spikebits` computes, only with its accumulators in registers or
with one vector instruction in place of a loop. Callable from jitted code only.

- :func:`pow2`: 2ⁿ from the exponent bits (the scaling step of ``surrogate.exp_neg``);
- :func:`cttz`, :func:`nonzero_mask`, :func:`lanes_of`: spike bit masks (``spikebits.collect``);
- :func:`add_rows_vec`: the whole-vector columns of ``inputs.add_rows``;
- :func:`tile4_blocks`: the float32 register tiles of ``inputs.matvec_tile``.
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic


@intrinsic
def pow2(typingctx, nf):
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
def cttz(typingctx, m):
    """Number of trailing zero bits of a nonzero uint64 (LLVM's cttz: one ``tzcnt``)."""
    if m != types.uint64:
        return None

    def codegen(context, builder, sig, args):
        return builder.cttz(args[0], ir.Constant(ir.IntType(1), 1))

    return types.uint64(types.uint64), codegen


def vector_lanes(dtype) -> int:
    """Elements per 64-byte vector (one AVX-512 register): 16 float32, 8 float64."""
    return 16 if dtype == types.float32 else 8


@intrinsic
def lanes_of(typingctx, a):
    """:func:`vector_lanes` of an array's dtype, as a compile-time constant."""
    n = vector_lanes(a.dtype)

    def codegen(context, builder, sig, args):
        return ir.Constant(ir.IntType(64), n)

    return types.int64(a), codegen


@intrinsic
def nonzero_mask(typingctx, z, off):
    """Bit l set iff z[off + l] != 0, for the :func:`vector_lanes` elements from ``off`` (which must
    lie inside ``z``): one vector compare (``vcmpps`` into a mask register on AVX-512) instead
    of a branch per neuron. NaN counts as nonzero, as ``z != 0`` does."""
    if not isinstance(z, types.Array) or z.ndim != 1 or z.dtype not in (types.float32,
                                                                        types.float64):
        return None
    n = vector_lanes(z.dtype)

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


@intrinsic
def add_rows_vec(typingctx, cur, w, idx, n):
    """The whole-vector columns of :func:`.inputs.add_rows` (returns how many: H rounded down to
    16 float32 / 8 float64), accumulators in registers.

    numba's loop keeps ``cur`` in memory and, not knowing that ``cur`` and the weight rows do
    not overlap, checks every group of rows for aliasing before its short vector loop; for the
    2–5 groups of a step that overhead was most of the cost (12 ns per 512-byte row). Here each
    block of four vectors of ``cur`` is loaded once, every row group is added in registers and
    the block is stored once. Same grouping and plain fadd as :func:`.inputs.add_rows`' loops, hence the
    same bits."""
    if not (isinstance(cur, types.Array) and cur.ndim == 1 and isinstance(w, types.Array)
            and w.ndim == 2 and isinstance(idx, types.Array) and idx.ndim == 1
            and isinstance(idx.dtype, types.Integer) and cur.dtype == w.dtype
            and cur.dtype in (types.float32, types.float64)):
        return None
    lanes = vector_lanes(cur.dtype)
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


# Column blocks of 16 that tile4_blocks keeps in registers during one pass over k: 4 × 4
# accumulators (samples × blocks) plus the 16 weight vectors of four rows fill the 32 zmm
# registers. With one block per pass every weight vector load came with four broadcasts of A
# and the loop was bound by loads (117 GFLOP/s on one core, 266 × 256, float32); with four,
# one broadcast serves four blocks: 180–224 GFLOP/s. 2 gave 164, 3 and 8 148 (remainder
# passes; spills).
NB_TILE = 4


@intrinsic
def tile4_blocks(typingctx, out, A, w, kdim, c0, c1, ws):
    """out[s, c0:m] = A[s, :kdim] @ w[:kdim, c0 − ws:m − ws] for the four rows s of A, in
    float32 only; returns m, the end of the columns done (whole 16-column blocks of [c0, c1); c0
    for float64, whose caller does all). A column range lets a caller walk a wide product block
    by block (so that a block of w stays in cache while several tiles of A pass over it); the
    shift ``ws`` lets that block be a packed copy (columns from 0) while ``out`` keeps its own.

    Written in LLVM IR because the loop order matters and numba cannot express it: for each
    group of NB_TILE blocks of 16 columns (then single blocks for the rest) the 4 · NB_TILE
    accumulators stay in vector registers over the whole k loop, and each broadcast of A[s, k]
    serves all blocks of the group
    (numba's loops keep ``out`` in memory, a load and a store per four rows, because it cannot
    prove that ``out`` does not alias ``w``). The arithmetic is exactly that of
    :func:`.inputs.matvec_rows`: per sample acc = 0, then acc += (b₀x₀ + b₁x₁) + (b₂x₂ + b₃x₃) for each
    group of four rows, then acc += b·x for the remaining rows; plain fmul/fadd (no contraction,
    FASTMATH is off), so the result is bit-identical to the numba code and to any tiling.
    Measured 1.4 µs instead of 2.0 µs per S-MNIST sample-step (266 × 256)."""
    if not (isinstance(out, types.Array) and isinstance(A, types.Array)
            and isinstance(w, types.Array) and out.ndim == A.ndim == w.ndim == 2):
        return None
    sig = types.int64(out, A, w, kdim, types.int64, types.int64, types.int64)
    if out.dtype != types.float32:
        def codegen_none(context, builder, sig, args):
            return args[4]
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
        col0 = args[4]
        os0 = cgutils.unpack_tuple(builder, o.strides, 2)[0]
        as0 = cgutils.unpack_tuple(builder, a.strides, 2)[0]
        ws0 = cgutils.unpack_tuple(builder, wa.strides, 2)[0]
        ncol = builder.sub(args[5], col0)
        op = builder.bitcast(o.data, i8p)
        ap = builder.bitcast(a.data, i8p)
        # column c of out is column c − ws of w: w's base pointer moved back by ws floats lets
        # one byte offset address both
        wshift = builder.mul(builder.neg(args[6]), ir.Constant(i64, 4))
        wp = builder.gep(builder.bitcast(wa.data, i8p), [wshift])

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

        base = builder.mul(col0, c(4))  # byte offset of column c0
        nwide = builder.udiv(nblk, c(NB_TILE))
        with cgutils.for_range(builder, nwide) as jl:
            blocks(builder.add(base, builder.mul(jl.index, c(NB_TILE * 4 * n))), NB_TILE)
        with cgutils.for_range_slice(builder, builder.mul(nwide, c(NB_TILE)), nblk, c(1)) as (jb, _):
            blocks(builder.add(base, builder.mul(jb, c(4 * n))), 1)
        return builder.add(col0, builder.mul(nblk, c(n)))

    return sig, codegen
