"""Adding a neuron model is its three files and one registry line, with nothing else to edit.

The model (tests/toymodel: LIF with a hard reset) lives in a package of its own with resonet's
mirrored layout. It is copied to a temporary folder, imported from there and registered with
``resonet.neurons.register``; then it goes through everything a model of the registry goes
through: golden-vector verification of the CPU kernels against its reference, the finite-
difference gradient check, training (command-line settings, the trainer, checkpoints), and the
analyses that apply to a model that is not a resonator (spectral radius, stability, robustness,
pruning, the toy task). Its CUDA kernels run under the simulator in
tests/cudasim/test_cuda_new_model.py.
"""

from __future__ import annotations

import importlib
import json
import shutil
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest

from resonet import gradcheck, verify
from resonet.backends import get_backend
from resonet.neurons import NEURONS, neuron_names, register, unregister
from tests.conftest import ROOT

NAME = "lifhard"


def install_toy_model(where: Path):
    """Copy tests/toymodel into ``where`` under a fresh package name, import its model module and
    register it: the one registry line a user writes. Returns the module."""
    pkg = f"toymodel_{uuid.uuid4().hex[:8]}"
    shutil.copytree(ROOT / "tests" / "toymodel", where / pkg)
    sys.path.insert(0, str(where))
    try:
        module = importlib.import_module(f"{pkg}.neurons.{NAME}")
    finally:
        sys.path.remove(str(where))
    register(module)
    return module


@pytest.fixture(scope="module")
def toy_model(tmp_path_factory):
    module = install_toy_model(tmp_path_factory.mktemp("toy_model"))
    yield module
    unregister(NAME)


def make_net(seed=0, I=4, H=6, C=3, T=30, B=3):
    from resonet.network import NetworkSpec, init_params

    spec = NetworkSpec(NAME, I, H, C)
    rng = np.random.default_rng(seed)
    params = init_params(spec, rng, spec.model.SPIKING_INIT)
    params["hidden.linear.weight"][:, :I] *= 15.0  # LIF-type input: a spiking network
    x = (rng.random((T, B, I)) < 0.3).astype(np.float64)
    y = rng.integers(0, C, B)
    return spec, params, x, y


def write_golden(path: Path, spec, params, x, y) -> Path:
    """A golden file (tests/golden/README.md's format) from the reference engine."""
    res = get_backend("reference").run(spec, params, x, y, return_states=True)
    T, B, _ = x.shape
    meta = {"model": spec.neuron, "seed": 0, "I": spec.n_in, "H": spec.n_hidden,
            "C": spec.n_out, "T": T, "B": B, "dt": spec.dt, "sub_seq_length": 0,
            "label_last": False, "hidden_state_order": ",".join(spec.model.STATE_NAMES)}
    arrays = {"meta_json": np.array(json.dumps(meta)), "x": x, "y": y, "outputs": res.outputs,
              "loss": np.array(res.loss), "num_spikes": np.array(res.num_spikes.sum())}
    for name in spec.param_shapes():
        arrays[f"param/{name}"] = params[name]
        arrays[f"grad/{name}"] = res.grads[name]
    for i, name in enumerate(spec.model.STATE_NAMES):
        arrays[f"hidden/{i}"] = res.states[name]
    np.savez(path, **arrays)
    return path


def test_the_registry_lists_it_for_every_entry_point(toy_model):
    from resonet.presets import get_preset
    from resonet.settings import build_parser, resolve_settings

    assert NEURONS[NAME] is toy_model and NAME in neuron_names()
    s = resolve_settings(build_parser().parse_args(["ecg", "--neuron", NAME]))
    assert s.neuron == NAME and s.preset == get_preset("ecg", NAME).to_dict()


def test_verify_passes_the_cpu_kernels_and_catches_a_wrong_gradient(toy_model, tmp_path, capsys):
    spec, params, x, y = make_net()
    golden = write_golden(tmp_path / f"{NAME}_seed0.npz", spec, params, x, y)
    T, B, _ = x.shape
    rate = float(get_backend("reference").run(spec, params, x, None).num_spikes.sum()) / (T * B * 6)
    assert 0.05 < rate < 0.6, rate  # the case exercises the spike paths
    for backend in ("reference", "cpu"):
        assert verify.main([str(golden), "--backend", backend, "--json"]) == 0
        res = json.loads(capsys.readouterr().out)
        assert res["passed"] and res["files"][0]["model"] == NAME
    bad = dict(np.load(golden))
    bad["grad/hidden.tau"] = bad["grad/hidden.tau"] * (1 + 1e-6)
    np.savez(tmp_path / "bad.npz", **bad)
    assert verify.main([str(tmp_path / "bad.npz"), "--backend", "cpu"]) == 1
    assert "grad hidden.tau" in capsys.readouterr().out


def test_gradcheck_passes(toy_model, capsys):
    rc = gradcheck.main(["--neuron", NAME, "--T", "30", "--hidden", "5", "--seed", "1"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "PASS" in out and "hidden.tau" in out


def test_training_runs_on_the_cpu_engine_and_equals_the_reference(toy_model, tmp_path):
    """A training run through resonet.train's Trainer (the CLI's settings, checkpoints, resume
    point, summary), and one step of the cpu engine against the reference."""
    from resonet.data import DenseDataset, TaskData
    from resonet.rundir import RunDir
    from resonet.runlog import Log
    from resonet.settings import resolve
    from resonet.train import Trainer

    spec, params, x, y = make_net()
    cpu = get_backend("cpu").run(spec, params, x, y, return_dx=True)
    ref = get_backend("reference").run(spec, params, x, y, return_dx=True)
    assert cpu.loss == pytest.approx(ref.loss, rel=1e-12)
    for name in spec.param_shapes():
        np.testing.assert_allclose(cpu.grads[name], ref.grads[name], rtol=1e-9, atol=1e-12)

    rng = np.random.default_rng(0)
    T, I, C = 20, 4, 6
    xs = (rng.random((12, T, I)) < 0.3).astype(np.int8)
    ys = rng.integers(0, C, (12, T)).astype(np.int8)
    ds = DenseDataset(x=xs, name="toy", n_in=I, n_out=C, T=T, labels=ys, per_step_labels=True,
                      synthetic=True, source="test")
    data = TaskData(ds.subset(np.arange(8)), ds.subset(np.arange(8, 10)),
                    ds.subset(np.arange(10, 12)), info={"synthetic": True})
    s = resolve({"task": "ecg", "neuron": NAME, "hidden": 5, "epochs": 2, "batch": 4,
                 "eval_batch": 4, "dtype": "float64", "save_every": 1e9})
    rd = RunDir.create(tmp_path / "run")
    tr = Trainer(s, rd.path, data, Log(quiet=True), quiet=True)
    tr.init_state()
    tr.params["hidden.linear.weight"][:, :I] *= 6.0
    assert tr.run() == 0
    assert rd.summary() is not None and [r["epoch"] for r in rd.history()] == [0, 1, 2]
    last = rd.load(rd.last).params
    assert not np.array_equal(last["hidden.tau"], rd.load(rd.init).params["hidden.tau"])


def test_the_analyses_that_apply(toy_model, tmp_path):
    from analysis import divergence, freqresp, pruning, robustness, spectral
    from analysis.common import EvalData, evaluate
    from analysis.toy import train_toy

    assert NAME not in spectral.closed_forms() and NAME not in freqresp.MODELS  # not a resonator
    spec, params, train, test = train_toy(NAME, hidden=8, steps=30, seed=0, n_test=60)
    test_data = EvalData(*test)
    assert evaluate(spec, params, test_data)["accuracy"] > 80.0
    # spectral: the frozen Jacobian from the model's VJP equals finite differences
    rng = np.random.default_rng(1)
    state = (np.zeros(8), rng.uniform(-0.5, 0.5, 8))
    J = spectral.network_jacobian(spec, params, state, mode="frozen")
    alpha = np.exp(-1.0 / np.abs(params["hidden.tau"]))
    np.testing.assert_allclose(np.diag(J[8:, 8:]), alpha, rtol=1e-14)  # no spike: u' = αu
    assert spectral.neuron_radii(spec, params).max() == pytest.approx(alpha.max())
    # divergence: the numerical stability check of a model without closed forms
    chk = divergence.check_params(spec, params)
    assert chk["summary"]["all_stable"] and chk["summary"]["max_radius_q0"] == pytest.approx(alpha.max())
    # robustness: the model's DECAYS are quantised; deletion through the forward pass's hooks
    bits = robustness.sweep("bits", [2, 32], spec, params, test_data)
    assert bits["accuracy"][1, 0] == pytest.approx(evaluate(spec, params, test_data)["accuracy"])
    dele = robustness.sweep("deletion", [0.0, 0.9], spec, params, test_data, repeats=1)
    assert dele["sops"][1, 0] < 0.2 * dele["sops"][0, 0]
    # pruning: removing every recurrent weight leaves a network that still runs
    pr = pruning.sweep(spec, params, test_data, [0.0, 1.0])
    assert pr["pruned"][0]["accuracy"] == pytest.approx(evaluate(spec, params, test_data)["accuracy"])
