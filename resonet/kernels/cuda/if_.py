"""IF on the device: one step of neuron h and its VJP (resonet/neurons/if_.py, eqs. (I1)–(I7)).

The CUDA twin of resonet/kernels/cpu/if_.py; the contract of the names is in :mod:`.common`.
State rows z, u (after the reset), ũ (before it); no per-neuron constants (NCELL = 0) and no
parameter sums (NACC = 0); ``k``: ϑ, 1. The surrogate is the linear one (S4).
"""

from __future__ import annotations

import numpy as np
from numba import cuda

from ...neurons import if_ as ref
from .common import dspike_linear, pad_k, tape_row

ROW_Z, ROW_U, ROW_UT = range(3)
ROWS = 3
STATE_ROWS = {"z": ROW_Z, "u": ROW_U}  # = ref.STATE_NAMES
TAPE_U, TAPE_UT = tape_row(ROW_U), tape_row(ROW_UT)
NCELL = 0
K_THETA, K_ONE = range(2)
NACC = len(ref.ACC_ROWS)


def consts_k(spec, dtype) -> np.ndarray:
    return pad_k([ref.THETA, 1.0], dtype)


def pack_cell(c: ref.Consts, dtype) -> np.ndarray:
    return np.zeros((0, 1), dtype=dtype)  # no per-neuron constants (nothing is uploaded)


@cuda.jit(device=True)
def cell_forward(h, cur, st, H, cell, k):
    """Eqs. (I1)–(I4) for neuron h."""
    theta = k[K_THETA]
    one = k[K_ONE]
    zero = one - one
    ut = st[ROW_U * H + h] + cur  # (I1)
    z = one if ut - theta > zero else zero  # (I2)–(I3)
    st[ROW_Z * H + h] = z
    st[ROW_UT * H + h] = ut
    st[ROW_U * H + h] = (one - z) * ut  # (I4)
    return z


@cuda.jit(device=True)
def cell_backward(h, t, b, tape, zt, zp, dz, dcar, acc, H, cell, k, kc):
    """VJP of one step for neuron h, eqs. (I5)–(I7); ``zt`` is z_t[h]."""
    theta = k[K_THETA]
    one = k[K_ONE]
    zero = one - one
    ut = tape[t, b, TAPE_UT, h]
    du1 = dcar[ROW_U * H + h]
    dz_tot = dz - du1 * ut  # (I5)
    du_t = (one - zt) * du1 + dz_tot * dspike_linear(ut - theta, kc)  # (I6)
    dcar[ROW_Z * H + h] = zero  # the cell does not read z_{t−1}
    dcar[ROW_U * H + h] = du_t  # (I7)
    return du_t


@cuda.jit(device=True)
def derive(h, P, H, cell, pk):
    """No per-neuron constants."""
    return


@cuda.jit(device=True)
def finish(h, s, P, H, cell, k, G):
    """No per-neuron parameters (never called: ``reduce`` has no thread for them)."""
    return
