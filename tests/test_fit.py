"""``resonet.fit``: training on one's own data from Python, with (x, y) arrays, (SpikeEvents, y)
and tonic-layout (events, label) pairs; the same run as the command line on the files it stores;
and README's example, executed."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

import resonet
from resonet.data import from_tonic, read_split
from resonet.errors import DataError
from resonet.events import SpikeEvents
from tests.conftest import ROOT, toy

TIMING = {"epoch_seconds", "train_samples_per_s", "eval_seconds"}
SMALL = dict(epochs=1, hidden=8, batch=8, threads=1, neuron="alif", verbose=False)


@pytest.fixture(autouse=True)
def data_dir(tmp_path, monkeypatch):
    """fit stores array splits under the data directory: a fresh one per test."""
    monkeypatch.setenv("RESONET_DATA", str(tmp_path / "data"))
    return tmp_path / "data"


def metrics(run):
    with open(run.path / "metrics.jsonl") as f:
        return [{k: v for k, v in json.loads(line).items() if k not in TIMING} for line in f]


def dense(split):
    x, _ = split.dataset(name="s", n_out=int(split.y.max()) + 1).batch(np.arange(len(split)),
                                                                       dtype=np.float64)
    return np.transpose(x, (1, 0, 2))


def test_fit_arrays_is_the_command_line_on_the_stored_files(tmp_path):
    rng = np.random.default_rng(0)
    (x, y), (xt, yt) = toy(rng, 40), toy(rng, 12)
    run = resonet.fit((x, y), test=(xt, yt), out=tmp_path / "fit", **SMALL)
    s = run.settings
    assert s["task"] == "custom" and s["val"] is None and run.summary is not None
    stored = read_split(s["train"])
    assert not stored.events
    np.testing.assert_array_equal(dense(stored), x)
    np.testing.assert_array_equal(stored.y, y)
    again = resonet.train_run("custom", train=s["train"], test=s["test"],
                              out=tmp_path / "cli", **SMALL)
    assert metrics(again) == metrics(run)
    assert metrics(run)[-1]["test_sops"] > 0
    # the same arrays are stored once (the folder is named by their content)
    run2 = resonet.fit((x, y), test=(xt, yt), out=tmp_path / "fit2", **SMALL)
    assert run2.settings["train"] == s["train"]


def test_fit_spike_events_and_a_validation_split(tmp_path):
    rng = np.random.default_rng(1)
    (x, y), (xv, yv) = toy(rng, 30), toy(rng, 9)
    ev = SpikeEvents.from_dense(np.transpose(x, (1, 0, 2)).astype(np.float32))  # (T, N, I)
    with pytest.raises(DataError, match=r"fit\(val=...\): dense arrays, but the training split "
                                        "is events"):
        resonet.fit((ev, y), val=(xv, yv), **SMALL)
    ev_val = SpikeEvents.from_dense(np.transpose(xv, (1, 0, 2)).astype(np.float32))
    run = resonet.fit((ev, y), val=(ev_val, yv), out=tmp_path / "run", **SMALL)
    stored = read_split(run.settings["train"])
    assert stored.events and stored.n_events == int(x.sum())
    np.testing.assert_array_equal(dense(stored), x)
    assert "data: train 30, val 9, test 9 samples" in (run.path / "train.log").read_text()
    # no test split: the validation split doubles as it, and the log says so
    assert "not an independent test" in (run.path / "train.log").read_text()


def tonic_pairs(rng, n, sensor=(5, 4, 2), t_max=20_000):
    W, H, P = sensor
    out = []
    for k in range(n):
        m = int(rng.integers(40, 120))
        ev = np.zeros(m, dtype=[("t", np.int64), ("x", np.int16), ("y", np.int16), ("p", np.int8)])
        ev["t"] = np.sort(rng.integers(0, t_max, m))
        ev["x"], ev["y"], ev["p"] = rng.integers(0, W, m), rng.integers(0, H, m), k % 2
        out.append((ev, k % 2))
    return out


def test_fit_tonic_layout_pairs(tmp_path):
    rng = np.random.default_rng(2)
    train, test = tonic_pairs(rng, 30), tonic_pairs(rng, 10, t_max=25_000)
    with pytest.warns(UserWarning, match="dropped"):  # the test split's late events
        run = resonet.fit(train, test=test, n_steps=20, sensor_size=(5, 4, 2),
                          out=tmp_path / "run", **SMALL)
    s = run.settings
    assert (s["preset"]["n_in"], s["preset"]["T"], s["preset"]["n_out"]) == (40, 20, 2)
    assert s["preset"]["events"]
    # the training split fixed dt (1000 µs: 20 steps over < 20 ms); the test split is binned
    # with it (its events after 20 ms are dropped)
    want = from_tonic(train, n_steps=20, sensor_size=(5, 4, 2))
    assert want.dt == pytest.approx(1e-3)
    got = read_split(s["train"])
    for k in ("offsets", "steps", "chans", "values", "y"):
        a, b = getattr(got, k), getattr(want, k)
        assert (a is None and b is None) or np.array_equal(a, b), k
    with pytest.warns(UserWarning, match="dropped"):
        want_test = from_tonic(test, dt=1e-3, n_steps=20, sensor_size=(5, 4, 2))
    np.testing.assert_array_equal(read_split(s["test"]).chans, want_test.chans)


def test_fit_bad_input_names_the_split():
    x = np.zeros((4, 5, 2))
    with pytest.raises(DataError, match=r"fit\(train=...\): 'y' has dtype float64"):
        resonet.fit((x, np.array([0.0, 1, 0, 1])), **SMALL)
    with pytest.raises(DataError, match=r"fit\(test=...\): 'y' has 3 samples but the inputs have 4"):
        resonet.fit((x, np.array([0, 1, 0, 1])), test=(x, np.array([0, 1, 0])), **SMALL)
    with pytest.raises(DataError, match="carries no labels"):
        resonet.fit(SpikeEvents.from_dense(x.transpose(1, 0, 2)), **SMALL)


def readme_block(title: str, needle: str) -> str:
    """The python code block of README.md's section ``title`` that contains ``needle``."""
    text = (ROOT / "README.md").read_text()
    section = text.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    found = [b for b in blocks if needle in b]
    assert found, f"no python block with {needle!r} in README's {title!r}"
    return found[0]


def test_readme_fit_example_runs(tmp_path, monkeypatch, capsys):
    code = readme_block("Your own data", "resonet.fit((x[:72]")
    monkeypatch.chdir(tmp_path)
    ns: dict = {}
    exec(compile(code, "README.md", "exec"), ns)
    run = ns["run"]
    assert run.path.is_dir() and run.path.resolve().parent == (tmp_path / "runs").resolve()
    out = capsys.readouterr().out
    assert str(run.path) in out and "python -m resonet.train custom --train" in out
    # it learns: the three classes fire on separate channels (chance: 33 %)
    assert run.summary["test_acc"] > 80
