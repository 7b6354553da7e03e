"""``analysis.leaknet``: the leak paper's noise scenarios, critical frequency, generalisation and
sparsity on trained ECG networks.

Tolerances: a count of Bernoulli(q) events over n trials has sd √(n q (1 − q)); the tests accept
5 sd. A sample variance of n normals has relative sd √(2/n)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from analysis import leaknet
from resonet.cli import run_main
from resonet.data.ecg import level_crossing, read_qtdb_mat
from resonet.errors import ConfigError
from tests.conftest import ECG_DIR, needs_ecg


def encoded_walks(T=600, N=5, L=0.3, seed=0):
    """Level-crossing spikes (T, N, 4) of random-walk signals (two leads, one step may cross
    several levels), time-major, and the signals z (T, N, 2)."""
    rng = np.random.default_rng(seed)
    z = np.cumsum(rng.normal(0, 0.25, (T, N, 2)), axis=0)
    x = np.zeros((T, N, 4))
    for n in range(N):
        for lead in range(2):
            x[:, n, 2 * lead], x[:, n, 2 * lead + 1] = level_crossing(z[:, n, lead], L)
    return x, z


# -- the signal behind the spikes ----------------------------------------------------------------
def test_reconstruction_re_encodes_to_the_same_spikes_and_stays_within_a_level():
    x, z = encoded_walks()
    L = 0.3
    c = leaknet.decode_levels(x)
    # the encoder's reference: r_t = z_0 + L·c_t; between spikes |z_t - r_t| < L
    r = z[0] + L * c
    quiet = (x[:, :, 0::2] + x[:, :, 1::2]) == 0
    assert np.all(np.abs(z - r)[quiet] < L)
    v = leaknet.reconstruct(x)
    assert np.array_equal(v - c, 0.5 * (x[:, :, 0::2] - x[:, :, 1::2]))
    assert np.array_equal(leaknet.encode_levels(v), x)
    assert np.array_equal(leaknet.encode_levels(c), x)
    # why the units of L: the staircase scaled back to z_0 + 0.3·c and encoded with L = 0.3 sits
    # on the threshold at every spike, and float rounding loses many of them
    bad = sum(int(np.sum(np.stack(level_crossing(z[0, n, j] + L * c[:, n, j], L), 1)
                         != x[:, n, 2 * j:2 * j + 2])) for n in range(x.shape[1]) for j in range(2))
    assert bad > 0


@needs_ecg
def test_every_published_segment_is_reproduced_exactly():
    for split in ("train", "test"):
        x, _ = read_qtdb_mat(ECG_DIR / f"QTDB_{split}.mat")
        x = np.moveaxis(x, 1, 0).astype(np.float64)  # time-major
        assert np.array_equal(leaknet.encode_levels(leaknet.reconstruct(x)), x), split


# -- noise ---------------------------------------------------------------------------------------
def test_severity_zero_is_the_clean_input_for_every_kind():
    x, _ = encoded_walks(T=300, N=3)
    for kind in leaknet.KINDS:
        draw = leaknet.noise_draw(kind, x.shape, seed=1, repeat=0)
        assert np.array_equal(leaknet.noisy_input(kind, 0.0, x, draw), x), kind
        assert not np.array_equal(leaknet.noisy_input(kind, 0.5, x, draw), x), kind


def test_draws_are_seeded_common_and_nested_across_levels():
    shape = (200, 4, 4)
    for kind in leaknet.KINDS:
        a = leaknet.noise_draw(kind, shape, seed=3, repeat=2)
        b = leaknet.noise_draw(kind, shape, seed=3, repeat=2)
        c = leaknet.noise_draw(kind, shape, seed=3, repeat=1)
        assert all(np.array_equal(p, q) for p, q in zip(a, b))
        assert not np.array_equal(a[0], c[0])
        assert a[0].shape[2] == (2 if kind.endswith("signal") else 4)
    # the kinds draw independently of one another
    assert not np.array_equal(leaknet.noise_draw("impulse_signal", shape, 3, 0)[0],
                              leaknet.noise_draw("impulse_spikes", shape, 3, 0)[0][:, :, :2])
    # impulse: a larger rate perturbs a superset of the elements of a smaller one
    x, _ = encoded_walks(T=400, N=4)
    draw = leaknet.noise_draw("impulse_spikes", x.shape, 0, 0)
    lo = leaknet.noisy_input("impulse_spikes", 0.05, x, draw) != x
    hi = leaknet.noisy_input("impulse_spikes", 0.2, x, draw) != x
    assert lo.any() and np.all(hi[lo])


def test_gaussian_noise_has_the_requested_sd():
    shape = (2000, 10, 4)
    x = (np.random.default_rng(0).random(shape) < 0.08).astype(float)
    for sigma in (0.1, 0.7):
        eps = leaknet.noise_draw("gauss_spikes", shape, 0, 0)[0]
        d = leaknet.gaussian_spikes(x, sigma, eps) - x
        n = d.size
        assert abs(d.std() / sigma - 1) < 5 * np.sqrt(1 / (2 * n)) + 1e-12
        assert abs(d.mean()) < 5 * sigma / np.sqrt(n)
    v = np.cumsum(np.ones((500, 3, 2)), axis=0)
    eps = leaknet.noise_draw("gauss_signal", (500, 3, 4), 0, 0)[0]
    d = leaknet.gaussian_signal(v, 0.4, eps) - v
    assert abs(d.std() / 0.4 - 1) < 5 * np.sqrt(1 / (2 * d.size))


def test_impulse_noise_rates_and_values():
    shape = (3000, 20, 4)
    x = (np.random.default_rng(1).random(shape) < 0.08).astype(float)
    p = 0.1
    u, us = leaknet.noise_draw("impulse_spikes", shape, 0, 0)
    y = leaknet.impulse_spikes(x, p, u, us)
    assert set(np.unique(y)) <= {0.0, 1.0}
    for old, q in ((0.0, p / 2), (1.0, p / 2)):  # a silent step gains a spike at p/2, a spike is lost at p/2
        n = int(np.sum(x == old))
        k = int(np.sum((x == old) & (y != old)))
        assert abs(k - n * q) < 5 * np.sqrt(n * q * (1 - q)), (old, k, n * q)
    # on the signal: a fraction p of the steps takes the lead's maximum or minimum, half each
    v = np.cumsum(np.random.default_rng(2).normal(0, 1, (3000, 20, 2)), axis=0)
    u, us = leaknet.noise_draw("impulse_signal", (3000, 20, 4), 0, 0)
    w = leaknet.impulse_signal(v, p, u, us)
    hit = u < p
    mx, mn = v.max(axis=0), v.min(axis=0)
    assert np.array_equal(w[~hit], v[~hit])
    assert np.all((w == mx) | (w == mn) | ~hit)
    n = v.size
    assert abs(hit.sum() - n * p) < 5 * np.sqrt(n * p * (1 - p))
    salt = int(np.sum(hit & (w == mx) & (v != mx)))
    assert abs(salt - hit.sum() / 2) < 5 * np.sqrt(hit.sum() / 4) + 50  # + steps already at the max
    with pytest.raises(ConfigError, match="rate must lie in"):
        leaknet.noisy_input("impulse_spikes", 1.5, x, (u, us))
    with pytest.raises(ConfigError, match="must be >= 0"):
        leaknet.noisy_input("gauss_signal", -0.1, x, (u,))


# -- critical frequency --------------------------------------------------------------------------
def test_critical_frequency_of_a_sinusoid_is_its_frequency():
    T = 1000
    t = np.arange(T)
    for k in (7, 120, 333):
        v = np.sin(2 * np.pi * k / T * t + 0.3)
        fc = leaknet.critical_frequency(leaknet.power_spectrum(v), T)
        assert fc == pytest.approx((k / T) / 0.5, abs=1e-12)
    # two sinusoids, 60 % of the power in the lower: 70 % is reached at the upper
    v = np.sqrt(0.6) * np.sin(2 * np.pi * 50 / T * t) + np.sqrt(0.4) * np.sin(2 * np.pi * 200 / T * t)
    assert leaknet.critical_frequency(leaknet.power_spectrum(v), T) == pytest.approx(0.4)
    # ... and at the lower one when it holds 80 %
    v = np.sqrt(0.8) * np.sin(2 * np.pi * 50 / T * t) + np.sqrt(0.2) * np.sin(2 * np.pi * 200 / T * t)
    assert leaknet.critical_frequency(leaknet.power_spectrum(v), T) == pytest.approx(0.1)
    # a constant (no power once the mean is removed): undefined
    assert np.isnan(leaknet.critical_frequency(leaknet.power_spectrum(np.ones(T)), T))


def test_white_noise_gives_seventy_percent_of_nyquist():
    T, N = 1300, 400
    v = np.random.default_rng(0).standard_normal((T, N))
    fc = leaknet.critical_frequency(leaknet.power_spectrum(v), T)
    # per sample the 70 % point of ~650 exponential bins has sd ≈ sqrt(0.7·0.3/650) ≈ 0.018
    assert fc.std() < 0.03
    assert abs(fc.mean() - 0.7) < 5 * 0.03 / np.sqrt(N)


def test_population_spectrum_averages_the_firing_units_only():
    T = 800
    t = np.arange(T)
    z = np.zeros((T, 2, 3))
    z[:, 0, 0] = (np.sin(2 * np.pi * 40 / T * t) > 0.9)  # one unit, periodic at 40/T
    z[:, 0, 1] = z[:, 0, 0]
    fc = leaknet.population_critical_frequency(z)
    assert fc[0] == pytest.approx(leaknet.critical_frequency(leaknet.power_spectrum(z[:, 0, 0]), T))
    assert np.isnan(fc[1])  # a sample without any spike
    y = np.array([[0, 2], [1, 2], [-1, 0]])  # (T=3, N=2)
    out = np.arange(3 * 2 * 3, dtype=float).reshape(3, 2, 3)
    assert np.array_equal(leaknet.target_trace(out, y), [[0, 5], [7, 11], [12, 15]])


# -- the command line ----------------------------------------------------------------------------
def test_bad_input_is_one_line_exit_2(tmp_path, capsys):
    for argv, needle in ((["nope"], "no such directory"),
                         ([".", "--kinds", "gauss,pink"], "--kinds"),
                         ([".", "--impulse-spikes-levels", "0,2"], "rate must lie in"),
                         ([".", "--repeats", "0"], "--repeats"),
                         ([".", "--bogus"], "unrecognized arguments")):
        argv = [str(tmp_path / a) if a in ("nope", ".") else a for a in argv]
        assert run_main(leaknet.main, argv) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error:") and "\n" not in err and needle in err, err
    assert not (tmp_path / "nope").exists()


def test_frozen_tau_runs_form_their_own_models(tmp_path):
    """A freeze setting (a dict) splits the LIF runs into models and is labelled τ_m."""
    from analysis.common import collect_finished_runs, mark_variants
    from tests.test_analysis_robustness_compare import fake_run

    for tau in (30, 100):
        fake_run(tmp_path, f"lif{tau}", neuron="lif", freeze={"tau_mem": float(tau)})
    runs, _ = collect_finished_runs(tmp_path)
    mark_variants(runs)
    assert sorted(leaknet.short_label(r.settings) for r in runs) == ["LIF τ_m = 100", "LIF τ_m = 30"]
    assert {json.dumps(r.variant) for r in runs} == {'[["freeze", {"tau_mem": 30.0}]]',
                                                     '[["freeze", {"tau_mem": 100.0}]]'}
    # robustness.compare_table groups them although a dict is not hashable
    from analysis.robustness import compare_table

    ev = {r.id: {"clean": {"accuracy": 80.0, "sops": 1.0}, "label_shares": np.array([1.0]),
                 "results": {"input_noise": {"levels": [0], "accuracy": [[80.0]], "sops": [[1.0]],
                                             "loss": [[0.5]]}}} for r in runs}
    rows = compare_table(runs, ev, ["input_noise"])
    assert len(rows) == 2 and all(r["n"] == 1 for r in rows)


@needs_ecg
def test_tiny_networks_end_to_end(tmp_path):
    """Two networks trained for two epochs on 16 segments (IF, and LIF with τ_m frozen at 30),
    then the command on their folder, on the first 3 test segments."""
    from analysis.common import evaluate, load_eval_data, load_run
    from resonet.train import main as train

    root = tmp_path / "runs"
    common = ["ecg", "--data-dir", str(ECG_DIR), "--subset", "16", "--batch", "8", "--epochs", "2",
              "--hidden", "6", "--truncation", "50", "--clip", "1", "--backend", "reference",
              "--eval-batch", "64", "--quiet"]
    assert train([*common, "--neuron", "if", "--out", str(root / "if")]) == 0
    assert train([*common, "--neuron", "lif", "--freeze", "tau_mem=30", "--out", str(root / "lif30")]) == 0
    out = tmp_path / "out"
    argv = [str(root), "--limit", "3", "--repeats", "2", "--backend", "reference",
            "--gauss-signal-levels", "0,2", "--impulse-signal-levels", "0,0.3",
            "--gauss-spikes-levels", "0,3", "--impulse-spikes-levels", "0,0.3",
            "--spectrum-severity", "1", "--last-epochs", "1", "--out", str(out)]
    assert leaknet.main(argv) == 0
    data = json.loads((out / "leaknet.json").read_text())
    assert {r["label"] for r in data["rows"]} == {"IF (τ_m = ∞)", "LIF τ_m = 30"}
    for name in ("leaknet.md", "leaknet.png", "leaknet_spectrum.png"):
        assert (out / name).stat().st_size > 0
    for run in data["runs"]:
        spec, params, cfg = load_run(root / run["id"])
        clean = evaluate(spec, params, load_eval_data(None, cfg, limit=3), backend="reference")
        assert run["clean"]["accuracy"] == pytest.approx(clean["accuracy"])
        for kind in leaknet.KINDS:
            acc = np.asarray(run["results"][kind]["accuracy"])
            assert acc.shape == (2, 2)
            np.testing.assert_allclose(acc[0], clean["accuracy"])  # level 0: the clean network
            for sig in leaknet.SPECTRUM_SIGNALS:
                fc = np.asarray(run["spectrum"][kind][sig], dtype=float)
                assert fc.shape == (3,) and np.all((fc[np.isfinite(fc)] >= 0) & (fc[np.isfinite(fc)] <= 1))
        sp = run["sparsity"]
        T = 1300
        assert sp["spike_rate"] == pytest.approx(100 * sp["sops"] / (6 * T))
        assert sp["sops"] == pytest.approx(clean["sops"])
        g = run["generalisation"]
        hist = [json.loads(line) for line in (root / run["id"] / "metrics.jsonl").read_text().splitlines()]
        assert g["train_loss_last"] == pytest.approx(hist[-1]["train_loss"])
        assert g["best_test_loss"] == pytest.approx(clean["loss"])
    # the summary of a kind: the drop averaged over its noisy levels (here the one level 1)
    for row in data["rows"]:
        run = next(r for r in data["runs"] if r["id"] == row["runs"][0])
        for kind in leaknet.KINDS:
            drop = run["clean"]["accuracy"] - np.mean(run["results"][kind]["accuracy"][1])
            assert row["mean_drop"][kind]["mean"] == pytest.approx(drop)
    # a second invocation never replaces the first one's files
    assert leaknet.main([*argv, "--no-figure", "--kinds", "gauss-spikes"]) == 0
    assert (out / "leaknet.md").read_text() != (out / "leaknet-2.md").read_text()
