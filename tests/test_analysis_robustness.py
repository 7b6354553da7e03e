"""analysis.robustness (docs/official-code.md §10), analysis.pruning and analysis.landscape on a
quickly trained toy checkpoint."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.common import EvalData, evaluate, load_run, write_checkpoint
from analysis.landscape import filter_normalise, loss_surface
from analysis.pruning import prune_recurrent, retrain_masked
from analysis.pruning import sweep as prune_sweep
from analysis.robustness import (
    DEFAULT_LEVELS,
    perturbed_forward,
    quantise,
    quantise_params,
    sweep,
    synaptic_noise,
)
from analysis.toy import make_data, train_toy
from resonet.errors import ConfigError
from resonet.network import NetworkSpec, forward, init_params


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    spec, params, train, test = train_toy("brf", hidden=12, steps=40, seed=0, n_test=120)
    d = tmp_path_factory.mktemp("toy") / "run"
    write_checkpoint(d, spec, params, task="toy")
    spec, params, _ = load_run(d)
    return spec, params, EvalData(*train), EvalData(*test)


def test_toy_checkpoint_is_trained_and_spikes(toy):
    spec, params, _, test = toy
    m = evaluate(spec, params, test)
    assert m["accuracy"] >= 95.0
    assert m["sops"] > 10


# -- §9.1 quantiser ---------------------------------------------------------------------------------
def test_quantiser_rounds_half_to_even_in_float32():
    np.testing.assert_array_equal(quantise([0.25, 0.75, -0.25, 1.25, 0.3], 1), [0.0, 1.0, -0.0, 1.0, 0.5])
    np.testing.assert_array_equal(quantise([2.5, 3.5], 0), [2.0, 4.0])
    x = np.random.default_rng(0).normal(size=1000) * 5
    for f in (2, 4, 8):
        q = quantise(x, f)
        assert np.all(np.abs(q - x) <= 2.0 ** (-f - 1) * (1 + 1e-6))
        np.testing.assert_array_equal(quantise(q, f), q)  # idempotent
        np.testing.assert_array_equal(q * 2 ** f, np.round(q * 2 ** f))  # on the 2^−f grid
    assert quantise([0.1], 32)[0] == np.float64(np.float32(0.1))  # float32 arithmetic
    with pytest.raises(ConfigError):
        quantise([1.0], -1)


def test_perturbed_forward_without_perturbation_is_the_engine(toy):
    spec, params, _, test = toy
    x, _ = test.take(np.arange(20))
    run = perturbed_forward(spec, params, x, return_states=True)
    fwd = forward(spec, params, x)
    np.testing.assert_array_equal(run.outputs, fwd.outputs)
    np.testing.assert_array_equal(run.num_spikes, fwd.num_spikes)
    for n in ("z", "u", "v", "q"):
        np.testing.assert_array_equal(run.states[n], fwd.states[n])


def test_perturbed_forward_in_float32_is_the_float32_engine(toy):
    """dtype=float32: the same loop in float32 equals the reference network run in float32 (the
    same elementwise operations in the same order)."""
    spec, params, _, test = toy
    x, _ = test.take(np.arange(20))
    run = perturbed_forward(spec, params, x, return_states=True, dtype=np.float32)
    p32 = {k: np.asarray(v, np.float32) for k, v in params.items()}
    fwd = forward(spec, p32, x.astype(np.float32))
    assert run.outputs.dtype == np.float32 and run.states["u"].dtype == np.float32
    np.testing.assert_array_equal(run.states["z"], fwd.states["z"])
    np.testing.assert_allclose(run.outputs, fwd.outputs, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(run.num_spikes, fwd.num_spikes)
    assert run.num_spikes.dtype == np.float64


def test_low_precision_silences_the_readout(toy):
    """§9.1: at f = 1 the readout α = exp(−1/|τ|) (τ ≈ 20) rounds to 1, (1 − α) = 0: outputs stay 0
    and every sample is predicted as class 0; at 32 fractional bits nothing changes."""
    spec, params, _, test = toy
    a = np.exp(-1 / np.abs(params["out.tau_mem"]))
    assert np.all(quantise(a, 1) == 1.0)
    res = sweep("bits", [1, 32], spec, params, test)
    y0 = np.mean(test._y == 0) * 100
    assert res["accuracy"][0, 0] == pytest.approx(y0)
    assert res["loss"][0, 0] == pytest.approx(np.log(2))  # zero outputs: ln C per step
    assert res["repeats"] == 1
    base = evaluate(spec, params, test)
    assert res["accuracy"][1, 0] == pytest.approx(base["accuracy"])
    assert res["loss"][1, 0] == pytest.approx(base["loss"], rel=1e-5)


def test_quantise_params_touches_every_parameter(toy):
    spec, params, _, _ = toy
    qp = quantise_params(params, 3)
    assert set(qp) == set(params)
    for k in params:
        np.testing.assert_array_equal(qp[k] * 8, np.round(qp[k] * 8))


def test_alif_decays_are_quantised_per_step():
    spec = NetworkSpec("alif", 2, 4, 2)
    params = init_params(spec, np.random.default_rng(0))
    params["hidden.linear.weight"] *= 20
    x = (np.random.default_rng(1).random((30, 3, 2)) < 0.3) * 1.0
    # at f = 0 both α ≈ exp(−1/20) and ρ ≈ exp(−1/150) round to 1: u integrates nothing, a stays 0
    run = perturbed_forward(spec, params, x, alpha_bits=0, return_states=True)
    assert np.all(run.states["u"] == 0) and np.all(run.states["a"] == 0)


# -- §9.2–9.4 ----------------------------------------------------------------------------------------
def test_noise_levels_zero_change_nothing_and_accuracy_degrades(toy):
    spec, params, _, test = toy
    base = evaluate(spec, params, test)
    for kind, levels in (("input_noise", [0.0, 60.0]), ("synaptic", [0.0, 10.0]), ("deletion", [0.0, 1.0])):
        res = sweep(kind, levels, spec, params, test, repeats=2, seed=1)
        assert res["accuracy"].shape == (2, 2)
        np.testing.assert_allclose(res["accuracy"][0], base["accuracy"])
        np.testing.assert_allclose(res["sops"][0], base["sops"])
        assert res["accuracy_mean"][1] < base["accuracy"] - 10, (kind, res["accuracy_mean"])
        if kind != "deletion":  # fresh noise per repeat
            assert res["sops"][1, 0] != res["sops"][1, 1]
    # deletion removes spikes in proportion (the SOP count is taken after deletion)
    res = sweep("deletion", [0.5], spec, params, test, repeats=1)
    assert res["sops"][0, 0] < 0.8 * base["sops"]


def test_input_noise_is_not_clipped(toy):
    spec, params, _, test = toy
    seen = []

    def spy(x, i):
        xn = x + 0.5 * np.random.default_rng(i).standard_normal(x.shape)
        seen.append(xn.min())
        return xn

    evaluate(spec, params, test, x_transform=spy)
    assert min(seen) < 0  # the toy's inputs are ≥ 0: noise is added without clipping


def test_synaptic_noise_is_multiplicative_on_matrices_only(toy):
    spec, params, _, _ = toy
    noisy = synaptic_noise(params, 0.3, np.random.default_rng(0))
    for k, v in params.items():
        if v.ndim == 2:
            assert not np.array_equal(noisy[k], v)
            np.testing.assert_array_equal(noisy[k][v == 0], 0.0)  # W·(1 + σε): zeros stay zero
        else:
            np.testing.assert_array_equal(noisy[k], v)


def test_spike_deletion_semantics():
    """p = 1 deletes every spike *after* the cell update: with W_rec = 0 the BRF's u, v, q (q from
    its own spikes) are unchanged and its own spikes still happen, but nothing reaches the readout
    (outputs 0, SOPs 0). For ALIF the adaptation sees only the deleted spikes (a ≡ 0) while the
    soft reset used the cell's own spike."""
    rng = np.random.default_rng(0)
    spec = NetworkSpec("brf", 2, 5, 2)
    params = init_params(spec, rng)
    params["hidden.linear.weight"][:, :2] = 60.0
    params["hidden.linear.weight"][:, 2:] = 0.0
    x = (rng.random((40, 3, 2)) < 0.3) * 30.0
    fwd = forward(spec, params, x)
    run = perturbed_forward(spec, params, x, delete_p=1.0, rng=rng, return_states=True)
    assert fwd.num_spikes.sum() > 0
    for n in ("u", "v", "q"):
        np.testing.assert_array_equal(run.states[n], fwd.states[n])
    np.testing.assert_array_equal(run.z_cell, fwd.states["z"])
    assert np.all(run.states["z"] == 0) and np.all(run.num_spikes == 0) and np.all(run.outputs == 0)

    spec = NetworkSpec("alif", 2, 5, 2)
    params = init_params(spec, rng)
    params["hidden.linear.weight"][:, :2] = 20.0
    params["hidden.linear.weight"][:, 2:] = 0.0
    fwd = forward(spec, params, x)
    run = perturbed_forward(spec, params, x, delete_p=1.0, rng=rng, return_states=True)
    assert fwd.states["a"].max() > 0 and np.all(run.states["a"] == 0)
    assert run.z_cell.sum() > 0
    # u' = ũ − z·θ with θ = θ₀ (a = 0): the soft reset happened with the undeleted spike
    u_prev = np.concatenate([np.zeros((1, 3, 5)), run.states["u"][:-1]])
    alpha = np.exp(-1 / np.abs(params["hidden.tau_mem"]))
    I = x @ params["hidden.linear.weight"][:, :2].T
    u_tilde = u_prev * alpha + I * (1 - alpha)
    np.testing.assert_allclose(run.states["u"], u_tilde - run.z_cell * 0.01, rtol=1e-12, atol=1e-12)


def test_deletion_needs_an_rng_and_a_valid_rate(toy):
    spec, params, _, test = toy
    x, _ = test.take(np.arange(2))
    with pytest.raises(ConfigError):
        perturbed_forward(spec, params, x, delete_p=0.5)
    with pytest.raises(ConfigError):
        perturbed_forward(spec, params, x, delete_p=1.5, rng=np.random.default_rng(0))


def test_default_levels_are_the_official_ones():
    assert DEFAULT_LEVELS["bits"] == [1, 2, 4, 8, 16, 32]
    assert len(DEFAULT_LEVELS["input_noise"]) == 8 and DEFAULT_LEVELS["input_noise"][-1] == 0.35
    assert len(DEFAULT_LEVELS["deletion"]) == 10 and DEFAULT_LEVELS["deletion"][-1] == 0.9
    assert len(DEFAULT_LEVELS["synaptic"]) == 11 and DEFAULT_LEVELS["synaptic"][-1] == 1.0


# -- pruning ----------------------------------------------------------------------------------------
def test_magnitude_pruning_removes_the_smallest_recurrent_weights(toy):
    spec, params, _, _ = toy
    I, H = spec.n_in, spec.n_hidden
    W = params["hidden.linear.weight"]
    for f in (0.0, 0.3, 1.0):
        pp, mask = prune_recurrent(spec, params, f)
        Wp = pp["hidden.linear.weight"]
        np.testing.assert_array_equal(Wp[:, :I], W[:, :I])  # the input block is never touched
        removed = mask[:, I:] == 0
        assert removed.sum() == round(f * H * H)
        if 0 < f < 1:
            assert np.abs(W[:, I:][removed]).max() <= np.abs(W[:, I:][~removed]).min()
        np.testing.assert_array_equal(Wp[:, I:][removed], 0.0)
        np.testing.assert_array_equal(Wp[:, I:][~removed], W[:, I:][~removed])
        for k in params:
            if k != "hidden.linear.weight":
                np.testing.assert_array_equal(pp[k], params[k])
    pr, mr = prune_recurrent(spec, params, 0.5, "random", np.random.default_rng(0))
    assert (mr[:, I:] == 0).sum() == round(0.5 * H * H)
    with pytest.raises(ConfigError):
        prune_recurrent(spec, params, 1.5)


def test_pruning_sweep_and_masked_retraining(toy):
    spec, params, train, test = toy
    res = prune_sweep(spec, params, test, [0.0, 1.0], retrain_steps=3, train=train, lr=1e-2)
    base = evaluate(spec, params, test)
    assert res["pruned"][0]["accuracy"] == pytest.approx(base["accuracy"])
    assert res["pruned"][1]["n_removed"] == spec.n_hidden ** 2
    assert len(res["retrained"][1]["train_loss"]) == 3
    pp, mask = prune_recurrent(spec, params, 0.6)
    rp, _ = retrain_masked(spec, pp, mask, train, steps=4, lr=1e-2, batch_size=32,
                           rng=np.random.default_rng(0))
    W = rp["hidden.linear.weight"]
    np.testing.assert_array_equal(W[mask == 0], 0.0)  # pruned weights stay exactly 0
    assert not np.array_equal(W[mask == 1], pp["hidden.linear.weight"][mask == 1])  # the rest trains


# -- landscape --------------------------------------------------------------------------------------
def test_filter_normalisation_per_row_and_block():
    rng = np.random.default_rng(0)
    W = rng.normal(size=(5, 3 + 5))
    W[2, 3:] = 0.0
    d = filter_normalise(rng.normal(size=W.shape), W, 3)
    for sl in (slice(0, 3), slice(3, None)):
        np.testing.assert_allclose(np.linalg.norm(d[:, sl], axis=1), np.linalg.norm(W[:, sl], axis=1))
    # I = 1: the input column becomes sign(d)·|W|
    W1 = rng.normal(size=(4, 1 + 4))
    d0 = rng.normal(size=W1.shape)
    np.testing.assert_allclose(filter_normalise(d0, W1, 1)[:, 0], np.sign(d0[:, 0]) * np.abs(W1[:, 0]))


def _mean_step_nll(spec, params, x, y):
    """The mean NLL per recorded step, from the engine's outputs and a log-softmax written here."""
    from scipy.special import log_softmax

    out = forward(spec, params, x).outputs  # (T_rec, B, C)
    logp = log_softmax(out, axis=-1)
    return float(-np.mean(np.take_along_axis(logp, np.broadcast_to(y, out.shape[:2])[..., None], -1)))


def _filter_normalised(d, W, n_in):
    """Li et al.'s per-row, per-block normalisation, written out row by row."""
    out = np.zeros_like(d)
    for i in range(W.shape[0]):
        for sl in (slice(0, n_in), slice(n_in, None)):
            nd = np.linalg.norm(d[i, sl])
            out[i, sl] = d[i, sl] / nd * np.linalg.norm(W[i, sl]) if nd > 0 else 0.0
    return out


def test_loss_surface(toy):
    """Every grid value is the mean per-step NLL (computed here from the engine's outputs, not by
    ``evaluate``) at W* + α·d₁ + β·d₂, with d₁, d₂ the seed's two N(0, 1) draws normalised row by
    row and block by block (written out here too).

    Mutations caught: the directions used without filter normalisation in ``loss_surface``, and
    ``evaluate``'s loss averaged per sample instead of per recorded step (``summarise`` without the
    division by n_rec) -- a test that compares ``evaluate`` with itself passes both."""
    spec, params, _, test = toy
    small = EvalData(*make_data(30, np.random.default_rng(5)))
    x, y = small.take(np.arange(30))
    res = loss_surface(spec, params, small, n=3, seed=2)
    assert res["loss"].shape == (3, 3)
    np.testing.assert_array_equal(res["alphas"], [-1.0, 0.0, 1.0])
    W = params["hidden.linear.weight"]
    rng = np.random.default_rng(2)
    d1, d2 = (_filter_normalised(rng.standard_normal(W.shape), W, spec.n_in) for _ in range(2))
    np.testing.assert_allclose(res["d1"], d1, rtol=1e-12)
    np.testing.assert_allclose(res["d2"], d2, rtol=1e-12)
    assert res["base_loss"] == pytest.approx(_mean_step_nll(spec, params, x, y), rel=1e-9)
    for i, a in enumerate(res["alphas"]):
        for j, b in enumerate(res["betas"]):
            p = dict(params)
            p["hidden.linear.weight"] = W + a * d1 + b * d2
            assert res["loss"][i, j] == pytest.approx(_mean_step_nll(spec, p, x, y), rel=1e-9), (a, b)
    assert res["loss"][1, 1] == pytest.approx(res["base_loss"])  # odd n: W* at the centre
    assert res["loss"].max() > res["base_loss"]
    even = loss_surface(spec, params, small, n=2, seed=2)
    assert 0.0 not in even["alphas"]
