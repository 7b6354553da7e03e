"""Wide layers on the CPU backend (docs/cpu-kernels.md, "Wide layers") against the NumPy
reference: tiles walking back in lockstep groups, the dense products over packed column blocks
(a zero-padded last block, columns beyond the last whole 16, a tile of fewer than 4 samples),
the weight gradients added per segment, and the input currents kept on the tape.

Tolerances as in tests/test_cpu_backend.py (float64, 1e-12) and tests/test_cpu_float32.py
(float32, 1e-4 while no spike flips; these cases flip none).
"""

from __future__ import annotations

import numba
import numpy as np
import pytest

from resonet.gradcheck import build_case
from resonet.kernels.cpu.backend import pack_columns
from resonet.kernels.cpu.config import keeps_currents, lockstep
from tests.test_cpu_backend import CPU, REF, RTOL64, compare
from tests.test_cpu_float32 import F32_TOL

H = 520  # wide (lockstep, currents kept), and not a multiple of 16 or of any column block


def test_the_case_takes_the_wide_paths():
    tiles = -(-9 // 4)
    group, cols = lockstep(H, H + 5, 4, -(-tiles // max(1, min(tiles, numba.get_num_threads()))))
    assert keeps_currents(H) and H % cols != 0 and H % 16 != 0
    assert group > 1 or numba.get_num_threads() >= tiles  # one tile per thread: no group to form


def test_pack_columns_blocks_and_pads():
    w = np.arange(35.0).reshape(5, 7)
    pk = pack_columns(w, 3)
    assert pk.shape == (3, 5, 3)
    assert np.array_equal(np.concatenate(list(pk), axis=1)[:, :7], w)
    assert not pk[2, :, 1:].any()  # the padding of the last block is zero
    one = pack_columns(w, 7)  # a narrow layer's single block is w itself, not a copy
    assert one.shape == (1, 5, 7) and np.shares_memory(one, w) and one.flags.c_contiguous


@pytest.mark.parametrize("valued", [False, True], ids=["binary", "valued"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("neuron", ["brf", "alif"])
def test_wide_layer_matches_reference(neuron, dtype, valued):
    spec, params, x, y, rate = build_case(neuron, 40, H, 0, n_in=24, n_out=5, batch=9)
    if valued:  # non-binary inputs: dW_in rows scaled by the input value
        x = x * np.random.default_rng(1).uniform(0.5, 1.5, x.shape)
    assert rate >= 0.02
    a = CPU.run(spec, params, x, y, dtype=dtype, return_states=True, return_dx=True)
    ref = REF.run(spec, params, x, y, dtype=dtype, return_states=True, return_dx=True)
    compare(a, ref, rtol=RTOL64 if dtype == np.float64 else F32_TOL)
