"""--freeze NAME=VALUE: a neuron parameter fixed at one value, trained without its gradient."""

from __future__ import annotations

import json

import numpy as np
import pytest

from resonet.backends import get_backend
from resonet.data.dataset import DenseDataset
from resonet.errors import ConfigError
from resonet.network import NetworkSpec, init_params
from resonet.optim import make_optimizer
from resonet.pruning import training_masks
from resonet.session import HostSession
from resonet.settings import Settings, build_parser, resolve_settings


def resolve(*argv):
    return resolve_settings(build_parser().parse_args(list(argv)))


def test_settings_parse_check_and_round_trip():
    s = resolve("ecg", "--neuron", "alif", "--freeze", "tau_mem=30", "--freeze", "tau_adp=1e2")
    assert s.freeze == {"tau_mem": 30.0, "tau_adp": 100.0}
    back = Settings.from_dict(json.loads(json.dumps(s.to_dict())))
    assert back.freeze == s.freeze and back.fingerprint() == s.fingerprint()
    plain = resolve("ecg", "--neuron", "alif")
    d = plain.to_dict()
    del d["freeze"]  # a run directory from before the option: same hash
    assert Settings.from_dict(d).fingerprint() == plain.fingerprint() != s.fingerprint()


@pytest.mark.parametrize("argv,needle", [
    (("--freeze", "tau_mem"), "--freeze tau_mem: expected NAME=VALUE"),
    (("--freeze", "omega=3"), "'omega' is not a parameter of the lif neuron; it has: tau_mem"),
    (("--freeze", "tau_mem=inf"), "tau_mem needs one finite number"),
    (("--freeze", "tau_mem=abc"), "tau_mem needs one finite number"),
])
def test_bad_freezes_are_refused(argv, needle):
    with pytest.raises(ConfigError, match=needle):
        resolve("ecg", "--neuron", "lif", *argv)


def test_masks_keep_pruning_and_freeze_the_whole_parameter():
    spec = NetworkSpec("alif", 3, (4, 5), 2)
    m = training_masks(spec, None, {"tau_mem": 30.0})
    assert set(m) == {"hidden1.tau_mem", "hidden2.tau_mem"} and not m["hidden2.tau_mem"].any()
    assert m["hidden2.tau_mem"].shape == (5,)
    assert training_masks(spec, None, None) is None


@pytest.mark.parametrize("opt_name", ["adam", "radam", "rmsprop"])
def test_a_frozen_parameter_never_moves_and_the_others_do(opt_name):
    """A few host-session steps on random data: the frozen τ stays bit-identical while the
    weights move (and without the mask it moves: checked below)."""
    spec = NetworkSpec("lif", 3, 6, 2, sub_seq_length=2)
    rng = np.random.default_rng(0)
    p = init_params(spec, rng)
    p["hidden.tau_mem"][:] = 30.0
    before = {k: v.copy() for k, v in p.items()}
    x = (rng.random((20, 12, 3)) < 0.3).astype(np.float32)  # (N, T, I)
    ds = DenseDataset(x=x, name="train", n_in=3, n_out=2, T=12, labels=rng.integers(0, 2, 20),
                      per_step_labels=False, synthetic=False, source="test")
    opt = make_optimizer(opt_name, p, 0.05)
    sess = HostSession(get_backend("cpu"), spec, p, opt, {"train": ds}, np.float64,
                       masks=training_masks(spec, None, {"tau_mem": 30.0}))
    for idx in (np.arange(0, 8), np.arange(8, 16), np.arange(12, 20)):
        st = sess.train_batch(idx, lr=0.05)
        assert st["nonfinite"] is None
    assert np.array_equal(p["hidden.tau_mem"], before["hidden.tau_mem"])
    assert not np.array_equal(p["hidden.linear.weight"], before["hidden.linear.weight"])
    free = HostSession(get_backend("cpu"), spec, p, make_optimizer(opt_name, p, 0.05),
                       {"train": ds}, np.float64)
    free.train_batch(np.arange(0, 8), lr=0.05)
    assert not np.array_equal(p["hidden.tau_mem"], before["hidden.tau_mem"])


def test_the_fixed_tau_leak_sweep_trains_every_model_under_one_protocol(monkeypatch):
    from pathlib import Path

    from resonet.sweep.grid import load_sweep

    monkeypatch.setenv("RESONET_DATA", "/nonexistent")  # the grid does not read the data
    sw = load_sweep(Path(__file__).resolve().parent.parent / "examples" / "ecg_leak_fixed_tau.toml")
    assert len(sw.trials) == 15
    frozen = sorted({str(t.resolved.get("freeze")) for t in sw.trials})
    assert frozen == ["None", "{'tau_mem': 100.0}", "{'tau_mem': 30.0}"]
    for key in ("truncation", "clip", "optimizer", "lr", "batch", "epochs"):
        assert len({t.resolved[key] for t in sw.trials}) == 1, key
    # a config file or sweep axis may give the frozen values as a string
    from resonet.settings import describe_sources
    from resonet.settings import resolve as resolve_cfg

    src = describe_sources({}, lambda k, v: f"--{k} {v}", {"task": "ecg", "neuron": "lif"}, "c.toml")
    s = resolve_cfg({}, {"task": "ecg", "neuron": "lif", "freeze": "tau_mem=30"}, source=src)
    assert s.freeze == {"tau_mem": 30.0}
