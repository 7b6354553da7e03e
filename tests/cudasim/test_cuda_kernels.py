"""Every CUDA kernel (forward, loss, BPTT, reductions) against the CPU kernels, tiny sizes.

float64: spikes identical, outputs/loss/states/gradients/x̄ within 1e-12 relative (the kernels
use the CPU kernels' association order; only the order of a few sums differs). float32: within a
few ulps of accumulated rounding (short sequences, no spike flips at these sizes).
"""

from __future__ import annotations

import numpy as np
import pytest

from resonet.errors import ConfigError
from resonet.neurons import NEURONS
from tests.cudasim.cases import assert_same_result, make_case, rel

MODELS = list(NEURONS)


def both(cuda_backend, host_backend, spec, params, x, y, dtype=np.float64, **kw):
    kw = {"return_states": True, **kw}
    res = cuda_backend.run(spec, params, x, y, dtype=dtype, **kw)
    ref = host_backend.run(spec, params, x, y, dtype=dtype, **kw)
    return res, ref


@pytest.mark.parametrize("neuron", MODELS)
@pytest.mark.parametrize("sparse", [True, False], ids=["events", "dense"])
def test_float64_matches_cpu(cuda_backend, host_backend, neuron, sparse):
    spec, params, x, y = make_case(neuron, sparse=sparse, seed=3)
    res, ref = both(cuda_backend, host_backend, spec, params, x, y, return_dx=True)
    assert 0 < ref.num_spikes.sum() < spec.n_hidden * 12 * 3  # the case does spike, not always
    assert_same_result(res, ref, dx=True)


@pytest.mark.parametrize("neuron", MODELS)
def test_float32_matches_cpu(cuda_backend, host_backend, neuron):
    spec, params, x, y = make_case(neuron, seed=5, T=10)
    res, ref = both(cuda_backend, host_backend, spec, params, x, y, dtype=np.float32)
    assert res.outputs.dtype == np.float32
    assert all(g.dtype == np.float32 for g in res.grads.values())
    # float32 rounding (~6e-8) accumulated over a 10-step sequence; spikes identical here
    assert_same_result(res, ref, tol=2e-5)


@pytest.mark.parametrize("kw", [
    {"sub_seq_length": 4},
    {"label_last": True},
    {"per_step": True},
    {"per_step": True, "sub_seq_length": 3},
], ids=["sub_seq", "label_last", "per_step", "per_step_sub_seq"])
def test_recording_and_labels(cuda_backend, host_backend, kw):
    spec, params, x, y = make_case("brf", seed=7, **kw)
    res, ref = both(cuda_backend, host_backend, spec, params, x, y)
    assert_same_result(res, ref)


@pytest.mark.parametrize("neuron,k", [("brf", 4), ("alif", 5), ("rf", 1)])
def test_truncated_bptt(cuda_backend, host_backend, neuron, k):
    spec, params, x, y = make_case(neuron, seed=11)
    res, ref = both(cuda_backend, host_backend, spec, params, x, y, truncation=k)
    assert_same_result(res, ref)
    full = cuda_backend.run(spec, params, x, y)
    assert rel(full.grads["hidden.linear.weight"], res.grads["hidden.linear.weight"]) > 1e-6


@pytest.mark.parametrize("reset", ["soft", "hard"])
def test_rf_resets(cuda_backend, host_backend, reset):
    spec, params, x, y = make_case("rf", seed=13, reset=reset)
    res, ref = both(cuda_backend, host_backend, spec, params, x, y, return_dx=True)
    assert ref.num_spikes.sum() > 0
    assert_same_result(res, ref, dx=True)


@pytest.mark.parametrize("neuron", ["lif", "rf"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_reset_to_mod(cuda_backend, host_backend, neuron, dtype):
    """Graded, signed spikes (eq. (S6)): every value the recurrent sum, the readout, dW_rec,
    dW_o and the spike count read comes from the spike's value, not from its bit."""
    spec, params, x, y = make_case(neuron, seed=13, reset="mod", per_step=True)
    params["hidden.linear.weight"] *= 4.0  # currents of several ϑ: spikes of several units
    res, ref = both(cuda_backend, host_backend, spec, params, x, y, dtype=dtype, return_dx=True)
    z = ref.states["z"]
    assert (z >= 2).any() and (z <= -1).any(), np.unique(z)  # graded and signed
    assert ref.num_spikes.sum() == np.abs(z).sum()
    # float32: ~6e-8 rounding accumulated over 12 steps (spikes identical at these sizes)
    assert_same_result(res, ref, dx=True, **({} if dtype == np.float64 else {"tol": 2e-5}))


@pytest.mark.parametrize("ablate", [("boundary",), ("refractory",), ("smooth_reset",),
                                    ("boundary", "refractory", "smooth_reset")],
                         ids=lambda a: "+".join(a))
def test_brf_ablations(cuda_backend, host_backend, ablate):
    """The Fig. 10 ablations (κ_d, κ_r, κ_s = 0 in (B2)/(B5)) on the device as on the host."""
    spec, params, x, y = make_case("brf", seed=13, ablate=ablate)
    res, ref = both(cuda_backend, host_backend, spec, params, x, y, return_dx=True)
    assert ref.num_spikes.sum() > 0
    assert_same_result(res, ref, dx=True)


def test_several_bitmask_words_and_classes_per_thread(cuda_backend, host_backend):
    """H = 40 needs two 32-bit spike words; C = 6 > 4 threads puts two classes on a thread."""
    spec, params, x, y = make_case("brf", I=4, H=40, C=6, T=8, B=2, seed=17)
    res, ref = both(cuda_backend, host_backend, spec, params, x, y, return_dx=True)
    z = ref.states["z"]
    assert z[..., :32].sum() > 0 and z[..., 32:].sum() > 0
    assert_same_result(res, ref, dx=True)


def test_valued_events_and_empty_rows(cuda_backend, host_backend):
    spec, params, x, y = make_case("bhrf", seed=19, values=True)
    res, ref = both(cuda_backend, host_backend, spec, params, x, y)
    assert x.values is not None
    assert_same_result(res, ref)
    # a batch without a single input event (silent input, still a loss and gradients)
    from resonet.events import SpikeEvents

    empty = SpikeEvents.from_dense(np.zeros((6, 2, spec.n_in)))
    res, ref = both(cuda_backend, host_backend, spec, params, empty, y[:2])
    assert_same_result(res, ref)


def test_inference_only_and_no_labels(cuda_backend, host_backend):
    spec, params, x, y = make_case("alif", seed=23)
    res = cuda_backend.run(spec, params, x, None)
    ref = host_backend.run(spec, params, x, None)
    assert res.loss is None and res.grads is None and res.states is None
    assert rel(res.outputs, ref.outputs) <= 1e-12
    res = cuda_backend.run(spec, params, x, y, grads=False)
    ref = host_backend.run(spec, params, x, y, grads=False)
    assert res.grads is None and abs(res.loss - ref.loss) <= 1e-12 * abs(ref.loss)


def test_errors_are_the_cpu_backends(cuda_backend):
    spec, params, x, y = make_case("brf")
    with pytest.raises(ConfigError, match="heaviside"):
        cuda_backend.run(spec, params, x, y, spike="smooth")
    with pytest.raises(ConfigError, match="dtype"):
        cuda_backend.run(spec, params, x, y, dtype=np.int32)
    with pytest.raises(ConfigError, match="labels"):
        cuda_backend.run(spec, params, x, y + 10)
    bad = dict(params)
    bad["hidden.omega"] = np.full(spec.n_hidden, 150.0)  # |ω|·δ ≥ 1: p(ω) undefined
    with pytest.raises(ConfigError, match="omega"):
        cuda_backend.run(spec, bad, x, y)
    with pytest.raises(ConfigError, match="input"):
        cuda_backend.run(spec, params, np.zeros((4, 2, spec.n_in + 1)), None)
    with pytest.raises(ConfigError, match="NaN"):
        cuda_backend.run(spec, params, np.full((4, 2, spec.n_in), np.nan), None)


def test_kernels_are_deterministic(cuda_backend):
    spec, params, x, y = make_case("rf", seed=29)
    a = cuda_backend.run(spec, params, x, y)
    b = cuda_backend.run(spec, params, x, y)
    for k in a.grads:
        np.testing.assert_array_equal(a.grads[k], b.grads[k])
