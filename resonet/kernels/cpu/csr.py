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
