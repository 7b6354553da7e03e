"""analysis.freqresp: spike trains, the sub-threshold response against linear theory, the
resonance peak and sub-harmonics, and the refusal of unstable neurons."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.freqresp import (
    MODELS,
    eigenfrequency,
    periodic_mean_abs_u,
    simulate,
    spike_trains,
    stable_b_offset,
    sweep,
    transition_eig,
    transition_radius,
)
from resonet.errors import ConfigError


def test_spike_trains_are_in_phase_and_at_the_right_rate():
    x = spike_trains([1.0, 2.5, 7.0], T=1000, dt=0.01, amp=2.0)
    assert np.all(x[0] == 2.0)  # every train starts with a spike at t = 0
    np.testing.assert_array_equal(x.sum(0) / 2.0, [10, 25, 70])  # f · T·δ spikes
    steps = np.nonzero(x[:, 1])[0]
    np.testing.assert_array_equal(steps[:4], [0, 40, 80, 120])
    with pytest.raises(ConfigError, match="Nyquist"):
        spike_trains([60.0], T=10, dt=0.01)
    with pytest.raises(ConfigError):
        spike_trains([0.0], T=10, dt=0.01)


@pytest.mark.parametrize("model", ["rf", "brf"])
@pytest.mark.parametrize("P", [40, 90, 157])
def test_steady_state_matches_the_closed_form(model, P):
    """Kicks every P steps: the engine's neuron settles to mean |u| = (1/P) Σ |Re(λ^m Z)|,
    Z = δ·amp/(1 − λ^P) (linear-system algebra, independent of the simulation)."""
    omega, b_off, dt, amp = 12.0, 3.0, 0.01, 3.0
    T = 80 * P  # 70 periods of burn-in: the transient (ρ ≤ 0.98 per step) is gone
    x = np.zeros((T, 1))
    x[::P, 0] = amp
    U = simulate(model, x, omega, b_off, dt)
    got = np.abs(U[T - 10 * P:, 0]).mean()
    lam = transition_eig(model, omega, b_off, dt)
    assert got == pytest.approx(periodic_mean_abs_u(lam, P, dt, amp), rel=1e-9)


@pytest.fixture(scope="module")
def res():
    f = np.linspace(0.05, 4.0, 120)
    return sweep(f, omega=10.0, b_offset=1.0, duration=40.0)


@pytest.mark.parametrize("model", ["rf", "brf", "hrf", "bhrf"])
def test_peak_near_the_eigenfrequency_and_subharmonics(res, model):
    r = res["models"][model]
    f = res["freqs"]
    df = f[1] - f[0]
    fd = r["f_discrete"]
    assert abs(fd - res["f0"]) < 0.03 * res["f0"]  # f_d ≈ ω/(2π) (ω = 10 → 1.59)
    # the gain (transfer function) peaks at f_d; mean |u| near it (more kicks per unit time above)
    assert abs(f[np.argmax(r["gain"])] - fd) <= 1.5 * df
    assert abs(r["peak_freq"] - fd) <= 0.05 * fd
    sub = r["subharmonics"]
    for n in (2, 3):
        assert sub[f"n{n}"]["local_max"], (model, n, sub)
        assert 0.15 < sub[f"n{n}"]["rel"] < 1.0
    assert sub["n2"]["rel"] > sub["n3"]["rel"]
    assert sub["at_2fd_rel"] < 0.6  # anti-phase kicks at 2f_d partly cancel


def test_eigenfrequency_of_brf_is_asin():
    """BRF at b' = 0 rotates by asin(δω) per step (λ = r + iδω)."""
    for w in (5.0, 50.0, 95.0):
        assert eigenfrequency("brf", w, 0.0) == pytest.approx(np.arcsin(0.01 * w) / (2 * np.pi * 0.01))
        assert abs(transition_eig("brf", w, 0.0)) == pytest.approx(1.0)


def test_spiking_brf_is_damped_by_its_refractory_variable():
    f = np.array([1.0, 1.6, 2.2])
    x = spike_trains(f, 3000, 0.01, amp=400.0)
    lin = np.abs(simulate("brf", x, 10.0, 0.5, spiking=False)).mean(0)
    spk = np.abs(simulate("brf", x, 10.0, 0.5, spiking=True)).mean(0)
    assert np.all(spk < lin)
    # RF without reset: spikes do not act back, so spiking changes nothing
    np.testing.assert_array_equal(simulate("rf", x, 10.0, 0.5, spiking=True),
                                  simulate("rf", x, 10.0, 0.5, spiking=False))


def test_unstable_neuron_is_refused_or_flagged():
    """RF at ω = 30, b' = 3: λ = 1 + δ(−3 + 30i), |λ| = 1.0153 > 1. The sweep refuses it by
    default; with on_unstable="warn" it warns, flags it, and its response indeed keeps growing."""
    f = np.array([1.0, 4.7, 8.0])
    with pytest.raises(ConfigError, match=r"rf \(\|lambda\| = 1.0153"):
        sweep(f, omega=30.0, b_offset=3.0, duration=20.0)
    with pytest.warns(RuntimeWarning, match="unstable"):
        res = sweep(f, omega=30.0, b_offset=3.0, duration=20.0, on_unstable="warn")
    assert res["unstable"] == {"rf": pytest.approx(abs(complex(0.97, 0.3)))}
    assert res["models"]["rf"]["unstable"] and not res["models"]["brf"]["unstable"]
    U = simulate("rf", spike_trains(f, 2000, 0.01), 30.0, 3.0)
    assert np.all(np.abs(U[1000:]).mean(0) > 5 * np.abs(U[:1000]).mean(0))  # no steady state
    stable = sweep(f, omega=30.0, b_offset=3.0, duration=20.0, models=("brf", "hrf", "bhrf"))
    assert stable["unstable"] == {}


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("omega, dt", [(10.0, 0.01), (30.0, 0.01), (90.0, 0.01), (10.0, 0.02), (10.0, 0.005)])
def test_stable_interval_is_where_the_radius_is_at_most_one(model, omega, dt):
    """stable_b_offset (closed forms of analysis.divergence) against the numerical eigenvalues:
    |λ| ≤ 1 inside the interval, > 1 just outside it (b' ≥ 0 only)."""
    lo, hi = stable_b_offset(model, omega, dt)
    for b in np.linspace(max(lo, 0.0), hi, 9):
        assert transition_radius(model, omega, b, dt) <= 1.0 + 1e-12
    for b in (lo - 1e-3 * (1 + abs(lo)), hi + 1e-3 * (1 + abs(hi))):
        if b >= 0:
            assert transition_radius(model, omega, b, dt) > 1.0


def test_brf_boundary_stays_at_p_dt_when_dt_differs():
    """The engine evaluates p(ω) at δ_p = 0.01: with dt = 0.02 the BRF at b' = 0.3 is outside its
    stable interval (b' ≥ 0.5089 at ω = 10), so the sweep refuses it, and the engine's neuron
    does grow; at dt = 0.005 b' = 0 is inside (damped)."""
    lo, _ = stable_b_offset("brf", 10.0, 0.02)
    assert lo == pytest.approx(0.5089, abs=1e-4)
    with pytest.raises(ConfigError, match="brf"):
        sweep([1.0], omega=10.0, b_offset=0.3, dt=0.02, duration=10.0, models=("brf",))
    x = np.zeros((3000, 1))
    x[0] = 1.0
    U = simulate("brf", x, 10.0, 0.3, dt=0.02)
    assert np.abs(U[-300:]).max() > 2 * np.abs(U[:300]).max()
    assert stable_b_offset("brf", 10.0, 0.005)[0] < 0
