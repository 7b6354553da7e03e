"""The input currents of one sample, event-driven, and the weight gradients they feed back.

Layouts (chosen so that every hot loop is a contiguous axpy over H): ``w_inT`` (I, H) =
W_h[:, :I]ᵀ and ``w_recT`` (H, H) = W_h[:, I:]ᵀ: the input current of an active input channel i
(or a spiking neuron j) is the contiguous row ``w_inT[i]`` (``w_recT[j]``), eq. (N1) summed over
active entries only (zeros are skipped). Input rows are ``row = t*B + b`` of the CSR events.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .config import FASTMATH
from .intrinsics import add_rows_vec, tile4_blocks


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
    matvec_rows_k(out, a, w, a.shape[0], 0, out.shape[0], 0)


@njit(fastmath=FASTMATH)
def matvec_rows_k(out, a, w, kdim, c0, c1, ws):
    """out[c0:c1] = a[:kdim] @ w[:kdim, c0 − ws:c1 − ws], four rows at a time: out += (a₀w₀ +
    a₁w₁) + (a₂w₂ + a₃w₃), then the remaining rows one by one (the grouping every dense product
    of these kernels shares; each column is summed alone, so a column range changes nothing).
    ``ws``: w is a packed column block of a wider matrix (network.pack_columns), 0 otherwise."""
    N = c1
    for j in range(c0, N):
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
        for j in range(c0, N):
            out[j] += (a0 * w0[j - ws] + a1 * w1[j - ws]) + (a2 * w2[j - ws] + a3 * w3[j - ws])
        k += 4
    while k < kdim:
        w0 = w[k]
        a0 = a[k]
        for j in range(c0, N):
            out[j] += a0 * w0[j - ws]
        k += 1


@njit(fastmath=FASTMATH)
def matvec_tile(out, A, w, nt, kdim, cb, ce, ws):
    """out[j, cb:ce] = A[j, :kdim] @ w[:kdim, cb − ws:ce − ws] for the nt <= 4 rows of A (4,
    ≥kdim), w (≥kdim, N); ``ws`` ≠ 0 when w is a packed column block (network.pack_columns).

    Four samples share each load of a weight row (the per-sample product is bound by loading w).
    float32: whole 16-column blocks by :func:`.intrinsics.tile4_blocks` (accumulators in registers), the
    rest (and all of float64, where that kernel measured slower than this loop) by the loop
    below. Every out[j][n] is summed in exactly the grouping of :func:`matvec_rows_k`, so the
    result does not depend on the tiling, on the column range or on which code computed it.
    """
    if nt < 4:
        for j in range(nt):
            matvec_rows_k(out[j], A[j], w, kdim, cb, ce, ws)
        return
    N = ce
    c0 = tile4_blocks(out, A, w, kdim, cb, ce, ws)
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
            x0 = w0[j - ws]
            x1 = w1[j - ws]
            x2 = w2[j - ws]
            x3 = w3[j - ws]
            o0[j] += (b00 * x0 + b01 * x1) + (b02 * x2 + b03 * x3)
            o1[j] += (b10 * x0 + b11 * x1) + (b12 * x2 + b13 * x3)
            o2[j] += (b20 * x0 + b21 * x1) + (b22 * x2 + b23 * x3)
            o3[j] += (b30 * x0 + b31 * x1) + (b32 * x2 + b33 * x3)
        k += 4
    while k < kdim:
        w0 = w[k]
        b00, b10, b20, b30 = a0[k], a1[k], a2[k], a3[k]
        for j in range(c0, N):
            x0 = w0[j - ws]
            o0[j] += b00 * x0
            o1[j] += b10 * x0
            o2[j] += b20 * x0
            o3[j] += b30 * x0
        k += 1


@njit(fastmath=FASTMATH)
def add_spike_rows(cur, w, idx, n, z, graded):
    """cur += Σ_{m<n} z[idx[m]]·w[idx[m]]: the rows of the spiking neurons idx[:n] weighted by
    their graded spikes z (reset-to-mod, eq. (S6)) when ``graded``, else (binary spikes, z = 1)
    :func:`add_rows`."""
    if not graded:
        add_rows(cur, w, idx, n)
        return
    H = cur.shape[0]
    for m in range(n):
        i = idx[m]
        a = z[i]
        wi = w[i]
        for h in range(H):
            cur[h] += a * wi[h]


@njit(fastmath=FASTMATH)
def input_current(cur, row, indptr, indices, values, w_inT, w_recT, idx, n, zprev, graded, bias):
    """cur = b + x_t W_inᵀ + z_{t−1} W_recᵀ for one sample (eq. (N1)), over active entries only.

    ``row = t*B + b`` selects the CSR row of the input; ``values`` of length 0 means binary
    input (every event is 1); ``idx[:n]`` are the neurons that spiked at t−1, ``zprev`` their
    spikes z_{t−1} (read when ``graded``, :func:`add_spike_rows`); ``bias`` (H,) is the layer's
    bias, zeros without one (0 + a = a exactly: the same bits as no bias at all).
    """
    for h in range(cur.shape[0]):
        cur[h] = bias[h]
    e0 = indptr[row]
    ne = indptr[row + 1] - e0
    ev = indices[e0:e0 + ne]
    if values.shape[0] == 0:
        add_rows(cur, w_inT, ev, ne)
    else:
        add_scaled_rows(cur, w_inT, ev, values[e0:e0 + ne], ne)
    add_spike_rows(cur, w_recT, idx, n, zprev, graded)


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
def rows_add(dst, idx, n, vec, z, graded):
    """dst[idx[m]] += z[idx[m]]·vec for m < n (``graded``; binary spikes: += vec): the gradient
    rows of the spiking neurons (eqs. (N7), (L6))."""
    for m in range(n):
        g = dst[idx[m]]
        if graded:
            a = z[idx[m]]
            for h in range(vec.shape[0]):
                g[h] += a * vec[h]
        else:
            for h in range(vec.shape[0]):
                g[h] += vec[h]
