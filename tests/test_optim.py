"""Optimizers against sequences computed by hand from the published update rules."""

from __future__ import annotations

import math

import numpy as np
import pytest

from resonet.errors import CheckpointError, ConfigError
from resonet.optim import Adam, LinearLR, RAdam, RMSprop, clip_grad_norm, linear_decay


def quad_grad(p):  # f(p) = Σ (p − 3)², ∇f = 2(p − 3)
    return 2.0 * (p - 3.0)


def hand_adam(p, lr, steps, b1=0.9, b2=0.999, eps=1e-8):
    m = v = 0.0
    for k in range(1, steps + 1):
        g = 2.0 * (p - 3.0)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat, v_hat = m / (1 - b1**k), v / (1 - b2**k)
        p = p - lr * m_hat / (math.sqrt(v_hat) + eps)  # torch adds ε to √v̂ = √v/√(1−β₂ᵏ)
    return p


def hand_radam(p, lr, steps, b1=0.9, b2=0.999, eps=1e-8):
    m = v = 0.0
    rho_inf = 2 / (1 - b2) - 1
    for k in range(1, steps + 1):
        g = 2.0 * (p - 3.0)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat = m / (1 - b1**k)
        rho = rho_inf - 2 * k * b2**k / (1 - b2**k)
        if rho > 5:
            r = math.sqrt((rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho))
            p = p - lr * m_hat * r * math.sqrt(1 - b2**k) / (math.sqrt(v) + eps)
        else:
            p = p - lr * m_hat
    return p


def hand_rmsprop(p, lr, steps, alpha=0.99, eps=1e-8):
    v = 0.0
    for _ in range(steps):
        g = 2.0 * (p - 3.0)
        v = alpha * v + (1 - alpha) * g * g
        p = p - lr * g / (math.sqrt(v) + eps)
    return p


@pytest.mark.parametrize("cls,hand,lr", [(Adam, hand_adam, 0.1), (RAdam, hand_radam, 0.05),
                                         (RMSprop, hand_rmsprop, 0.01)])
@pytest.mark.parametrize("steps", [1, 4, 12])
def test_sequences_match_the_formulas(cls, hand, lr, steps):
    start = np.array([0.5, -2.0, 7.0, 3.0001])
    params = {"w": start.copy()}
    opt = cls(params, lr)
    for _ in range(steps):
        opt.step({"w": quad_grad(params["w"])})
    expect = [hand(float(p0), lr, steps) for p0 in start]
    np.testing.assert_allclose(params["w"], expect, rtol=1e-13, atol=1e-15)


def test_first_steps_known_values():
    # Adam: the first step moves every coordinate by lr (m̂/√v̂ = sign g), up to eps.
    p = {"w": np.array([1.0, 5.0])}
    Adam(p, 0.1).step({"w": np.array([-4.0, 0.5])})
    np.testing.assert_allclose(p["w"], [1.1, 4.9], rtol=1e-7)
    # RAdam: for k ≤ 5 (ρ_k ≤ 5 with β₂ = 0.999) it is SGD on the bias-corrected momentum.
    p = {"w": np.array([1.0])}
    RAdam(p, 0.1).step({"w": np.array([2.0])})
    assert p["w"][0] == pytest.approx(0.8, rel=1e-15)
    # RMSprop: v = 0.01 g², so the first step is 10·lr·sign(g).
    p = {"w": np.array([1.0])}
    RMSprop(p, 0.01).step({"w": np.array([3.0])})
    assert p["w"][0] == pytest.approx(0.9, rel=1e-7)


def test_state_roundtrip_continues_identically():
    rng = np.random.default_rng(0)
    grads = [{"w": rng.normal(size=5)} for _ in range(6)]
    a = {"w": np.ones(5)}
    oa = Adam(a, 0.01)
    for g in grads:
        oa.step(g)
    b = {"w": np.ones(5)}
    ob = Adam(b, 0.01)
    for g in grads[:3]:
        ob.step(g)
    saved = ob.state_dict()
    c = {"w": b["w"].copy()}
    oc = Adam(c, 0.5)
    oc.load_state_dict(saved)
    for g in grads[3:]:
        oc.step(g)
    np.testing.assert_array_equal(a["w"], c["w"])


def test_state_load_refuses_wrong_optimizer_or_shape():
    p = {"w": np.ones(3)}
    st = RMSprop(p).state_dict()
    with pytest.raises(CheckpointError, match="rmsprop"):
        Adam({"w": np.ones(3)}).load_state_dict(st)
    with pytest.raises(CheckpointError, match="shape"):
        RMSprop({"w": np.ones(4)}).load_state_dict(st)


def test_linear_decay_matches_the_official_lambda():
    # SHD: lr 0.075 over 20 epochs; epoch 15 (0-based) uses 0.075·0.25 = 0.01875 (spec §5.1).
    assert linear_decay(0.075, 15, 20) == pytest.approx(0.01875)
    opt = Adam({"w": np.zeros(1)}, 0.075)
    sched = LinearLR(opt, 20)
    lrs = [opt.lr]
    for _ in range(19):
        sched.step()
        lrs.append(opt.lr)
    assert lrs[0] == 0.075 and lrs[-1] == pytest.approx(0.075 / 20)
    assert np.all(np.diff(lrs) < 0)


def test_clip_grad_norm():
    g = {"a": np.array([3.0, 0.0]), "b": np.array([[4.0]])}
    total = clip_grad_norm(g, 1.0)
    assert total == 5.0
    np.testing.assert_allclose(g["a"], [3 / (5 + 1e-6), 0])
    g2 = {"a": np.array([0.3, 0.4])}
    clip_grad_norm(g2, 1.0)
    np.testing.assert_array_equal(g2["a"], [0.3, 0.4])  # below the bound: untouched


def test_bad_arguments():
    with pytest.raises(ConfigError):
        Adam({"w": np.zeros(2)}, lr=float("nan"))
    opt = Adam({"w": np.zeros(2)})
    with pytest.raises(ConfigError, match="gradient"):
        opt.step({})
