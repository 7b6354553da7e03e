"""The fused CPU kernels (resonet.kernels.cpu) against the NumPy float64 reference.

float64: spikes identical and every output, loss, state trace, gradient and input gradient
within 1e-12 of the reference, scale-relative (max |cpu − ref| / max |ref|; measured ≤ 4e-15,
the differences being summation order and the last ulp of exp). Every case is built with
resonet.gradcheck.build_case, which scales the input weights until the network spikes at >= 2 %,
so the spike, refractory and recurrent paths all carry signal.
"""

from __future__ import annotations

import numba
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from resonet.backends import ReferenceBackend, get_backend
from resonet.errors import ConfigError
from resonet.events import SpikeEvents
from resonet.gradcheck import build_case
from resonet.kernels.cpu import CpuBackend
from resonet.network import NetworkSpec, init_params
from resonet.neurons import NEURONS as REGISTRY
from resonet.verify import rel_err
from tests.conftest import RESONATORS

NEURONS = list(REGISTRY)
RTOL64 = 1e-12

CPU = CpuBackend()
REF = ReferenceBackend()


def compare(a, b, rtol=RTOL64, spikes=True, grad_atol=0.0):
    """Assert two Results agree (scale-relative rtol; gradients may instead differ by at most
    ``grad_atol``); returns the worst error."""
    worst = 0.0
    pairs = [("outputs", a.outputs, b.outputs), ("num_spikes", a.num_spikes, b.num_spikes)]
    if b.loss is not None:
        pairs.append(("loss", np.array(a.loss), np.array(b.loss)))
    for n, g in (b.grads or {}).items():
        pairs.append((f"grad {n}", a.grads[n], g))
    if b.dx is not None:
        pairs.append(("dx", a.dx, b.dx))
    for n, s in (b.states or {}).items():
        if n == "z":
            if spikes:
                assert np.array_equal(a.states["z"], s), f"{int((a.states['z'] != s).sum())} spikes differ"
            continue
        pairs.append((f"state {n}", a.states[n], s))
    for name, x, y in pairs:
        assert np.shape(x) == np.shape(y), name
        err = rel_err(x, y)
        if name.startswith("grad ") and err > rtol and np.size(x):
            diff = float(np.abs(np.asarray(x, np.float64) - y).max())
            assert diff <= grad_atol, f"{name}: rel err {err:.3e} > {rtol:g}, |diff| {diff:.3e}"
            continue
        assert err <= rtol, f"{name}: rel err {err:.3e} > {rtol:g}"
        worst = max(worst, err)
    return worst


def both(spec, params, x, y, **kw):
    kw.setdefault("return_states", True)
    kw.setdefault("return_dx", True)
    return CPU.run(spec, params, x, y, **kw), REF.run(spec, params, x, y, **kw)


def test_get_backend_gives_the_cpu_engine():
    b = get_backend("cpu")
    assert isinstance(b, CpuBackend) and b.name == "cpu"


# H = 13 is not a multiple of 8 (spike bits); T = 37 spans 5 checkpoint segments of 8 steps,
# the last one partial.
CASES = {
    "plain": {},
    "sub_seq": {"sub_seq": 9},
    "label_last": {"label_last": True},
    "per_step": {"per_step": True},
    "sub_seq_per_step": {"sub_seq": 4, "per_step": True},
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("neuron", NEURONS)
def test_float64_equals_reference(neuron, case):
    spec, params, x, y, rate = build_case(neuron, 37, 13, 3, n_in=5, n_out=3, batch=3, **CASES[case])
    assert rate >= 0.02
    a, b = both(spec, params, x, y)
    compare(a, b)
    assert a.states["z"].sum() > 0


@pytest.mark.parametrize("reset", ["soft", "hard"])
def test_rf_resets_equal_reference(reset):
    spec, params, x, y, rate = build_case("rf", 37, 13, 5, n_in=5, n_out=3, batch=3, reset=reset)
    assert rate >= 0.02
    a, b = both(spec, params, x, y)
    compare(a, b)


@pytest.mark.parametrize("k", [1, 5, 8, 36, 100])
@pytest.mark.parametrize("neuron", NEURONS)
def test_truncation_equals_reference(neuron, k):
    spec, params, x, y, _ = build_case(neuron, 37, 13, 7, n_in=5, n_out=3, batch=3)
    a, b = both(spec, params, x, y, truncation=k)
    compare(a, b)
    if k < 36:  # truncation changes the gradient, so the test would catch an ignored argument
        full = CPU.run(spec, params, x, y)
        assert rel_err(full.grads["hidden.linear.weight"], a.grads["hidden.linear.weight"]) > 1e-6


@pytest.mark.parametrize("T", [1, 2, 7, 8, 9, 16, 64, 65])
@pytest.mark.parametrize("neuron", ["brf", "alif"])
def test_segment_boundaries(neuron, T):
    """Sequence lengths around the checkpoint interval (K = 8 for these T)."""
    spec, params, x, y, _ = build_case(neuron, max(T, 20), 9, 11, n_in=3, n_out=2, batch=2)
    x = x[:T]
    a, b = both(spec, params, x, y)
    compare(a, b)


@pytest.mark.parametrize("B", [1, 2, 5, 9])
def test_batch_sizes_and_chunks(B):
    """Batches smaller, equal and not divisible by the number of threads (per-thread chunks)."""
    spec, params, x, y, _ = build_case("brf", 30, 12, 2, n_in=4, n_out=3, batch=B)
    a, b = both(spec, params, x, y)
    compare(a, b)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("neuron", NEURONS)
def test_dense_and_events_give_identical_results(neuron, dtype):
    spec, params, x, y, _ = build_case(neuron, 40, 10, 4, n_in=6, n_out=3, batch=3)
    dense = CPU.run(spec, params, x, y, dtype=dtype, return_dx=True)
    for ev in (SpikeEvents.from_dense(x), x.astype(bool), x.astype(np.float32)):
        sparse = CPU.run(spec, params, ev, y, dtype=dtype, return_dx=True)
        assert np.array_equal(sparse.outputs, dense.outputs)
        assert sparse.loss == dense.loss
        assert np.array_equal(sparse.dx, dense.dx)
        for n in dense.grads:
            assert np.array_equal(sparse.grads[n], dense.grads[n]), n


def test_real_valued_input_dense_and_events():
    """Non-binary input (S-MNIST grey values): event values are used, dense equals events."""
    spec, params, x, y, _ = build_case("brf", 40, 10, 4, n_in=2, n_out=3, batch=3)
    rng = np.random.default_rng(0)
    xv = x * rng.random(x.shape)
    ev = SpikeEvents.from_dense(xv)
    assert ev.values is not None
    a, b = both(spec, params, xv, y)
    compare(a, b)
    c = CPU.run(spec, params, ev, y, return_dx=True)
    assert np.array_equal(c.outputs, a.outputs)
    assert np.array_equal(c.grads["hidden.linear.weight"], a.grads["hidden.linear.weight"])


def test_without_labels_and_without_grads():
    spec, params, x, y, _ = build_case("bhrf", 30, 10, 1, n_in=4, n_out=3, batch=2)
    a = CPU.run(spec, params, x)
    assert a.loss is None and a.grads is None and a.states is None and a.dx is None
    b = CPU.run(spec, params, x, y, grads=False)
    assert b.grads is None and b.loss is not None
    r = REF.run(spec, params, x, y, grads=False)
    compare(b, r)
    assert np.array_equal(a.outputs, b.outputs)


def test_repeatable_bit_for_bit():
    spec, params, x, y, _ = build_case("brf", 50, 16, 8, n_in=5, n_out=4, batch=6)
    a = CPU.run(spec, params, x, y)
    b = CPU.run(spec, params, x, y)
    assert a.loss == b.loss
    for n in a.grads:
        assert np.array_equal(a.grads[n], b.grads[n])


def test_thread_count_changes_only_rounding():
    spec, params, x, y, _ = build_case("alif", 50, 16, 8, n_in=5, n_out=4, batch=6)
    n = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = CPU.run(spec, params, x, y, return_states=True)
    finally:
        numba.set_num_threads(n)
    many = CPU.run(spec, params, x, y, return_states=True)
    compare(one, many, rtol=1e-13)


def test_params_are_not_modified():
    spec, params, x, y, _ = build_case("brf", 20, 8, 0, n_in=4, n_out=3, batch=2)
    before = {k: v.copy() for k, v in params.items()}
    CPU.run(spec, params, x, y, dtype=np.float32)
    CPU.run(spec, params, x, y)
    for k in params:
        assert np.array_equal(params[k], before[k])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    neuron=st.sampled_from(NEURONS),
    H=st.integers(1, 20),
    I=st.integers(1, 6),
    C=st.integers(2, 5),
    T=st.integers(1, 30),
    B=st.integers(1, 4),
    sub=st.integers(0, 3),
    label_last=st.booleans(),
    per_step=st.booleans(),
    trunc=st.sampled_from([None, 1, 3, 7]),
    scale=st.sampled_from([1.0, 30.0, 300.0]),
    seed=st.integers(0, 2**16),
)
def test_random_networks_equal_reference(neuron, H, I, C, T, B, sub, label_last, per_step, trunc,
                                         scale, seed):
    sub = min(sub, T - 1)
    spec = NetworkSpec(neuron, I, H, C, sub_seq_length=sub, label_last=label_last)
    rng = np.random.default_rng(seed)
    init = {"omega": (5.0, 10.0), "b_offset": (0.1, 1.0)} if neuron in ("brf", "rf") else {}
    params = init_params(spec, rng, init)
    params["hidden.linear.weight"][:, :I] *= scale if neuron in RESONATORS else scale / 100 + 1
    x = (rng.random((T, B, I)) < 0.3).astype(np.float64)
    y = rng.integers(0, C, (T, B) if per_step else B)
    a, b = both(spec, params, x, y, truncation=trunc)
    # A gradient tensor that nearly cancels (H = 1, label-last, one truncated chunk: 1e-10 where
    # the others are ~1e-1) is a difference of terms as large as the network's other gradients,
    # summed in another order by each engine; a difference within one rounding (ε) of the largest
    # gradient is that order, not an error (a wrong equation differs by far more).
    big = max(float(np.abs(g).max()) for g in b.grads.values())
    compare(a, b, grad_atol=np.finfo(np.float64).eps * big)


# ------------------------------------------------------------------------------- errors
def _spec_params(neuron="brf", seed=0):
    spec = NetworkSpec(neuron, 3, 4, 2)
    params = init_params(spec, np.random.default_rng(seed))
    x = (np.random.default_rng(seed).random((6, 2, 3)) < 0.5).astype(np.float64)
    return spec, params, x, np.array([0, 1])


def _same_error(spec, params, x, y, **kw):
    with pytest.raises(ConfigError) as ref_err:
        REF.run(spec, params, x, y, **kw)
    with pytest.raises(ConfigError) as cpu_err:
        CPU.run(spec, params, x, y, **kw)
    assert str(cpu_err.value) == str(ref_err.value)


def test_omega_beyond_1_over_dt_refused_like_reference():
    spec, params, x, y = _spec_params("brf")
    params["hidden.omega"][1] = -100.0  # |ω|·p_dt = 1
    _same_error(spec, params, x, y)


@pytest.mark.parametrize("name", ["hidden.linear.weight", "hidden.b_offset", "out.tau_mem"])
def test_non_finite_parameter_refused_like_reference(name):
    spec, params, x, y = _spec_params("brf")
    params[name].reshape(-1)[0] = np.nan
    _same_error(spec, params, x, y)


def test_missing_and_misshaped_parameters_refused_like_reference():
    spec, params, x, y = _spec_params("rf")
    p = dict(params)
    del p["hidden.omega"]
    _same_error(spec, p, x, y)
    p = dict(params)
    p["out.linear.weight"] = np.zeros((3, 3))
    _same_error(spec, p, x, y)


@pytest.mark.parametrize("name", ["hidden.tau_mem", "hidden.tau_adp", "out.tau_mem"])
def test_zero_time_constant_refused_like_reference(name):
    spec, params, x, y = _spec_params("alif")
    params[name][0] = 0.0
    _same_error(spec, params, x, y)


def test_bad_labels_and_inputs_refused_like_reference():
    spec, params, x, y = _spec_params("bhrf")
    _same_error(spec, params, x, np.array([0, 2]))  # C = 2
    _same_error(spec, params, x, np.array([-1, 0]))
    _same_error(spec, params, x, np.zeros((5, 2), dtype=int))  # per-step labels of wrong T
    _same_error(spec, params, x[:, :, :2], y)  # I = 2, spec says 3
    bad = x.copy()
    bad[2, 1, 0] = np.inf
    _same_error(spec, params, bad, y)
    ev = SpikeEvents.from_dense(x * 0.5)
    ev = SpikeEvents(ev.indptr, ev.indices, np.full_like(ev.values, np.nan), ev.T, ev.B, ev.I)
    _same_error(spec, params, ev, y)
    _same_error(spec, params, x, y, truncation=0)
    _same_error(NetworkSpec("bhrf", 3, 4, 2, sub_seq_length=6), params, x, y)


def test_cpu_only_refusals():
    spec, params, x, y = _spec_params("brf")
    with pytest.raises(ConfigError, match="heaviside"):
        CPU.run(spec, params, x, y, spike="smooth")
    with pytest.raises(ConfigError, match="float32 or float64"):
        CPU.run(spec, params, x, y, dtype=np.float16)
