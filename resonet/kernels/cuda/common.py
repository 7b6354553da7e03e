"""What every model's CUDA cell shares: the layout conventions, the common constants ``kc`` and
``pk``, the surrogate derivative and ``sign``.

The surrogate derivatives: :func:`dspike` (double Gaussian, (S2)) and :func:`dspike_linear`
((S4)); each model's module calls the one its model declares (``SURROGATE``).

One module per neuron model of the registry (named like the model's module in resonet.neurons
and mirroring resonet/kernels/cpu/) holds the model's device functions for *one neuron h*: in
the fused kernels of :mod:`.network` every thread owns a set of neurons and calls them for
each. The same names in every model module (:class:`resonet.kernels.contract.CudaKernels`):

- ``cell_forward(h, cur, st, H, cell, k) -> z``: one step (eq. (N2)) of neuron h, in place on
  the block's shared state array ``st`` (ROWS, H) flattened, row ``ROW_Z`` (0) the spike;
- ``cell_backward(h, t, b, tape, zt, zp, dz, dcar, acc, H, cell, k, kc) -> Ī_t[h]``: its VJP;
  ``dcar`` (ROWS, H) holds the adjoints of the state of step t from step t+1 on entry and those
  of step t−1 on exit, ``acc`` (NACC, H) the per-neuron sums of the model's ACC_ROWS; ``zt``,
  ``zp`` are z_t[h] and z_{t−1}[h];
- ``derive(h, P, H, cell, pk)``: the cell constants of neuron h from the raw parameters in the
  flat vector P (hidden parameter i of neuron h at ``P[i·H + h]``), as the reference's
  ``derive`` computes them (device-resident training);
- ``finish(h, s, P, H, cell, k, G)``: the raw-parameter gradients of neuron h from its summed
  ``acc`` rows ``s`` (the reference's ``finish``), written to ``G[i·H + h]``;
- constants ``ROWS``, ``ROW_*``, ``TAPE_*``, ``STATE_ROWS``, ``NCELL``, ``CELL_*``, ``K_*``,
  ``NACC``; host functions ``consts_k(spec, dtype)`` (the ``k`` vector) and
  ``pack_cell(c, dtype)`` (the ``cell`` array from the reference's derived constants).

The BPTT tape keeps state rows 1 … ROWS−1 of every step (the spike z is kept as a bitmask):
state row r is tape row r − 1 (:func:`tape_row`; each model names them ``TAPE_*``).

Every floating constant comes in through an array of the run's dtype (``cell``, ``k``, ``kc``,
``pk``), never as a Python literal, so a float32 kernel never silently promotes to float64.
"""

from __future__ import annotations

import math

import numpy as np
from numba import cuda

from ...surrogate import C1, C2, GAMMA, H_SG, SIGMA1, SIGMA2
from ..graded import graded_count as _graded_count

NK = 8  # length of the k vector (padded)
KC_ZERO, KC_ONE, KC_C1, KC_C2, KC_S1, KC_S2, KC_H1, KC_H2, KC_GAMMA = range(9)
PK_DT, PK_ONE, PK_MONE = range(3)  # pk: δ_p (p(ω) of BRF), 1, −1


def tape_row(row: int) -> int:
    """The tape row of state row ``row`` (the spike, row 0, is not taped)."""
    return row - 1


def common_consts(dtype) -> np.ndarray:
    """``kc``: 0, 1 and the surrogate constants of eq. (S2) in the official association."""
    return np.array([0.0, 1.0, C1, C2, 2.0 * SIGMA1 * SIGMA1, 2.0 * SIGMA2 * SIGMA2,
                     1.0 + H_SG, 2.0 * H_SG, GAMMA], dtype=dtype)


def param_consts(spec, dtype) -> np.ndarray:
    """``pk``: δ_p, 1, −1 (for ``derive`` on the device), then the readout's kind (1: α = σ(τ_o),
    ``li_sigmoid``; 0: α = exp(−1/|τ_o|), ``li``; eqs. (L1), (L1s), (L8), (L8s))."""
    return np.array([spec.p_dt, 1.0, -1.0, 1.0 if spec.readout == "li_sigmoid" else 0.0],
                    dtype=dtype)


def pad_k(values, dtype) -> np.ndarray:
    """A model's ``k`` values padded to NK (one shape for every model's kernels)."""
    out = np.zeros(NK, dtype=dtype)
    out[: len(values)] = values
    return out


@cuda.jit(device=True)
def dspike(s, kc):
    """σ'(s), eq. (S2), exactly as resonet.surrogate.dspike evaluates it (same association)."""
    s2 = s * s
    g1 = kc[KC_C1] * math.exp(-s2 / kc[KC_S1])
    g2 = kc[KC_C2] * math.exp(-s2 / kc[KC_S2])
    return (kc[KC_H1] * g1 - kc[KC_H2] * g2) * kc[KC_GAMMA]


@cuda.jit(device=True)
def dspike_linear(s, kc):
    """σ'(s) = max(0, 1 − |s|), eq. (S4), as resonet.surrogate.dspike_linear evaluates it."""
    d = kc[KC_ONE] - abs(s)
    return d if d > kc[KC_ZERO] else kc[KC_ZERO]


graded_count = cuda.jit(device=True)(_graded_count)  # (S6), as the CPU kernels count it


@cuda.jit(device=True)
def dgraded(u, theta, kc, levels):
    """dz/du of eq. (S7) with the double Gaussian (S2), in resonet.surrogate.dgraded's order."""
    d = dspike(u - theta, kc) + dspike(-u - theta, kc)
    kt = theta
    for _ in range(1, levels):
        kt = kt + theta
        d += dspike(u - kt, kc) + dspike(-u - kt, kc)
    return d


@cuda.jit(device=True)
def dgraded_linear(u, theta, kc, levels):
    """dz/du of eq. (S7) with the linear surrogate (S4), in resonet.surrogate.dgraded's order."""
    d = dspike_linear(u - theta, kc) + dspike_linear(-u - theta, kc)
    kt = theta
    for _ in range(1, levels):
        kt = kt + theta
        d += dspike_linear(u - kt, kc) + dspike_linear(-u - kt, kc)
    return d


@cuda.jit(device=True)
def sign(x, one, zero):
    """np.sign in the dtype of ``one`` (NaN stays NaN)."""
    if x > zero:
        return one
    if x < zero:
        return -one
    if x == zero:
        return zero
    return x
