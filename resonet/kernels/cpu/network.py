"""The fused forward and BPTT over a whole sequence (docs/derivations/network.md), written once
for every model.

Each model's kernel module (:mod:`.brf`, :mod:`.bhrf`, …) defines ``cell_forward`` and
``cell_backward`` (one step and its VJP, the same arguments in every model) and two thin
``@njit(parallel=True, cache=True)`` entry points, ``forward`` and ``backward``, whose ``prange``
loops call the templates here with that model's cell functions:

- :func:`forward_sample`: eqs. (N1)–(N4) for one sample (the entry point runs it for every
  sample of the batch in parallel), writing the compact tape;
- :func:`backward_chunk`: eqs. (N5)–(N9) for one chunk of the batch (one per thread), into the
  chunk's own gradient buffers (:func:`gradient_buffers`; no races, the caller sums the chunks
  in chunk order).

The templates take the cell functions as arguments and are inlined (``inline="always"``) into
each model's entry points, so every model gets its own compiled kernel (no dispatch on a model
code, no list of models here) and numba can cache it: a jitted function passed as a value to a
compiled (not inlined) function would make the caller uncachable ("dynamic globals").

Tape (per sample; docs/cpu-kernels.md):

- ``zbits`` (B, T, ⌈H/8⌉) uint8: every spike, one bit each;
- ``ckpt`` (B, ⌈T/K⌉, CKPT_ROWS, H): the continuous state (rows 1 … CKPT_ROWS of the model's
  state array, e.g. u, v, q) before steps 0, K, 2K…;
- ``O`` (B, T, C): the readout at every step (the outputs; backward reads o_{t−1} for dα_o).

The backward walks the segments [sK, (s+1)K) from the last to the first: it recomputes the
segment's states from its checkpoint (the same ``cell_forward`` code on the same inputs, so the
values are bit-identical to the forward's; the recomputed spikes are checked against the stored
bits and any difference is reported), then walks the segment backwards in time.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .config import FASTMATH
from .inputs import input_current, input_grad, matvec_rows, matvec_tile, rows_add
from .readout import readout_backward, readout_forward
from .spikebits import collect, same_bytes, unpack

TILE = 4  # samples per thread that walk back in time together (they share W_cat row loads)


@njit(fastmath=FASTMATH, inline="always")
def forward_sample(cell_forward, rows, b, ev, w_inT, w_recT, w_oT, a_o, b_o, cell, k, kc, K, zbits,
                   ckpt, O, nspk, states):
    """Eqs. (N1)–(N3) over the whole sequence for sample b, with the model's ``cell_forward`` and
    its ``rows`` (state array rows, z first).

    Input: CSR events ``ev`` = (``indptr`` over rows t*B + b, ``indices``, ``values`` or empty
    for binary); weights ``w_inT`` (I, H), ``w_recT`` (H, H), ``w_oT`` (H, Cp); readout α and 1 − α
    (C,); the model's ``cell`` (·, H) and ``k`` constants, the common ``kc``; checkpoint
    interval K. Output: ``zbits`` (B, T, ⌈H/8⌉), ``ckpt`` (B, ⌈T/K⌉, CKPT_ROWS, H), ``O``
    (B, T, C), ``nspk`` (B,). ``states`` (len(STATE_NAMES), T, B, H) receives every state when
    its T axis is nonzero (the slower path for verify/tests); pass a (·, 0, 0, 0) array
    otherwise. ``zbits`` and ``ckpt`` have zero-length T / segment axes for inference.
    """
    indptr, indices, values = ev
    B, T, C = O.shape
    H = w_recT.shape[0]
    ft = w_inT.dtype
    st = np.zeros((2, rows, H), dtype=ft)  # state before / after the step
    cur = np.empty(H, dtype=ft)
    idx = np.empty(H, dtype=np.int64)  # spikes of the last step
    o = np.zeros(C, dtype=ft)
    r = np.empty(w_oT.shape[1], dtype=ft)  # padded to whole vectors
    nobits = np.empty(0, dtype=np.uint8)
    tape = ckpt.shape[1] > 0
    record = states.shape[1] > 0
    n = 0
    cnt = 0
    for t in range(T):
        old = st[t & 1]
        new = st[1 - (t & 1)]
        if tape and t % K == 0:
            for j in range(ckpt.shape[2]):
                ckpt[b, t // K, j, :] = old[1 + j]
        input_current(cur, t * B + b, indptr, indices, values, w_inT, w_recT, idx, n)  # (N1)
        cell_forward(cur, old, new, cell, k, kc)  # (N2)
        n = collect(new[0], idx, zbits[b, t] if tape else nobits)
        cnt += n
        readout_forward(o, r, idx, n, w_oT, a_o, b_o)  # (N3)
        O[b, t, :] = o
        if record:
            for j in range(states.shape[0]):
                states[j, t, b, :] = new[j]
    nspk[b] = cnt


@njit(fastmath=FASTMATH, inline="always")
def recompute_segment(cell_forward, b, s, t0, t1, B, ev, w_inT, w_recT, cell, k, kc, zbits, ckpt,
                      seg, idxs, ns, cur, chk):
    """States of steps [t0, t1) of sample b from checkpoint s into ``seg`` (row 0: before t0),
    spike lists into ``idxs``/``ns``; the same code as the forward, so the same values. Returns
    the number of steps whose recomputed spikes differ from the stored bits (0 unless the
    arithmetic is not deterministic); ``chk`` is scratch for the recomputed bits."""
    indptr, indices, values = ev
    H = cur.shape[0]
    seg[0, 0, :] = 0
    for j in range(ckpt.shape[2]):
        seg[0, 1 + j, :] = ckpt[b, s, j]
    if t0 > 0:
        ns[0] = unpack(zbits[b, t0 - 1], H, idxs[0])
        for m in range(ns[0]):
            seg[0, 0, idxs[0, m]] = 1
    else:
        ns[0] = 0
    bad = 0
    for t in range(t0, t1):
        kk = t - t0 + 1
        input_current(cur, t * B + b, indptr, indices, values, w_inT, w_recT, idxs[kk - 1],
                      ns[kk - 1])  # (N1)
        cell_forward(cur, seg[kk - 1], seg[kk], cell, k, kc)  # (N2)
        ns[kk] = collect(seg[kk, 0], idxs[kk], chk)
        if not same_bytes(chk, zbits[b, t]):
            bad += 1
    return bad


@njit(fastmath=FASTMATH, inline="always")
def backward_samples(cell_forward, cell_backward, rows, reads_z, lo, hi, ev, w_inT, w_recT, w_oT,
                     a_o, b_o, cell, k, kc, K, zbits, ckpt, O, w_in, w_cat, d_out, r0, trunc, dx,
                     gin, gcat, gacc, gao):
    """BPTT of samples [lo, hi) into one chunk's gradient buffers; returns the recompute check.
    ``reads_z``: the cell reads z_{t−1} (ALIF's adaptation), so its VJP returns a z̄_{t−1} to add.

    The samples go in tiles of up to TILE that walk back in time in lockstep (j indexes the
    sample in the tile), so the dense product of (N5)–(N6) reuses each weight row four times.
    Per sample and step ``ag`` holds [Ī_{t+1}, r̄_t, 0…] (H + Cp): the left operand of that
    product, and at once the row that the neurons spiking at t add to their row of ``gcat``
    (dW_recᵀ row, then dW_oᵀ row: one pass instead of two).
    """
    indptr, indices, values = ev
    B, T, C = O.shape
    H = w_recT.shape[0]
    L = gcat.shape[1]  # H + Cp
    KD = H + C  # rows of w_cat that take part in the product (the rest is padding)
    ROWS = rows
    nseg = ckpt.shape[1]
    ft = w_inT.dtype
    seg = np.zeros((TILE, K + 1, ROWS, H), dtype=ft)  # segment states, [:, 0] = before it
    idxs = np.empty((TILE, K + 1, H), dtype=np.int64)  # spike lists of the segment
    ns = np.zeros((TILE, K + 1), dtype=np.int64)
    dcar = np.zeros((2, TILE, ROWS, H), dtype=ft)  # state adjoints from step t+1 / to t−1
    ag = np.zeros((2, TILE, L), dtype=ft)  # [Ī_{t+1}, r̄_t, 0…] / [Ī_t, ·] per sample
    do_n = np.zeros((TILE, C), dtype=ft)  # ō_{t+1}
    dz = np.empty((TILE, H), dtype=ft)
    cur = np.empty(H, dtype=ft)
    r = np.empty(w_oT.shape[1], dtype=ft)
    chk = np.empty(zbits.shape[2], dtype=np.uint8)
    want_dx = dx.shape[0] > 0
    bad = 0
    for b0 in range(lo, hi, TILE):
        nt = min(TILE, hi - b0)
        dcar[:] = 0
        ag[:] = 0
        do_n[:] = 0
        a = 0
        for s in range(nseg - 1, -1, -1):
            t0 = s * K
            t1 = min(T, t0 + K)
            for j in range(nt):
                bad += recompute_segment(cell_forward, b0 + j, s, t0, t1, B, ev, w_inT, w_recT,
                                         cell, k, kc, zbits, ckpt, seg[j], idxs[j], ns[j], cur,
                                         chk)
            for t in range(t1 - 1, t0 - 1, -1):  # walk the segment backwards
                kk = t - t0 + 1
                cut = trunc > 0 and t != T - 1 and (t + 1) % trunc == 0  # states detached
                for j in range(nt):
                    if cut:
                        do_n[j] = 0
                    agj = ag[a, j]
                    readout_backward(t, b0 + j, r0, d_out, O, a_o, b_o, do_n[j], agj[H:H + C],
                                     r, idxs[j, kk], ns[j, kk], w_oT, gao)  # (L4)–(L7)
                    # (N7) dW_rec += Ī_{t+1} z_tᵀ and (L6) dW_o += r̄_t z_tᵀ, before a cut
                    # detaches Ī_{t+1} from z_t (z_t is still the input of step t+1)
                    rows_add(gcat, idxs[j, kk], ns[j, kk], agj)
                    if cut:
                        dcar[a, j] = 0
                        agj[:H] = 0
                matvec_tile(dz, ag[a], w_cat, nt, KD)  # Ī_{t+1} W_rec + r̄_t W_o, (N5)–(N6)
                for j in range(nt):
                    b = b0 + j
                    dn = dcar[a, j]
                    dI = ag[1 - a, j, :H]
                    dzj = dz[j]
                    if reads_z:
                        dn0 = dn[0]
                        for h in range(H):
                            dzj[h] += dn0[h]  # (N6): + z̄_t from the cell of step t+1 (ALIF)
                    cell_backward(seg[j, kk - 1], seg[j, kk], dzj, dn, dcar[1 - a, j], dI,
                                  gacc, cell, k, kc)
                    input_grad(gin, t * B + b, indptr, indices, values, dI)  # (N7)
                    if want_dx:
                        matvec_rows(dx[t, b], dI, w_in)  # (N8)
                a = 1 - a
    return bad


@njit(fastmath=FASTMATH)
def gradient_buffers(nchunk, w_inT, w_cat, O, nacc):
    """Zeroed per-chunk gradient buffers of :func:`backward_chunk`: dW_inᵀ (nchunk, I, H),
    [dW_recᵀ | dW_oᵀ | 0] (nchunk, H, H + Cp), the cell sums (nchunk, nacc, H) (the model's
    ACC_ROWS), dα_o (nchunk, C) and the recompute check (nchunk,)."""
    C = O.shape[2]
    I = w_inT.shape[0]
    H = w_inT.shape[1]
    ft = w_inT.dtype
    dw_inT = np.zeros((nchunk, I, H), dtype=ft)
    gcat = np.zeros((nchunk, H, w_cat.shape[0]), dtype=ft)
    acc = np.zeros((nchunk, nacc, H), dtype=ft)
    dao = np.zeros((nchunk, C), dtype=ft)
    bad = np.zeros(nchunk, dtype=np.int64)
    return dw_inT, gcat, acc, dao, bad


@njit(fastmath=FASTMATH, inline="always")
def backward_chunk(cell_forward, cell_backward, rows, reads_z, c, nchunk, ev, w_inT, w_recT, w_oT,
                   a_o, b_o, cell, k, kc, K, zbits, ckpt, O, w_in, w_cat, d_out, r0, trunc, dx,
                   buffers):
    """BPTT, eqs. (N5)–(N9), of chunk c of the batch from the tape of :func:`forward_sample`
    (same leading arguments), into the chunk's slice of ``buffers`` (:func:`gradient_buffers`).

    (The inlined templates take at most 30 arguments, hence the tuples ``ev`` and ``buffers``:
    CPython passes more as ``*args``, which numba's inliner refuses.)

    ``w_in`` (H, I) = W_h[:, :I]; ``w_cat`` (H + Cp, H) stacks W_rec = W_h[:, I:] over W_o and
    Cp − C zero rows, so that Ī_{t+1} W_rec + z̄ᵒ_t of (N5)–(N6) is one product
    [Ī_{t+1}, r̄_t] w_cat. ``d_out`` (B, T − r0, C) is ∂L/∂o_t of the recorded steps t ≥ r0;
    ``trunc`` > 0 drops the adjoints flowing from step t+1 into step t after every chunk of
    ``trunc`` steps (resonet.spec.truncation_cuts); ``dx`` (T, B, I) receives x̄ when its T
    axis is nonzero. The batch is split into ``nchunk`` chunks of whole tiles;
    ``bad[c]`` receives the number of recomputed steps whose spikes differed from the stored
    ones (must be 0).
    """
    dw_inT, gcat, acc, dao, bad = buffers
    B = O.shape[0]
    ntile = (B + TILE - 1) // TILE
    lo = (c * ntile // nchunk) * TILE
    hi = min(B, ((c + 1) * ntile // nchunk) * TILE)
    bad[c] = backward_samples(cell_forward, cell_backward, rows, reads_z, lo, hi, ev, w_inT,
                              w_recT, w_oT, a_o, b_o, cell, k, kc, K, zbits, ckpt, O, w_in, w_cat,
                              d_out, r0, trunc, dx, dw_inT[c], gcat[c], acc[c], dao[c])
