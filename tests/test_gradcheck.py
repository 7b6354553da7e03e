"""The finite-difference gradient check: passes for every model, and can fail."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from resonet import gradcheck
from resonet.neurons import NEURONS


def run_gc(*args):
    return subprocess.run([sys.executable, "-m", "resonet.gradcheck", *map(str, args)],
                          capture_output=True, text=True)


@pytest.mark.parametrize("neuron", list(NEURONS))
def test_cli_passes_at_T100(neuron):
    r = run_gc("--neuron", neuron, "--T", 100)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "=> PASS" in r.stdout and "spike rate" in r.stdout


@pytest.mark.parametrize(
    "args",
    [
        ("--neuron", "rf", "--reset", "soft"),
        ("--neuron", "rf", "--reset", "hard"),
        ("--neuron", "brf", "--sub-seq", "10"),
        ("--neuron", "alif", "--label-last"),
        ("--neuron", "bhrf", "--per-step", "--sub-seq", "5"),
    ],
)
def test_cli_variants(args):
    r = run_gc(*args, "--T", 50, "--hidden", 6)
    assert r.returncode == 0, r.stdout + r.stderr


def test_refuses_a_network_that_barely_spikes():
    r = run_gc("--neuron", "brf", "--T", 30, "--min-rate", "0.99")
    assert r.returncode == 1
    assert "REFUSED" in r.stdout


def test_check_detects_a_wrong_gradient(monkeypatch):
    """Break one term of the BRF backward (drop the path from the damping into q) and the
    check must see it."""
    spec, params, x, y, rate = gradcheck.build_case("brf", 60, 6, 0)
    assert rate >= gradcheck.MIN_RATE
    from resonet.neurons import brf

    orig = brf.step_backward

    def broken(c, prev, I, new, dnew, dc):
        dprev, dI = orig(c, prev, I, new, dnew, dc)
        return (dprev[0], dprev[1], dprev[2], dprev[3] * 0.0), dI  # q̄ lost

    monkeypatch.setattr(brf, "step_backward", broken)
    errors = gradcheck.run_check(spec, params, x, y)
    assert max(errors.values()) > 1e-3


def test_check_detects_a_wrong_gradient_of_a_kinked_surrogate(monkeypatch):
    """The same for LIF (linear surrogate, one-sided stencils next to its kinks): drop the path
    through the soft reset."""
    spec, params, x, y, rate = gradcheck.build_case("lif", 60, 6, 0)
    assert rate >= gradcheck.MIN_RATE
    errors = gradcheck.run_check(spec, params, x, y)
    assert max(errors.values()) < gradcheck.TOLERANCE
    from resonet.neurons import lif

    orig = lif.step_backward

    def broken(c, prev, I, new, dnew, dc):
        dz, du_new = dnew
        return orig(c, prev, I, new, (dz + lif.THETA * du_new, du_new), dc)  # z̄ − ϑū' lost

    monkeypatch.setattr(lif, "step_backward", broken)
    errors = gradcheck.run_check(spec, params, x, y)
    assert max(errors.values()) > 1e-3


def test_kinks_are_stepped_around():
    """A stencil with some s strictly on both sides of a kink is refused; touching one is not."""
    a, b = np.array([-1.2, 0.5]), np.array([-0.8, 0.5])
    assert gradcheck.crosses_kink([a, b], (-1.0, 0.0, 1.0))
    assert not gradcheck.crosses_kink([a, a - 0.1], (-1.0, 0.0, 1.0))
    assert not gradcheck.crosses_kink([np.array([-1.0]), np.array([-0.9])], (-1.0,))
    assert not gradcheck.crosses_kink([a, b], ())
    # f(x) = Σ S(x − c) with a kink exactly at the base point: the one-sided stencil is exact
    from resonet.surrogate import LINEAR

    c = np.array([0.0, 0.3, -0.7])  # x = 0: s = 0 (kink), −0.3, 0.7

    def f():
        s = arr[0] - c
        return float(np.sum(LINEAR.smooth(s))), s

    arr = np.zeros(1)
    g = gradcheck.finite_difference(f, arr, kinks=LINEAR.kinks)
    assert abs(g[0] - np.sum(LINEAR.dspike(-c))) < 1e-9


def test_bad_argument_is_one_line():
    r = run_gc("--neuron", "brf", "--T", "0")
    assert r.returncode == 2 and "Traceback" not in r.stderr


@pytest.mark.parametrize("args,needle", [
    # one class: log-softmax is 0, every gradient is exactly 0 and the check would pass vacuously
    (["--classes", "1"], "--classes"),
    (["--min-rate", "nan"], "--min-rate"),
    (["--min-rate", "2"], "--min-rate"),  # a rate above 1 can never be reached
    (["--min-rate", "-0.5"], "--min-rate"),  # below 0 disables the refusal it exists for
])
def test_meaningless_checks_are_refused(args, needle):
    r = run_gc("--neuron", "brf", "--T", "20", *args)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "Traceback" not in r.stderr and needle in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert "PASS" not in r.stdout
