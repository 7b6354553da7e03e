"""The device-resident training session against the host session (resonet.session), the two
paths of resonet.train's Trainer behind one interface.

Host path: ``dataset.batch`` → ``backend.run`` (CPU kernels) → ``clip_grad_norm`` →
``Optimizer.step`` → projection onto the model's bounds; evaluation = resonet.evaluation. The
device session must give the same statistics and, in float64, the same parameters and optimizer
state to rounding.
"""

from __future__ import annotations

import numpy as np
import pytest

from resonet.data import DenseDataset, EventDataset
from resonet.network import NetworkSpec
from resonet.optim import make_optimizer
from resonet.session import HostSession
from tests.cudasim.cases import make_params, rel

T, I, C = 9, 5, 3


def event_data(N, seed, T=T):
    rng = np.random.default_rng(seed)
    offsets, steps, chans = [0], [], []
    for _ in range(N):
        x = rng.random((T, I)) < 0.3
        s, c = np.nonzero(x)  # sorted by (step, channel), as the SHD loader stores them
        steps.append(s)
        chans.append(c)
        offsets.append(offsets[-1] + s.size)
    return EventDataset(offsets=np.array(offsets), steps=np.concatenate(steps).astype(np.int16),
                        chans=np.concatenate(chans).astype(np.int16), name=f"ev{seed}", n_in=I,
                        n_out=C, T=T, labels=rng.integers(0, C, N), per_step_labels=False,
                        synthetic=True, source="test")


def dense_data(N, seed, kind):
    rng = np.random.default_rng(seed)
    if kind == "pixels":  # uint8 / 255 with a fixed time permutation (PS-MNIST-like)
        x = np.where(rng.random((N, T, I)) < 0.4, rng.integers(1, 256, (N, T, I)), 0).astype(np.uint8)
        return DenseDataset(x=x, divisor=255.0, time_perm=rng.permutation(T), name=f"px{seed}",
                            n_in=I, n_out=C, T=T, labels=rng.integers(0, C, N),
                            per_step_labels=False, synthetic=True, source="test")
    # int8 spikes with per-step labels, −1 = unlabelled (ECG-like)
    x = (rng.random((N, T, I)) < 0.3).astype(np.int8)
    y = rng.integers(-1, C, (N, T)).astype(np.int8)
    return DenseDataset(x=x, name=f"sp{seed}", n_in=I, n_out=C, T=T, labels=y,
                        per_step_labels=True, synthetic=True, source="test")


def splits(kind):
    full = event_data(10, 1) if kind == "events" else dense_data(10, 1, kind)
    test = event_data(5, 2) if kind == "events" else dense_data(5, 2, kind)
    return {"train": full.subset(np.array([0, 2, 3, 5, 7, 9])),
            "val": full.subset(np.array([1, 4, 6, 8])), "test": test}


def host_train(host_backend, spec, params, opt_name, data, batches, dtype, clip, trunc, lr):
    """The host session, step by step; returns (params, optimizer, stats list, session)."""
    p = {k: v.copy() for k, v in params.items()}
    opt = make_optimizer(opt_name, p, lr)
    sess = HostSession(host_backend, spec, p, opt, data, dtype, clip=clip, truncation=trunc,
                       sparse=isinstance(data["train"], EventDataset))
    out = [sess.train_batch(idx, lr=lr) for idx in batches]
    return p, opt, out, sess


CASES = [
    # neuron, spec kwargs, optimizer, data kind, clip, truncation
    ("brf", {}, "adam", "events", None, None),
    ("brf", {"ablate": ("boundary", "refractory")}, "adam", "events", None, None),
    ("alif", {"label_last": True}, "radam", "pixels", 0.5, None),
    ("rf", {"reset": "soft"}, "rmsprop", "spikes", None, 4),
    ("lif", {"reset": "mod"}, "adam", "events", None, 3),
    ("bhrf", {"sub_seq_length": 3, "readout": "li_sigmoid"}, "adam", "events", 0.05, None),
]


@pytest.mark.parametrize("neuron,kw,opt_name,kind,clip,trunc", CASES,
                         ids=[f"{c[0]}-{c[2]}-{c[3]}{'-ablate' if 'ablate' in c[1] else ''}"
                              for c in CASES])
def test_session_equals_host_path(cuda_backend, host_backend, neuron, kw, opt_name, kind, clip,
                                  trunc):
    spec = NetworkSpec(neuron, I, 7, C, **kw)
    params = make_params(spec, seed=3)
    if spec.readout == "li_sigmoid":  # τ_o near 0 as Table 3 draws it: α = σ(τ_o) ≈ 0.5
        params["out.tau_mem"] = np.linspace(-0.2, 0.3, C)
    data = splits(kind)
    lr = 0.05
    batches = [np.array([4, 0, 2]), np.array([1, 5, 3]), np.array([2, 4])]  # a partial last batch
    hp, hopt, hstats, hsess = host_train(host_backend, spec, params, opt_name, data, batches,
                                         np.float64, clip, trunc, lr)
    dparams = {k: v.copy() for k, v in params.items()}
    dopt = make_optimizer(opt_name, dparams, lr)
    sess = cuda_backend.session(spec, dparams, dopt, data, np.float64, clip=clip,
                                       truncation=trunc)
    for idx, hs in zip(batches, hstats):
        st = sess.train_batch(idx, lr=lr)
        assert st["nonfinite"] is None
        assert abs(st["loss"] - hs["loss"]) <= 1e-12 * abs(hs["loss"])
        for key in ("correct", "total", "spikes", "clamps"):
            assert st[key] == hs[key], key
        assert st["n"] == len(idx)
    params_after, state = sess.pull()
    assert params_after is dparams and dopt.k == hopt.k == len(batches)
    for k in hp:
        assert rel(dparams[k], hp[k]) <= 1e-11, k
        for s in hopt.state:
            assert rel(dopt.state[s][k], hopt.state[s][k]) <= 1e-11, (s, k)
    assert int(state["optim/k"]) == len(batches)
    # evaluation = the host session's (resonet.evaluation) with the same parameters
    for split in ("val", "test"):
        ours = sess.evaluate(split, 3)
        ref = hsess.evaluate(split, 3)
        assert set(ours) == set(ref)
        for key in ref:
            assert abs(ours[key] - ref[key]) <= 1e-10 * max(1.0, abs(ref[key])), (split, key)


def test_float32_session_close_to_host(cuda_backend, host_backend):
    spec = NetworkSpec("brf", I, 6, C)
    params = make_params(spec, seed=5, dtype=np.float32)
    data = splits("events")
    batches = [np.array([0, 1, 2]), np.array([3, 4, 5])]
    hp, _, hstats, _ = host_train(host_backend, spec, params, "adam", data, batches, np.float32,
                               None, None, 0.01)
    dp = {k: v.copy() for k, v in params.items()}
    sess = cuda_backend.session(spec, dp, make_optimizer("adam", dp, 0.01), data,
                                       np.float32)
    for idx, hs in zip(batches, hstats):
        st = sess.train_batch(idx)
        assert abs(st["loss"] - hs["loss"]) <= 1e-5 * abs(hs["loss"])
        assert st["spikes"] == hs["spikes"]
    sess.pull()
    for k in hp:
        assert dp[k].dtype == np.float32
        np.testing.assert_allclose(dp[k], hp[k], rtol=1e-4, atol=1e-6, err_msg=k)


def test_resume_is_bit_identical(cuda_backend):
    """4 steps in one session == 2 steps, pull (checkpoint), a new session from it, 2 steps."""
    spec = NetworkSpec("brf", I, 6, C)
    params = make_params(spec, seed=7)
    data = splits("events")
    batches = [np.array([0, 1, 2]), np.array([3, 4, 5]), np.array([5, 0, 1]), np.array([2, 3])]

    def fresh(p, state=None):
        q = {k: v.copy() for k, v in p.items()}
        opt = make_optimizer("adam", q, 0.05)
        if state is not None:
            opt.load_state_dict(state)
        return q, opt, cuda_backend.session(spec, q, opt, data, np.float64, clip=1.0)

    _, _, a = fresh(params)
    for idx in batches:
        a.train_batch(idx)
    pa, sa = a.pull()
    _, _, b = fresh(params)
    for idx in batches[:2]:
        b.train_batch(idx)
    pb, sb = b.pull()
    _, _, c = fresh(pb, {k: np.copy(v) for k, v in sb.items()})
    for idx in batches[2:]:
        c.train_batch(idx)
    pc, sc = c.pull()
    for k in pa:
        np.testing.assert_array_equal(pa[k], pc[k], err_msg=k)
    for k in sa:
        np.testing.assert_array_equal(sa[k], sc[k], err_msg=k)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the simulator's NumPy scalars overflow
def test_nonfinite_loss_stops_before_the_update(cuda_backend):
    spec = NetworkSpec("rf", I, 6, C)
    params = make_params(spec, seed=9)
    params["out.linear.weight"][:] = 1e308  # readout overflows: inf − inf in the softmax
    data = splits("events")
    dp = {k: v.copy() for k, v in params.items()}
    opt = make_optimizer("adam", dp, 0.1)
    sess = cuda_backend.session(spec, dp, opt, data, np.float64)
    st = sess.train_batch(np.array([0, 1, 2]))
    assert st["nonfinite"] is not None
    sess.pull()
    assert opt.k == 0
    for k in params:
        np.testing.assert_array_equal(dp[k], params[k])


def test_omega_projection_in_session(cuda_backend, host_backend):
    spec = NetworkSpec("brf", I, 6, C)
    params = make_params(spec, seed=11)
    params["hidden.omega"][:3] = [99.9, -99.85, 99.89]
    data = splits("events")
    batches = [np.array([0, 1, 2])]
    hp, _, hstats, _ = host_train(host_backend, spec, params, "adam", data, batches, np.float64,
                               None, None, 1.0)
    dp = {k: v.copy() for k, v in params.items()}
    sess = cuda_backend.session(spec, dp, make_optimizer("adam", dp, 1.0), data,
                                       np.float64)
    st = sess.train_batch(batches[0])
    sess.pull()
    assert st["clamps"] == hstats[0]["clamps"] > 0
    np.testing.assert_allclose(dp["hidden.omega"], hp["hidden.omega"], rtol=1e-12)
