"""Stacked recurrent layers (eqs. (N13)–(N16)) and biases on the CUDA kernels, against the NumPy
float64 reference: 2 and 3 layers of every model, with and without biases, tiny sizes.

float64: every layer's spikes identical; outputs, loss, state traces, every layer's gradients and
x̄ within 1e-12 relative (the kernels and the reference differ only in summation order).
"""

from __future__ import annotations

import numpy as np
import pytest

from resonet.backends import get_backend
from resonet.events import SpikeEvents
from resonet.gradcheck import MIN_RATE, build_case
from resonet.neurons import NEURONS
from tests.cudasim.cases import rel

STACKS = {"2-layers": ((5, 4), False), "2-layers-bias": ((5, 4), True),
          "3-layers": ((4, 3, 5), False), "3-layers-bias": ((4, 3, 5), True)}
TOL = 1e-12


def check(res, ref, spec):
    assert np.array_equal(res.num_spikes, ref.num_spikes)
    assert abs(res.loss - ref.loss) <= TOL * max(abs(ref.loss), 1.0)
    assert rel(res.outputs, ref.outputs) <= TOL
    assert set(res.grads) == set(ref.grads) == set(spec.param_shapes())
    for k, g in ref.grads.items():
        assert rel(res.grads[k], g) <= TOL, (k, rel(res.grads[k], g))
    assert rel(res.dx, ref.dx) <= TOL
    assert set(res.states) == set(ref.states)
    for l in range(spec.n_layers):
        for n in spec.model.STATE_NAMES:
            key = spec.state_key(l, n)
            if n == "z":
                assert np.array_equal(res.states[key], ref.states[key]), key
                assert ref.states[key].sum() > 0, f"{key} does not spike"
            else:
                assert rel(res.states[key], ref.states[key]) <= TOL, key


@pytest.mark.parametrize("stack", list(STACKS))
@pytest.mark.parametrize("neuron", list(NEURONS))
def test_stacked_layers_match_reference(cuda_backend, neuron, stack):
    hidden, bias = STACKS[stack]
    spec, params, x, y, rate = build_case(neuron, 10, hidden, 6, n_in=5, n_out=3, batch=2,
                                          bias=bias)
    assert rate >= MIN_RATE  # every layer spikes
    kw = {"return_states": True, "return_dx": True}
    res = cuda_backend.run(spec, params, SpikeEvents.from_dense(x), y, dtype=np.float64, **kw)
    ref = get_backend("reference").run(spec, params, x, y, **kw)
    check(res, ref, spec)


def test_stacked_float32_and_truncation(cuda_backend):
    """float32 within accumulated rounding of the reference; truncated BPTT through two layers."""
    spec, params, x, y, rate = build_case("alif", 12, (5, 4), 8, n_in=5, n_out=3, batch=2,
                                          bias=True)
    ref = get_backend("reference").run(spec, params, x, y, truncation=5)
    res = cuda_backend.run(spec, params, x, y, dtype=np.float32, truncation=5)
    assert np.array_equal(res.num_spikes, ref.num_spikes)
    assert all(g.dtype == np.float32 for g in res.grads.values())
    for k, g in ref.grads.items():
        assert rel(res.grads[k], g) <= 2e-5, (k, rel(res.grads[k], g))
