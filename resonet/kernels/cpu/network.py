"""The fused forward and BPTT of one recurrent layer over a whole sequence
(docs/derivations/network.md), written once for every model.

Each model's kernel module (:mod:`.brf`, :mod:`.bhrf`, …) defines ``cell_forward`` and
``cell_backward`` (one step and its VJP, the same arguments in every model) and two thin
``@njit(parallel=True, cache=True)`` entry points, ``forward`` and ``backward``, whose ``prange``
loops call the templates here with that model's cell functions:

- :func:`forward_sample`: eqs. (N1)–(N4) for one sample (the entry point runs it for every
  sample of the batch in parallel), writing the compact tape;
- :func:`backward_chunk`: eqs. (N5)–(N9) for one chunk of the batch (one per thread), into the
  chunk's own gradient buffers (:func:`gradient_buffers`; no races, the caller sums the chunks
  in chunk order).

A network of stacked layers (eqs. (N13)–(N16)) is a chain of these passes
(:class:`resonet.kernels.cpu.backend.CpuBackend`): a layer below the last has no readout (C = 0:
every readout loop is empty) and hands its spikes, as binary events, to the next layer's
forward; in BPTT a layer below the last takes the adjoint its spikes receive from the layer
above (``dz_ext``, that layer's x̄, (N15)) where the last one takes the readout's.

The templates take the cell functions as arguments and are inlined (``inline="always"``) into
each model's entry points, so every model gets its own compiled kernel (no dispatch on a model
code, no list of models here) and numba can cache it: a jitted function passed as a value to a
compiled (not inlined) function would make the caller uncachable ("dynamic globals").

Tape (per sample; docs/cpu-kernels.md):

- ``zbits`` (B, T, ⌈H/8⌉) uint8: every spike, one bit each;
- ``ckpt`` (B, ⌈T/K⌉, CKPT_ROWS, H): the continuous state (rows 1 … CKPT_ROWS of the model's
  state array, e.g. u, v, q) before steps 0, K, 2K…;
- ``O`` (B, T, C): the readout at every step (the outputs; backward reads o_{t−1} for dα_o);
- ``cur`` (B, T, H): the input current I_t of every step, kept by wide layers only
  (config.keeps_currents): their recompute then reads it instead of gathering it again.

The backward walks the segments [sK, (s+1)K) from the last to the first: it recomputes the
segment's states from its checkpoint (the same ``cell_forward`` code on the same inputs, so the
values are bit-identical to the forward's; the recomputed spikes are checked against the stored
bits and any difference is reported), then walks the segment backwards in time.

Wide layers (docs/cpu-kernels.md, "Wide layers"): the dense product of (N5)–(N6) reads all of
[W_rec; W_o] every step, and once that no longer fits in a core's cache each tile of 4 samples
streams it from memory again. A chunk's tiles then walk back in lockstep, ``group`` tiles at a
time, and the product goes column block by column block (``cols`` columns, a block of the
weights sized for the L2 cache, packed contiguously by the caller) with every tile of the
group passing over a block before the next is loaded. ``group`` = 1 with ``cols`` = H is the
narrow layers' order. Every output element is summed in the same grouping whatever ``group``
and ``cols`` are (:func:`matvec_tile`), but the order in which the samples of a chunk add into
the weight gradients follows the walk (in layers of H ≥ WIDE_MIN_H once per segment, per neuron
or input in the order of the segment's steps and samples, :func:`scatter_spikes`): ``group`` > 1
changes the rounding of dW (not of x̄, states or outputs).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .config import FASTMATH, WIDE_MIN_H
from .inputs import add_rows, add_scaled_rows, input_current, input_grad, matvec_tile, rows_add
from .readout import readout_backward, readout_forward
from .spikebits import collect, same_bytes, unpack
from .surrogate import KC_GRADED

TILE = 4  # samples per tile that walk back in time together (they share W_cat row loads)


@njit(fastmath=FASTMATH, inline="always")
def forward_sample(cell_forward, rows, b, ev, net, consts, tape, nspk, states):
    """Eqs. (N1)–(N3) over the whole sequence for sample b, with the model's ``cell_forward`` and
    its ``rows`` (state array rows, z first).

    Input: CSR events ``ev`` = (``indptr`` over rows t*B + b, ``indices``, ``values`` or empty
    for binary); ``net`` = (``w_inT`` (I, H), ``w_recT`` (H, H), ``w_oT`` (H, Cp), readout α and
    1 − α (C,), the bias (H,) and the readout's (Cp,), zeros without biases); ``consts`` = the
    model's ``cell`` (·, H) and ``k`` constants, the common ``kc``; ``tape`` = (checkpoint
    interval K, ``zbits`` (B, T, ⌈H/8⌉), ``ckpt`` (B, ⌈T/K⌉, CKPT_ROWS, H), ``O`` (B, T, C),
    ``cur`` (B, T, H) the input currents of a wide layer, (B, 0, H) when not kept).
    Output: the tape, ``nspk`` (B,). ``states`` (len(STATE_NAMES), T, B, H) receives every
    state when its T axis is nonzero (the slower path for verify/tests); pass a (·, 0, 0, 0)
    array otherwise. ``zbits`` and ``ckpt`` have zero-length T / segment axes when nothing needs
    them (inference: no checkpoints; the spikes are kept when a layer above reads them). C = 0:
    a layer without readout (below the last of a stack).

    Graded spikes (reset-to-mod, eq. (S6); ``kc[KC_GRADED]`` = 1): the spike lists hold the
    neurons with z ≠ 0, every row they add is scaled by z, ``nspk`` counts Σ|z|, and each
    checkpoint keeps z_{t−1} as one more row after the model's CKPT_ROWS (the bits alone do not
    give its value to the recompute).
    """
    indptr, indices, values = ev
    w_inT, w_recT, w_oT, a_o, b_o, bias, r_bias = net
    cell, k, kc = consts
    K, zbits, ckpt, O, cur_tape = tape
    B, T, C = O.shape
    H = w_recT.shape[0]
    ft = w_inT.dtype
    graded = kc[KC_GRADED] != 0
    nck = ckpt.shape[2] - 1 if graded else ckpt.shape[2]  # the model's CKPT_ROWS
    st = np.zeros((2, rows, H), dtype=ft)  # state before / after the step
    scratch = np.empty(H, dtype=ft)
    keep_cur = cur_tape.shape[1] > 0
    idx = np.empty(H, dtype=np.int64)  # spikes of the last step
    o = np.zeros(C, dtype=ft)
    r = np.empty(w_oT.shape[1], dtype=ft)  # padded to whole vectors
    nobits = np.empty(0, dtype=np.uint8)
    tape_ckpt = ckpt.shape[1] > 0
    keep_bits = zbits.shape[1] > 0
    record = states.shape[1] > 0
    n = 0
    cnt = 0
    for t in range(T):
        old = st[t & 1]
        new = st[1 - (t & 1)]
        if tape_ckpt and t % K == 0:
            for j in range(nck):
                ckpt[b, t // K, j, :] = old[1 + j]
            if graded:
                ckpt[b, t // K, nck, :] = old[0]
        cur = cur_tape[b, t] if keep_cur else scratch
        input_current(cur, t * B + b, indptr, indices, values, w_inT, w_recT, idx, n, old[0],
                      graded, bias)  # (N1)
        cell_forward(cur, old, new, cell, k, kc)  # (N2)
        n = collect(new[0], idx, zbits[b, t] if keep_bits else nobits)
        if graded:
            for m in range(n):
                cnt += np.int64(abs(new[0, idx[m]]))
        else:
            cnt += n
        if C > 0:
            readout_forward(o, r, idx, n, new[0], graded, w_oT, a_o, b_o, r_bias)  # (N3)
            O[b, t, :] = o
        if record:
            for j in range(states.shape[0]):
                states[j, t, b, :] = new[j]
    nspk[b] = cnt


@njit(fastmath=FASTMATH, inline="always")
def recompute_segment(cell_forward, b, s, t0, t1, B, ev, w_inT, w_recT, bias, cell, k, kc, zbits,
                      ckpt, cur_tape, seg, idxs, ns, cur, chk):
    """States of steps [t0, t1) of sample b from checkpoint s into ``seg`` (row 0: before t0),
    spike lists into ``idxs``/``ns``; the same code as the forward, so the same values (the
    input currents from ``cur_tape`` when the forward kept them (B, T, H), else gathered again
    as the forward did; (B, 0, H): not kept). Returns
    the number of steps whose recomputed spikes differ from the stored bits (0 unless the
    arithmetic is not deterministic); ``chk`` is scratch for the recomputed bits. With graded
    spikes z_{t0−1} comes from the checkpoint's last row (see :func:`forward_sample`)."""
    indptr, indices, values = ev
    H = cur.shape[0]
    graded = kc[KC_GRADED] != 0
    nck = ckpt.shape[2] - 1 if graded else ckpt.shape[2]
    seg[0, 0, :] = 0
    for j in range(nck):
        seg[0, 1 + j, :] = ckpt[b, s, j]
    if graded:
        seg[0, 0, :] = ckpt[b, s, nck]
        ns[0] = collect(seg[0, 0], idxs[0], chk[:0])
    elif t0 > 0:
        ns[0] = unpack(zbits[b, t0 - 1], H, idxs[0])
        for m in range(ns[0]):
            seg[0, 0, idxs[0, m]] = 1
    else:
        ns[0] = 0
    bad = 0
    kept = cur_tape.shape[1] > 0
    for t in range(t0, t1):
        kk = t - t0 + 1
        if kept:
            cell_forward(cur_tape[b, t], seg[kk - 1], seg[kk], cell, k, kc)  # (N2)
        else:
            input_current(cur, t * B + b, indptr, indices, values, w_inT, w_recT, idxs[kk - 1],
                          ns[kk - 1], seg[kk - 1, 0], graded, bias)  # (N1)
            cell_forward(cur, seg[kk - 1], seg[kk], cell, k, kc)  # (N2)
        ns[kk] = collect(seg[kk, 0], idxs[kk], chk)
        if not same_bytes(chk, zbits[b, t]):
            bad += 1
    return bad


@njit(fastmath=FASTMATH, inline="always")
def product(out, A, wpk, ng, kdim):
    """out[j] = A[j, :kdim] @ w[:kdim] for the ng samples of a group (rows of A and out), w given
    as its packed column blocks ``wpk`` (nblk, ≥kdim, cols) (backend.pack_columns): every tile
    of 4 passes over a block before the next one is read (:func:`matvec_tile`; the grouping of
    every sum is that of one sample's product, whatever the blocks)."""
    N = out.shape[1]
    cols = wpk.shape[2]
    for blk in range(wpk.shape[0]):
        cb = blk * cols
        ce = min(N, cb + cols)
        wb = wpk[blk]
        for j0 in range(0, ng, TILE):
            matvec_tile(out[j0:j0 + TILE], A[j0:j0 + TILE], wb, min(TILE, ng - j0), kdim, cb, ce,
                        cb)


@njit(fastmath=FASTMATH, inline="always")
def scatter_spikes(gcat, agseg, idxs, ns, ng, nk, G, cnt, seg, graded):
    """(N7), (L6) for a whole segment: gcat[i] += Σ z·agseg[(kk − 1)·G + j] over the steps kk ∈
    [1, nk] and samples j < ng in which neuron i spiked (idxs/ns: the segment's spike lists; z
    its spike seg[j, kk, 0, i] when ``graded``, else 1).

    The rows are first listed per neuron (a counting sort), so each gradient row is read and
    written once per segment instead of once per spike: the rows that the spiking neurons add
    are the bulk of the backward's memory traffic in wide layers (docs/cpu-kernels.md, "Wide
    layers"). ``cnt`` (≥ H + 1,) is scratch."""
    H = gcat.shape[0]
    cnt[:H + 1] = 0
    for kk in range(1, nk + 1):
        for j in range(ng):
            for m in range(ns[j, kk]):
                cnt[idxs[j, kk, m] + 1] += 1
    for i in range(H):
        cnt[i + 1] += cnt[i]
    lst = np.empty(cnt[H], dtype=np.int64)
    val = np.empty(cnt[H] if graded else 0, dtype=gcat.dtype)
    for kk in range(1, nk + 1):
        for j in range(ng):
            r = (kk - 1) * G + j
            for m in range(ns[j, kk]):
                i = idxs[j, kk, m]
                lst[cnt[i]] = r
                if graded:
                    val[cnt[i]] = seg[j, kk, 0, i]
                cnt[i] += 1
    start = 0
    for i in range(H):  # cnt[i] is now the end of neuron i's rows
        if cnt[i] > start:
            if graded:
                add_scaled_rows(gcat[i], agseg, lst[start:cnt[i]], val[start:cnt[i]],
                                cnt[i] - start)
            else:
                add_rows(gcat[i], agseg, lst[start:cnt[i]], cnt[i] - start)
        start = cnt[i]


@njit(fastmath=FASTMATH, inline="always")
def scatter_inputs(gin, dIseg, t0, nk, g0, ng, G, B, ev, cnt):
    """(N7) for a whole segment: gin[c] += Σ x_t[c] · dIseg[(t − t0)·G + j] over its steps t and
    samples b = g0 + j with an input event on channel c (listed per channel first, as
    :func:`scatter_spikes`). ``cnt`` (≥ I + 1,) is scratch."""
    indptr, indices, values = ev
    I = gin.shape[0]
    binary = values.shape[0] == 0
    cnt[:I + 1] = 0
    for k in range(nk):
        for j in range(ng):
            row = (t0 + k) * B + g0 + j
            for e in range(indptr[row], indptr[row + 1]):
                cnt[indices[e] + 1] += 1
    for c in range(I):
        cnt[c + 1] += cnt[c]
    lst = np.empty(cnt[I], dtype=np.int64)
    val = np.empty(0 if binary else cnt[I], dtype=gin.dtype)
    for k in range(nk):
        for j in range(ng):
            row = (t0 + k) * B + g0 + j
            for e in range(indptr[row], indptr[row + 1]):
                c = indices[e]
                lst[cnt[c]] = k * G + j
                if not binary:
                    val[cnt[c]] = values[e]
                cnt[c] += 1
    start = 0
    for c in range(I):
        end = cnt[c]
        if end > start:
            if binary:
                add_rows(gin[c], dIseg, lst[start:end], end - start)
            else:
                add_scaled_rows(gin[c], dIseg, lst[start:end], val[start:end], end - start)
        start = end


@njit(fastmath=FASTMATH, inline="always")
def backward_samples(cell_forward, cell_backward, rows, reads_z, lo, hi, ev, net, consts, tape,
                     grad, gin, gcat, gacc, gao, gdb, gdbo):
    """BPTT of samples [lo, hi) into one chunk's gradient buffers; returns the recompute check.
    ``reads_z``: the cell reads z_{t−1} (ALIF's adaptation), so its VJP returns a z̄_{t−1} to add.

    The samples go in groups of up to ``group`` tiles of TILE that walk back in time in lockstep
    (j indexes the sample in the group), so the dense product of (N5)–(N6) reuses each weight
    row for every sample of a tile, and each column block of the weights for every tile of the
    group (:func:`product`). Per sample and step ``ag`` holds [Ī_{t+1}, r̄_t, 0…] (H + Cp): the
    left operand of that product, and at once the row that the neurons spiking at t add to their
    row of ``gcat`` (dW_recᵀ row, then dW_oᵀ row: one pass instead of two). In a wide layer (H ≥
    WIDE_MIN_H) those rows, and the Ī_t that the active inputs add to their row of dW_inᵀ, are
    kept for the whole segment and added once it is walked (:func:`scatter_spikes`,
    :func:`scatter_inputs`); a narrower one adds them step by step.
    """
    indptr, indices, values = ev
    w_inT, w_recT, w_oT, a_o, b_o, bias, r_bias = net
    cell, k, kc = consts
    K, zbits, ckpt, O, cur_tape = tape
    win_pk, wcat_pk, d_out, r0, trunc, dx, dz_ext, group = grad
    B, T, C = O.shape
    H = w_recT.shape[0]
    L = gcat.shape[1]  # H + Cp
    KD = H + C  # rows of w_cat that take part in the product (the rest is padding)
    ROWS = rows
    nseg = ckpt.shape[1]
    ft = w_inT.dtype
    G = TILE * group  # samples that walk back together
    seg = np.zeros((G, K + 1, ROWS, H), dtype=ft)  # segment states, [:, 0] = before it
    idxs = np.empty((G, K + 1, H), dtype=np.int64)  # spike lists of the segment
    ns = np.zeros((G, K + 1), dtype=np.int64)
    dcar = np.zeros((2, G, ROWS, H), dtype=ft)  # state adjoints from step t+1 / to t−1
    ag = np.zeros((2, G, L), dtype=ft)  # [Ī_{t+1}, r̄_t, 0…] / [Ī_t, ·] per sample
    wide = H >= WIDE_MIN_H
    KG = K * G if wide else 0
    agseg = np.empty((KG, L), dtype=ft)  # the segment's ag rows, row (t − t0)·G + j
    dIseg = np.empty((KG, H), dtype=ft)  # the segment's Ī_t, same rows
    cnt = np.empty(max(H, gin.shape[0]) + 1, dtype=np.int64)
    do_n = np.zeros((G, C), dtype=ft)  # ō_{t+1}
    dz = np.empty((G, H), dtype=ft)
    cur = np.empty(H, dtype=ft)
    r = np.empty(w_oT.shape[1], dtype=ft)
    chk = np.empty(zbits.shape[2], dtype=np.uint8)
    want_dx = dx.shape[0] > 0
    ext = dz_ext.shape[0] > 0
    graded = kc[KC_GRADED] != 0
    bad = 0
    for g0 in range(lo, hi, G):
        ng = min(G, hi - g0)
        dcar[:] = 0
        ag[:] = 0
        do_n[:] = 0
        a = 0
        for s in range(nseg - 1, -1, -1):
            t0 = s * K
            t1 = min(T, t0 + K)
            for j in range(ng):
                bad += recompute_segment(cell_forward, g0 + j, s, t0, t1, B, ev, w_inT, w_recT,
                                         bias, cell, k, kc, zbits, ckpt, cur_tape, seg[j],
                                         idxs[j], ns[j], cur, chk)
            for t in range(t1 - 1, t0 - 1, -1):  # walk the segment backwards
                kk = t - t0 + 1
                cut = trunc > 0 and t != T - 1 and (t + 1) % trunc == 0  # states detached
                for j in range(ng):
                    if cut:
                        do_n[j] = 0
                    agj = ag[a, j]
                    if C > 0:
                        readout_backward(t, g0 + j, r0, d_out, O, a_o, b_o, do_n[j],
                                         agj[H:H + C], r, idxs[j, kk], ns[j, kk], seg[j, kk, 0],
                                         graded, w_oT, r_bias, gao, gdbo)  # (L4)–(L7), (L9)
                    # (N7) dW_rec += Ī_{t+1} z_tᵀ and (L6) dW_o += r̄_t z_tᵀ, before a cut
                    # detaches Ī_{t+1} from z_t (z_t is still the input of step t+1)
                    if wide:
                        agseg[(kk - 1) * G + j] = agj
                    else:
                        rows_add(gcat, idxs[j, kk], ns[j, kk], agj, seg[j, kk, 0], graded)
                    if cut:
                        dcar[a, j] = 0
                        agj[:H] = 0
                product(dz, ag[a], wcat_pk, ng, KD)  # Ī_{t+1} W_rec + r̄_t W_o, (N5)–(N6)
                for j in range(ng):
                    b = g0 + j
                    dn = dcar[a, j]
                    dI = ag[1 - a, j, :H]
                    dzj = dz[j]
                    if reads_z:
                        dn0 = dn[0]
                        for h in range(H):
                            dzj[h] += dn0[h]  # (N6): + z̄_t from the cell of step t+1 (ALIF)
                    if ext:
                        ez = dz_ext[t, b]
                        for h in range(H):
                            dzj[h] += ez[h]  # (N15): + x̄_t of the layer above
                    cell_backward(seg[j, kk - 1], seg[j, kk], dzj, dn, dcar[1 - a, j], dI,
                                  gacc, cell, k, kc)
                    if wide:
                        dIseg[(kk - 1) * G + j] = dI  # (N7) dW_in, added per segment
                    else:
                        input_grad(gin, t * B + b, indptr, indices, values, dI)  # (N7)
                    for h in range(H):
                        gdb[h] += dI[h]  # (N16)
                if want_dx:
                    product(dx[t, g0:g0 + ng], ag[1 - a], win_pk, ng, H)  # (N8)
                a = 1 - a
            if wide:
                scatter_spikes(gcat, agseg, idxs, ns, ng, t1 - t0, G, cnt, seg, graded)  # (N7), (L6)
                scatter_inputs(gin, dIseg, t0, t1 - t0, g0, ng, G, B, ev, cnt)  # (N7)
    return bad


@njit(fastmath=FASTMATH)
def gradient_buffers(nchunk, w_inT, w_cat, O, nacc):
    """Zeroed per-chunk gradient buffers of :func:`backward_chunk`: dW_inᵀ (nchunk, I, H),
    [dW_recᵀ | dW_oᵀ | 0] (nchunk, H, H + Cp), the cell sums (nchunk, nacc, H) (the model's
    ACC_ROWS), dα_o (nchunk, C), the recompute check (nchunk,), db (nchunk, H) and db_o
    (nchunk, C)."""
    C = O.shape[2]
    I = w_inT.shape[0]
    H = w_inT.shape[1]
    ft = w_inT.dtype
    dw_inT = np.zeros((nchunk, I, H), dtype=ft)
    gcat = np.zeros((nchunk, H, w_cat.shape[1]), dtype=ft)
    acc = np.zeros((nchunk, nacc, H), dtype=ft)
    dao = np.zeros((nchunk, C), dtype=ft)
    bad = np.zeros(nchunk, dtype=np.int64)
    db = np.zeros((nchunk, H), dtype=ft)
    dbo = np.zeros((nchunk, C), dtype=ft)
    return dw_inT, gcat, acc, dao, bad, db, dbo


@njit(fastmath=FASTMATH, inline="always")
def backward_chunk(cell_forward, cell_backward, rows, reads_z, c, nchunk, ev, net, consts, tape,
                   grad, buffers):
    """BPTT, eqs. (N5)–(N9), (N15)–(N16), of chunk c of the batch from the tape of
    :func:`forward_sample` (same bundles), into the chunk's slice of ``buffers``
    (:func:`gradient_buffers`).

    ``grad`` = (``w_in`` (H, I) = W_h[:, :I]; ``w_cat`` (H + Cp, H), W_rec = W_h[:, I:] over W_o
    and Cp − C zero rows, so that Ī_{t+1} W_rec + z̄ᵒ_t of (N5)–(N6) is one product
    [Ī_{t+1}, r̄_t] w_cat; both as packed column blocks (backend.pack_columns), (nblk, H, cols)
    and (nblk, H + Cp, cols); ``d_out`` (B, T − r0, C), ∂L/∂o_t of the recorded steps t ≥ r0;
    ``r0``; ``trunc`` > 0 drops the adjoints flowing from step t+1 into step t after every
    chunk of ``trunc`` steps (resonet.spec.truncation_cuts); ``dx`` (T, B, I) receives x̄ when
    its T axis is nonzero; ``dz_ext`` (T, B, H) is added to z̄_t when its T axis is nonzero (a
    layer below the last, (N15)); ``group``: the lockstep walk of wide layers, see the module
    docstring). The batch is split into ``nchunk`` chunks of whole tiles; ``bad[c]``
    receives the number of recomputed steps whose spikes differed from the stored ones (must be
    0).
    """
    dw_inT, gcat, acc, dao, bad, db, dbo = buffers
    B = tape[3].shape[0]
    ntile = (B + TILE - 1) // TILE
    lo = (c * ntile // nchunk) * TILE
    hi = min(B, ((c + 1) * ntile // nchunk) * TILE)
    bad[c] = backward_samples(cell_forward, cell_backward, rows, reads_z, lo, hi, ev, net, consts,
                              tape, grad, dw_inT[c], gcat[c], acc[c], dao[c], db[c], dbo[c])
