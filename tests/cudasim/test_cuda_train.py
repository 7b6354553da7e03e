"""resonet.train with --backend cuda: the device-resident branch of the Trainer.

The Trainer is driven in-process on a tiny task (a few ECG-like and SHD-like samples, T = 8):
the device path must give the host path's parameters and metrics (float64), and a run stopped
after one epoch and resumed from its checkpoint must end bit-identical to an uninterrupted run.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from resonet.checkpoint import load_checkpoint
from resonet.data import TaskData
from resonet.network import NetworkSpec
from resonet.runlog import Log
from resonet.train import Trainer
from tests.cudasim.cases import rel
from tests.cudasim.test_cuda_session import dense_data, event_data


def settings(task, backend, **over):
    neuron = over.pop("neuron", "brf")
    spec = NetworkSpec(neuron, 5, 6, 3, label_last=over.pop("label_last", False))
    s = {"task": task, "neuron": neuron, "backend": backend, "dtype": "float64", "epochs": 2,
         "batch": 3, "eval_batch": 4, "lr": 0.05, "optimizer": over.pop("optimizer", "adam"),
         "clip": over.pop("clip", None), "seed": 0, "split_seed": 0, "data_dir": None,
         "download": False, "synthetic": "no", "hidden": 6, "reset": "none",
         "truncation": None, "subset": None, "threads": None, "save_every": 1e9,
         "stop_after": None, "best_rule": "<",
         "preset": {"init": {} if neuron == "alif" else {"omega": [5.0, 30.0],
                                                          "b_offset": [0.1, 1.0]}},
         "out": None,
         "spec": spec.to_dict()}
    s.update(over)
    return s


def task_data(kind):
    if kind in ("events", "valued"):
        full, test = event_data(10, 1, T=8), event_data(4, 2, T=8)
        if kind == "valued":  # a user's events with values (counts, amplitudes): docs/data.md
            for ds, seed in ((full, 3), (test, 4)):
                ds.values = np.random.default_rng(seed).uniform(0.5, 2.0, ds.steps.size)
    else:
        full, test = dense_data(10, 1, "spikes"), dense_data(4, 2, "spikes")
    return TaskData(full.subset(np.arange(7)), full.subset(np.arange(7, 10)), test,
                    info={"synthetic": True})


def train(tmp_path, name, s, data, stop_after=None, resume=False):
    run_dir = tmp_path / name
    run_dir.mkdir(exist_ok=True)
    s = dict(s, stop_after=stop_after)
    tr = Trainer(s, run_dir, data, Log(quiet=True), quiet=True)
    if resume:
        tr.load_last()
    else:
        tr.init_state()
    assert tr.run() == 0
    return run_dir


@pytest.mark.parametrize("kind,task,extra", [
    ("events", "shd", {}),
    ("spikes", "ecg", {"neuron": "alif", "optimizer": "rmsprop", "clip": 0.3}),
    ("valued", "custom", {}),
], ids=["shd-like", "ecg-like", "valued-events"])
def test_device_training_equals_host_training(tmp_path, kind, task, extra):
    data = task_data(kind)
    host = train(tmp_path, "host", settings(task, "cpu", **extra), data)
    dev = train(tmp_path, "dev", settings(task, "cuda", **extra), data)
    a, b = load_checkpoint(host / "last.npz"), load_checkpoint(dev / "last.npz")
    for k in a.params:
        assert rel(b.params[k], a.params[k]) <= 1e-10, k
    for k in a.optim:
        if k.startswith("optim/") and a.optim[k].dtype.kind == "f":
            assert rel(b.optim[k], a.optim[k]) <= 1e-9, k
    assert int(b.optim["optim/k"]) == int(a.optim["optim/k"]) == 2 * 3
    ha = json.loads(str(a.train["history_json"]))
    hb = json.loads(str(b.train["history_json"]))
    assert len(ha) == len(hb) == 3
    for ra, rb in zip(ha, hb):
        for key in ("train_loss", "val_loss", "test_loss", "train_acc", "val_acc", "test_acc",
                    "test_sops", "val_acc_labelled", "test_acc_labelled"):
            if ra[key] is None:
                assert rb[key] is None, key
            else:
                assert abs(rb[key] - ra[key]) <= 1e-9 * max(1.0, abs(ra[key])), key
    assert (dev / "summary.json").exists()


def test_device_resume_is_bit_identical(tmp_path):
    data = task_data("events")
    s = settings("shd", "cuda", clip=1.0)
    full = train(tmp_path, "full", s, data)
    part = train(tmp_path, "part", s, data, stop_after=1)
    ck = load_checkpoint(part / "last.npz")
    assert int(ck.train["epoch"]) == 1
    train(tmp_path, "part", s, data, resume=True)
    a, b = load_checkpoint(full / "last.npz"), load_checkpoint(part / "last.npz")
    for k in a.params:
        np.testing.assert_array_equal(a.params[k], b.params[k], err_msg=k)
    for k in a.optim:
        np.testing.assert_array_equal(a.optim[k], b.optim[k], err_msg=k)
