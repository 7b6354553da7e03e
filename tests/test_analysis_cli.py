"""The ``python -m analysis.<name>`` entry points: outputs, no overwriting, one-line errors."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from analysis.toy import write_toy_run
from resonet.cli import run_main
from tests.conftest import ECG_DIR, needs_ecg

ROOT = Path(__file__).resolve().parent.parent
MODULES = ["divergence", "spectral", "freqresp", "quantisation", "robustness", "pruning", "landscape", "toy",
           "leak", "leaknet"]


def cli(name, argv):
    return run_main(importlib.import_module(f"analysis.{name}").main, [str(a) for a in argv])


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return write_toy_run(tmp_path_factory.mktemp("cli") / "toy", hidden=8, steps=25)


@pytest.mark.parametrize("name", MODULES)
def test_every_flag_has_help(name):
    ap = importlib.import_module(f"analysis.{name}").build_parser()
    for action in ap._actions:
        assert action.help and action.help.strip(), (name, action.dest)
    assert ap.description


def test_docs_and_help_agree_on_the_default_backend():
    """docs/analysis.md states the CLIs' --backend default; it must be the one --help shows."""
    import re

    from analysis.common import DEFAULT_BACKEND

    docs = (ROOT / "docs" / "analysis.md").read_text()
    stated = re.search(r"`--backend` defaults to `(\w+)`", docs)
    assert stated and stated.group(1) == DEFAULT_BACKEND, stated
    helps = importlib.import_module("analysis.robustness").build_parser().format_help()
    assert f"(default {DEFAULT_BACKEND})" in " ".join(helps.split())


def _check_outputs(out, stem, keys):
    png, js = out / f"{stem}.png", out / f"{stem}.json"
    assert png.exists() and png.stat().st_size > 1000
    data = json.loads(js.read_text())
    for k in keys:
        assert k in data, (stem, k, list(data))
    return data


def test_divergence_cli(tmp_path, run_dir, capsys):
    assert cli("divergence", [run_dir, "--out", tmp_path, "--dts", "0.01,0.05"]) == 0
    data = _check_outputs(tmp_path, "divergence", ["fig9_curves", "init_range_checks", "checkpoint_checks",
                                                   "engine_p_dt"])
    assert data["engine_p_dt"] == 0.01
    chk = data["checkpoint_checks"][str(run_dir)]
    assert chk["summary"]["all_stable"] is True
    assert "brf/shd" in data["init_range_checks"]
    # a second run into the same directory keeps the first files
    assert cli("divergence", ["--out", tmp_path]) == 0
    assert (tmp_path / "divergence-2.json").exists() and (tmp_path / "divergence-2.png").exists()
    assert json.loads((tmp_path / "divergence.json").read_text())["checkpoint_checks"]


def test_spectral_cli(tmp_path, run_dir):
    assert cli("spectral", ["--out", tmp_path, "--hidden", 6, "--T", 40, "--states", 3]) == 0
    d = _check_outputs(tmp_path, "spectral", ["frozen", "surrogate", "neuron_radius_q0"])
    assert max(d["frozen"]) <= 1.0
    assert cli("spectral", [run_dir, "--out", tmp_path / "ck", "--T", 30, "--states", 2]) == 0
    _check_outputs(tmp_path / "ck", "spectral", ["max_surrogate"])


def test_freqresp_cli(tmp_path):
    assert cli("freqresp", ["--out", tmp_path, "--nfreq", 30, "--duration", 15]) == 0
    d = _check_outputs(tmp_path, "freqresp", ["resonators"])
    assert set(d["resonators"]["models"]) == {"rf", "brf", "hrf", "bhrf"}
    assert d["resonators"]["unstable"] == {}


def test_freqresp_cli_sweeps_an_unstable_neuron_only_when_asked(tmp_path, capsys):
    """RF at ω = 30, b' = 3 has |λ| = 1.0153 > 1: refused (exit 2) unless --allow-unstable, which
    sweeps it with a warning and marks it in the JSON."""
    argv = ["--omega", 30, "--b-offset", 3, "--nfreq", 20, "--duration", 10, "--out", tmp_path]
    assert cli("freqresp", argv) == 2
    err = capsys.readouterr().err
    assert "rf (|lambda| = 1.0153" in err and "4.606" in err and "--allow-unstable" in err
    assert not (tmp_path / "freqresp.json").exists()
    assert cli("freqresp", argv + ["--allow-unstable"]) == 0
    assert "warning: unstable neuron(s)" in capsys.readouterr().err
    d = json.loads((tmp_path / "freqresp.json").read_text())["resonators"]
    assert d["models"]["rf"]["unstable"] is True and d["models"]["brf"]["unstable"] is False
    assert cli("freqresp", argv[:-2] + ["--models", "brf,hrf,bhrf", "--out", tmp_path / "ok"]) == 0


def test_quantisation_cli(tmp_path):
    assert cli("quantisation", ["--out", tmp_path, "--trials", 50, "--T", 20, "--amplitudes", "0.5,3"]) == 0
    d = _check_outputs(tmp_path, "quantisation", ["trials", "counterexamples", "definition"])
    assert max(d["trials"]["mod"]["max_err"]) < 1.0


def test_robustness_cli(tmp_path, run_dir):
    argv = [run_dir, "--data", run_dir / "test.npz", "--limit", 40, "--out", tmp_path, "--repeats", 2,
            "--bits-levels", "1,16", "--input-noise-levels", "0,0.5", "--deletion-levels", "0,0.5",
            "--synaptic-levels", "0,0.5"]
    assert cli("robustness", argv) == 0
    d = _check_outputs(tmp_path, "robustness", ["results", "backend"])
    assert set(d["results"]) == {"bits", "input_noise", "deletion", "synaptic"}
    assert len(d["results"]["deletion"]["accuracy"]) == 2
    assert d["results"]["bits"]["repeats"] == 1


def test_pruning_cli(tmp_path, run_dir):
    argv = [run_dir, "--data", run_dir / "test.npz", "--limit", 40, "--out", tmp_path, "--fractions", "0,0.5",
            "--retrain-steps", 2, "--train-data", run_dir / "train.npz", "--method", "random"]
    assert cli("pruning", argv) == 0
    d = _check_outputs(tmp_path, "pruning", ["pruned", "retrained", "fractions"])
    assert len(d["retrained"]) == 2


def test_landscape_cli(tmp_path, run_dir):
    argv = [run_dir, "--data", run_dir / "test.npz", "--limit", 20, "--out", tmp_path, "--n", 3]
    assert cli("landscape", argv) == 0
    d = _check_outputs(tmp_path, "landscape", ["loss", "alphas", "base_loss"])
    assert len(d["loss"]) == 3 and "d1" not in d


@pytest.mark.parametrize("name, argv, needle", [
    ("robustness", ["{tmp}/nope"], "no such checkpoint"),
    ("robustness", ["{run}", "--data", "{tmp}/missing.npz"], "no such data file"),
    ("robustness", ["{run}", "--data", "{run}/test.npz", "--deletion-levels", "0,1.5", "--kinds", "deletion"],
     "must lie in [0, 1]"),
    ("robustness", ["{run}", "--kinds", "bits,fog"], "unknown"),
    ("pruning", ["{run}", "--data", "{run}/test.npz", "--fractions", "0,2"], "--fractions"),
    ("landscape", ["{run}", "--data", "{run}/test.npz", "--n", "1"], "--n >= 2"),
    ("freqresp", ["--omega", "150"], "--omega"),
    ("freqresp", ["--fmin", "abc"], "--fmin"),
    ("freqresp", ["--models", "rf,lif"], "--models"),
    ("leak", ["--dt", "0.01", "--taus", "0.03"], "--dt"),
    ("quantisation", ["--alpha", "1.5"], "alpha"),
    ("divergence", ["--dts", "0,0.01"], "(0, 1]"),
    ("spectral", ["{tmp}/nope.npz"], "no such checkpoint"),
    ("toy", [], "--out"),
])
def test_bad_input_gives_one_line_and_exit_2(name, argv, needle, tmp_path, run_dir, capsys):
    argv = [a.format(tmp=tmp_path, run=run_dir) for a in argv]
    assert cli(name, argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err, err
    assert needle in err, err


def test_module_entry_points_run(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    ok = subprocess.run([sys.executable, "-m", "analysis.quantisation", "--help"], cwd=ROOT, env=env,
                        capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0 and "--alpha" in ok.stdout and "--out" in ok.stdout
    bad = subprocess.run([sys.executable, "-m", "analysis.robustness", str(tmp_path / "missing")], cwd=ROOT,
                         env=env, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2
    assert bad.stderr.strip().startswith("error:") and len(bad.stderr.strip().splitlines()) == 1


@needs_ecg
def test_on_a_real_training_run(tmp_path):
    """A run directory written by python -m resonet.train loads, and the analyses find the run's
    task data (per-step ECG labels with unlabelled steps) without --data."""
    from resonet.train import main as train_main

    run = tmp_path / "run"
    argv = ["ecg", "--data-dir", str(ECG_DIR), "--subset", "8", "--epochs", "1", "--hidden", "4",
            "--backend", "reference", "--out", str(run), "--quiet"]
    assert run_main(train_main, argv) == 0
    assert cli("divergence", [run, "--out", tmp_path / "o"]) == 0
    assert cli("robustness", [run, "--limit", 4, "--kinds", "bits,deletion", "--bits-levels", "2,16",
                              "--deletion-levels", "0", "--out", tmp_path / "o"]) == 0
    d = json.loads((tmp_path / "o" / "robustness.json").read_text())
    assert d["data"].startswith("task ecg (test)")
    r = d["results"]["deletion"]
    assert 0 <= r["accuracy_labelled"][0][0] <= 100
