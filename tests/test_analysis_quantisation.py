"""analysis.quantisation: the leaky Alexiewicz norm is a norm; reset-to-mod meets the
quantisation bound for any input; reset-to-zero and reset-by-subtraction break it."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import find, given, settings
from hypothesis import strategies as st

from analysis.quantisation import (
    COUNTEREXAMPLES,
    RESETS,
    alexiewicz_norm,
    build_figures_parser,
    decay_factors,
    factor_to_rate,
    figure_data,
    leaky_partial_sums,
    lif,
    main,
    quantisation_error,
    rate_to_factor,
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


# -- the paper's α (a rate), irregular spike times, Figs. 4/5 ---------------------------------------
def test_rate_to_factor_is_the_papers_exponential():
    """(Q0): the paper's α = 1 and 0.1 are the per-step factors e^{−1} and e^{−0.1}; α = 0 is no leak."""
    assert rate_to_factor(1.0) == pytest.approx(0.36787944117144233, rel=1e-15)
    assert rate_to_factor(0.1) == pytest.approx(0.9048374180359595, rel=1e-15)
    assert rate_to_factor(0.0) == 1.0
    assert rate_to_factor(0.5, dt=4.0) == pytest.approx(np.exp(-2.0))
    for f in (0.05, 0.37, 0.9, 1.0):
        assert rate_to_factor(factor_to_rate(f)) == pytest.approx(f, rel=1e-12)
    for bad in (lambda: rate_to_factor(-0.1), lambda: rate_to_factor(np.inf), lambda: factor_to_rate(0.0)):
        with pytest.raises(ConfigError):
            bad()


def paper_norm(a, t, rate):
    """The paper's definition written out: max_n |Σ_{j≤n} a_j e^{−α(t_n − t_j)}|."""
    return max(abs(sum(a[j] * np.exp(-rate * (t[n] - t[j])) for j in range(n + 1))) for n in range(len(a)))


@SETTINGS
@given(data=st.integers(1, 20).flatmap(lambda n: st.tuples(
    st.lists(st.floats(-5, 5), min_size=n, max_size=n),
    st.lists(st.floats(0.0, 3.0), min_size=n, max_size=n))), rate=st.floats(0.0, 3.0))
def test_norm_at_irregular_times_is_the_papers(data, rate):
    a, gaps = data
    t = np.cumsum(gaps)
    got = alexiewicz_norm(a, decay_factors(t, rate))
    assert got == pytest.approx(paper_norm(a, t, rate), rel=1e-9, abs=1e-9)


@pytest.mark.parametrize("reset", ["mod", "zero"])
def test_lif_at_sparse_times_equals_lif_on_the_dense_grid(reset):
    """Pulses at integer times with gaps, run with per-pulse factors e^{−α·gap}, must fire exactly as
    the per-step LIF on the full grid with zeros between them (after these resets |u⁺| < θ, and
    between pulses |u| only decays); the errors in the two norms agree too. (Not subtraction: its
    |u⁺| may stay ≥ θ, and the grid fires again at the next empty step, the event-driven model
    only at the next pulse.)"""
    rng = np.random.default_rng(3)
    t = np.sort(rng.choice(np.arange(1, 60), 25, replace=False))
    eta = rng.uniform(-2.5, 2.5, 25)
    dense = np.zeros(59)
    dense[t - 1] = eta
    for rate in (0.0, 0.1, 1.0):
        s_sparse, _ = lif(eta, decay_factors(t, rate), 1.0, reset)
        s_dense, _ = lif(dense, rate_to_factor(rate), 1.0, reset)
        np.testing.assert_allclose(s_dense[t - 1], s_sparse, atol=1e-12)
        assert not np.delete(s_dense, t - 1).any()
        assert quantisation_error(eta, decay_factors(t, rate), 1.0, reset) == pytest.approx(
            quantisation_error(dense, rate_to_factor(rate), 1.0, reset), rel=1e-12)


@pytest.fixture(scope="module")
def figs():
    return figure_data(counts=(2, 10, 50), runs=60, seed=1)


def cells(figs, A, rate, times, reset):
    return figs["results"][f"{A:g}"][f"{rate:g}"][times][reset]


def test_figure_data_shape_and_the_bound(figs):
    """Every (A, α, times, reset) panel has one box per N with ``runs`` errors; reset-to-mod stays
    below θ everywhere, and below threshold (Fig. 4) subtraction is the same map."""
    for A in (1, 1.5):
        for rate in (1, 0.1):
            for times in ("grid", "poisson"):
                for reset in RESETS:
                    cs = cells(figs, A, rate, times, reset)
                    assert len(cs) == 3 and all(len(c["errors"]) == 60 for c in cs)
                    assert all(c["min"] <= c["q1"] <= c["median"] <= c["q3"] <= c["max"] for c in cs)
                assert max(c["max"] for c in cells(figs, A, rate, times, "mod")) < 1.0
                if A == 1:
                    pairs = zip(cells(figs, A, rate, times, "mod"), cells(figs, A, rate, times, "subtract"))
                    for m, s in pairs:
                        np.testing.assert_array_equal(m["errors"], s["errors"])


def test_concentration_of_measure(figs):
    """The paper: for reset-to-mod the errors concentrate with more spikes -- the median rises
    towards θ and the box shrinks (IQR from ~0.3 at N = 2 to ~0.03 at N = 50)."""
    for A in (1, 1.5):
        for rate in (1, 0.1):
            for times in ("grid", "poisson"):
                cs = cells(figs, A, rate, times, "mod")
                med = [c["median"] for c in cs]
                iqr = [c["q3"] - c["q1"] for c in cs]
                assert med[0] < med[1] < med[2] and med[2] > 0.9
                assert iqr[2] < iqr[0] / 3


def test_fig5_the_other_resets_break_the_bound_and_grow_with_N(figs):
    """Fig. 5 (A = 1.5) at α = 0.1: subtraction and zero reset exceed θ, their mean error rising
    with N. At α = 1 on the integer grid subtraction provably cannot (|u| < e^{−1}θ + 1.5θ < 2θ,
    so one subtraction is the modulo); irregular times (gaps → 0, factor → 1) let it."""
    for times in ("grid", "poisson"):
        for reset in ("subtract", "zero"):
            mean = [c["mean"] for c in cells(figs, 1.5, 0.1, times, reset)]
            assert mean[0] < mean[1] < mean[2] and mean[2] > 1.05
    for m, s in zip(cells(figs, 1.5, 1, "grid", "mod"), cells(figs, 1.5, 1, "grid", "subtract")):
        np.testing.assert_array_equal(m["errors"], s["errors"])
    assert cells(figs, 1.5, 1, "poisson", "subtract")[2]["max"] > 1.0


def test_fig4_reset_to_zero_holds_only_approximately_and_only_for_the_larger_leak(figs):
    """Fig. 4 (A = 1): reset-to-zero discards remainders |u| − θ < αθ, which stay in the error with
    decay α, so |E| < θ + αθ/(1 − α) = θ/(1 − α): 1.58θ at α_rate = 1 on the grid -- 'approximately'
    -- but 10.5θ at α_rate = 0.1, where most trains of 50 spikes break θ."""
    grid1 = cells(figs, 1, 1, "grid", "zero")
    assert max(c["max"] for c in grid1) < 1 / (1 - np.exp(-1.0))
    slow = cells(figs, 1, 0.1, "grid", "zero")[2]
    assert slow["frac_violating"] > 0.5 > grid1[2]["frac_violating"]
    assert slow["median"] > grid1[2]["median"] + 0.1


def test_figures_cli(tmp_path, capsys):
    from resonet.cli import run_main

    argv = ["figures", "--out", str(tmp_path), "--runs", "5", "--spikes", "1,4", "--amplitudes", "1.5",
            "--times", "poisson"]
    assert run_main(main, argv) == 0
    assert (tmp_path / "quantisation-A1.5.png").stat().st_size > 1000
    d = json.loads((tmp_path / "quantisation-figures.json").read_text())
    assert d["rates"] == [1.0, 0.1] and d["factors_at_dt_1"][0] == pytest.approx(np.exp(-1.0))
    assert len(d["results"]["1.5"]["0.1"]["poisson"]["zero"][1]["errors"]) == 5
    # a per-step factor is converted to the paper's rate; a second run does not overwrite
    assert run_main(main, argv[:-4] + ["--alpha", "0.5", "--amplitudes", "1.5", "--times", "grid"]) == 0
    d2 = json.loads((tmp_path / "quantisation-figures-2.json").read_text())
    assert d2["rates"] == [pytest.approx(np.log(2.0))] and d2["times"] == ["grid"]
    for action in build_figures_parser()._actions:
        assert action.help


@pytest.mark.parametrize("argv,needle", [
    (["figures", "--alpha-rate", "-1"], "rate"),
    (["figures", "--alpha-rate", "1", "--alpha", "0.5"], "not both"),
    (["figures", "--alpha", "1.5"], "(0, 1]"),
    (["figures", "--times", "grid,jitter"], "spike times"),
    (["figures", "--runs", "0"], "runs >= 1"),
    (["figures", "--spikes", "0,5"], "spike counts"),
    (["figures", "--bogus"], "unrecognized"),
    (["--alpha-rate", "-0.5"], "rate"),
    (["--alpha", "0.5", "--alpha-rate", "1"], "not both"),
])
def test_figures_bad_arguments(argv, needle, tmp_path, capsys):
    from resonet.cli import run_main

    assert run_main(main, argv + ["--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err and needle in err, err
    assert not list(tmp_path.iterdir())


def test_main_takes_the_papers_rate(tmp_path):
    """``--alpha-rate 1`` is ``--alpha e^{−1}``: the same trials, error for error."""
    from resonet.cli import run_main

    common = ["--trials", "20", "--T", "15", "--amplitudes", "0.5,2"]
    assert run_main(main, common + ["--alpha-rate", "1", "--out", str(tmp_path / "a")]) == 0
    assert run_main(main, common + ["--alpha", str(np.exp(-1.0)), "--out", str(tmp_path / "b")]) == 0
    a, b = (json.loads((tmp_path / x / "quantisation.json").read_text())["trials"] for x in "ab")
    assert a["alpha"] == pytest.approx(np.exp(-1.0)) and a["zero"] == b["zero"] and a["mod"] == b["mod"]
