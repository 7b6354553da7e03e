"""The optimizer kernels (norm, clip, Adam/RAdam/RMSprop, the model's bounds: BRF |ω| projection)
against resonet.optim and resonet.neurons.model.project."""

from __future__ import annotations

import math

import numpy as np
import pytest

from resonet.network import NetworkSpec
from resonet.neurons.model import project
from resonet.optim import clip_grad_norm, global_norm, make_optimizer

SPEC = NetworkSpec("brf", 3, 5, 2)


def _random(seed, dtype, scale=1.0):
    rng = np.random.default_rng(seed)
    return {n: (rng.normal(0, scale, s)).astype(dtype) for n, s in SPEC.param_shapes().items()}


def _device_steps(name, dtype, grads_seq, params, clip, lr, bounds=False, loss=1.0):
    from numba import cuda

    from resonet.kernels.cuda.device import pack_params, param_layout, unpack_params
    from resonet.kernels.cuda.optim import bounds_layout, launch_step

    opt = make_optimizer(name, {k: v.copy() for k, v in params.items()}, lr)
    lay = param_layout(SPEC)
    n = sum(int(np.prod(s)) for _, _, s in lay)
    P = cuda.to_device(pack_params(SPEC, params, dtype))
    M = cuda.to_device(np.zeros(n, dtype))
    V = cuda.to_device(np.zeros(n, dtype))
    seg = cuda.to_device(np.array([o for _, o, _ in lay] + [n], np.int64))
    stats = cuda.to_device(np.array([loss, 0, 0, 0, 0, 0, 0, 0], np.float64))
    nout = cuda.to_device(np.zeros(2))
    istat = cuda.to_device(np.zeros(1 + len(lay), np.int64))
    scal = cuda.to_device(np.ones(1, dtype))
    if bounds:  # BRF: |ω| ≤ 0.999/δ_p
        bseg, blim = bounds_layout(SPEC, lay)
    else:  # an empty range
        bseg, blim = cuda.to_device(np.zeros((1, 2), np.int64)), cuda.to_device(np.zeros(1))
    clamps = 0
    for k, g in enumerate(grads_seq, start=1):
        G = cuda.to_device(pack_params(SPEC, g, dtype))
        launch_step(opt, k, lr, P, G, M, V, seg, stats, nout, istat, scal, clip, bseg, blim)
        clamps += int(istat.copy_to_host()[0])
    return (unpack_params(SPEC, P.copy_to_host()), unpack_params(SPEC, M.copy_to_host()),
            unpack_params(SPEC, V.copy_to_host()), nout.copy_to_host(), istat.copy_to_host(),
            clamps)


def _host_steps(name, dtype, grads_seq, params, clip, lr, bounds=False):
    p = {k: v.copy() for k, v in params.items()}
    opt = make_optimizer(name, p, lr)
    clamps = 0
    for g in grads_seq:
        g = {k: v.copy() for k, v in g.items()}
        if clip:
            clip_grad_norm(g, clip)
        opt.step(g)
        if bounds:
            clamps += project(SPEC.model, SPEC, p)
    return p, opt, clamps


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", ["adam", "radam", "rmsprop"])
@pytest.mark.parametrize("clip", [None, 0.5])
def test_optimizer_steps_match_host(name, dtype, clip):
    params = _random(0, dtype)
    n = 7 if name == "radam" else 3  # RAdam's rectification switches on at k = 6
    grads = [_random(10 + i, dtype, scale=0.3) for i in range(n)]
    lr = 0.05
    P, M, V, nout, _, _ = _device_steps(name, dtype, grads, params, clip, lr)
    p, opt, _ = _host_steps(name, dtype, grads, params, clip, lr)
    for k in p:
        # same association order and scalar roundings: equal up to the norm's summation order
        np.testing.assert_allclose(P[k], p[k], rtol=1e-14 if dtype == np.float64 else 1e-6,
                                   atol=0, err_msg=k)
        if "v" in opt.state:
            np.testing.assert_allclose(V[k], opt.state["v"][k], rtol=1e-14 if dtype == np.float64
                                       else 1e-6, err_msg=k)
        if "m" in opt.state:
            np.testing.assert_allclose(M[k], opt.state["m"][k], rtol=1e-13 if dtype == np.float64
                                       else 1e-5, atol=1e-30, err_msg=k)
    assert math.isclose(nout[0], global_norm(grads[-1]), rel_tol=1e-12)
    assert nout[1] == (1.0 if clip and global_norm(grads[-1]) > clip else 0.0)


def test_float64_steps_are_bit_identical_without_clipping():
    """Without the norm's summation order in play, the device update is the host's to the bit."""
    params = _random(1, np.float64)
    grads = [_random(20 + i, np.float64) for i in range(3)]
    for name in ("adam", "radam", "rmsprop"):
        P, _, _, _, _, _ = _device_steps(name, np.float64, grads, params, None, 0.1)
        p, _, _ = _host_steps(name, np.float64, grads, params, None, 0.1)
        for k in p:
            np.testing.assert_array_equal(P[k], p[k], err_msg=f"{name} {k}")


def test_omega_projection_counts_clamps():
    params = _random(2, np.float64)
    params["hidden.omega"][:] = [99.95, -99.8, 50.0, -99.99, 10.0]
    grads = [{k: np.where(np.arange(v.size).reshape(v.shape) % 2 == 0, -1.0, 1.0)
              for k, v in _random(3, np.float64).items()}]
    P, _, _, _, _, clamps = _device_steps("adam", np.float64, grads, params, None, 1.0, bounds=True)
    p, _, host_clamps = _host_steps("adam", np.float64, grads, params, None, 1.0, bounds=True)
    np.testing.assert_array_equal(P["hidden.omega"], p["hidden.omega"])
    assert clamps == host_clamps > 0


@pytest.mark.parametrize("what", ["grad", "loss"])
def test_nonfinite_skips_the_update(what):
    params = _random(4, np.float64)
    g = _random(5, np.float64)
    loss = 1.0
    if what == "grad":
        g["out.linear.weight"][0, 1] = np.nan
        g["hidden.b_offset"][2] = np.inf
    else:
        loss = float("nan")
    P, M, V, _, istat, _ = _device_steps("adam", np.float64, [g], params, 1.0, 0.1, loss=loss)
    for k in params:
        np.testing.assert_array_equal(P[k], params[k])
        assert not M[k].any() and not V[k].any()
    if what == "grad":
        names = [n for n in SPEC.param_shapes()]
        bad = {names[i] for i, c in enumerate(istat[1:]) if c}
        assert bad == {"out.linear.weight", "hidden.b_offset"}
