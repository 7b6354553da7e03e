"""Pruned recurrent weights (``--prune-recurrent``, resonet.pruning) on the device session.

The ``mask`` kernel zeroes exactly the masked gradient entries (an assignment: NaN there becomes
0); a device session with masks equals the host session with the same masks (float64, RAdam
through its rectification switch, with clipping) and keeps the pruned weights and their m, v at
exactly 0; the Trainer's cuda branch resumes a pruned run bit-identically.
"""

from __future__ import annotations

import numpy as np
import pytest

from resonet.checkpoint import load_checkpoint
from resonet.network import NetworkSpec
from resonet.optim import make_optimizer
from resonet.pruning import apply_masks, recurrent_keep, weight_masks
from resonet.rundir import RunDir
from tests.cudasim.cases import make_params, rel
from tests.cudasim.test_cuda_session import C, I, host_train, splits
from tests.cudasim.test_cuda_train import settings as train_settings
from tests.cudasim.test_cuda_train import task_data, train

W = "hidden.linear.weight"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_mask_kernel_zeroes_exactly_the_pruned_gradients(dtype):
    from numba import cuda

    from resonet.kernels.cuda.device import param_layout
    from resonet.kernels.cuda.optim import flat_keep, launch_mask

    spec = NetworkSpec("brf", I, 6, C)
    layout = param_layout(spec)
    masks = weight_masks(spec, recurrent_keep(6, 0.5, 2))
    keep = flat_keep(spec, layout, masks)
    n = keep.size
    g = np.random.default_rng(0).normal(size=n).astype(dtype)
    g[keep == 0] = np.nan
    G = cuda.to_device(g)
    launch_mask(G, cuda.to_device(keep))
    out = G.copy_to_host()
    assert np.all(out[keep == 0] == 0)
    np.testing.assert_array_equal(out[keep == 1], g[keep == 1])
    off = {name: o for name, o, _ in layout}[W]
    assert keep[:off].all() and keep[off + masks[W].size:].all()  # only the weight matrix
    assert flat_keep(spec, layout, None) is None


@pytest.mark.parametrize("opt_name", ["radam", "rmsprop"])
def test_pruned_session_equals_host_session(cuda_backend, host_backend, opt_name):
    spec = NetworkSpec("alif", I, 7, C)
    params = make_params(spec, seed=4)
    masks = weight_masks(spec, recurrent_keep(7, 0.4, 1))
    keep = masks[W]
    apply_masks(params, masks)
    data = splits("events")
    lr = 0.05
    # 7 steps: RAdam's rectified update starts at step 6
    batches = [np.array([4, 0, 2]), np.array([1, 5, 3]), np.array([2, 4]), np.array([0, 1, 2]),
               np.array([3, 4, 5]), np.array([5, 0]), np.array([1, 3, 4])]
    hp, hopt = _host(host_backend, spec, params, opt_name, data, batches, lr, masks)
    dp = {k: v.copy() for k, v in params.items()}
    dopt = make_optimizer(opt_name, dp, lr)
    sess = cuda_backend.session(spec, dp, dopt, data, np.float64, clip=0.5, masks=masks)
    for idx in batches:
        assert sess.train_batch(idx, lr=lr)["nonfinite"] is None
    sess.pull()
    for k in hp:
        assert rel(dp[k], hp[k]) <= 1e-11, k
    assert np.all(dp[W][~keep] == 0) and not np.signbit(dp[W][~keep]).any()
    for s in dopt.state:
        assert np.all(dopt.state[s][W][~keep] == 0), s
    assert (dp[W][keep] != params[W][keep]).mean() > 0.9


def _host(host_backend, spec, params, opt_name, data, batches, lr, masks):
    from resonet.session import HostSession

    p = {k: v.copy() for k, v in params.items()}
    opt = make_optimizer(opt_name, p, lr)
    sess = HostSession(host_backend, spec, p, opt, data, np.float64, clip=0.5, sparse=True,
                       masks=masks)
    for idx in batches:
        sess.train_batch(idx, lr=lr)
    return p, opt


def test_unmasked_session_is_unchanged(cuda_backend, host_backend):
    """masks=None keeps the session exactly the unpruned one (host_train: the host path)."""
    spec = NetworkSpec("brf", I, 6, C)
    params = make_params(spec, seed=3)
    data = splits("events")
    batches = [np.array([4, 0, 2]), np.array([1, 5, 3])]
    hp, *_ = host_train(host_backend, spec, params, "adam", data, batches, np.float64, None, None,
                        0.05)
    dp = {k: v.copy() for k, v in params.items()}
    sess = cuda_backend.session(spec, dp, make_optimizer("adam", dp, 0.05), data,
                                       np.float64, masks=None)
    assert sess.keep is None
    for idx in batches:
        sess.train_batch(idx, lr=0.05)
    sess.pull()
    for k in hp:
        assert rel(dp[k], hp[k]) <= 1e-11, k


def test_device_pruned_run_equals_host_and_resumes(tmp_path):
    data = task_data("spikes")
    over = {"neuron": "alif", "optimizer": "radam", "prune_recurrent": 0.5}
    host = train(tmp_path, "host", train_settings("ecg", "cpu", **over), data)
    s = train_settings("ecg", "cuda", **over)
    full = train(tmp_path, "full", s, data)
    part = train(tmp_path, "part", s, data, stop_after=1)
    train(tmp_path, "part", s, data, resume=True)
    keep = np.load(RunDir(full).mask)["keep"]
    a, b, h = (load_checkpoint(d / "last.npz") for d in (full, part, host))
    for k in a.params:
        np.testing.assert_array_equal(a.params[k], b.params[k], err_msg=k)
        assert rel(a.params[k], h.params[k]) <= 1e-10, k
    for k in a.optim:
        np.testing.assert_array_equal(a.optim[k], b.optim[k], err_msg=k)
    assert np.all(a.params[W][:, 5:][~keep] == 0) and not keep.all()
