"""Dense input batches to CSR events (the layout of :class:`resonet.events.SpikeEvents`), the form
every kernel reads its input in."""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .config import CACHE


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


# ----------------------------------------------------------------------------- bits → CSR
@njit(parallel=True, cache=CACHE)
def bits_to_csr(zbits):
    """CSR over rows ``t*B + b`` (resonet.events layout, binary) of the spikes that the forward
    stored as bits ``zbits`` (B, T, ⌈H/8⌉) (bit h of byte h//8): the input events of the next
    layer of a stack (eq. (N13)). Returns (indptr, indices int32), channels ascending in a row."""
    B, T, nb = zbits.shape
    R = T * B
    counts = np.zeros(R + 1, dtype=np.int64)
    for r in prange(R):
        t = r // B
        b = r - t * B
        c = 0
        for j in range(nb):
            v = np.int64(zbits[b, t, j])
            while v != 0:
                v &= v - 1
                c += 1
        counts[r + 1] = c
    indptr = np.cumsum(counts)
    indices = np.empty(indptr[R], dtype=np.int32)
    for r in prange(R):
        t = r // B
        b = r - t * B
        e = indptr[r]
        for j in range(nb):
            v = np.int64(zbits[b, t, j])
            i = 0
            while v != 0:
                if v & 1:
                    indices[e] = j * 8 + i
                    e += 1
                v >>= 1
                i += 1
    return indptr, indices
