"""analysis.spectral: spectral radius of the BRF transition (property tests), the network
Jacobians, and the network-level "the hidden state never grows" property on the engine."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis import spectral
from analysis.divergence import check_params
from analysis.spectral import (
    network_jacobian,
    network_step,
    neuron_blocks,
    neuron_radii,
    radius,
    spectral_report,
)
from resonet.errors import ConfigError
from resonet.network import NetworkSpec, forward, init_params
from resonet.neurons import _resonator, brf, get_neuron
from resonet.surrogate import heaviside

brf_transition = _resonator.euler_transition  # the explicit-Euler step of BRF and RF
brf_interval = _resonator.euler_band


def brf_boundary(omega, dt):
    return _resonator.euler_band(omega, dt)[1]

SETTINGS = settings(deadline=None, max_examples=60)
DTS = st.sampled_from([0.001, 0.01, 0.05, 0.1])


def radius_of(omega, b, dt):
    """Numerical spectral radius (eigenvalues of the 2×2 matrix), independent of the closed form."""
    return radius(brf_transition(omega, b, dt))


# -- single BRF neuron: the exact interval --------------------------------------------------------
@SETTINGS
@given(dt=DTS, frac=st.floats(0.0, 1.0, exclude_min=True), u=st.floats(0.0, 1.0))
def test_brf_radius_at_most_one_inside_the_interval(dt, frac, u):
    """ω ∈ (0, 1/δ], b = p(ω) − b' with 0 ≤ b' ≤ 2r/δ (inside the exact interval): ρ ≤ 1."""
    w = frac / dt
    r = np.sqrt(max(1 - (dt * w) ** 2, 0.0))
    b_off = u * 2 * r / dt
    assert radius_of(w, brf_boundary(w, dt) - b_off, dt) <= 1 + 1e-12


@SETTINGS
@given(dt=DTS, frac=st.floats(0.0, 1.0, exclude_min=True), v=st.floats(1e-3, 10.0))
def test_brf_radius_above_one_outside_the_interval(dt, frac, v):
    """b' > 2r/δ (below the lower end (−1 − r)/δ), and b > p(ω) (above the boundary): ρ > 1.
    At ω = 1/δ exactly (r = 0) every b' > 0 is outside."""
    w = frac / dt
    lo, hi = brf_interval(w, dt)
    assert radius_of(w, lo - v / dt, dt) > 1  # b' = 2r/δ + v/δ
    assert radius_of(w, hi + v / dt, dt) > 1  # b = p(ω) + v/δ, i.e. "b' < 0"


@SETTINGS
@given(dt=DTS, v=st.floats(1e-3, 10.0))
def test_brf_at_one_over_dt_every_positive_offset_diverges(dt, v):
    """At ω = 1/δ (r = 0) ρ = √(1 + δ²b'²) > 1 for every b' > 0 (b' ≥ 10⁻³/δ here, so that
    ρ − 1 ≥ 5·10⁻⁷ is resolvable in float64)."""
    w = 1.0 / dt
    b_off = v / dt
    assert radius_of(w, brf_boundary(w, dt) - b_off, dt) == pytest.approx(np.sqrt(1 + (dt * b_off) ** 2))
    assert radius_of(w, brf_boundary(w, dt) - b_off, dt) > 1


@SETTINGS
@given(dt=DTS, frac=st.floats(0.0, 1.0, exclude_min=True))
def test_brf_radius_is_exactly_one_at_the_boundary(dt, frac):
    w = frac / dt
    assert radius_of(w, brf_boundary(w, dt), dt) == pytest.approx(1.0, abs=1e-12)


@settings(deadline=None, max_examples=25)
@given(w=st.floats(0.5, 99.0), u0=st.floats(-0.7, 0.7), v0=st.floats(-0.7, 0.7))
def test_engine_sustains_oscillation_exactly_at_the_boundary(w, u0, v0):
    """The engine's BRF step with b' = q = 0 (b = p(ω)) and no input keeps |u + iv| constant over
    5,000 steps while rotating by arg(λ) = asin(δω) per step (|u + iv| < 1: no spike ever)."""
    if np.hypot(u0, v0) < 1e-3:
        return
    spec = NetworkSpec("brf", 1, 1, 1)
    c = brf.derive({"omega": np.array([w]), "b_offset": np.array([0.0])}, spec)
    state = (np.zeros((1, 1)), np.array([[u0]]), np.array([[v0]]), np.zeros((1, 1)))
    z0 = complex(u0, v0)
    for _ in range(5000):
        state = brf.step_forward(c, state, np.zeros((1, 1)), heaviside)
        assert state[0][0, 0] == 0
    z = complex(state[1][0, 0], state[2][0, 0])
    assert abs(z) == pytest.approx(abs(z0), rel=1e-9)
    expected = z0 * np.exp(1j * 5000 * np.arcsin(0.01 * w))
    assert abs(z - expected) <= 1e-6 * abs(z0)


def test_engine_refuses_omega_at_one_over_dt():
    """The analysis handles δω = 1 as mathematics (above); the engine refuses it."""
    spec = NetworkSpec("brf", 1, 1, 1)
    with pytest.raises(ConfigError, match="1/dt"):
        brf.derive({"omega": np.array([100.0]), "b_offset": np.array([0.0])}, spec)


def test_neuron_radii_match_the_closed_forms():
    rng = np.random.default_rng(0)
    for neuron in ("brf", "rf", "bhrf"):
        spec = NetworkSpec(neuron, 1, 8, 1)
        params = init_params(spec, rng, {"omega": (5.0, 90.0), "b_offset": (0.0, 3.0)})
        chk0 = check_params(spec, params, q_max=0.0)["radius_q0"]
        np.testing.assert_allclose(neuron_radii(spec, params, 0.0), chk0, rtol=1e-12)
        if neuron != "rf":
            chk = check_params(spec, params, q_max=4.0)["radius_qmax"]
            np.testing.assert_allclose(neuron_radii(spec, params, 4.0), chk, rtol=1e-12)
            # with q as a state, the block is triangular: max(ρ, 0.9)
            np.testing.assert_allclose(neuron_radii(spec, params, 0.0, with_q=True),
                                       np.maximum(chk0, 0.9), rtol=1e-12)


# -- network Jacobians ----------------------------------------------------------------------------
def _state(neuron, H, rng, far=False):
    names = get_neuron(neuron).STATE_NAMES
    st_ = {n: rng.normal(size=H) for n in names}
    st_["z"] = (rng.random(H) > 0.5).astype(float) if far else rng.random(H)
    if "q" in st_:
        st_["q"] = 2 * rng.random(H)
    if "a" in st_:
        st_["a"] = rng.random(H)
    # u far from threshold (frozen Jacobian by finite differences needs no threshold crossing)
    st_["u"] = np.where(rng.random(H) > 0.5, 6.0, -6.0) if far else 1 + 0.5 * rng.normal(size=H)
    return tuple(st_[n] for n in names)


def _fd_jacobian(spec, params, state, x, spike):
    H = spec.n_hidden
    S = len(state)
    flat = np.concatenate(state)
    h = 1e-6

    def F(f):
        s = tuple(f.reshape(S, H)[k][None, :] for k in range(S))
        return np.concatenate([a[0] for a in network_step(spec, params, s, x[None, :], spike)])

    return np.stack([(F(flat + h * e) - F(flat - h * e)) / (2 * h) for e in np.eye(S * H)], axis=1)


CASES = [("brf", "none"), ("bhrf", "none"), ("rf", "none"), ("rf", "soft"), ("rf", "hard"), ("alif", "none"),
         ("lif", "none"), ("if", "none")]


@pytest.mark.parametrize("neuron, reset", CASES)
def test_surrogate_jacobian_is_the_jacobian_of_the_smooth_spike_step(neuron, reset):
    """With the smooth spike S (S' = σ' exactly), the surrogate Jacobian assembled from the engine's
    VJPs equals central finite differences of the engine's forward step."""
    rng = np.random.default_rng(7)
    spec = NetworkSpec(neuron, 3, 5, 2, reset=reset)
    params = init_params(spec, rng)
    params["hidden.linear.weight"] *= 5
    state = _state(neuron, 5, rng)
    x = rng.normal(size=3)
    J = network_jacobian(spec, params, state, x, "surrogate", spike="smooth")
    np.testing.assert_allclose(J, _fd_jacobian(spec, params, state, x, "smooth"), atol=2e-8)


@pytest.mark.parametrize("neuron, reset", CASES)
def test_frozen_jacobian_is_the_jacobian_away_from_threshold(neuron, reset):
    rng = np.random.default_rng(8)
    spec = NetworkSpec(neuron, 3, 5, 2, reset=reset)
    params = init_params(spec, rng)
    state = _state(neuron, 5, rng, far=True)
    x = np.zeros(3)
    J = network_jacobian(spec, params, state, x, "frozen")
    np.testing.assert_allclose(J, _fd_jacobian(spec, params, state, x, "heaviside"), atol=2e-8)
    # block lower-triangular with zero z rows: radius = max over the per-neuron blocks (whose
    # entries do not depend on the current spike except for hard-reset RF and ALIF)
    if neuron in ("brf", "bhrf") or (neuron == "rf" and reset != "hard"):
        blocks = neuron_blocks(spec, params, state)
        assert radius(J) == pytest.approx(max(radius(b) for b in blocks), rel=1e-10)


@pytest.mark.parametrize("neuron, reset", [c for c in CASES if c[0] in spectral.closed_forms()])
def test_frozen_jacobian_from_the_vjp_equals_the_closed_forms(neuron, reset, monkeypatch):
    """The generic frozen Jacobian (the model's VJP with σ' = 0, used for models without closed
    forms) equals the written-out blocks, for the network and per neuron."""
    rng = np.random.default_rng(9)
    spec = NetworkSpec(neuron, 3, 5, 2, reset=reset)
    params = init_params(spec, rng)
    params["hidden.linear.weight"] *= 5
    state = _state(neuron, 5, rng)
    x = rng.normal(size=3)
    J, B = network_jacobian(spec, params, state, x, "frozen"), neuron_blocks(spec, params, state)
    monkeypatch.delattr(get_neuron(neuron), "frozen_jacobian")  # no closed form: the VJP
    np.testing.assert_allclose(network_jacobian(spec, params, state, x, "frozen"), J,
                               rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(neuron_blocks(spec, params, state), B, rtol=1e-12, atol=1e-15)


def test_surrogate_radius_can_exceed_one_inside_the_stable_interval():
    """Every neuron inside its interval (frozen radius ≤ 1), but strong recurrent weights at a state
    near threshold make the surrogate Jacobian expand: the A.11 claim is about the neuron."""
    spec = NetworkSpec("brf", 1, 2, 1)
    params = init_params(spec, np.random.default_rng(0), {"omega": (10.0, 10.0), "b_offset": (0.5, 0.5)})
    params["hidden.linear.weight"] = np.array([[0.0, 0.0, 500.0], [0.0, 500.0, 0.0]])
    assert check_params(spec, params)["summary"]["all_stable"]
    state = (np.ones(2), np.full(2, 1.0), np.zeros(2), np.zeros(2))  # s ≈ 0: σ' at its peak
    rf_ = radius(network_jacobian(spec, params, state, None, "frozen"))
    rs = radius(network_jacobian(spec, params, state, None, "surrogate"))
    assert rf_ <= 1 < rs


def _brf_surrogate_jacobian(params, state, x_t, n_in):
    """The BRF network's one-step Jacobian with Θ' := σ', assembled here from the step equations
    (B2)–(B7) -- not from the engine's VJPs. Variables [z, u, v, q] by neuron."""
    from resonet.surrogate import dspike

    z, u, v, q = state
    H = u.size
    W = params["hidden.linear.weight"]
    w = np.abs(params["hidden.omega"])
    beta = np.abs(params["hidden.b_offset"])
    p = (-1.0 + np.sqrt(1.0 - (0.01 * w) ** 2)) / 0.01
    dt = 0.01
    b = p - beta - q
    I_t = W[:, :n_in] @ x_t + W[:, n_in:] @ z
    u_new = u + dt * (b * u - w * v + I_t)
    sig = dspike(u_new - 1.0 - q)  # σ'(s), s = u' − ϑ − q
    Z, U, V, Q = (slice(k * H, (k + 1) * H) for k in range(4))
    J = np.zeros((4 * H, 4 * H))
    du = np.zeros((H, 4 * H))  # ∂u'/∂(z, u, v, q)
    du[:, Z] = dt * W[:, n_in:]
    du[:, U] = np.diag(1.0 + dt * b)
    du[:, V] = np.diag(-dt * w)
    du[:, Q] = np.diag(-dt * u)
    ds = du.copy()
    ds[:, Q] -= np.eye(H)  # s = u' − ϑ − q
    J[Z] = sig[:, None] * ds
    J[U] = du
    J[V, U] = np.diag(dt * w)
    J[V, V] = np.diag(1.0 + dt * b)
    J[V, Q] = np.diag(-dt * v)
    J[Q] = J[Z]
    J[Q, Q] += np.diag(np.full(H, 0.9))
    return J


def test_spectral_report_on_an_init_network():
    """The report's numbers against an independent computation at the same states of a run:
    frozen radius = max over neurons of max(|1 + δ(b + iω)|, 0.9) at each neuron's q (the
    frozen Jacobian is block-triangular), surrogate radius = that of the Jacobian assembled here
    from the step equations, and the q = 0 / q_max neuron radii in closed form.

    Mutation caught: the recurrent spike path z_{t−1} → I_t → s_t left out of the surrogate
    Jacobian (``rows = [dprev[0]] + …`` instead of ``dprev[0] + dI @ w_rec`` in
    ``network_jacobian``): a smoke test of lengths and ρ ≤ 1 passes it."""
    spec = NetworkSpec("brf", 2, 6, 2)
    params = init_params(spec, np.random.default_rng(1))
    params["hidden.linear.weight"][:, :2] *= 10.0  # input that makes the neurons spike
    params["hidden.linear.weight"][:, 2:] *= 40.0  # a recurrence strong enough to matter
    x = 30.0 * (np.random.default_rng(2).random((50, 1, 2)) < 0.2)
    rep = spectral_report(spec, params, x, n_states=4)
    fwd = forward(spec, params, x)
    assert fwd.num_spikes.sum() > 0
    np.testing.assert_array_equal(rep["steps"], [0, 16, 32, 49])
    w = np.abs(params["hidden.omega"])
    beta = np.abs(params["hidden.b_offset"])
    p = (-1.0 + np.sqrt(1.0 - (0.01 * w) ** 2)) / 0.01
    gap = []
    for k, t in enumerate(rep["steps"]):
        if t == 0:
            state = tuple(np.zeros(6) for _ in range(4))
        else:
            state = tuple(fwd.states[n][t - 1, 0] for n in ("z", "u", "v", "q"))
        rho = np.abs(1.0 + 0.01 * (p - beta - state[3] + 1j * w))
        assert rep["frozen"][k] == pytest.approx(max(rho.max(), 0.9), rel=1e-12)
        J = _brf_surrogate_jacobian(params, state, x[t, 0], 2)
        assert rep["surrogate"][k] == pytest.approx(radius(J), rel=1e-9)
        gap.append(radius(J) - rep["frozen"][k])
    assert max(gap) > 1e-3  # the spike path does change the radius at these states
    assert rep["max_neuron_radius_q0"] == pytest.approx(np.abs(1.0 + 0.01 * (p - beta + 1j * w)).max())
    assert rep["max_neuron_radius_qmax"] == pytest.approx(np.abs(1.0 + 0.01 * (p - beta - 10 + 1j * w)).max())
    assert rep["max_frozen"] <= 1.0


# -- network level: the hidden state never grows --------------------------------------------------
def _run(spec, params, u, v, q, T):
    B, H = u.shape
    init = {"z": np.zeros((B, H)), "u": u, "v": v, "q": q, "o": np.zeros((B, spec.n_out))}
    fwd = forward(spec, params, np.zeros((T, B, spec.n_in)), init_state=init)
    norms = np.concatenate([np.hypot(u, v)[None], np.hypot(fwd.states["u"], fwd.states["v"])])
    return fwd, norms


@settings(deadline=None, max_examples=30)
@given(seed=st.integers(0, 2 ** 31), w_max=st.floats(1.0, 95.0), scale=st.floats(0.1, 50.0),
       q0=st.floats(0.0, 5.0), frac=st.floats(1e-3, 1.0))
def test_network_without_input_or_recurrence_never_grows(seed, w_max, scale, q0, frac):
    """No input and W_rec = 0 (so I ≡ 0), any initial (u, v) -- spikes allowed -- and
    0 < b' ≤ 2r/δ − max(q0, 10) (so b' + q stays in the stable interval although q rises):
    ‖(u_t, v_t)‖ is non-increasing for every neuron at every step of the engine's forward."""
    rng = np.random.default_rng(seed)
    spec = NetworkSpec("brf", 2, 6, 2)
    params = init_params(spec, rng, {"omega": (0.5, w_max), "b_offset": (0.1, 1.0)})
    r = np.sqrt(1 - (0.01 * np.abs(params["hidden.omega"])) ** 2)
    params["hidden.b_offset"] = frac * (2 * r / 0.01 - max(q0, 10.0))
    assert np.all(params["hidden.b_offset"] > 0)
    params["hidden.linear.weight"][:, 2:] = 0.0
    u, v = scale * rng.normal(size=(2, 3, 6))
    fwd, norms = _run(spec, params, u, v, np.full((3, 6), q0), T=400)
    assert np.all(norms[1:] <= norms[:-1] * (1 + 1e-12) + 1e-300)


@settings(deadline=None, max_examples=30)
@given(seed=st.integers(0, 2 ** 31), gain=st.floats(0.0, 1e3), rad=st.floats(0.0, 0.999),
       q0=st.floats(0.0, 5.0))
def test_subthreshold_network_stays_silent_and_never_grows(seed, gain, rad, q0):
    """Any recurrent weights, no input, z_{−1} = 0 and every ‖(u, v)‖ < 1 ≤ ϑ + q: since
    u ≤ ‖(u, v)‖ and the norm cannot grow without input, no neuron ever fires -- the network stays
    silent and its state decays (b' > 0 within the stable interval)."""
    rng = np.random.default_rng(seed)
    spec = NetworkSpec("brf", 2, 6, 2)
    params = init_params(spec, rng, {"omega": (0.5, 95.0), "b_offset": (0.01, 5.0)})
    params["hidden.linear.weight"] *= gain
    phi = rng.uniform(0, 2 * np.pi, (3, 6))
    mag = rad * rng.random((3, 6))
    fwd, norms = _run(spec, params, mag * np.cos(phi), mag * np.sin(phi), np.full((3, 6), q0), T=300)
    assert fwd.num_spikes.sum() == 0
    assert np.all(norms[1:] <= norms[:-1] * (1 + 1e-12) + 1e-300)


def test_recurrent_spikes_can_make_the_state_grow():
    """The qualification matters: supra-threshold start + strong excitatory recurrence feeds
    current back (I ≠ 0) and the norm grows although every neuron is inside its interval."""
    spec = NetworkSpec("brf", 1, 4, 2)
    params = init_params(spec, np.random.default_rng(0), {"omega": (5.0, 6.0), "b_offset": (0.5, 1.0)})
    params["hidden.linear.weight"][:, 1:] = 300.0
    assert check_params(spec, params)["summary"]["all_stable"]
    _, norms = _run(spec, params, np.full((1, 4), 1.5), np.zeros((1, 4)), np.zeros((1, 4)), T=200)
    assert np.any(norms[1:] > norms[:-1] * 1.01)
