"""Hypothesis property tests of the neuron steps (model.md, "Facts for property tests")."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from resonet.network import NetworkSpec
from resonet.neurons import alif, bhrf, brf, if_, lif, rf
from resonet.surrogate import dspike, dspike_linear, heaviside, smooth_spike, smooth_spike_linear

SETTINGS = settings(deadline=None, max_examples=60)
DT = 0.01
floats = st.floats(allow_nan=False, allow_infinity=False)


def spec_for(neuron, **kw):
    return NetworkSpec(neuron, 1, 1, 1, **kw)


@SETTINGS
@given(
    omega=st.floats(0.01, 99.0),
    frac=st.floats(0.0, 1.0),
    u=st.floats(-5, 5), v=st.floats(-5, 5), q=st.floats(0, 5),
    steps=st.integers(1, 300),
)
def test_brf_below_boundary_without_input_never_grows(omega, frac, u, v, q, steps):
    """0 ≤ b' + q ≤ 2√(1−(δω)²)/δ ⇒ spectral radius ≤ 1 and, the transition being a scaled
    rotation, |u + iv| is non-increasing at every step (spikes only add to q, which damps).

    b' is drawn over the whole stable interval left after q's headroom, b' = frac·(2r/δ − 10)
    (q < 10 always), so both of its ends are exercised: at frac = 0 and q = 0 the neuron sits on
    the divergence boundary itself (|λ| = 1), where any error in p(ω) shows as growth.
    Mutation caught: p(ω) replaced by its small-angle form −δω²/2 in ``brf.boundary`` (then
    b = p − b' − q lies above the true boundary at b' = q = 0 and |u + iv| grows)."""
    r = np.sqrt(1 - (DT * omega) ** 2)
    b_off = frac * (2 * r / DT - 10.0)  # ≥ 0 for ω ≤ 99 (2r/δ ≥ 28)
    c = brf.derive({"omega": np.array([omega]), "b_offset": np.array([b_off])}, spec_for("brf"))
    state = (np.zeros((1, 1)), np.array([[u]]), np.array([[v]]), np.array([[q]]))
    norm = np.hypot(u, v)
    zero = np.zeros((1, 1))
    for _ in range(steps):
        state = brf.step_forward(c, state, zero, heaviside)
        new = float(np.hypot(state[1], state[2])[0, 0])
        assert new <= norm * (1 + 1e-12) + 1e-300
        norm = new


@SETTINGS
@given(omega=st.floats(0.01, 99.0), b_off=st.floats(0.0, 100.0), q=st.floats(0.0, 9.99),
       u=st.floats(-3, 3), v=st.floats(-3, 3))
def test_brf_step_is_the_complex_multiplication(omega, b_off, q, u, v):
    """Without input and below threshold: u' + iv' = (1 + δ(b + iω))·(u + iv) exactly
    (up to rounding), with b = p(ω) − b' − q."""
    c = brf.derive({"omega": np.array([omega]), "b_offset": np.array([b_off])}, spec_for("brf"))
    b = brf.boundary(np.array([omega]))[0] - b_off - q
    lam = 1 + DT * (b + 1j * omega)
    state = (np.zeros((1, 1)), np.array([[u]]), np.array([[v]]), np.array([[q]]))
    _, u1, v1, _ = brf.step_forward(c, state, np.zeros((1, 1)), heaviside)
    expect = lam * (u + 1j * v)
    assert abs(complex(u1[0, 0], v1[0, 0]) - expect) <= 1e-12 * (1 + abs(expect))


@SETTINGS
@given(z_seq=st.lists(st.booleans(), min_size=1, max_size=200), q0=st.floats(0.0, 9.99),
       model=st.sampled_from(["brf", "bhrf"]))
def test_brf_refractory_variable_bounds(z_seq, q0, model):
    """The engine's q_t = 0.9 q_{t−1} + z_t (B7)/(H6), driven through its own step with the spikes
    z forced by the spike function, follows that recursion exactly and stays in [0, 10).

    Mutation caught: q' = 0.9q + 3z in ``brf.step_forward`` (q leaves the recursion at the first
    spike and passes 10 after four spikes in a row)."""
    mod = {"brf": brf, "bhrf": bhrf}[model]
    c = mod.derive({"omega": np.array([10.0]), "b_offset": np.array([1.0])}, spec_for(model))
    state = (np.zeros((1, 1)), np.zeros((1, 1)), np.zeros((1, 1)), np.array([[q0]]))
    q_ref = q0
    for z in z_seq:
        state = mod.step_forward(c, state, np.zeros((1, 1)), lambda s, z=z: np.full_like(s, float(z)))
        q_ref = 0.9 * q_ref + float(z)  # the recursion, written out here (not the module's constant)
        q = float(state[3][0, 0])
        assert float(state[0][0, 0]) == float(z)
        assert q == pytest.approx(q_ref, rel=1e-12, abs=1e-15)
        assert 0.0 <= q < 10.0


@SETTINGS
@given(
    tau_m=st.floats(1.0, 200.0), tau_a=st.floats(1.0, 500.0),
    inputs=st.lists(st.floats(-50, 50), min_size=1, max_size=100),
    z0=st.booleans(),
)
def test_alif_threshold_never_below_theta0(tau_m, tau_a, inputs, z0):
    """The threshold the engine actually uses -- read off the argument s = ũ − θ it hands to the
    spike function, with ũ = αu + (1 − α)I and α = e^{−1/τ_m} recomputed here -- lies in
    [θ₀, θ₀ + β] (θ₀ = 0.01, β = 1.8), equals θ₀ + β·a_t, and a spike lowers u by exactly it.

    Mutation caught: θ = θ₀ − β·a in ``alif.step_forward`` (A2) (the threshold falls below θ₀ as
    soon as a > 0; a test that computes θ from the state a itself cannot see it)."""
    theta0, beta = 0.01, 1.8  # the official constants, written out here
    c = alif.derive({"tau_mem": np.array([tau_m]), "tau_adp": np.array([tau_a])},
                    spec_for("alif"))
    alpha = np.exp(-1.0 / tau_m)
    seen = []

    def spy(s):
        seen.append(float(s[0, 0]))
        return heaviside(s)

    state = (np.array([[float(z0)]]), np.zeros((1, 1)), np.zeros((1, 1)))
    for inp in inputs:
        u_prev = float(state[1][0, 0])
        state = alif.step_forward(c, state, np.array([[inp]]), spy)
        u_tilde = alpha * u_prev + (1.0 - alpha) * inp
        theta = u_tilde - seen[-1]
        tol = 1e-12 * (1.0 + abs(u_tilde))
        assert theta0 - tol <= theta <= theta0 + beta + tol
        assert theta == pytest.approx(theta0 + beta * float(state[2][0, 0]), abs=tol)
        if state[0][0, 0] == 1.0:
            assert float(state[1][0, 0]) == pytest.approx(u_tilde - theta, abs=tol)


@SETTINGS
@given(omega=st.floats(0.01, 60.0), b_off=st.floats(0.0, 10.0), q=st.floats(0, 9.9))
def test_bhrf_as_coded_is_always_damped(omega, b_off, q):
    """The engine's own BHRF transition (I = 0, no spike), read off by stepping the unit vectors,
    is the coded symplectic matrix A = [[1 − 2δb − δ²ω², −δω²], [δ, 1]], b = 0.005ω² + b' + q,
    and its spectral radius is below 1 (docs/official-code.md §12.4).

    det A = 1 − 2δb < 1 holds for any b > 0 and proves nothing alone; the radius is below 1 only
    if also |tr A| < 1 + det A (Jury), i.e. 4δb + δ²ω² < 4: that is the condition the ranges
    here respect (beyond it an eigenvalue passes −1 -- the explicit scheme overshoots), and it is
    checked on the engine's matrix.
    Mutation caught: u' computed from the old v instead of v' (explicit Euler, the paper's
    Alg. 2) in ``bhrf.step_forward`` -- then det A = 1 − 0.02(b' + q) and at b' = q = 0 the
    neuron is undamped (|λ| = 1)."""
    c = bhrf.derive({"omega": np.array([omega]), "b_offset": np.array([b_off])},
                    spec_for("bhrf"))
    cols = []
    for u0, v0 in ((1.0, 0.0), (0.0, 1.0)):
        state = (np.zeros((1, 1)), np.array([[u0]]), np.array([[v0]]), np.array([[q]]))
        _, u1, v1, _ = bhrf.step_forward(c, state, np.zeros((1, 1)), lambda s: 0 * s)
        cols.append([u1[0, 0], v1[0, 0]])
    A_engine = np.array(cols).T
    b = 0.005 * omega**2 + b_off + q
    A = np.array([[1 - 2 * DT * b - DT**2 * omega**2, -DT * omega**2], [DT, 1.0]])
    np.testing.assert_allclose(A_engine, A, rtol=1e-12, atol=1e-15)
    det, tr = np.linalg.det(A_engine), np.trace(A_engine)
    assert abs(tr) < 1 + det  # the Jury condition that the ranges respect
    assert np.abs(np.linalg.eigvals(A_engine)).max() < 1


@SETTINGS
@given(omega=st.floats(1, 50), b_off=st.floats(0, 3), u=st.floats(1.5, 10),
       v=st.floats(-3, 3), reset=st.sampled_from(["soft", "hard"]))
def test_rf_resets(omega, b_off, u, v, reset):
    """A spiking RF neuron with hard reset returns to (0, 0); soft reset subtracts ϑ."""
    spec = spec_for("rf", reset=reset)
    c = rf.derive({"omega": np.array([omega]), "b_offset": np.array([b_off])}, spec)
    state = (np.zeros((1, 1)), np.array([[u]]), np.array([[v]]))
    I = np.array([[1e4]])  # forces a spike
    z, u1, v1 = rf.step_forward(c, state, I, heaviside)
    c0 = rf.derive({"omega": np.array([omega]), "b_offset": np.array([b_off])}, spec_for("rf"))
    _, u0, v0 = rf.step_forward(c0, state, I, heaviside)
    assert z[0, 0] == 1
    if reset == "hard":
        assert u1[0, 0] == 0 and v1[0, 0] == 0
    else:
        assert u1[0, 0] == u0[0, 0] - 1 and v1[0, 0] == v0[0, 0] - 1


@SETTINGS
@given(s=st.floats(-20, 20))
def test_surrogate_is_even_and_is_the_derivative_of_the_smooth_spike(s):
    x = np.array([s])
    assert dspike(x)[0] == dspike(-x)[0]
    h = 1e-5
    fd = (smooth_spike(x + h) - smooth_spike(x - h)) / (2 * h)
    assert abs(fd[0] - dspike(x)[0]) < 1e-9


def test_surrogate_constants():
    """Peak 0.4388365, σ'(±1) = 0.0432205, ∫σ' = 0.425 (docs/official-code.md §2)."""
    assert dspike(np.array([0.0]))[0] == np.float64(0.5 * (1.15 * 0.7978845608028654
                                                           - 0.3 * 0.1329807601338109))
    assert abs(dspike(np.array([1.0]))[0] - 0.0432205) < 5e-8
    assert abs(smooth_spike(np.array([np.inf]))[0] - 0.425) < 1e-15
    assert heaviside(np.array([0.0, 1e-300, np.nan]))[1] == 1
    assert heaviside(np.array([0.0, np.nan])).sum() == 0


@SETTINGS
@given(s=st.floats(-5, 5))
def test_linear_surrogate_is_even_and_is_the_derivative_of_its_smooth_spike(s):
    x = np.array([s])
    assert dspike_linear(x)[0] == dspike_linear(-x)[0]
    h = 1e-6
    fd = (smooth_spike_linear(x + h) - smooth_spike_linear(x - h)) / (2 * h)
    assert abs(fd[0] - dspike_linear(x)[0]) < 1e-6  # O(h) next to the kinks at −1, 0, 1


def test_linear_surrogate_constants():
    """StepLinearGrad: σ'(s) = max(0, 1 − |s|); its antiderivative runs from 0 to 1."""
    s = np.array([0.0, 0.25, -1.0, 1.5, -np.inf, np.inf])
    np.testing.assert_array_equal(dspike_linear(s), [1.0, 0.75, 0.0, 0.0, 0.0, 0.0])
    np.testing.assert_array_equal(smooth_spike_linear(s), [0.5, 1 - 0.75**2 / 2, 0.0, 1.0, 0.0, 1.0])
    assert dspike_linear(np.array([0.5], np.float32)).dtype == np.float32


@SETTINGS
@given(tau=st.floats(1.0, 200.0), u=st.floats(-5, 0.99), I=st.floats(-5, 0.99))
def test_lif_membrane_moves_towards_the_input(tau, u, I):
    """Without a spike ũ = αu + (1 − α)I lies between u and I (0 < α < 1): the leak relaxes the
    membrane towards its input, and a membrane below threshold with input below threshold stays
    below it."""
    c = lif.derive({"tau_mem": np.array([tau])}, spec_for("lif"))
    z, u1 = lif.step_forward(c, (np.zeros(1), np.array([u])), np.array([I]), heaviside)
    assert z[0] == 0
    assert min(u, I) - 1e-12 <= u1[0] <= max(u, I) + 1e-12


@SETTINGS
@given(u=st.floats(-5, 5), inputs=st.lists(st.floats(-0.5, 0.5), min_size=1, max_size=20))
def test_if_integrates_without_leak_and_resets_to_zero(u, inputs):
    """Below threshold the IF membrane is the running sum of its input (nothing leaks); the step
    that crosses ϑ = 1 spikes and returns the membrane to exactly 0."""
    c = if_.derive({}, spec_for("if"))
    state = (np.zeros(1), np.array([u]))
    total = u
    for inp in inputs:
        z, u1 = if_.step_forward(c, state, np.array([inp]), heaviside)
        total += inp
        if z[0]:
            assert total > 1.0 and u1[0] == 0.0
            total = 0.0
        else:
            assert u1[0] == pytest.approx(total, abs=1e-12)
        state = (z, u1)


@SETTINGS
@given(omega=st.floats(100.0, 1e6))
def test_brf_refuses_omega_beyond_one_over_dt(omega):
    import pytest

    from resonet.errors import ConfigError

    with pytest.raises(ConfigError, match="omega"):
        brf.derive({"omega": np.array([1.0, -omega]), "b_offset": np.array([1.0, 1.0])},
                   spec_for("brf"))
