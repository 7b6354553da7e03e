"""analysis.divergence: p(ω), the exact stable intervals, and the checks of parameters."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.divergence import INIT_RANGES, check_params, check_ranges, fig9_curves
from resonet.network import NetworkSpec, init_params
from resonet.neurons import _resonator, bhrf, brf, rf
from resonet.neurons.model import zero_state
from resonet.surrogate import heaviside

# The closed forms, declared by the models' own modules (the explicit-Euler step of BRF and RF in
# resonet.neurons._resonator).
brf_interval = _resonator.euler_band
brf_radius = _resonator.euler_radius
brf_radius_c = brf.radius_c
brf_c_interval = brf.offset_band
bhrf_c_interval = bhrf.offset_band
bhrf_eigenvalues = bhrf.eigenvalues
bhrf_interval = bhrf.interval
bhrf_radius = bhrf.radius
bhrf_transition = bhrf.transition
rf_interval = rf.offset_band
rf_radius = rf.radius


def brf_boundary(omega, dt=0.01):
    """p(ω): the upper end of the stable band, NaN where δω > 1."""
    return _resonator.euler_band(omega, dt)[1]

SETTINGS = settings(deadline=None, max_examples=60)


def no_spike(s):
    return np.zeros_like(s)


def test_p_values_of_the_official_code():
    """Independent values (docs/official-code.md §12.8)."""
    w = np.array([5.0, 10.0, 50.0, 85.0, 100.0])
    expect = [-0.12508, -0.50126, -13.39746, -47.32, -100.0]
    np.testing.assert_allclose(brf_boundary(w[:3], 0.01), expect[:3], atol=5e-6)  # 5 decimals given
    np.testing.assert_allclose(brf_boundary(w[3:], 0.01), expect[3:], atol=5e-3)  # 2 decimals given
    np.testing.assert_array_equal(brf_boundary(w, 0.01), brf.boundary(w, 0.01))  # the engine's p


@SETTINGS
@given(dt=st.sampled_from([0.001, 0.01, 0.05]), x=st.floats(1e-2, 0.1))
def test_p_small_omega_expansion(dt, x):
    """p(ω) = −δω²/2 − δ³ω⁴/8 − …: the leading terms bracket the exact value for δω ≤ 0.1
    (δω ≥ 0.01 keeps the cancellation error in p far below the δ³ω⁴/8 term)."""
    w = x / dt
    p = float(brf_boundary(w, dt))
    lead = -dt * w * w / 2
    nxt = dt ** 3 * w ** 4 / 8
    assert lead - 1.1 * nxt <= p <= lead - 0.99 * nxt + 1e-15 * abs(lead)


def test_beyond_one_over_dt_there_is_no_boundary():
    assert np.isnan(brf_boundary(100.0001, 0.01))
    lo, hi = brf_interval(100.0, 0.01)
    assert lo == hi == pytest.approx(-100.0)  # the interval collapses to a point at δω = 1
    # there every c > 0 gives ρ = √(1 + δ²c²) > 1
    for c in (1e-3, 1.0, 50.0):
        assert brf_radius(100.0, -100.0 - c, 0.01) == pytest.approx(np.sqrt(1 + (0.01 * c) ** 2))
        assert brf_radius(100.0, -100.0 - c, 0.01) > 1


@SETTINGS
@given(dt=st.sampled_from([0.001, 0.01, 0.05]), frac=st.floats(0.0, 1.0), u=st.floats(0.0, 1.5))
def test_radius_squared_formula(dt, frac, u):
    """ρ² = (1 + δb)² + (δω)² equals 1 − δc(2r − δc) with b = p(ω) − c (two derivations agree)."""
    w = frac / dt
    r = np.sqrt(1 - (dt * w) ** 2)
    c = u * 2 * r / dt
    b = brf_boundary(w, dt) - c
    assert float(brf_radius(w, b, dt)) == pytest.approx(float(brf_radius_c(w, c, dt)), abs=1e-12)


@pytest.mark.parametrize("dt, p_dt", [(0.01, 0.01), (0.005, 0.01), (0.02, 0.01)])
def test_c_interval_against_the_engine(dt, p_dt):
    """The engine's free BRF step (cell dt, p(ω) with p_dt) decays inside [c_lo, c_hi] and grows
    just outside: the interval accounts for p_dt ≠ dt (with dt > p_dt even c = 0 diverges)."""
    w = np.array([20.0, 45.0])
    spec = NetworkSpec("brf", 1, 2, 1, dt=dt, p_dt=p_dt)
    c_lo, c_hi = brf_c_interval(w, dt, p_dt)
    if dt > p_dt:
        assert np.all(c_lo > 0)  # b' = 0 is already unstable
    for c, grows in ((c_lo + 1e-2, False), (c_hi - 1e-2, False), (c_lo - 1e-2, True), (c_hi + 1e-2, True)):
        # b = p − β − q with q = 0 (it stays 0 without spikes); β = c may be negative here
        consts = brf.derive({"omega": w, "b_offset": np.ones(2)}, spec)._replace(beta=c)
        state = (np.zeros((1, 2)), np.full((1, 2), 0.3), np.zeros((1, 2)), np.zeros((1, 2)))
        n0 = np.hypot(state[1], state[2])
        for _ in range(200):
            state = brf.step_forward(consts, state, np.zeros((1, 2)), no_spike)
        ratio = np.hypot(state[1], state[2]) / n0
        assert np.all(ratio > 1) if grows else np.all(ratio < 1), (c, ratio)


@SETTINGS
@given(w=st.floats(0.1, 199.0), b=st.floats(-150.0, 250.0), dt=st.sampled_from([0.005, 0.01]),
       scheme=st.sampled_from(["code", "paper"]))
def test_bhrf_closed_form_eigenvalues(w, b, dt, scheme):
    ev = np.sort_complex(bhrf_eigenvalues(w, b, dt, scheme))
    A = bhrf_transition(w, b, dt, scheme)
    num = np.sort_complex(np.linalg.eigvals(A))
    # trace and determinant are well conditioned; the eigenvalues themselves are not near a double
    # root (a perturbation ε moves them by ~√ε), so compare those with a √eps-sized tolerance.
    assert np.sum(ev).real == pytest.approx(np.trace(A), rel=1e-12, abs=1e-12)
    assert np.prod(ev).real == pytest.approx(np.linalg.det(A), rel=1e-9, abs=1e-12)
    np.testing.assert_allclose(ev, num, atol=1e-9 + 1e-7 * max(1.0, np.abs(A).max()))
    if scheme == "code":
        assert np.prod(ev).real == pytest.approx(1 - 2 * dt * b, abs=1e-12)  # det = 1 − 2δb


def test_bhrf_transition_is_the_engines_step():
    """The columns of A are the engine's BHRF step applied to unit states (no input, no spike)."""
    w, beta, q, dt = np.array([7.0, 40.0]), np.array([0.3, 2.0]), np.array([0.5, 0.0]), 0.01
    spec = NetworkSpec("bhrf", 1, 2, 1, dt=dt)
    c = bhrf.derive({"omega": w, "b_offset": beta}, spec)
    b = bhrf.P_COEF * w * w + beta + q
    for k in range(2):
        A = bhrf_transition(w[k], b[k], dt)
        for j, (u0, v0) in enumerate(((1.0, 0.0), (0.0, 1.0))):
            st_ = (np.zeros((1, 2)), np.full((1, 2), u0), np.full((1, 2), v0), q[None, :])
            _, u1, v1, _ = bhrf.step_forward(c, st_, np.zeros((1, 2)), no_spike)
            np.testing.assert_allclose([u1[0, k], v1[0, k]], A[:, j], rtol=1e-14, atol=1e-15)


@SETTINGS
@given(frac=st.floats(0.01, 0.99), pos=st.floats(-0.5, 1.5), dt=st.sampled_from([0.005, 0.01, 0.05]))
def test_bhrf_jury_region(frac, pos, dt):
    """ρ < 1 strictly inside (0, (4 − δ²ω²)/(4δ)), > 1 outside (tested with a margin)."""
    w = frac * 2 / dt  # δω < 2, so the interval is non-empty
    lo, hi = bhrf_interval(w, dt)
    b = lo + pos * (hi - lo)
    T = bhrf_transition(w, b, dt)
    radius_num = max(abs(np.linalg.eigvals(T)))
    # Near critical damping T has a (nearly) double eigenvalue, whose condition is √ε, not ε: a
    # rounding δ ≈ ε‖T‖ of an entry moves it by ≈ √(δ‖T‖) (found by hypothesis: frac 0.2, pos
    # −0.5, δ 0.005 is off by 1.07e-8 at ρ = 1.4), hence 4√ε‖T‖ rather than a few ε.
    tol = 4 * np.sqrt(np.finfo(float).eps) * np.linalg.norm(T, 2)
    assert radius_num == pytest.approx(float(bhrf_radius(w, b, dt)), abs=tol)
    if 0.01 < pos < 0.99:
        assert radius_num < 1
    elif pos < -0.01 or pos > 1.01:
        assert radius_num > 1


def test_coded_bhrf_is_damped_and_overshoots_for_large_c():
    """Every c ≥ 0 below c_hi decays (no sustained oscillation at the code's p(ω) = 0.005ω²);
    above c_hi the engine's state grows with alternating sign (eigenvalue below −1)."""
    w = np.array([10.0, 50.0, 90.0])
    spec = NetworkSpec("bhrf", 1, 3, 1)
    lo, hi = bhrf_c_interval(w, 0.01)
    assert np.all(lo < 0)  # c = 0 is inside: damped already at b' = q = 0
    np.testing.assert_allclose(hi, 100 - 0.0075 * w * w)
    # the docs/official-code.md §12.4 radii at b' = 0
    rho = bhrf_radius(w[:2], bhrf.P_COEF * w[:2] ** 2, 0.01)
    np.testing.assert_allclose(rho, [0.99499, 0.86603], atol=5e-6)
    for beta, grows in ((np.zeros(3), False), (hi - 0.5, False), (hi + 2.0, True)):
        c = bhrf.derive({"omega": w, "b_offset": beta}, spec)
        state = (np.zeros((1, 3)), np.full((1, 3), 0.5), np.zeros((1, 3)), np.zeros((1, 3)))
        us = []
        for _ in range(300):
            state = bhrf.step_forward(c, state, np.zeros((1, 3)), no_spike)
            us.append(state[1][0])
        us = np.array(us)
        if grows:
            assert np.all(np.abs(us[-1]) > 100)
            assert np.all(np.sign(us[-1]) != np.sign(us[-2]))  # alternating: λ < −1
        else:
            assert np.all(np.abs(us[-1]) < 0.5)


def test_paper_bhrf_scheme_diverges_with_positive_offset():
    """docs/official-code.md §11.2: the paper's explicit scheme with b = p(ω) − c has det = 1 + 2δc > 1."""
    w = np.array([5.0, 20.0, 60.0])
    for c in (0.1, 1.0):
        ev = bhrf_eigenvalues(w, 0.5 * 0.01 * w * w - c, 0.01, "paper")
        np.testing.assert_allclose(np.abs(np.prod(ev, axis=-1)), 1 + 2 * 0.01 * c)
        assert np.all(np.abs(ev).max(-1) > 1)


def test_rf_interval_and_psmnist_init():
    """docs/official-code.md §12.3: RF with ω ≥ 15 and b' ≤ 1 always has ρ > 1 (PS-MNIST RF init; the
    committed epoch-0 checkpoint's max is 1.308)."""
    res = check_ranges("rf", {"omega": (15.0, 85.0), "b_offset": (0.1, 1.0)})
    assert res["frac_stable"] == 0.0
    assert res["max_radius_q0"] >= 1.308
    lo, hi = rf_interval(np.array([10.0]), 0.01)
    assert rf_radius(10.0, lo, 0.01) == pytest.approx(1.0) and rf_radius(10.0, hi, 0.01) == pytest.approx(1.0)
    assert rf_radius(10.0, lo * 0.9, 0.01) > 1 > rf_radius(10.0, lo * 1.1, 0.01)


def test_paper_init_ranges_of_brf_and_bhrf_are_stable_even_at_q_max():
    for (neuron, task), r in INIT_RANGES.items():
        res = check_ranges(neuron, r)
        if neuron in ("brf", "bhrf"):
            assert res["all_stable"], (neuron, task, res)
            assert res["max_radius_q0"] < 1 and res["max_radius_qmax"] < 1


@pytest.mark.parametrize("neuron", ["brf", "bhrf", "rf"])
def test_check_params_radius_is_the_engines_decay_rate(neuron):
    """Per-neuron ρ at q = 0 equals the measured per-step norm ratio of the engine's free neuron
    (BRF: exactly, a scaled rotation; RF too; BHRF: the asymptotic rate)."""
    spec = NetworkSpec(neuron, 1, 6, 1)
    params = init_params(spec, np.random.default_rng(3), {"omega": (5.0, 60.0), "b_offset": (0.1, 1.0)})
    rho = check_params(spec, params)["radius_q0"]
    mod = {"brf": brf, "bhrf": bhrf, "rf": rf}[neuron]
    c = mod.derive({"omega": params["hidden.omega"], "b_offset": params["hidden.b_offset"]}, spec)
    state = list(zero_state(mod, 1, 6))
    state[1] = np.full((1, 6), 1e-3)  # far below threshold: no spike, q stays 0
    state = tuple(state)
    norms = []
    for _ in range(1600):
        state = mod.step_forward(c, state, np.zeros((1, 6)), heaviside)
        norms.append(np.hypot(state[1], state[2])[0])
    norms = np.array(norms)
    if neuron == "bhrf":  # not normal: compare window maxima 1000 steps apart
        rate = (norms[1400:].max(0) / norms[400:600].max(0)) ** (1 / 1000)
        np.testing.assert_allclose(rate, rho, rtol=1e-3)
    else:  # a scaled rotation: every step scales the norm by exactly ρ
        np.testing.assert_allclose(norms[1:] / norms[:-1], np.broadcast_to(rho, (1599, 6)), rtol=1e-12)


def test_check_params_flags_violations():
    spec = NetworkSpec("brf", 1, 3, 1)
    params = init_params(spec, np.random.default_rng(0))
    w = np.array([10.0, 90.0, 99.5])
    r = np.sqrt(1 - (0.01 * w) ** 2)
    params["hidden.omega"] = w
    params["hidden.b_offset"] = np.array([1.0, 2 * r[1] / 0.01 - 5.0, 2 * r[2] / 0.01 + 1.0])
    res = check_params(spec, params)
    # neuron 0: fine; neuron 1: fine at q = 0 but not at q = 10; neuron 2: outside already at q = 0
    assert res["radius_q0"][0] < 1 and res["radius_qmax"][0] < 1
    assert res["radius_q0"][1] < 1 < res["radius_qmax"][1]
    assert res["radius_q0"][2] > 1
    assert list(res["margin"] >= 0) == [True, False, False]
    assert res["summary"]["n_outside_stable_interval"] == 2
    assert not res["summary"]["all_stable"]


def test_check_params_alif_is_always_stable():
    spec = NetworkSpec("alif", 1, 4, 1)
    res = check_params(spec, init_params(spec, np.random.default_rng(0)))
    assert res["summary"]["all_stable"] and res["summary"]["max_radius_q0"] < 1


def test_fig9_curves_end_at_one_over_dt():
    cv = fig9_curves([0.01, 0.05])
    assert cv["0.05"]["omega"][-1] == pytest.approx(20.0)
    assert cv["0.05"]["p"][-1] == pytest.approx(-20.0)
    assert np.all(np.diff(cv["0.01"]["p"]) < 0)  # p decreasing in ω
