"""The reference network: parameter layout, truncated BPTT, input handling, error cases."""

from __future__ import annotations

import numpy as np
import pytest

from resonet.errors import ConfigError
from resonet.events import SpikeEvents
from resonet.loss import accuracy_counts, nll_loss, step_targets
from resonet.network import NetworkSpec, backward, forward, init_params
from resonet.neurons import NEURONS as REGISTRY
from resonet.neurons import get_neuron
from tests.conftest import SPIKE_SCALE

NEURONS = list(REGISTRY)


@pytest.mark.parametrize("neuron", NEURONS)
@pytest.mark.parametrize(
    "sizes,count", [((700, 128, 20), 108_820), ((1, 256, 10), 68_874), ((4, 36, 6), 1_734)]
)
def test_parameter_counts_of_model_md(neuron, sizes, count):
    # model.md counts the models with two per-neuron parameters; LIF has one, IF none
    count -= (2 - len(get_neuron(neuron).PARAM_NAMES)) * sizes[1]
    spec = NetworkSpec(neuron, *sizes)
    assert spec.n_params() == count
    params = init_params(spec, np.random.default_rng(0))
    assert sum(p.size for p in params.values()) == count
    assert list(params) == list(spec.param_shapes())


def test_official_parameter_order_and_shapes():
    spec = NetworkSpec("brf", 700, 128, 20)
    assert spec.param_shapes() == {
        "hidden.omega": (128,), "hidden.b_offset": (128,), "hidden.linear.weight": (128, 828),
        "out.tau_mem": (20,), "out.linear.weight": (20, 128),
    }
    a = NetworkSpec("alif", 700, 128, 20).param_shapes()
    assert list(a)[:2] == ["hidden.tau_mem", "hidden.tau_adp"]


def test_xavier_init_bounds():
    spec = NetworkSpec("brf", 700, 128, 20)
    p = init_params(spec, np.random.default_rng(1), {"omega": (5, 10), "b_offset": (2, 3)})
    k = np.sqrt(6 / (828 + 128))
    assert np.abs(p["hidden.linear.weight"]).max() <= k
    assert np.abs(p["hidden.linear.weight"]).max() > 0.95 * k
    assert 5 <= p["hidden.omega"].min() and p["hidden.omega"].max() <= 10
    assert 2 <= p["hidden.b_offset"].min() and p["hidden.b_offset"].max() <= 3


def _case(neuron, T=30, B=3, I=5, H=7, C=4, seed=0, **kw):
    rng = np.random.default_rng(seed)
    spec = NetworkSpec(neuron, I, H, C, **kw)
    init = {"omega": (5, 10), "b_offset": (0.1, 1)} if neuron in ("brf", "rf") else None
    params = init_params(spec, rng, init)
    params["hidden.linear.weight"][:, :I] *= SPIKE_SCALE[neuron]
    x = (rng.random((T, B, I)) < 0.3).astype(float)
    y = rng.integers(0, C, B)
    return spec, params, x, y


def _grads(spec, params, x, y, truncation=None, spike="heaviside", init_state=None):
    fwd = forward(spec, params, x, spike=spike, init_state=init_state)
    loss, g = nll_loss(fwd.outputs, step_targets(y, fwd.recorded, x.shape[0]))
    grads, dx = backward(spec, params, fwd, g, truncation=truncation)
    return fwd, loss, grads, dx


@pytest.mark.parametrize("neuron", NEURONS)
def test_truncated_bptt_equals_sum_of_chunk_gradients(neuron):
    """Truncation k cuts the adjoint after every chunk of k steps: the truncated gradient equals
    the sum of full-BPTT gradients of each chunk run from its (constant) starting state."""
    spec, params, x, y = _case(neuron, T=23)
    k = 7
    fwd, _, g_trunc, dx_trunc = _grads(spec, params, x, y, truncation=k)
    assert fwd.spikes.sum() > 0
    # chunks [0, 7), [7, 14), [14, 21), [21, 23)  (cut after t = 6, 13, 20)
    bounds = [0, 7, 14, 21, 23]
    total = {n: np.zeros_like(v) for n, v in params.items()}
    dx_sum = np.zeros_like(x)
    for a, b in zip(bounds[:-1], bounds[1:]):
        init = None
        if a > 0:
            init = {n: fwd.states[n][a - 1] for n in fwd.states}
            init["o"] = fwd.readout[a - 1]
        sub = forward(spec, params, x[a:b], init_state=init)
        np.testing.assert_array_equal(sub.spikes, fwd.spikes[a:b])
        _, g = nll_loss(sub.outputs, step_targets(y, sub.recorded, b - a))
        gr, dx = backward(spec, params, sub, g)
        for n in total:
            total[n] += gr[n]
        dx_sum[a:b] = dx
    for n in total:
        np.testing.assert_allclose(g_trunc[n], total[n], rtol=1e-10, atol=1e-13, err_msg=n)
    np.testing.assert_allclose(dx_trunc, dx_sum, rtol=1e-10, atol=1e-13)
    # and it is not the full gradient
    _, _, g_full, _ = _grads(spec, params, x, y)
    assert not np.allclose(g_full["hidden.linear.weight"], g_trunc["hidden.linear.weight"])


def test_truncation_longer_than_sequence_is_full_bptt():
    spec, params, x, y = _case("brf", T=12)
    _, _, g1, _ = _grads(spec, params, x, y)
    _, _, g2, _ = _grads(spec, params, x, y, truncation=50)
    for n in g1:
        np.testing.assert_array_equal(g1[n], g2[n])


@pytest.mark.parametrize("neuron", NEURONS)
def test_sparse_events_equal_dense_input(neuron):
    spec, params, x, y = _case(neuron)
    f1 = forward(spec, params, x)
    f2 = forward(spec, params, SpikeEvents.from_dense(x))
    np.testing.assert_array_equal(f1.outputs, f2.outputs)


def test_silent_network_still_learns_through_the_surrogate():
    """docs/official-code.md §12.7: with zero spikes the readout is 0, loss = T_rec ln C, dW_rec, dW_o
    and dτ_o are exactly 0 but the input weights, ω and b' get a gradient."""
    spec, params, x, y = _case("brf", T=20)
    params["hidden.linear.weight"][:] *= 1e-3
    fwd, loss, g, _ = _grads(spec, params, x, y)
    assert fwd.spikes.sum() == 0
    assert loss == pytest.approx(20 * np.log(4), rel=1e-14)
    assert np.all(g["hidden.linear.weight"][:, 5:] == 0)
    assert np.all(g["out.linear.weight"] == 0) and np.all(g["out.tau_mem"] == 0)
    assert np.abs(g["hidden.linear.weight"][:, :5]).max() > 0
    assert np.abs(g["hidden.omega"]).max() > 0 and np.abs(g["hidden.b_offset"]).max() > 0
    correct, total = accuracy_counts(fwd.outputs, np.zeros(3, int), fwd.recorded, 20)
    assert (correct, total) == (3, 3)  # silent net predicts class 0


def test_label_last_and_sub_seq_record_the_right_steps():
    spec, params, x, y = _case("brf", T=15, sub_seq_length=4)
    f = forward(spec, params, x)
    assert f.outputs.shape[0] == 11
    np.testing.assert_array_equal(f.outputs, f.readout[4:])
    spec2 = NetworkSpec("brf", 5, 7, 4, label_last=True)
    f2 = forward(spec2, params, x)
    np.testing.assert_array_equal(f2.outputs, f.readout[-1:])


def test_per_step_labels():
    spec, params, x, _ = _case("bhrf", T=10, sub_seq_length=2)
    rng = np.random.default_rng(3)
    y = rng.integers(0, 4, (10, 3))
    f = forward(spec, params, x)
    tgt = step_targets(y, f.recorded, 10)
    np.testing.assert_array_equal(tgt, y[2:])
    loss, _ = nll_loss(f.outputs, tgt)
    logp = f.outputs - np.log(np.exp(f.outputs).sum(-1, keepdims=True))
    manual = -sum(logp[t, b, y[t + 2, b]] for t in range(8) for b in range(3)) / 3
    assert loss == pytest.approx(manual, rel=1e-12)


@pytest.mark.parametrize(
    "mutate,match",
    [
        (lambda p, x: p.__setitem__("hidden.omega", p["hidden.omega"] * 0 + 150.0), "omega"),
        (lambda p, x: p.__setitem__("hidden.linear.weight", p["hidden.linear.weight"][:, :3]),
         "hidden.linear.weight"),
        (lambda p, x: p["out.tau_mem"].__setitem__(0, np.nan), "out.tau_mem"),
        (lambda p, x: x.__setitem__((0, 0, 0), np.nan), "input"),
        (lambda p, x: p.pop("out.linear.weight"), "out.linear.weight"),
    ],
)
def test_bad_inputs_raise_named_config_errors(mutate, match):
    spec, params, x, _ = _case("brf")
    mutate(params, x)
    with pytest.raises(ConfigError, match=match):
        forward(spec, params, x)


@pytest.mark.parametrize("dtype", [np.int32, np.uint32])
@pytest.mark.parametrize("row", [[2, 2], [3, 1]])
def test_events_with_a_repeated_or_unsorted_channel_in_a_row_are_refused(row, dtype):
    """A channel repeated in one step would be summed twice by the kernels but set once by
    to_dense; the canonical CSR (sorted, unique per row) of from_dense / from_samples is enforced.
    The same channels in adjacent rows (the boundary case) stay legal."""
    indptr = np.array([0, 1, 1 + len(row)], dtype=np.int64)  # T=2, B=1: rows [4] and `row`
    ok = SpikeEvents(np.array([0, 1, 2]), np.array([4, 1], np.int32), None, 2, 1, 5)
    assert ok.to_dense().sum() == 2
    with pytest.raises(ConfigError, match="increase strictly within each row"):
        SpikeEvents(indptr, np.array([4] + row, dtype=dtype), None, 2, 1, 5)


def test_wrong_input_width_is_refused():
    spec, params, x, _ = _case("rf")
    with pytest.raises(ConfigError, match="shape"):
        forward(spec, params, x[:, :, :3])


@pytest.mark.parametrize("kw", [dict(reset="soft", neuron="brf"), dict(neuron="izhikevich"),
                                dict(neuron="rf", n_hidden=0), dict(neuron="rf", dt=0.0),
                                dict(readout="sigmoid")])
def test_bad_specs(kw):
    args = dict(neuron="rf", n_in=2, n_hidden=3, n_out=2)
    args.update(kw)
    with pytest.raises(ConfigError):
        NetworkSpec(**args)


def test_float32_reference_close_to_float64():
    spec, params, x, y = _case("alif", T=20)
    f64 = forward(spec, params, x)
    p32 = {k: v.astype(np.float32) for k, v in params.items()}
    f32 = forward(spec, p32, x)
    assert f32.outputs.dtype == np.float32
    np.testing.assert_allclose(f32.outputs, f64.outputs, rtol=0, atol=1e-4)
