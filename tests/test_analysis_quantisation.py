"""analysis.quantisation: the leaky Alexiewicz norm is a norm; reset-to-mod meets the
quantisation bound for any input; reset-to-zero and reset-by-subtraction break it."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import find, given, settings
from hypothesis import strategies as st

from analysis.quantisation import (
    COUNTEREXAMPLES,
    alexiewicz_norm,
    leaky_partial_sums,
    lif,
    quantisation_error,
    trials,
)
from resonet.errors import ConfigError

SETTINGS = settings(deadline=None, max_examples=80)
alphas = st.floats(0.01, 1.0)
amps = st.floats(-1e3, 1e3, allow_nan=False)
seqs = st.lists(amps, min_size=1, max_size=30)


def pair(n):
    return st.tuples(st.lists(amps, min_size=n, max_size=n), st.lists(amps, min_size=n, max_size=n))


def direct_norm(eta, alpha):
    """The definition (Q1) written out as a double sum."""
    n = len(eta)
    return max(abs(sum(alpha ** (m - k) * eta[k] for k in range(m + 1))) for m in range(n))


@SETTINGS
@given(eta=seqs, alpha=alphas)
def test_norm_is_the_definition(eta, alpha):
    assert alexiewicz_norm(eta, alpha) == pytest.approx(direct_norm(eta, alpha), rel=1e-9, abs=1e-9)


@SETTINGS
@given(eta=seqs, alpha=alphas, c=st.floats(-100, 100), N=st.integers(1, 30))
def test_norm_axioms_positivity_and_homogeneity(eta, alpha, c, N):
    """Positivity, definiteness and homogeneity -- which hold for max|Lη| with any invertible
    linear L -- and, to pin down L, the values that homogeneity scales on two trains whose leaky
    norm is known in closed form: ‖c·(1, …, 1)_N‖ = |c|(1 − α^N)/(1 − α) (the LIF's geometric
    approach) and ‖c·(1, −2)‖ = |c|·(2 − α) (partial sums 1 and α − 2).

    Mutations caught: the leak ignored (α^{n−k} → 1 in ``leaky_partial_sums``: N|c| and |c|), and
    the norm replaced by Weyl's discrepancy norm, the max over all sub-intervals (2|c| for (1, −2)).
    """
    n = alexiewicz_norm(eta, alpha)
    assert n >= 0
    assert (n == 0) == (not any(eta))  # ‖η‖ = 0 iff η = 0 (the first nonzero η_k is a partial sum)
    assert alexiewicz_norm(c * np.asarray(eta), alpha) == pytest.approx(abs(c) * n, rel=1e-9, abs=1e-12)
    geometric = N if alpha == 1.0 else (1 - alpha ** N) / (1 - alpha)
    assert alexiewicz_norm(np.full(N, c), alpha) == pytest.approx(abs(c) * geometric, rel=1e-9, abs=1e-12)
    assert alexiewicz_norm(c * np.array([1.0, -2.0]), alpha) == pytest.approx(abs(c) * (2 - alpha),
                                                                             rel=1e-9, abs=1e-12)


@SETTINGS
@given(xy=st.integers(1, 30).flatmap(pair), alpha=alphas, gap=st.integers(0, 40))
def test_norm_triangle_inequality(xy, alpha, gap):
    """‖x + y‖ ≤ ‖x‖ + ‖y‖, and its sharper leaky form for trains apart in time: x, then ``gap``
    zeros, then y, is x ⊕ 0 + 0 ⊕ y, and the leaky sums of the second part carry x's last sum
    S_N(x) only as α^{gap+k} S_N(x), so

        ‖x ⊕ 0_gap ⊕ y‖ ≤ max(‖x‖, ‖y‖) + α^{gap+1}·|S_N(x)|,   S_N(x) = Σ_k α^{N−k} x_k

    (fading memory: the norm forgets what lies far in the past).
    Mutations caught: the leak ignored (the first train's total is never forgotten) and Weyl's
    discrepancy norm (a sub-interval may straddle the gap)."""
    x, y = map(np.asarray, xy)
    lhs = alexiewicz_norm(x + y, alpha)
    assert lhs <= alexiewicz_norm(x, alpha) + alexiewicz_norm(y, alpha) + 1e-9 * (1 + lhs)
    joined = np.concatenate([x, np.zeros(gap), y])
    s_last = abs(np.polyval(x, alpha))  # Σ_k α^{N−k} x_k by Horner, independent of the module
    bound = max(alexiewicz_norm(x, alpha), alexiewicz_norm(y, alpha)) + alpha ** (gap + 1) * s_last
    assert alexiewicz_norm(joined, alpha) <= bound + 1e-9 * (1 + bound)


def test_alpha_one_is_the_alexiewicz_norm_not_the_discrepancy_norm():
    """α = 1 gives the Alexiewicz norm, the max over prefix sums; Weyl's discrepancy norm is the max
    over all sub-intervals: [1, −2] has prefix sums 1, −1 (norm 1) but the sub-interval [−2]."""
    eta = np.array([1.0, -2.0, 3.0, -0.5])
    assert alexiewicz_norm(eta, 1.0) == 2.0  # max |partial sums| = max(1, 1, 2, 1.5)
    assert alexiewicz_norm([1.0, -2.0], 1.0) == 1.0  # the discrepancy norm would give 2
    np.testing.assert_allclose(leaky_partial_sums(eta, 0.5), [1.0, -1.5, 2.25, 0.625])


@SETTINGS
@given(eta=seqs, alpha=alphas, theta=st.floats(0.01, 10.0))
def test_reset_to_mod_meets_the_quantisation_bound_for_any_amplitudes(eta, alpha, theta):
    s, post = lif(eta, alpha, theta, "mod")
    k = s / theta
    np.testing.assert_allclose(k, np.round(k), atol=1e-6 * (1 + np.abs(k).max()))  # multiples of θ
    assert np.all(np.abs(post) < theta)  # the remainder, exactly
    err = quantisation_error(eta, alpha, theta, "mod")
    scale = max(1.0, max(abs(e) for e in eta) / theta)
    assert err < theta * (1 + 1e-12 * scale * len(eta))


@SETTINGS
@given(eta=st.lists(st.floats(-0.999, 0.999), min_size=1, max_size=30), alpha=alphas)
def test_subtraction_equals_mod_for_subthreshold_inputs(eta, alpha):
    """|η_n| < θ keeps |u| < 2θ, where subtracting θ once is the modulo: same spikes, same bound."""
    s_mod, _ = lif(eta, alpha, 1.0, "mod")
    s_sub, _ = lif(eta, alpha, 1.0, "subtract")
    np.testing.assert_array_equal(s_mod, s_sub)
    assert quantisation_error(eta, alpha, 1.0, "subtract") < 1.0


def _supra_threshold_trains():
    return st.tuples(st.lists(st.floats(-10.0, 10.0), min_size=1, max_size=10), alphas).filter(
        lambda t: max(abs(v) for v in t[0]) > 1.0)


@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_hypothesis_finds_a_counterexample_for_the_other_resets(reset):
    """Search supra-threshold inputs (θ = 1) for a violation of the bound; it must exist."""
    eta, alpha = find(_supra_threshold_trains(),
                      lambda t: quantisation_error(t[0], t[1], 1.0, reset) >= 1.0,
                      settings=settings(max_examples=2000, deadline=None, database=None))
    assert quantisation_error(eta, alpha, 1.0, reset) >= 1.0
    assert quantisation_error(eta, alpha, 1.0, "mod") < 1.0


def test_stated_counterexamples():
    """One pulse of 2.5θ: subtraction and zero reset leave an error of 1.5θ (mod: 0.5θ). Five
    sub-threshold pulses of 0.625θ (α = 1) break reset-to-zero alone: error 1.125θ."""
    ce = COUNTEREXAMPLES["supra_threshold_pulse"]
    for theta in (1.0, 0.3):
        eta = np.array(ce["eta_over_theta"]) * theta
        assert quantisation_error(eta, 1.0, theta, "subtract") == pytest.approx(1.5 * theta)
        assert quantisation_error(eta, 1.0, theta, "zero") == pytest.approx(1.5 * theta)
        assert quantisation_error(eta, 1.0, theta, "mod") == pytest.approx(0.5 * theta)
    eta = np.array(COUNTEREXAMPLES["reset_to_zero_subthreshold"]["eta_over_theta"])
    assert quantisation_error(eta, 1.0, 1.0, "zero") == 1.125
    assert quantisation_error(eta, 1.0, 1.0, "subtract") < 1.0
    assert quantisation_error(eta, 1.0, 1.0, "mod") < 1.0


def test_trials_summary():
    r = trials([0.5, 3.0], alpha=0.9, T=30, n=200)
    assert max(r["mod"]["max_err"]) < 1.0 and r["mod"]["frac_violating"] == [0.0, 0.0]
    assert r["subtract"]["max_err"][0] < 1.0 < r["subtract"]["max_err"][1]
    assert r["zero"]["frac_violating"][1] == 1.0


def test_bad_arguments():
    with pytest.raises(ConfigError):
        alexiewicz_norm([1.0], 0.0)
    with pytest.raises(ConfigError):
        lif([1.0], 0.5, -1.0)
    with pytest.raises(ConfigError):
        lif([1.0], 0.5, 1.0, "hard")
