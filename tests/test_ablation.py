"""BRF's ablations (the paper's Fig. 10; ``--ablate``): what each removes from eqs. (B2)/(B5),
checked against the equations written out here, the hand BPTT against central differences, the
CPU kernels against the reference, and the settings that carry them.

The CUDA kernels with ablations are checked in tests/cudasim (test_cuda_kernels, the session).
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from resonet import gradcheck
from resonet.backends import ReferenceBackend
from resonet.errors import ConfigError
from resonet.kernels.cpu import CpuBackend
from resonet.network import NetworkSpec
from resonet.neurons import brf
from resonet.settings import Settings, build_parser, resolve_settings
from tests.test_cpu_backend import compare

ALL = ("boundary", "refractory", "smooth_reset")
SETS = [("boundary",), ("refractory",), ("smooth_reset",), ("refractory", "smooth_reset"), ALL]
IDS = ["+".join(a) for a in SETS]


def case(ablate, T=60, H=8, seed=2):
    spec, params, x, y, rate = gradcheck.build_case("brf", T, H, seed, n_in=4, n_out=3, batch=3,
                                                    ablate=ablate)
    assert rate >= gradcheck.MIN_RATE
    return spec, params, x, y


def traces(spec, params, x):
    """States (T, B, H) of the reference run and the input currents I_t = W [x_t, z_{t−1}]."""
    r = ReferenceBackend().run(spec, params, x, None, return_states=True)
    st = {k: np.asarray(v) for k, v in r.states.items()}
    W = params["hidden.linear.weight"]
    z_prev = np.concatenate([np.zeros_like(st["z"][:1]), st["z"][:-1]])
    cur = np.concatenate([x, z_prev], axis=2) @ W.T
    return st, cur


def previous(a):
    return np.concatenate([np.zeros_like(a[:1]), a[:-1]])


@pytest.mark.parametrize("ablate", SETS, ids=IDS)
def test_each_ablation_removes_its_term_and_only_it(ablate):
    """Rebuild every step from the traces with (B2)–(B7) written out with the factors, and check
    the factors are the ones the names say (the whole BRF model differs, so this can fail)."""
    spec, params, x, _ = case(ablate)
    st, cur = traces(spec, params, x)
    u0, v0, q0 = previous(st["u"]), previous(st["v"]), previous(st["q"])
    w = np.abs(params["hidden.omega"])
    beta = np.abs(params["hidden.b_offset"])
    kd, kr, ks = (0.0 if n in ablate else 1.0 for n in ALL)
    b = kd * brf.boundary(w) - beta - ks * q0
    dt = spec.dt
    u1 = u0 + dt * (b * u0 - w * v0 + cur)
    v1 = v0 + dt * (w * u0 + b * v0)
    np.testing.assert_allclose(st["u"], u1, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(st["v"], v1, rtol=1e-12, atol=1e-12)
    z = (st["u"] - 1.0 - kr * q0 > 0).astype(float)
    assert np.array_equal(st["z"], z)
    np.testing.assert_allclose(st["q"], 0.9 * q0 + st["z"], rtol=0, atol=1e-13)
    # the same traces are not those of the whole model: each removed term mattered here
    b_full = brf.boundary(w) - beta - q0
    u_full = u0 + dt * (b_full * u0 - w * v0 + cur)
    if "boundary" in ablate or "smooth_reset" in ablate:
        assert np.abs(u_full - st["u"]).max() > 1e-6
    if "refractory" in ablate:  # some step spikes here that the raised threshold would stop
        assert np.any((st["u"] - 1.0 > 0) & (st["u"] - 1.0 - q0 <= 0))


@pytest.mark.parametrize("ablate", SETS, ids=IDS)
def test_hand_bptt_matches_central_differences(ablate):
    spec, params, x, y = case(ablate)
    errors = gradcheck.run_check(spec, params, x, y)
    assert max(errors.values()) < gradcheck.TOLERANCE, errors


def test_the_check_sees_a_backward_that_ignores_the_ablation(monkeypatch):
    """A backward that keeps κ_r = 1 while the forward has removed the refractory term (the
    plausible bug: a factor forgotten in (B14)) fails the check."""
    spec, params, x, y = case(("refractory",))
    orig = brf.step_backward

    def forgot(c, prev, I, new, dnew, dc, **kw):
        return orig(c._replace(kr=1.0), prev, I, new, dnew, dc, **kw)

    monkeypatch.setattr(brf, "step_backward", forgot)
    errors = gradcheck.run_check(spec, params, x, y)
    assert max(errors.values()) > 1e-3, errors


@pytest.mark.parametrize("ablate", SETS, ids=IDS)
def test_cpu_kernels_equal_reference(ablate):
    spec, params, x, y = case(ablate, T=40, H=13)
    kw = {"return_states": True, "return_dx": True}
    a = CpuBackend().run(spec, params, x, y, **kw)
    b = ReferenceBackend().run(spec, params, x, y, **kw)
    compare(a, b)
    assert a.states["z"].sum() > 0


def test_cpu_float32_with_ablations_tracks_float64():
    spec, params, x, y = case(ALL, T=30, H=10)
    a = CpuBackend().run(spec, params, x, y, dtype=np.float32)
    b = ReferenceBackend().run(spec, params, x, y)
    assert np.array_equal(a.num_spikes, b.num_spikes)
    # float32 rounding (ε = 6e-8) accumulated over 30 steps of a damped recurrence
    for n, g in b.grads.items():
        scale = np.abs(g).max()
        assert np.abs(a.grads[n] - g).max() <= 1e-4 * scale, n


def resolve(*argv):
    return resolve_settings(build_parser().parse_args(list(argv)))


def test_settings_carry_the_ablation_and_older_runs_keep_their_hash():
    s = resolve("ecg", "--ablate", "smooth_reset, boundary")
    assert s.ablate == ["boundary", "smooth_reset"]
    assert NetworkSpec(**s.spec).ablate == ("boundary", "smooth_reset")
    back = Settings.from_dict(json.loads(json.dumps(s.to_dict())))
    assert back.fingerprint() == s.fingerprint() and back.network.ablate == s.network.ablate
    plain = resolve("ecg")
    assert plain.ablate is None and "ablate" not in plain.spec  # the whole model: as before
    d = plain.to_dict()
    del d["ablate"]  # a run directory written before the option existed
    assert Settings.from_dict(d).fingerprint() == plain.fingerprint()
    assert s.fingerprint() != plain.fingerprint()


@pytest.mark.parametrize("argv,needle", [
    (("ecg", "--neuron", "rf", "--ablate", "boundary"),
     "--ablate boundary: 'boundary' is not a mechanism of the rf neuron"),
    (("ecg", "--ablate", "refractoryy"), "it has: boundary, refractory, smooth_reset"),
])
def test_bad_ablations_are_refused_naming_the_option(argv, needle):
    with pytest.raises(ConfigError, match=needle):
        resolve(*argv)


def test_spec_refuses_unknown_ablations():
    with pytest.raises(ConfigError, match="not a mechanism of the alif neuron"):
        NetworkSpec("alif", 2, 3, 2, ablate=("refractory",))
    assert NetworkSpec("brf", 2, 3, 2, ablate=["refractory", "boundary", "refractory"]).ablate == \
        ("boundary", "refractory")


def test_cli_error_is_one_line():
    r = subprocess.run([sys.executable, "-m", "resonet.train", "ecg", "--ablate", "nope"],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "--ablate nope" in r.stderr


def test_brf_without_all_three_is_the_rf_neuron_without_reset():
    """κ_d = κ_r = κ_s = 0 leaves b = −|b'| and a fixed threshold: the RF cell (R1)–(R6) with
    no reset, the same parameters and the same surrogate. Outputs, states and gradients agree."""
    spec_b, params, x, y = case(ALL, T=50, H=9)
    spec_r = NetworkSpec("rf", spec_b.n_in, spec_b.n_hidden, spec_b.n_out)
    assert set(spec_r.param_shapes()) == set(spec_b.param_shapes())
    kw = {"return_states": True, "return_dx": True}
    b = ReferenceBackend().run(spec_b, params, x, y, **kw)
    r = ReferenceBackend().run(spec_r, params, x, y, **kw)
    assert b.states["z"].sum() > 0
    assert np.array_equal(b.states["z"], r.states["z"])
    for n in ("u", "v"):
        np.testing.assert_allclose(b.states[n], r.states[n], rtol=0, atol=1e-12)
    np.testing.assert_allclose(b.outputs, r.outputs, rtol=1e-12, atol=0)
    for n, g in r.grads.items():
        np.testing.assert_allclose(b.grads[n], g, rtol=1e-10, atol=1e-12 * np.abs(g).max(), err_msg=n)
