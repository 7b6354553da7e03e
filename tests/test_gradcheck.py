"""The finite-difference gradient check: passes for every model, and can fail."""

from __future__ import annotations

import subprocess
import sys

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

    def broken(c, prev, I, new, dnew, dc):  # noqa: E741
        dprev, dI = orig(c, prev, I, new, dnew, dc)
        return (dprev[0], dprev[1], dprev[2], dprev[3] * 0.0), dI  # q̄ lost

    monkeypatch.setattr(brf, "step_backward", broken)
    errors = gradcheck.run_check(spec, params, x, y)
    assert max(errors.values()) > 1e-3


def test_bad_argument_is_one_line():
    r = run_gc("--neuron", "brf", "--T", "0")
    assert r.returncode == 2 and "Traceback" not in r.stderr
