"""The Python API (resonet.load_run, resonet.train_run) and the README's example, executed."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import numpy as np
import pytest

import resonet
from resonet.errors import ConfigError
from tests.conftest import ECG_DIR, ROOT, needs_ecg

SMALL = {"subset": 48, "batch": 8, "eval_batch": 64, "data_dir": str(ECG_DIR)}


def readme_example() -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Python API", 1)[1]
    m = re.search(r"```python\n(.*?)```", section, re.S)
    assert m, "README.md: no ```python block under '## Python API'"
    return m.group(1)


@needs_ecg
def test_the_readme_example_runs(tmp_path):
    code = readme_example()
    assert len(code.strip().splitlines()) <= 14
    env = dict(os.environ, RESONET_DATA=str(ECG_DIR),
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "(1300, 2)" in r.stdout and "'acc'" in r.stdout and "(1300, 2, 36)" in r.stdout
    runs = list((tmp_path / "runs").iterdir())
    assert len(runs) == 1 and (runs[0] / "summary.json").exists()


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    if ECG_DIR.name == "no-ecg-data":
        pytest.skip("needs the real ECG data (tests/conftest.py)")
    out = tmp_path_factory.mktemp("api") / "run"
    return resonet.train_run("ecg", epochs=1, out=out, verbose=False, **SMALL)


@needs_ecg
def test_train_run_returns_the_finished_run(run):
    assert isinstance(run, resonet.Run)
    assert (run.path / "summary.json").exists() and run.summary["best_epoch"] in (0, 1)
    assert [r["epoch"] for r in run.history] == [0, 1]
    assert run.task == "ecg" and run.spec.neuron == "brf" and run.spec.n_hidden == 36
    assert set(run.params) == set(run.spec.param_shapes())
    cfg = (run.path / "config.json").read_text()
    assert "resonet.train_run(" in cfg and "epochs=1" in cfg  # the call, as the command


@needs_ecg
def test_evaluate_reproduces_the_summary(run):
    again = resonet.load_run(run.path)
    res = again.evaluate("test", batch=64)
    assert res["acc"] == run.summary["test_acc"]
    assert res["loss"] == pytest.approx(run.summary["test_loss"], rel=1e-12)
    assert res["sops"] == run.summary["test_sops"]
    # the same samples given as arrays score the same
    ds = again.dataset("test")
    x, y = ds.batch(np.arange(len(ds)), dtype=np.float32)
    arrays = again.evaluate((x, y), batch=64)
    assert arrays["acc"] == res["acc"] and arrays["loss"] == pytest.approx(res["loss"], rel=1e-6)


@needs_ecg
def test_predict_and_forward_shapes_and_consistency(run):
    x, y = run.dataset("test").batch([0, 1, 2])  # x (T, 3, 4), y (T, 3)
    T = x.shape[0]
    per_step = run.predict(x)  # ECG: a class per step
    assert per_step.shape == (T, 3) and per_step.min() >= 0 and per_step.max() < 6
    per_sample = run.predict(x, per_step=False)
    assert per_sample.shape == (3,)
    one = run.predict(x[:, 1])  # one sample (T, I)
    assert np.array_equal(one, per_step[:, 1])
    res = run.forward(x, return_states=True)
    assert res.outputs.shape == (T, 3, 6)
    assert set(res.states) == {"z", "u", "v", "q"}
    assert all(v.shape == (T, 3, 36) for v in res.states.values())
    # the spike trace adds up to the spike count, and argmax of the outputs is the prediction
    assert np.array_equal(res.states["z"].sum(axis=(0, 2)), res.num_spikes)
    assert np.array_equal(res.outputs.argmax(-1), per_step)
    ref = resonet.load_run(run.path, backend="reference", dtype=np.float64)
    assert np.allclose(ref.forward(x).outputs, res.outputs, atol=1e-4)


def test_train_run_errors_name_the_argument(tmp_path):
    with pytest.raises(ConfigError, match=r"train_run\(epochs='three'\) must be an integer"):
        resonet.train_run("ecg", epochs="three", out=tmp_path / "x")
    with pytest.raises(ConfigError, match="unknown setting"):
        resonet.train_run("ecg", learning_rate=0.1, out=tmp_path / "x")
    with pytest.raises(ConfigError, match="resume"):
        resonet.train_run("ecg", resume=tmp_path, epochs=2)
    with pytest.raises(ConfigError, match=r"train_run\(hidden=\[8, 0\]\) must be a positive integer"):
        resonet.train_run("ecg", hidden=[8, 0], out=tmp_path / "x")
    assert not (tmp_path / "x").exists()


@needs_ecg
def test_train_run_stacked_layers(tmp_path):
    """hidden=(8, 6), bias=True from Python: a two-layer network with biases, its parameter
    count in config.json, and the returned Run runs it (outputs of the readout's width)."""
    run = resonet.train_run("ecg", hidden=(8, 6), bias=True, epochs=1, subset=16, batch=8,
                            eval_batch=16, threads=1, data_dir=str(ECG_DIR), out=tmp_path / "r",
                            verbose=False)
    assert run.spec.layers == (8, 6) and run.spec.bias
    assert run.config["n_params"] == run.spec.n_params()
    assert "4-8,6-6" in repr(run)


@needs_ecg
def test_train_run_stop_and_resume(tmp_path):
    out = tmp_path / "run"
    part = resonet.train_run("ecg", epochs=2, stop_after=1, out=out, verbose=False, **SMALL)
    assert [r["epoch"] for r in part.history] == [0, 1]  # scored as it stands
    done = resonet.train_run(resume=out, stop_after=2, verbose=False)  # as --stop-after
    assert [r["epoch"] for r in done.history] == [0, 1, 2]
    assert done.summary["best_epoch"] == min(done.history, key=lambda r: r["val_loss"])["epoch"]
