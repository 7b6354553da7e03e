"""Reset-to-mod (``reset="mod"``): the LIF and RF with graded, signed spikes z = trunc(ũ/ϑ)
(eqs. (S6)–(S7), docs/derivations/lif.md and rf.md, "Reset-to-mod"), golden-free: the forward
rebuilt from its traces, the quantisation bound (Q2) it exists for, the hand BPTT against
central differences (and a backward with the binary surrogate failing that check), the CPU
kernels against the reference in float64 and float32. The CUDA kernels and session are checked
against the CPU ones in tests/cudasim (test_cuda_kernels.py, test_cuda_session.py).
"""

from __future__ import annotations

import numpy as np
import pytest

from analysis.quantisation import alexiewicz_norm
from resonet import gradcheck
from resonet.backends import ReferenceBackend
from resonet.errors import ConfigError
from resonet.kernels.cpu import CpuBackend
from resonet.network import NetworkSpec
from resonet.neurons import lif, rf
from resonet.surrogate import MOD_LEVELS, dgraded, dspike, dspike_linear, graded_spike, heaviside
from tests.test_cpu_backend import compare

THETA = 1.0


def case(neuron, T=50, H=8, seed=4, gain=3.0, batch=3):
    """A network whose currents reach several ϑ: graded spikes of both signs."""
    spec, params, x, y, rate = gradcheck.build_case(neuron, T, H, seed, n_in=4, n_out=3,
                                                    batch=batch, reset="mod", per_step=True)
    params["hidden.linear.weight"] *= gain
    return spec, params, x, y


def states(spec, params, x):
    r = ReferenceBackend().run(spec, params, x, None, return_states=True)
    return {k: np.asarray(v) for k, v in r.states.items()}, r


def previous(a):
    return np.concatenate([np.zeros_like(a[:1]), a[:-1]])


def test_graded_spike_is_truncation_clipped_at_k():
    u = np.array([-12.0, -9.5, -3.0, -2.5, -1.0, -0.3, 0.0, 0.7, 1.0, 1.2, 2.0, 5.9, 8.5, 9.0,
                  40.0])
    z = graded_spike(heaviside, u)
    # strict like Θ: z(kϑ) = k − 1; beyond ±K it saturates
    want = np.clip(np.where(u == np.trunc(u), np.sign(u) * (np.abs(u) - 1), np.trunc(u)),
                   -MOD_LEVELS, MOD_LEVELS)
    want[u == 0] = 0
    assert np.array_equal(z, want)


@pytest.mark.parametrize("surrogate", [dspike, dspike_linear], ids=["double_gaussian", "linear"])
def test_dgraded_is_the_sum_of_shifted_surrogates(surrogate):
    u = np.linspace(-10.5, 10.5, 2101)
    want = sum(surrogate(u - k * THETA) + surrogate(-u - k * THETA)
               for k in range(1, MOD_LEVELS + 1))
    np.testing.assert_allclose(dgraded(surrogate, u), want, rtol=1e-14, atol=1e-15)
    if surrogate is dspike_linear:  # overlapping triangles: slope 1 between ϑ and Kϑ
        inner = (np.abs(u) >= 1) & (np.abs(u) <= MOD_LEVELS)
        np.testing.assert_allclose(dgraded(surrogate, u)[inner], 1.0, atol=1e-12)


def test_lif_forward_is_reset_to_mod():
    """Rebuild (F2), (S6), (F5) from the traces: z = trunc(ũ/ϑ), u' = ũ − ϑz, |u'| ≤ ϑ."""
    spec, params, x, _ = case("lif")
    st, _ = states(spec, params, x)
    W = params["hidden.linear.weight"]
    cur = np.concatenate([x, previous(st["z"])], axis=2) @ W.T
    alpha = np.exp(-1.0 / np.abs(params["hidden.tau_mem"]))
    ut = alpha * previous(st["u"]) + (1.0 - alpha) * cur
    z = st["z"]
    assert (z >= 2).any() and (z <= -2).any(), np.unique(z)  # the case is graded and signed
    inside = np.abs(ut) <= MOD_LEVELS  # not saturated
    want = np.where(ut == np.trunc(ut), np.sign(ut) * np.maximum(np.abs(ut) - 1, 0),
                    np.trunc(ut))
    assert np.array_equal(z[inside], want[inside])
    np.testing.assert_allclose(st["u"], ut - THETA * z, rtol=0, atol=1e-12)
    assert np.abs(st["u"][inside]).max() <= THETA


def test_rf_mod_resets_both_parts_by_the_graded_spike():
    spec, params, x, _ = case("rf", gain=1.5)
    st, _ = states(spec, params, x)
    soft = NetworkSpec("rf", spec.n_in, spec.n_hidden, spec.n_out, reset="soft")
    assert (np.abs(st["z"]) >= 2).any()
    # one step from the stored state of step t − 1 reproduces step t exactly
    W = params["hidden.linear.weight"]
    cur = np.concatenate([x, previous(st["z"])], axis=2) @ W.T
    c = rf.derive({k[len("hidden."):]: v for k, v in params.items() if k.startswith("hidden.")},
                  spec)
    prev = (previous(st["z"]), previous(st["u"]), previous(st["v"]))
    z, u, v = rf.step_forward(c, prev, cur, heaviside)
    assert np.array_equal(z, st["z"])
    np.testing.assert_allclose(u, st["u"], atol=1e-12)
    np.testing.assert_allclose(v, st["v"], atol=1e-12)
    # soft reset with the same inputs differs exactly where a graded spike is ≥ 2
    cs = rf.derive({k[len("hidden."):]: v for k, v in params.items() if k.startswith("hidden.")},
                   soft)
    zs, us, _ = rf.step_forward(cs, prev, cur, heaviside)
    many = np.abs(st["z"]) >= 2
    assert np.all(zs[many] <= 1) and not np.allclose(us, u)


def test_mod_equals_the_soft_reset_below_two_thresholds():
    """While ũ stays in (−ϑ, 2ϑ] a graded spike is 0 or 1: reset-to-mod is the LIF's own soft
    reset, bit for bit (a plausible bug, a shifted count or a reset by a wrong multiple, is not)."""
    spec, params, x, _ = case("lif", gain=1.0)
    W = params["hidden.linear.weight"]
    W[:] = 0.5 * np.abs(W)  # excitatory, moderate: ũ stays in (−ϑ, 2ϑ]
    st, r = states(spec, params, x)
    plain = NetworkSpec("lif", spec.n_in, spec.n_hidden, spec.n_out)
    st0, r0 = states(plain, params, x)
    assert st["z"].max() == 1 and st["z"].min() == 0 and st["z"].sum() > 0
    assert np.array_equal(st["u"], st0["u"]) and np.array_equal(r.outputs, r0.outputs)


def test_network_error_meets_the_quantisation_bound():
    """(Q2) at network level: per neuron, η_t = (1 − α)·I_t (the membrane input), s_t = ϑ·z_t;
    ‖η − s‖_{A,α} = max|u| ≤ ϑ with reset-to-mod, while the binary soft reset of the same
    network exceeds it (it discharges one ϑ per step whatever ũ is)."""
    errs = {}
    for reset in ("mod", "none"):
        spec, params, x, _ = case("lif", gain=1.0)
        spec = NetworkSpec("lif", spec.n_in, spec.n_hidden, spec.n_out, reset=reset)
        st, r = states(spec, params, x)
        alpha = np.exp(-1.0 / np.abs(params["hidden.tau_mem"]))
        cur = np.concatenate([x, previous(st["z"])], axis=2) @ params["hidden.linear.weight"].T
        eta = (1.0 - alpha) * cur
        e = np.array([[alexiewicz_norm(eta[:, b, h] - THETA * st["z"][:, b, h], alpha[h])
                       for h in range(spec.n_hidden)] for b in range(x.shape[1])])
        np.testing.assert_allclose(e, np.abs(st["u"]).max(axis=0), rtol=1e-12, atol=1e-12)
        errs[reset] = e.max()
    assert errs["mod"] <= THETA < errs["none"], errs


@pytest.mark.parametrize("neuron", ["lif", "rf"])
def test_hand_bptt_matches_central_differences(neuron):
    spec, params, x, y = case(neuron, T=40, gain=2.0 if neuron == "lif" else 1.5)
    st, _ = states(spec, params, x)
    assert (np.abs(st["z"]) >= 2).any()
    errors = gradcheck.run_check(spec, params, x, y)
    assert max(errors.values()) < gradcheck.TOLERANCE, errors


def test_the_check_sees_a_backward_with_the_binary_surrogate(monkeypatch):
    """The plausible bug: the backward keeps σ'(ũ − ϑ) of the binary spike instead of (S7)."""
    spec, params, x, y = case("lif", T=40, gain=2.0)
    monkeypatch.setattr(lif, "dgraded", lambda d, u, theta: d(u - theta))
    errors = gradcheck.run_check(spec, params, x, y)
    assert max(errors.values()) > 1e-3, errors


@pytest.mark.parametrize("neuron", ["lif", "rf"])
def test_cpu_kernels_equal_reference(neuron):
    # H = 13: not a multiple of 8; T = 37: several checkpoint segments (z_{t0−1} from the
    # checkpoint's extra row)
    spec, params, x, y = case(neuron, T=37, H=13, gain=2.0)
    x = x * np.random.default_rng(1).normal(1.0, 1.0, x.shape)  # valued, signed input
    kw = {"return_states": True, "return_dx": True}
    a = CpuBackend().run(spec, params, x, y, **kw)
    b = ReferenceBackend().run(spec, params, x, y, **kw)
    z = b.states["z"]
    assert (z >= 2).any() and (z < 0).any()
    np.testing.assert_array_equal(b.num_spikes, np.abs(z).sum(axis=(0, 2)))
    compare(a, b)


def test_cpu_wide_layer_equals_reference():
    """A wide layer (H ≥ WIDE_MIN_H) adds the spike rows per segment (scatter_spikes), each
    scaled by its graded spike."""
    from resonet.kernels.cpu.config import WIDE_MIN_H

    spec, params, x, y = case("lif", T=12, H=WIDE_MIN_H + 8, gain=1.0, batch=5)
    a = CpuBackend().run(spec, params, x, y, return_states=True)
    b = ReferenceBackend().run(spec, params, x, y, return_states=True)
    assert (np.abs(b.states["z"]) >= 2).any()
    compare(a, b)


def test_cpu_float32_tracks_float64():
    spec, params, x, y = case("lif", T=30, H=10, gain=2.0)
    a = CpuBackend().run(spec, params, x, y, dtype=np.float32)
    b = ReferenceBackend().run(spec, params, x, y)
    assert np.array_equal(a.num_spikes, b.num_spikes)
    # float32 rounding (ε = 6e-8) accumulated over 30 steps of a decaying recurrence
    for n, g in b.grads.items():
        assert np.abs(a.grads[n] - g).max() <= 1e-4 * np.abs(g).max(), n


def test_mod_is_refused_where_it_is_not_defined():
    with pytest.raises(ConfigError, match="not defined for the brf neuron"):
        NetworkSpec("brf", 4, 8, 3, reset="mod")
    with pytest.raises(ConfigError, match="one hidden layer"):
        NetworkSpec("lif", 4, (8, 6), 3, reset="mod")


def _finished_run(path, spec, params, seed=0):
    import json

    from analysis.common import write_checkpoint

    write_checkpoint(path, spec, params, task="toy", seed=seed)
    (path / "summary.json").write_text(json.dumps({"best_epoch": 1, "test_acc": 50.0,
                                                   "test_sops": 1.0}))
    return path


def test_network_command_measures_the_bound(tmp_path, capsys):
    """`python -m analysis.quantisation network`: the same LIF weights with reset-to-mod and with
    the binary soft reset; the first keeps every (sample, neuron) error below ϑ, the second does
    not, and the numbers are those of layer_quantisation on the reference traces."""
    import json

    from analysis import quantisation

    spec, params, x, y = case("lif", T=40, gain=1.5, batch=4)
    np.savez(tmp_path / "data.npz", x=x, y=y)
    plain = NetworkSpec("lif", spec.n_in, spec.n_hidden, spec.n_out)
    _finished_run(tmp_path / "runs" / "lif-mod", spec, params)
    _finished_run(tmp_path / "runs" / "lif-soft", plain, params)
    out = tmp_path / "out"
    assert quantisation.main(["network", str(tmp_path / "runs"), "--data",
                              str(tmp_path / "data.npz"), "--out", str(out)]) == 0
    data = json.loads((out / "quantisation-network.json").read_text())
    by = {r["reset"]: r for r in data["runs"]}
    assert by["mod"]["max"] <= 1.0 < by["none"]["max"]
    assert by["mod"]["max_unclipped"] == by["mod"]["max"] and by["mod"]["clipped_pairs"] == 0.0
    assert by["mod"]["frac_ge_theta"] == 0.0 < by["none"]["frac_ge_theta"]
    st, _ = states(spec, params, x)
    alpha = np.exp(-1.0 / np.abs(params["hidden.tau_mem"]))
    q = quantisation.layer_quantisation(spec, params, x, st["z"], alpha)
    assert by["mod"]["max"] == pytest.approx(q["error"].max(), rel=1e-12)
    assert by["mod"]["graded_share"] == pytest.approx(q["graded"]) and q["graded"] > 0
    assert "| mod | 1 |" in (out / "quantisation-network.md").read_text()


def test_network_command_refuses_missing_dirs_and_other_models(tmp_path):
    from analysis import quantisation

    with pytest.raises(ConfigError, match="no such directory"):
        quantisation.main(["network", str(tmp_path / "nope")])
    spec, params, _, _ = case("rf", T=10)
    _finished_run(tmp_path / "rf-run", spec, params)
    with pytest.raises(ConfigError, match="no finished"):
        quantisation.main(["network", str(tmp_path)])
