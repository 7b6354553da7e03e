"""The CUDA kernels of a model added from outside resonet (tests/toymodel, registered from a
temporary folder as tests/test_new_model.py does) run in the fused kernels and the device
session like every model of the registry."""

from __future__ import annotations

import numpy as np
import pytest

from resonet.backends import get_backend
from resonet.neurons import unregister
from resonet.optim import make_optimizer
from tests.test_new_model import NAME, install_toy_model, make_net


@pytest.fixture(scope="module")
def toy_model(tmp_path_factory):
    module = install_toy_model(tmp_path_factory.mktemp("toy_model"))
    yield module
    unregister(NAME)


def test_run_equals_the_reference(toy_model, cuda_backend):
    """float64: spikes identical, outputs, loss, states and every gradient within 1e-10."""
    spec, params, x, y = make_net(T=10, B=2, H=5)
    ref = get_backend("reference").run(spec, params, x, y, return_states=True, return_dx=True)
    res = cuda_backend.run(spec, params, x, y, return_states=True, return_dx=True)
    assert 0 < ref.num_spikes.sum()
    np.testing.assert_array_equal(res.states["z"], ref.states["z"])
    np.testing.assert_allclose(res.outputs, ref.outputs, rtol=1e-10, atol=1e-13)
    assert res.loss == pytest.approx(ref.loss, rel=1e-12)
    for name, g in ref.grads.items():
        np.testing.assert_allclose(res.grads[name], g, rtol=1e-10, atol=1e-13, err_msg=name)
    np.testing.assert_allclose(res.dx, ref.dx, rtol=1e-10, atol=1e-13)


def test_device_session_step_equals_the_host_session(toy_model, cuda_backend):
    """One training step on the device (derive and finish of the model's CUDA module) against
    the host session on the reference engine."""
    from resonet.data import DenseDataset

    spec, params, x, y = make_net(T=10, B=3, H=5)
    xs = np.ascontiguousarray(x.transpose(1, 0, 2)).astype(np.int8)  # (N, T, I) as stored
    ds = DenseDataset(x=xs, name="toy", n_in=spec.n_in, n_out=spec.n_out, T=x.shape[0], labels=y,
                      per_step_labels=False, synthetic=True, source="test")
    sessions = []
    for backend in (get_backend("reference"), cuda_backend):
        p = {k: v.copy() for k, v in params.items()}
        opt = make_optimizer("adam", p, 0.01)
        sess = backend.session(spec, p, opt, {"train": ds}, np.float64)
        st = sess.train_batch(np.arange(3))
        sessions.append((st, sess.pull()[0]))
    (st_h, p_h), (st_d, p_d) = sessions
    assert st_d["loss"] == pytest.approx(st_h["loss"], rel=1e-12)
    for name in p_h:
        np.testing.assert_allclose(p_d[name], p_h[name], rtol=1e-10, atol=1e-13, err_msg=name)
