"""The fused CUDA kernels: forward and BPTT over a whole sequence in one launch each, the loss,
the deterministic gradient reductions, and the parameter preparation (docs/cuda-kernels.md).

Shapes: T time, B batch, I inputs, H hidden, C classes, R rows of the model's state, NACC rows of
its per-neuron sums, NP its per-neuron parameters, Wd = ⌈H/32⌉ words of a spike bitmask.

Kernels (one set per float dtype and neuron model, built by :func:`get_kernels`: shared-memory
arrays need their element type at compile time, and the model's device functions, from its
module ``cells`` (:mod:`.brf`, :mod:`.alif`, …; contract in :mod:`.common`), are compiled into
each kernel; this is the one place where the model is chosen):

- ``forward`` — grid (B,), one block per sample, threads strided over neurons. Per step t: the
  input current of each neuron (its bias, eq. (N1)) from the sample's active input events (or
  nonzero dense inputs, or, for a layer above the first of a stack, the set bits of the layer
  below's spike bitmask of the same step, (N13)) and from the neurons that spiked at t−1 (eq.
  (N1)), read as the set bits of a shared bitmask
  (ascending order, zeros never touched: the recurrent sum costs Wd + n_spikes loads); the cell
  step (N2) on the neuron's state, which only its own thread touches and which therefore lives in
  a per-sample global scratch row ``stg[b]`` (R·H), not in shared memory (so H is not limited
  by the 48 KiB of shared memory a block gets without opt-in); the new spikes are OR-ed into the
  next bitmask with integer atomics (the result is independent of their order); after one
  ``syncthreads`` the readout (N3) sums the W_o rows of the spiking neurons. The bitmasks are
  triple-buffered so a step needs one barrier. With ``keep`` the tape (continuous states, spike
  bitmasks, readout input r_t) goes to global memory.
- ``loss_sample`` — grid (B,), threads over the recorded steps: per step the NLL term and
  ∂L/∂o (N10)–(N11) and the accuracy bits (N12), then the sample's sums in step order;
  ``loss_batch`` — one thread: the batch sums in order b = 0..B−1.
- ``backward`` — grid (B,), one block per sample, reverse time, two barriers per step: the
  readout adjoint (L4)–(L7), (L9), z̄_t = r̄_t W_o + Ī_{t+1} W_rec + z̄ from the cell (N5)–(N6)
  (+ the layer above's x̄, (N15), for a layer below the last of a stack), the
  cell VJP (``cells.cell_backward``; its adjoint carries and parameter sums are single-owner rows
  ``car[b]``, ``acc_b[b]`` in global memory, like the forward state), then this sample's
  contributions to dW_in and dW_o (N7), (L6) and to the biases' gradients (N16), (L9) into its
  own slice of per-sample buffers (no two threads ever write the same element, no atomics), and
  Ī_t into the tape ``dIt`` (T, B, H).
- ``grad_rec`` — dW_rec (N7) from the Ī tape and the spike bitmasks, without a per-sample
  B·H² buffer: block (word w of presynaptic neurons, tile of postsynaptic h, chunk of samples);
  each thread sums, per sample in order and over t in descending order, Ī_t[b, h] into the 32
  presynaptic neurons of word w that spiked at t−1 (the per-sample backward kernel's order), and
  adds the per-sample sums in order b; one (H, H) partial per chunk (:func:`rec_chunks`).
- ``reduce`` — one thread per gradient element: sums the per-sample buffers over b in order
  0..B−1 (dW_rec: the chunk partials in chunk order) and applies the chain rule through
  abs()/exp() (N9), (L8); writes the flat gradient.
- ``prepare`` — transposed weight copies for the forward, and (session only) the cell constants
  and readout decay derived from the raw parameters on the device.

Stacked layers (eqs. (N13)–(N16)) run these kernels once per layer (:mod:`.device`), each on its
slice of the flat parameter vector: a layer's slice is its neuron parameters, W_h and (with
biases) b; the last layer's slice continues with the readout's τ_o, W_o and b_o, so every kernel
sees the one-layer layout (:func:`layer_offsets`). A layer below the last has C = 0 (no readout,
every readout loop empty).
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np
from numba import cuda

from . import _numpy_compat
from .config import CACHE, FASTMATH, backward_jit_options

_numpy_compat.ensure()  # before any kernel of this module compiles (numpy >= 2.5)

_KERNELS: dict = {}

MODE_EVENTS, MODE_DENSE, MODE_BITS = 0, 1, 2  # MODE_BITS: the spike bitmask of the layer below
N_STATS = 8  # loss, correct, total, correct_labelled, total_labelled, spikes, samples, (spare)


REC_TARGET_BLOCKS = 256  # ``grad_rec``: enough blocks to fill a GPU, fixed (not the GPU's)


def forward_shared_bytes(H: int, C: int, itemsize: int) -> int:
    """Dynamic shared memory of ``forward``: readout (C), 3 spike bitmasks of Wd words."""
    return -(-C * itemsize // 4) * 4 + 3 * ((H + 31) // 32) * 4


def backward_shared_bytes(H: int, C: int, itemsize: int) -> int:
    """Dynamic shared memory of ``backward``: Ī (2, H), r̄ (2, C), ō (C), dα (C), db_o (C)."""
    return (2 * H + 5 * C) * itemsize


def layer_offsets(NP: int, H: int, I: int, C: int, bias: int) -> tuple[int, int, int, int, int]:
    """Offsets in a layer's slice of the flat parameters (official order): the NP neuron
    parameters (H each) at 0, then W_h (H, I + H), b (H, with ``bias``), and for the last layer
    τ_o (C), W_o (C, H), b_o (C, with ``bias``). Returns (o_w, o_b, o_tau, o_wo, o_bo)."""
    o_w = NP * H
    o_b = o_w + H * (I + H)
    o_tau = o_b + (H if bias else 0)
    o_wo = o_tau + C
    o_bo = o_wo + C * H
    return o_w, o_b, o_tau, o_wo, o_bo


def rec_chunks(B: int, H: int, tpb: int) -> tuple[int, int]:
    """(chunks, samples per chunk) of ``grad_rec``: the batch is cut into consecutive chunks so
    that words × h-tiles × chunks ≈ REC_TARGET_BLOCKS blocks (a fixed number, so the summation
    order, and hence the result, depends on B, H and the thread count only, not on the GPU).
    The partial buffer is chunks·H² ≤ REC_TARGET_BLOCKS·32·tpb elements whatever H is."""
    per_chunk = ((H + 31) // 32) * -(-H // tpb)
    n = max(1, min(B, -(-REC_TARGET_BLOCKS // per_chunk)))
    spc = -(-B // n)
    return -(-B // spc), spc


def get_kernels(dtype, cells, n_params: int):
    """The kernels for float32 or float64 and one neuron model (its CUDA module ``cells`` and
    number of per-neuron parameters), compiled lazily on first launch. The model's device
    functions are compile-time constants of the closures, so each compiled kernel holds one
    cell's code only (fewer registers than a runtime switch)."""
    dtype = np.dtype(dtype)
    key = (dtype, cells.__name__)
    if key not in _KERNELS:
        _KERNELS[key] = _build(nb.float32 if dtype == np.float32 else nb.float64, dtype.itemsize,
                               cells, int(n_params))
    return _KERNELS[key]


def _build(ft, itemsize, cells, NP):
    uoff_div = 4
    cell_forward = cells.cell_forward
    cell_backward = cells.cell_backward
    derive = cells.derive
    finish = cells.finish
    NACC = cells.NACC
    NSUM = max(NACC, 1)  # size of the per-thread sums in ``reduce`` (a local array needs one)
    NH = 1 if NP else 0  # ``reduce``: one thread per neuron for its parameters (if it has any)

    @cuda.jit(fastmath=FASTMATH, cache=CACHE)
    def forward(R, idx, srows, mode, binary, ev_off, ev_step, ev_chan, ev_val, xd, perm,
                xscale, zin, w_inT, w_recT, w_oT, a_o, b_o, bias, rbias, cell, k, keep, keepz,
                tape, zmask, O, Rr, nspk, stg, first, graded, zv):
        """Eqs. (N1)–(N3) over the sequence for sample b = blockIdx.x (see the module doc).
        ``stg`` (B, R·H): the state scratch, row b owned by this block, h by its thread.
        ``zin`` (T, B, ⌈I/32⌉): the input spikes of MODE_BITS (the layer below). ``bias`` (H,),
        ``rbias`` (C,): the biases (zeros without). ``keepz``: keep the spike bitmasks even
        without the tape (a layer above reads them). ``nspk[b]`` receives the sample's spike
        count (``first``), or has it added (the layers above the first of a stack). With
        ``graded`` (reset-to-mod, eq. (S6)) ``zv`` (T, B, H) receives every spike's value, by
        which the recurrent and readout rows are scaled (the bitmasks mark z ≠ 0), and the count
        is Σ|z|."""
        b = cuda.blockIdx.x
        tid = cuda.threadIdx.x
        nt = cuda.blockDim.x
        T = O.shape[0]
        C = O.shape[2]
        H = w_recT.shape[0]
        I = w_inT.shape[0]
        Wd = (H + 31) // 32
        zero = ft(0)
        st = stg[b]  # (R·H): this sample's state, neuron h's rows touched by h's thread only
        osh = cuda.shared.array(0, ft)  # o (C)
        ush = cuda.shared.array(0, nb.uint32)[(C * itemsize + 3) // uoff_div:]  # 3 bitmasks
        for j in range(tid, C, nt):
            osh[j] = zero
        for h in range(tid, H, nt):
            for r in range(R):
                st[r * H + h] = zero
        for j in range(tid, 3 * Wd, nt):
            ush[j] = 0
        row = srows[idx[b]]
        e = 0
        e_end = 0
        if mode == MODE_EVENTS:
            e = ev_off[row]
            e_end = ev_off[row + 1]
        scaled = xscale[0] != zero
        Wi = zin.shape[2]
        cnt = 0
        cuda.syncthreads()
        for t in range(T):
            cb = (t % 3) * Wd  # bitmask of step t (written now)
            pb = ((t + 2) % 3) * Wd  # of step t−1 (read now)
            nx = ((t + 1) % 3) * Wd  # of step t+1: last read in step t−1, cleared now
            for j in range(tid, Wd, nt):
                ush[nx + j] = 0
            e1 = e
            if mode == MODE_EVENTS:
                while e1 < e_end and ev_step[e1] == t:
                    e1 += 1
            for h in range(tid, H, nt):
                cur = bias[h]  # (N1), in the CPU kernels' order: bias, inputs, recurrent spikes
                if mode == MODE_BITS:  # (N13): the spikes of the layer below at step t
                    for w in range(Wi):
                        bits = nb.int64(zin[t, b, w])
                        while bits != 0:
                            j = w * 32 + cuda.ffs(bits) - 1
                            bits = bits & (bits - 1)
                            cur += w_inT[j, h]
                elif mode == MODE_EVENTS:
                    # four events per round: their loads are issued together (one memory
                    # latency per round instead of per event), the sum keeps the event order
                    ee = e
                    if binary:
                        while ee + 4 <= e1:
                            x0 = w_inT[ev_chan[ee], h]
                            x1 = w_inT[ev_chan[ee + 1], h]
                            x2 = w_inT[ev_chan[ee + 2], h]
                            x3 = w_inT[ev_chan[ee + 3], h]
                            cur += x0
                            cur += x1
                            cur += x2
                            cur += x3
                            ee += 4
                        while ee < e1:
                            cur += w_inT[ev_chan[ee], h]
                            ee += 1
                    else:
                        while ee + 4 <= e1:
                            x0 = ev_val[ee] * w_inT[ev_chan[ee], h]
                            x1 = ev_val[ee + 1] * w_inT[ev_chan[ee + 1], h]
                            x2 = ev_val[ee + 2] * w_inT[ev_chan[ee + 2], h]
                            x3 = ev_val[ee + 3] * w_inT[ev_chan[ee + 3], h]
                            cur += x0
                            cur += x1
                            cur += x2
                            cur += x3
                            ee += 4
                        while ee < e1:
                            cur += ev_val[ee] * w_inT[ev_chan[ee], h]
                            ee += 1
                else:
                    tt = perm[t]
                    for i in range(I):
                        xv = xd[row, tt, i]
                        if xv != 0:
                            val = ft(xv)
                            if scaled:
                                val = val / xscale[0]
                            cur += val * w_inT[i, h]
                for w in range(Wd):
                    bits = nb.int64(ush[pb + w])
                    while bits != 0:
                        j = w * 32 + cuda.ffs(bits) - 1
                        bits = bits & (bits - 1)
                        if graded:
                            cur += zv[t - 1, b, j] * w_recT[j, h]
                        else:
                            cur += w_recT[j, h]
                z = cell_forward(h, cur, st, H, cell, k)  # (N2)
                if graded:
                    zv[t, b, h] = z
                if z != zero:
                    cuda.atomic.or_(ush, cb + (h >> 5), nb.uint32(1) << (h & 31))
                if keep:  # state rows 1 … R−1 (the spike is kept as a bitmask)
                    for r in range(1, R):
                        tape[t, b, r - 1, h] = st[r * H + h]
            e = e1
            cuda.syncthreads()
            for c in range(tid, C, nt):  # (N3): r_t = b_o + W_o z_t over the spiking neurons
                r = rbias[c]
                for w in range(Wd):
                    bits = nb.int64(ush[cb + w])
                    while bits != 0:
                        j = w * 32 + cuda.ffs(bits) - 1
                        bits = bits & (bits - 1)
                        if graded:
                            r += zv[t, b, j] * w_oT[j, c]
                        else:
                            r += w_oT[j, c]
                o = osh[c] * a_o[c] + r * b_o[c]
                osh[c] = o
                O[t, b, c] = o
                if keep:
                    Rr[t, b, c] = r
            if keep or keepz:
                for w in range(tid, Wd, nt):
                    zmask[t, b, w] = ush[cb + w]
            if tid == 0:
                for w in range(Wd):
                    if graded:
                        bits = nb.int64(ush[cb + w])
                        while bits != 0:
                            j = w * 32 + cuda.ffs(bits) - 1
                            bits = bits & (bits - 1)
                            cnt += nb.int64(abs(zv[t, b, j]))
                    else:
                        cnt += cuda.popc(ush[cb + w])
        if tid == 0:
            if first:
                nspk[b] = cnt
            else:
                nspk[b] += cnt

    @cuda.jit(fastmath=FASTMATH, cache=CACHE)
    def loss_sample(O, r0, idx, labels, d_out, lbt, flags, part, cnt):
        """Eqs. (N10)–(N12) for sample b = blockIdx.x, threads strided over its recorded steps.

        ``labels`` (N, L): L = 1 (one label per sequence) or T (per step, −1 = unlabelled, which
        counts as class 0 in the loss and the official accuracy, as resonet.train does). Per
        step tr: the log-likelihood term into ``lbt[tr, b]``, ∂L/∂o into ``d_out[tr, b]``, and
        (L = T) the hit/labelled bits into ``flags[tr, b]``; then thread 0 sums the step terms
        in order tr = 0, 1, … into ``part[b]`` (the order of a sequential loop) and the counts
        into ``cnt[b]`` (correct, total, correct labelled, total labelled)."""
        b = cuda.blockIdx.x
        tid = cuda.threadIdx.x
        nt = cuda.blockDim.x
        T = O.shape[0]
        B = O.shape[1]
        C = O.shape[2]
        L = labels.shape[1]
        Tr = T - r0
        zero = ft(0)
        one = ft(1)
        Bf = ft(B)
        pos = idx[b]
        for tr in range(tid, Tr, nt):
            t = r0 + tr
            yraw = labels[pos, t if L > 1 else 0]
            y = yraw if yraw >= 0 else 0
            m = O[t, b, 0]
            best = 0
            for c in range(1, C):
                if O[t, b, c] > m:
                    m = O[t, b, c]
                    best = c
            se = zero
            for c in range(C):
                se += math.exp(O[t, b, c] - m)
            lse = math.log(se)
            lbt[tr, b] = (O[t, b, y] - m) - lse  # (N10)
            for c in range(C):
                p = math.exp((O[t, b, c] - m) - lse)
                if c == y:
                    p -= one
                d_out[tr, b, c] = p / Bf  # (N11)
            if L > 1:  # per-step labels: each recorded step is predicted on its own
                flags[tr, b] = (1 if best == y else 0) + (2 if yraw >= 0 else 0)
        vsh = cuda.shared.array(0, ft)  # (C,): the class means over the recorded steps
        if L == 1:  # (N12): argmax of the mean over recorded steps (ties: first class)
            for c in range(tid, C, nt):
                sc = zero
                for tr in range(Tr):
                    sc += O[r0 + tr, b, c]
                vsh[c] = ft(nb.float64(sc) / Tr)  # numpy's mean: float64 division, then cast
        cuda.syncthreads()
        if tid == 0:
            lb = zero
            for tr in range(Tr):
                lb += lbt[tr, b]
            part[b] = lb
            if L == 1:
                yraw = labels[pos, 0]
                y = yraw if yraw >= 0 else 0
                best = 0
                bestv = zero
                for c in range(C):
                    if c == 0 or vsh[c] > bestv:
                        bestv = vsh[c]
                        best = c
                cnt[b, 0] = 1 if best == y else 0
                cnt[b, 1] = 1
                cnt[b, 2] = 0
                cnt[b, 3] = 0
            else:
                corr = 0
                corr_l = 0
                tot_l = 0
                for tr in range(Tr):
                    f = flags[tr, b]
                    corr += f & 1
                    if f & 2:
                        tot_l += 1
                        corr_l += f & 1
                cnt[b, 0] = corr
                cnt[b, 1] = Tr
                cnt[b, 2] = corr_l
                cnt[b, 3] = tot_l

    @cuda.jit(fastmath=FASTMATH, cache=CACHE)
    def loss_batch(Tr, part, cnt, nspk, stats, accumulate):
        """The batch sums of ``loss_sample``'s per-sample results in order b = 0..B−1 (one
        thread). ``stats`` (float64): with ``accumulate`` = 0 it receives [loss, correct, total,
        correct_labelled, total_labelled, spikes, B]; with 1 it accumulates
        [Σ loss/|R|·B, …, Σ B] over evaluation batches (resonet.evaluation's sums)."""
        if cuda.threadIdx.x != 0 or cuda.blockIdx.x != 0:
            return
        B = part.shape[0]
        Bf = ft(B)
        s = ft(0)
        corr = 0
        tot = 0
        corr_l = 0
        tot_l = 0
        spk = 0
        for b in range(B):
            s += part[b]
            corr += cnt[b, 0]
            tot += cnt[b, 1]
            corr_l += cnt[b, 2]
            tot_l += cnt[b, 3]
            spk += nspk[b]
        loss = -s / Bf
        if accumulate:
            stats[0] += nb.float64(loss) / Tr * B
            stats[1] += corr
            stats[2] += tot
            stats[3] += corr_l
            stats[4] += tot_l
            stats[5] += spk
            stats[6] += B
        else:
            stats[0] = loss
            stats[1] = corr
            stats[2] = tot
            stats[3] = corr_l
            stats[4] = tot_l
            stats[5] = spk
            stats[6] = B

    @cuda.jit(fastmath=FASTMATH, cache=CACHE, **backward_jit_options())
    def backward(R, idx, srows, mode, binary, ev_off, ev_step, ev_chan, ev_val, xd, perm,
                 xscale, zin, w_rec, w_o, w_in, a_o, b_o, cell, k, kc, tape, zmask, O, Rr, d_out,
                 r0, trunc, want_dx, dx, ext, dz_ext, gin, dIt, gout, car, acc_b, dao_b, gb,
                 dbo_b, graded, zv):
        """BPTT (N5)–(N8), (N15)–(N16) of sample b = blockIdx.x over the tape of ``forward``.

        Per-sample outputs (summed over b by ``reduce``): gin (B, I, H) = dW_inᵀ, gout (B, H, C)
        = dW_oᵀ, acc_b (B, NACC·H) the cell sums, dao_b (B, C) dα_o, gb (B, H) db, dbo_b (B, C)
        db_o; dIt (T, B, H) receives Ī_t (for ``grad_rec``); ``dx`` (T, B, I) receives x̄ when
        ``want_dx``; with ``ext`` the adjoint ``dz_ext`` (T, B, H) from the layer above is added
        to z̄_t (N15). car (B, R·H) is the scratch of the state adjoints (row b this block's, h
        its thread's). ``trunc`` > 0 drops the adjoints from step t+1 after every chunk of
        ``trunc`` steps (resonet.spec.truncation_cuts). ``graded``: the spikes' values are in
        ``zv`` (T, B, H) (see ``forward``).
        """
        b = cuda.blockIdx.x
        tid = cuda.threadIdx.x
        nt = cuda.blockDim.x
        T = O.shape[0]
        C = O.shape[2]
        H = w_rec.shape[0]
        I = w_in.shape[1]
        zero = ft(0)
        dcar = car[b]  # (R·H): adjoints of the state of step t from step t+1 / of t−1 after
        acc = acc_b[b]  # (NACC·H): the cell's parameter sums of this sample
        fsh = cuda.shared.array(0, ft)
        dIs = fsh  # (2, H): Ī_t and Ī_{t+1}, by parity of t (read by every thread)
        rbs = fsh[2 * H:]  # (2, C): r̄_t, by parity of t
        dos = fsh[2 * H + 2 * C:]  # (C,): ō_{t+1} → ō_t
        daos = fsh[2 * H + 3 * C:]  # (C,): Σ_t ō_t (o_{t−1} − r_t)
        dbos = fsh[2 * H + 4 * C:]  # (C,): Σ_t r̄_t
        for j in range(tid, 2 * H + 5 * C, nt):
            fsh[j] = zero
        for h in range(tid, H, nt):
            for r in range(R):
                dcar[r * H + h] = zero
            for r in range(NACC):
                acc[r * H + h] = zero
            gb[b, h] = zero
        for j in range(tid, I * H, nt):  # this sample's slices of the gradient buffers
            gin[b, j // H, j % H] = zero
        for j in range(tid, H * C, nt):
            gout[b, j // C, j % C] = zero
        row = srows[idx[b]]
        e1 = 0
        e_start = 0
        if mode == MODE_EVENTS:
            e_start = ev_off[row]
            e1 = ev_off[row + 1]
        scaled = xscale[0] != zero
        Wi = zin.shape[2]
        cuda.syncthreads()
        for t in range(T - 1, -1, -1):
            cu = t & 1
            nx = 1 - cu
            cut = trunc > 0 and t != T - 1 and (t + 1) % trunc == 0  # states detached after t
            e0 = e1
            if mode == MODE_EVENTS:
                while e0 > e_start and ev_step[e0 - 1] == t:
                    e0 -= 1
            for c in range(tid, C, nt):  # readout VJP, (L4)–(L5), (L7)
                g = d_out[t - r0, b, c] if t >= r0 else zero
                if cut:
                    dos[c] = zero
                do = g + a_o[c] * dos[c]  # (L4)
                dos[c] = do
                rb = b_o[c] * do  # (L5)
                rbs[cu * C + c] = rb
                dbos[c] += rb  # (L9)
                op = O[t - 1, b, c] if t > 0 else zero
                daos[c] += do * (op - Rr[t, b, c])  # (L7)
            cuda.syncthreads()
            for h in range(tid, H, nt):
                if cut:
                    for r in range(R):
                        dcar[r * H + h] = zero
                dz = zero
                for c in range(C):
                    dz += rbs[cu * C + c] * w_o[c, h]  # (N5)
                zr = zero
                if not cut:
                    # Ī_{t+1} W_rec, branch-free (a test per term would serialise the loads;
                    # adding 0·w leaves a finite sum unchanged), eight rows of W_rec loaded per
                    # round (one memory latency per round, not per row), summed in row order
                    kk = 0
                    o = nx * H
                    while kk + 8 <= H:
                        w0 = w_rec[kk, h]
                        w1 = w_rec[kk + 1, h]
                        w2 = w_rec[kk + 2, h]
                        w3 = w_rec[kk + 3, h]
                        w4 = w_rec[kk + 4, h]
                        w5 = w_rec[kk + 5, h]
                        w6 = w_rec[kk + 6, h]
                        w7 = w_rec[kk + 7, h]
                        zr += dIs[o + kk] * w0
                        zr += dIs[o + kk + 1] * w1
                        zr += dIs[o + kk + 2] * w2
                        zr += dIs[o + kk + 3] * w3
                        zr += dIs[o + kk + 4] * w4
                        zr += dIs[o + kk + 5] * w5
                        zr += dIs[o + kk + 6] * w6
                        zr += dIs[o + kk + 7] * w7
                        kk += 8
                    while kk < H:
                        zr += dIs[o + kk] * w_rec[kk, h]
                        kk += 1
                dz = (dz + zr) + dcar[h]  # (N6)
                if ext:
                    dz += dz_ext[t, b, h]  # (N15): x̄_t of the layer above
                zt = zero
                zp = zero
                if graded:
                    zt = zv[t, b, h]
                    if t > 0:
                        zp = zv[t - 1, b, h]
                else:
                    if (zmask[t, b, h >> 5] >> (h & 31)) & 1:
                        zt = ft(1)
                    if t > 0 and (zmask[t - 1, b, h >> 5] >> (h & 31)) & 1:
                        zp = ft(1)
                dI = cell_backward(h, t, b, tape, zt, zp, dz, dcar, acc, H, cell, k, kc)
                dIs[cu * H + h] = dI
                dIt[t, b, h] = dI  # for dW_rec (grad_rec)
                gb[b, h] += dI  # (N16)
                if mode == MODE_BITS:  # (N7) dW_in over the spikes of the layer below
                    for w in range(Wi):
                        bits = nb.int64(zin[t, b, w])
                        while bits != 0:
                            j = w * 32 + cuda.ffs(bits) - 1
                            bits = bits & (bits - 1)
                            gin[b, j, h] += dI
                elif mode == MODE_EVENTS:  # (N7) dW_in over the active inputs
                    # four read-modify-writes per round, loads first: the channels of one step
                    # are distinct (strictly increasing, SpikeEvents and EventDataset), so the
                    # four elements are distinct too
                    ee = e0
                    while ee + 4 <= e1:
                        c0 = ev_chan[ee]
                        c1 = ev_chan[ee + 1]
                        c2 = ev_chan[ee + 2]
                        c3 = ev_chan[ee + 3]
                        g0 = gin[b, c0, h]
                        g1 = gin[b, c1, h]
                        g2 = gin[b, c2, h]
                        g3 = gin[b, c3, h]
                        if binary:
                            gin[b, c0, h] = g0 + dI
                            gin[b, c1, h] = g1 + dI
                            gin[b, c2, h] = g2 + dI
                            gin[b, c3, h] = g3 + dI
                        else:
                            gin[b, c0, h] = g0 + dI * ev_val[ee]
                            gin[b, c1, h] = g1 + dI * ev_val[ee + 1]
                            gin[b, c2, h] = g2 + dI * ev_val[ee + 2]
                            gin[b, c3, h] = g3 + dI * ev_val[ee + 3]
                        ee += 4
                    while ee < e1:
                        if binary:
                            gin[b, ev_chan[ee], h] += dI
                        else:
                            gin[b, ev_chan[ee], h] += dI * ev_val[ee]
                        ee += 1
                else:
                    tt = perm[t]
                    for i in range(I):
                        xv = xd[row, tt, i]
                        if xv != 0:
                            val = ft(xv)
                            if scaled:
                                val = val / xscale[0]
                            gin[b, i, h] += dI * val
            e1 = e0
            cuda.syncthreads()
            for c in range(tid, C, nt):  # (L6) dW_o over the neurons spiking at t
                rb = rbs[cu * C + c]
                for w in range(zmask.shape[2]):
                    bits = nb.int64(zmask[t, b, w])
                    while bits != 0:
                        j = w * 32 + cuda.ffs(bits) - 1
                        bits = bits & (bits - 1)
                        if graded:
                            gout[b, j, c] += rb * zv[t, b, j]
                        else:
                            gout[b, j, c] += rb
            if want_dx:
                for i in range(tid, I, nt):  # (N8)
                    s = zero
                    for h in range(H):
                        s += dIs[cu * H + h] * w_in[h, i]
                    dx[t, b, i] = s
        for c in range(tid, C, nt):
            dao_b[b, c] = daos[c]
            dbo_b[b, c] = dbos[c]

    @cuda.jit(fastmath=FASTMATH, cache=CACHE)
    def grad_rec(dIt, zmask, htiles, spc, part, graded, zv):
        """dW_recᵀ partials (N7): part[ch, j, h] = Σ_{b in chunk ch} Σ_{t = T−1 … 1} Ī_t[b, h]
        z_{t−1}[b, j] (z = 1 where the bit is set, or its value in ``zv`` when ``graded``), summed
        per sample first, then over the chunk's samples in order (as ``backward`` did in its
        per-sample buffer). Block (w·htiles + tile, ch): the 32
        presynaptic neurons j of bitmask word w, postsynaptic h = tile·blockDim + thread."""
        w = cuda.blockIdx.x // htiles
        h = (cuda.blockIdx.x % htiles) * cuda.blockDim.x + cuda.threadIdx.x
        ch = cuda.blockIdx.y
        T = dIt.shape[0]
        B = dIt.shape[1]
        H = dIt.shape[2]
        if h >= H:
            return
        zero = ft(0)
        tot = cuda.local.array(32, ft)
        sb = cuda.local.array(32, ft)
        for q in range(32):
            tot[q] = zero
        b1 = min(B, (ch + 1) * spc)
        for b in range(ch * spc, b1):
            for q in range(32):
                sb[q] = zero
            for t in range(T - 1, 0, -1):
                bits = nb.int64(zmask[t - 1, b, w])  # the same word for the whole block
                if bits != 0:
                    v = dIt[t, b, h]
                    while bits != 0:
                        q = cuda.ffs(bits) - 1
                        bits = bits & (bits - 1)
                        if graded:
                            sb[q] += v * zv[t - 1, b, w * 32 + q]
                        else:
                            sb[q] += v
            for q in range(32):
                tot[q] += sb[q]
        for q in range(32):
            j = w * 32 + q
            if j < H:
                part[ch, j, h] = tot[q]

    @cuda.jit(fastmath=FASTMATH, cache=CACHE)
    def reduce(H, I, C, P, cell, k, pk, a_o, gin, part, gout, acc_b, dao_b, gb, dbo_b, bias, G):
        """Flat gradient G (official parameter order; a layer's slice, :func:`layer_offsets`) =
        Σ_b of the per-sample buffers, in order b = 0..B−1 (dW_rec: Σ of the ``grad_rec`` chunk
        partials in chunk order), with the chain rule through the raw parameters (N9), (L8) (or
        (L8s) for the sigmoid readout, ``pk[3]`` ≠ 0); deterministic.

        Thread j: j < H the NP hidden parameters of neuron j (if the model has any); then dW_h
        (H, I+H) with h fastest (coalesced reads of the buffers); then (``bias``) db (H); then
        dτ_o (C); then dW_o (C, H) with c fastest; then (``bias``) db_o (C).
        """
        j = cuda.grid(1)
        B = acc_b.shape[0]
        zero = ft(0)
        one = ft(1)
        IH = I + H
        o_w = NP * H
        o_b = o_w + H * IH
        o_tau = o_b + (H if bias else 0)
        o_wo = o_tau + C
        o_bo = o_wo + C * H
        n_w = H * IH
        nh = NH * H
        if j < nh:
            s = cuda.local.array(NSUM, ft)  # this neuron's acc rows, summed over b in order
            for r in range(NACC):
                s[r] = zero
                for b in range(B):
                    s[r] += acc_b[b, r * H + j]
            finish(j, s, P, H, cell, k, G)
            return
        j -= nh
        if j < n_w:
            h = j % H
            col = j // H
            s = zero
            if col < I:
                for b in range(B):
                    s += gin[b, col, h]
            else:
                for ch in range(part.shape[0]):
                    s += part[ch, col - I, h]
            G[o_w + h * IH + col] = s
            return
        j -= n_w
        if bias:
            if j < H:
                s = zero
                for b in range(B):
                    s += gb[b, j]
                G[o_b + j] = s  # (N16)
                return
            j -= H
        if j < C:
            s = zero
            for b in range(B):
                s += dao_b[b, j]
            tau = P[o_tau + j]
            if pk[3] != zero:
                a = a_o[j]
                G[o_tau + j] = s * (a * (one - a))  # (L8s)
            else:
                sg = one if tau > zero else (-one if tau < zero else (zero if tau == zero else tau))
                G[o_tau + j] = (s * a_o[j]) / (tau * tau) * sg  # (L8)
            return
        j -= C
        if j < C * H:
            c = j % C
            h = j // C
            s = zero
            for b in range(B):
                s += gout[b, h, c]
            G[o_wo + c * H + h] = s
            return
        j -= C * H
        if bias and j < C:
            s = zero
            for b in range(B):
                s += dbo_b[b, j]
            G[o_bo + j] = s  # (L9)

    @cuda.jit(fastmath=FASTMATH, cache=CACHE)
    def prepare(H, I, C, P, pk, do_derive, bias, cell, a_o, b_o, WT, w_oT):
        """Forward layouts from the flat parameters P (a layer's slice, :func:`layer_offsets`):
        WT (I+H, H) = W_hᵀ (rows [0, I) input, [I, I+H) recurrent), w_oT (H, C) = W_oᵀ; with
        ``do_derive`` also the cell constants (cells.derive) and α_o = exp(−1/|τ_o|) (eq. (L1)),
        or σ(τ_o) for the sigmoid readout (``pk[3]`` ≠ 0, (L1s)), and 1 − α_o."""
        j = cuda.grid(1)
        IH = I + H
        o_w = NP * H
        o_tau = o_w + H * IH + (H if bias else 0)
        o_wo = o_tau + C
        if j < H * IH:
            h = j % H
            col = j // H
            WT[col, h] = P[o_w + h * IH + col]
        if j < C * H:
            h = j % H
            c = j // H
            w_oT[h, c] = P[o_wo + c * H + h]
        if do_derive:
            if j < H:
                derive(j, P, H, cell, pk)
            if j < C:
                if pk[3] != pk[1] - pk[1]:
                    a = pk[1] / (pk[1] + math.exp(-P[o_tau + j]))  # (L1s)
                else:
                    a = math.exp(pk[2] / abs(P[o_tau + j]))  # (L1)
                a_o[j] = a
                b_o[j] = pk[1] - a

    class Kernels:
        pass

    ks = Kernels()
    ks.forward = forward
    ks.loss_sample = loss_sample
    ks.loss_batch = loss_batch
    ks.backward = backward
    ks.grad_rec = grad_rec
    ks.reduce = reduce
    ks.prepare = prepare
    ks.ft = ft
    return ks
