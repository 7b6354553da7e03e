"""The leaky-integrator readout inside the fused kernels (eqs. (L1)–(L8)) and the loss (N10)–(N11).

``w_oT`` (H, Cp) = W_oᵀ padded with zero columns to whole vectors (:func:`pad_classes`): the
readout input r_t = Σ_{j spiking} w_oT[j], eq. (L2).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from .config import CACHE, FASTMATH
from .inputs import add_spike_rows
from .surrogate import KC_ONE, exp_neg, surrogate_tuple


# ---------------------------------------------------------------------------------- readout
@njit(fastmath=FASTMATH)
def readout_input(r, idx, n, z, graded, w_oT, r_bias):
    """r_t = b_o + W_o z_t = b_o + Σ_{j spiking} z_j·w_oT[j] (eq. (L2); z_j = 1 unless
    ``graded``, :func:`.inputs.add_spike_rows`). ``w_oT`` (H, Cp), ``r`` and
    ``r_bias`` (Cp,) are padded with zero columns to whole vectors (:func:`pad_classes`), so the
    rows are summed like the input rows (:func:`add_rows`, eight at a time) without a scalar
    remainder; ``r_bias`` is zeros without a bias (the same bits as none)."""
    for c in range(r.shape[0]):
        r[c] = r_bias[c]
    add_spike_rows(r, w_oT, idx, n, z, graded)


@njit(fastmath=FASTMATH)
def readout_forward(o, r, idx, n, z, graded, w_oT, a_o, b_o, r_bias):
    """r_t = b_o + W_o z_t (sparse), o_t = o_{t−1}·α + r_t·(1 − α), eqs. (L2)–(L3), in place on
    o (C,)."""
    readout_input(r, idx, n, z, graded, w_oT, r_bias)
    for c in range(o.shape[0]):
        o[c] = o[c] * a_o[c] + r[c] * b_o[c]


@njit(fastmath=FASTMATH)
def readout_backward(t, b, r0, d_out, O, a_o, b_o, do_n, rb, r, idx, n, z, graded, w_oT, r_bias,
                     dao, dbo):
    """Readout VJP at step t for sample b (eqs. (L4), (L5), (L7), (L9)) up to r̄_t, written into
    ``rb``.

    ``do_n`` carries ō_{t+1} in and ō_t out; ``dao`` accumulates dα_o, ``dbo`` db_o = Σ r̄_t;
    ``r`` is scratch (Cp,). The caller adds r̄_t to the dW_o rows of the neurons spiking at t
    (L6) together with their dW_rec rows, and forms z̄ᵒ_t = r̄_t W_o (N5) together with the
    recurrent term of (N6).
    """
    C = do_n.shape[0]
    readout_input(r, idx, n, z, graded, w_oT, r_bias)
    for c in range(C):
        g = d_out[b, t - r0, c] if t >= r0 else a_o[c] - a_o[c]
        do = g + a_o[c] * do_n[c]  # (L4)
        do_n[c] = do
        rb[c] = b_o[c] * do  # (L5)
        dbo[c] += rb[c]  # (L9)
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
