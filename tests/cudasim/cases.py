"""Tiny random networks and batches for the simulator tests (shared by the test modules)."""

from __future__ import annotations

import numpy as np

from resonet.events import SpikeEvents
from resonet.network import NetworkSpec, init_params

INIT = {
    "brf": {"omega": (5.0, 30.0), "b_offset": (0.1, 1.0)},
    "bhrf": {"omega": (3.0, 10.0), "b_offset": (0.1, 1.0)},
    "rf": {"omega": (5.0, 30.0), "b_offset": (0.1, 1.0)},
    "alif": {"tau_mem": (20.0, 5.0), "tau_adp": (150.0, 10.0)},
    "lif": {"tau_mem": (20.0, 5.0)},
    "if": {},
}
# input-weight scale that makes these tiny nets spike at a few to tens of percent
SCALE = {"brf": 120.0, "bhrf": 150.0, "rf": 60.0, "alif": 6.0, "lif": 10.0, "if": 1.5}


def make_params(spec: NetworkSpec, seed: int = 0, dtype=np.float64) -> dict:
    rng = np.random.default_rng(seed)
    p = init_params(spec, rng, dict(INIT[spec.neuron]))
    p["hidden.linear.weight"][:, : spec.n_in] *= SCALE[spec.neuron]
    p["hidden.linear.weight"][:, spec.n_in:] *= 3.0
    # negative raw parameters exercise the chain rule through abs()
    for name in spec.hidden_param_names:
        p[name][::3] *= -1
    p["out.tau_mem"][::2] *= -1
    return {k: v.astype(dtype) for k, v in p.items()}


def make_input(T: int, B: int, I: int, seed: int = 1, density: float = 0.3,
               values: bool = False, sparse: bool = True):
    rng = np.random.default_rng(seed)
    x = (rng.random((T, B, I)) < density).astype(np.float64)
    if values:
        x *= rng.uniform(0.2, 1.5, x.shape)
    return SpikeEvents.from_dense(x) if sparse else x


def make_case(neuron="brf", I=5, H=10, C=3, T=12, B=3, seed=0, sparse=True, values=False,
              per_step=False, **spec_kw):
    spec = NetworkSpec(neuron, I, H, C, **spec_kw)
    params = make_params(spec, seed)
    x = make_input(T, B, I, seed + 1, values=values, sparse=sparse)
    rng = np.random.default_rng(seed + 2)
    y = rng.integers(0, C, (T, B)) if per_step else rng.integers(0, C, B)
    return spec, params, x, y


def rel(a, b) -> float:
    """max |a − b| / max |b| (0/0 = 0), as resonet.verify measures it."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    assert a.shape == b.shape, (a.shape, b.shape)
    scale = np.abs(b).max() if b.size else 0.0
    num = np.abs(a - b).max() if a.size else 0.0
    if scale == 0.0:
        return 0.0 if num == 0.0 else float("inf")
    return float(num / scale)


def assert_same_result(res, ref, tol=1e-12, grads=True, states=True, dx=False, spikes=True):
    assert rel(res.outputs, ref.outputs) <= tol
    assert np.array_equal(res.num_spikes, ref.num_spikes)
    if ref.loss is not None:
        assert abs(res.loss - ref.loss) <= tol * max(abs(ref.loss), 1.0)
    if grads and ref.grads is not None:
        assert set(res.grads) == set(ref.grads)
        for k in ref.grads:
            assert res.grads[k].dtype == ref.grads[k].dtype, k
            assert rel(res.grads[k], ref.grads[k]) <= tol, (k, rel(res.grads[k], ref.grads[k]))
    if states and ref.states is not None:
        for k in ref.states:
            if k == "z":
                if spikes:
                    assert np.array_equal(res.states["z"], ref.states["z"])
            else:
                assert rel(res.states[k], ref.states[k]) <= tol, k
    if dx:
        assert rel(res.dx, ref.dx) <= tol
