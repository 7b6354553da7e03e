"""Training on a user's own files: ``python -m resonet.train custom --train A --test B [--val C]
[--preset TASK]``, its bad input (one line naming file, key and fix; exit 2; no run directory),
``python -m resonet.data export`` and the proof that the generic path is the same engine
(bit-identical metrics to the paper task's own run), and the neuron init ranges from the command
line and TOML."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from resonet.checkpoint import load_checkpoint
from resonet.cli import run_main
from tests.conftest import ECG_DIR, MNIST_DIR, ROOT, needs_ecg, needs_mnist, toy

TIMING = {"epoch_seconds", "train_samples_per_s", "eval_seconds"}
FAST = ["--epochs", "1", "--hidden", "8", "--batch", "8", "--threads", "1", "--quiet"]


def write_dense(path, x, y, **extra):
    np.savez(path, x=x, y=y, **extra)
    return path


def write_events(path, x, y, *, times=None, **extra):
    """The nonzero entries of x as events: ``step``, or ``time`` (s) at mid-step with ``times=dt``."""
    n, t, c = np.nonzero(x)
    when = {"step": t} if times is None else {"time": (t + 0.5) * times}
    np.savez(path, sample=n, channel=c, n_steps=x.shape[1], n_inputs=x.shape[2], y=y, **when,
             **extra)
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("custom")
    rng = np.random.default_rng(0)
    (xa, ya), (xb, yb), (xc, yc) = toy(rng, 40), toy(rng, 12), toy(rng, 9)
    return {
        "d": d, "x": {"train": xa, "test": xb, "val": xc}, "y": {"train": ya, "test": yb, "val": yc},
        "train": write_dense(d / "train.npz", xa, ya), "test": write_dense(d / "test.npz", xb, yb),
        "val": write_dense(d / "val.npz", xc, yc),
        "etrain": write_events(d / "etrain.npz", xa, ya, times=1e-3, dt=1e-3),
        "etest": write_events(d / "etest.npz", xb, yb),
    }


def train(*args, check=True):
    r = subprocess.run([sys.executable, "-m", "resonet.train", *map(str, args)],
                       capture_output=True, text=True, cwd=ROOT)
    if check:
        assert r.returncode == 0, r.stdout + r.stderr
    return r


def metrics(run_dir):
    with open(run_dir / "metrics.jsonl") as f:
        return [{k: v for k, v in json.loads(line).items() if k not in TIMING} for line in f]


def params(path):
    return load_checkpoint(path).params


def test_cli_trains_on_two_files_val_from_train(files, tmp_path):
    out = tmp_path / "run"
    train("custom", "--train", files["train"], "--test", files["test"], *FAST, "--out", out)
    cfg = json.loads((out / "config.json").read_text())
    s = cfg["settings"]
    assert s["task"] == "custom" and s["train"] == str(files["train"]) and s["val"] is None
    assert (s["preset"]["n_in"], s["preset"]["n_out"], s["preset"]["T"]) == (6, 3, 16)
    assert not s["preset"]["events"]
    # without --val: int(0.1·N) of the training file, drawn by the paper tasks' rule
    split = np.load(out / "data_split.npz")
    from resonet.data import split_indices

    tr, va = split_indices(40, 0, 0.1)
    np.testing.assert_array_equal(split["train"], tr)
    np.testing.assert_array_equal(split["val"], va)
    log = (out / "train.log").read_text()
    assert "data: train 36, val 4, test 12 samples" in log
    # the run re-reads its data from the files: the test score is the summary's
    import resonet

    run = resonet.load_run(out)
    summary = json.loads((out / "summary.json").read_text())
    assert run.evaluate("test")["loss"] == pytest.approx(summary["test_loss"], rel=1e-6)
    assert len(run.dataset("test")) == 12


def test_cli_with_val_file_and_events_stay_events(files, tmp_path):
    out = tmp_path / "run"
    # --val dense with event train: the forms must agree (one line, exit 2)
    r = train("custom", "--train", files["etrain"], "--test", files["etest"], "--val",
              files["val"], *FAST, "--out", out, check=False)
    assert r.returncode == 2 and "form dense, but the train split" in r.stderr
    assert not out.exists()
    ev_val = write_events(tmp_path / "val.npz", files["x"]["val"], files["y"]["val"])
    train("custom", "--train", files["etrain"], "--test", files["etest"], "--val", ev_val,
          *FAST, "--out", out)
    s = json.loads((out / "config.json").read_text())["settings"]
    assert s["preset"]["events"] and s["val"] == str(ev_val)
    assert "data: train 40, val 9, test 12 samples" in (out / "train.log").read_text()
    # the run's data are events end to end (the storage of the events, no dense copy)
    from resonet.data import EventDataset
    from resonet.rundata import task_data

    data = task_data(s)
    for split in ("train", "val", "test"):
        assert isinstance(getattr(data, split), EventDataset), split
    # ... and the same samples as the dense files (times binned with the file's dt)
    x, _ = data.train.batch(np.arange(40), dtype=np.float64)
    np.testing.assert_array_equal(np.transpose(x, (1, 0, 2)), files["x"]["train"])


def test_events_and_dense_files_train_the_same_network(files, tmp_path):
    """The same samples as events or dense arrays: the same run (reference backend, float64)."""
    runs = {}
    for form, (tr, te) in {"dense": (files["train"], files["test"]),
                           "events": (files["etrain"], files["etest"])}.items():
        out = tmp_path / form
        train("custom", "--train", tr, "--test", te, *FAST, "--neuron", "alif", "--backend",
              "reference", "--subset", "16", "--out", out)
        runs[form] = out
    a, b = metrics(runs["dense"]), metrics(runs["events"])
    assert a[-1]["test_sops"] > 0  # the network spikes: the inputs matter
    for ra, rb in zip(a, b, strict=True):
        for k, v in ra.items():
            assert rb[k] == (v if v is None else pytest.approx(v, rel=1e-12, abs=1e-12)), k


def test_resume_of_a_custom_run_is_bit_identical(files, tmp_path):
    args = ["custom", "--train", files["train"], "--test", files["test"], "--epochs", "2",
            "--hidden", "8", "--batch", "8", "--threads", "1", "--quiet", "--neuron", "alif"]
    train(*args, "--out", tmp_path / "full")
    train(*args, "--stop-after", "1", "--out", tmp_path / "part")
    train("--resume", tmp_path / "part", "--stop-after", "2", "--quiet")
    assert metrics(tmp_path / "part") == metrics(tmp_path / "full")
    pa, pb = params(tmp_path / "part" / "last.npz"), params(tmp_path / "full" / "last.npz")
    for k in pa:
        np.testing.assert_array_equal(pa[k], pb[k])


def test_init_ranges_from_the_command_line_and_toml(files, tmp_path):
    base = ["custom", "--train", files["train"], "--test", files["test"], "--epochs", "1",
            "--hidden", "16", "--threads", "1", "--quiet"]
    train(*base, "--init", "omega=20,30", "--init", "b_offset=0.5,0.6", "--out", tmp_path / "cli")
    cfg = tmp_path / "c.toml"
    cfg.write_text("[init]\nomega = [20, 30]\nb_offset = [0.5, 0.6]\n")
    train(*base, "--config", cfg, "--out", tmp_path / "toml")
    p = params(tmp_path / "cli" / "init.npz")
    assert 20 <= np.abs(p["hidden.omega"]).min() and np.abs(p["hidden.omega"]).max() <= 30
    assert 0.5 <= np.abs(p["hidden.b_offset"]).min() and np.abs(p["hidden.b_offset"]).max() <= 0.6
    q = params(tmp_path / "toml" / "init.npz")
    for k in p:
        np.testing.assert_array_equal(p[k], q[k])
    s = json.loads((tmp_path / "cli" / "config.json").read_text())["settings"]
    assert s["preset"]["init"]["omega"] == [20.0, 30.0]


def test_h5_files_train_like_the_npz_files(files, tmp_path):
    """The same splits as .h5 files (read batch by batch) train the same network as the .npz
    files, and the class names of the files are recorded in the run."""
    import h5py

    names = np.array([b"low", b"mid", b"high"])
    for split in ("train", "test"):
        with h5py.File(tmp_path / f"{split}.h5", "w") as f:
            f["x"], f["y"], f["class_names"] = files["x"][split], files["y"][split], names
    common = [*FAST, "--neuron", "alif", "--subset", "16"]
    train("custom", "--train", tmp_path / "train.h5", "--test", tmp_path / "test.h5", *common,
          "--out", tmp_path / "h5")
    write_dense(tmp_path / "train.npz", files["x"]["train"], files["y"]["train"],
                class_names=names.astype(str))
    write_dense(tmp_path / "test.npz", files["x"]["test"], files["y"]["test"],
                class_names=names.astype(str))
    train("custom", "--train", tmp_path / "train.npz", "--test", tmp_path / "test.npz", *common,
          "--out", tmp_path / "npz")
    assert metrics(tmp_path / "h5") == metrics(tmp_path / "npz")
    assert metrics(tmp_path / "h5")[-1]["test_sops"] > 0
    cfg = json.loads((tmp_path / "h5" / "config.json").read_text())
    assert cfg["data"]["class_names"] == ["low", "mid", "high"]


# --------------------------------------------------------------------------------------------
# bad input: one line naming the file, the key and the fix; exit 2; no run directory
# --------------------------------------------------------------------------------------------
def _bad(d, case):
    """(train, test, extra args, file named, needle) of a bad-input case."""
    rng = np.random.default_rng(1)
    x, y = toy(rng, 10)
    good = write_dense(d / "good.npz", x, y)
    ev = dict(n_steps=16, n_inputs=6, y=y)
    bad = d / "bad.npz"
    if case == "missing key y":
        np.savez(bad, x=x)
        return good, bad, [], bad, "no key 'y'"
    if case == "missing key n_inputs":
        np.savez(bad, sample=[0, 1], step=[0, 1], channel=[0, 1], n_steps=16, y=y)
        return bad, good, [], bad, "no key 'n_inputs'"
    if case == "x and y of different N":
        np.savez(bad, x=x, y=y[:7])
        return bad, good, [], bad, "'y' has 7 samples but the inputs have 10"
    if case == "T differs":
        np.savez(bad, x=x[:, :12], y=y)
        return good, bad, [], bad, "steps T 12, but the train split"
    if case == "I differs":
        np.savez(bad, x=x[:, :, :4], y=y)
        return good, bad, [], bad, "input channels I 4, but the train split"
    if case == "float labels":
        np.savez(bad, x=x, y=y.astype(float))
        return bad, good, [], bad, "'y' has dtype float64; labels must be integers"
    if case == "label -1 per sample":
        np.savez(bad, x=x, y=np.where(y == 2, -1, y))
        return bad, good, [], bad, "'y' has the label -1"
    if case == "label outside n_classes":
        np.savez(bad, x=x, y=y + 1, n_classes=3)
        write_dense(d / "good3.npz", x, y, n_classes=3)
        return d / "good3.npz", bad, [], bad, "'y' has the label 3, outside [0, n_classes=3)"
    if case == "one class":
        np.savez(bad, x=x, y=np.zeros_like(y))
        return good, bad, [], bad, "every label is 0; a split needs at least two classes"
    if case == "no sample":
        np.savez(bad, x=x[:0], y=y[:0])
        return good, bad, [], bad, "no sample"
    if case == "NaN in x":
        xf = x.astype(np.float32)
        xf[3, 2, 1] = np.nan
        np.savez(bad, x=xf, y=y)
        return bad, good, [], bad, "'x' has NaN or Inf"
    if case == "Inf in x":
        xf = x.astype(np.float32)
        xf[0, 0, 0] = np.inf
        np.savez(bad, x=xf, y=y)
        return good, bad, [], bad, "'x' has NaN or Inf"
    if case == "sample outside [0, N)":
        np.savez(bad, sample=[0, 10], step=[0, 1], channel=[0, 1], **ev)
        return bad, None, [], bad, "'sample' has the value 10, outside [0, N=10)"
    if case == "step outside [0, T)":
        np.savez(bad, sample=[0, 1], step=[0, 16], channel=[0, 1], **ev)
        return bad, None, [], bad, "'step' has the value 16, outside [0, n_steps=16)"
    if case == "channel outside [0, I)":
        np.savez(bad, sample=[0, 1], step=[0, 1], channel=[-3, 1], **ev)
        return bad, None, [], bad, "'channel' has the value -3, outside [0, n_inputs=6)"
    if case == "time without dt":
        np.savez(bad, sample=[0, 1], time=[0.0, 0.01], channel=[0, 1], **ev)
        return bad, None, [], bad, "no 'dt' says how long a step is"
    if case == "not npz or h5":
        bad = d / "bad.csv"
        bad.write_text("0,1,2\n")
        return good, bad, [], bad, "not an .npz or .h5 file"
    if case == "no such file":
        return d / "absent.npz", good, [], d / "absent.npz", "no such file"
    if case == "bad --init":
        return good, good, ["--init", "omega=5"], "--init omega=5", "needs two numbers"
    if case == "--init of another model":
        return good, good, ["--init", "tau=1,2"], "--init tau=1,2", "not a parameter of the brf"
    raise AssertionError(case)


BAD_CASES = ["missing key y", "missing key n_inputs", "x and y of different N", "T differs",
             "I differs", "float labels", "label -1 per sample", "label outside n_classes",
             "one class", "no sample", "NaN in x", "Inf in x", "sample outside [0, N)",
             "step outside [0, T)", "channel outside [0, I)", "time without dt", "not npz or h5",
             "no such file", "bad --init", "--init of another model"]


@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_input_is_one_line_exit_2_no_run_directory(case, tmp_path, capsys):
    from resonet.train import main

    tr, te, extra, named, needle = _bad(tmp_path, case)
    out = tmp_path / "run"
    argv = ["custom", "--train", str(tr), *(["--test", str(te)] if te else []), *extra,
            "--out", str(out), "--quiet"]
    rc = run_main(main, argv)
    err = capsys.readouterr().err
    assert rc == 2, err
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: "), err
    assert str(named) in err and needle in err, err
    assert not out.exists()


def test_bad_input_from_the_shell(files, tmp_path):
    """The real process: exit 2, one line, no traceback; a paper task refuses --train."""
    for args, needle in (
        (["custom", "--test", files["test"]], "needs --train FILE"),
        (["ecg", "--train", files["train"]], "only the task custom"),
        (["custom", "--train", files["train"], "--preset", "nope"], "invalid choice"),
    ):
        r = train(*args, "--out", tmp_path / "x", check=False)
        assert r.returncode == 2, r.stderr
        assert "Traceback" not in r.stderr and needle in r.stderr
        if needle != "invalid choice":  # (argparse prints its usage before its one line)
            assert len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert not (tmp_path / "x").exists()


# --------------------------------------------------------------------------------------------
# export, and the same engine: custom --preset TASK on the exported files == TASK
# --------------------------------------------------------------------------------------------
def export(task, out, data_dir):
    r = subprocess.run([sys.executable, "-m", "resonet.data", "export", task, "--out", str(out),
                        "--data-dir", str(data_dir)], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def same_runs(task, data_dir, tmp_path, *extra):
    exported = export(task, tmp_path / "exp", data_dir)
    common = ["--subset", "24", "--batch", "8", "--epochs", "1", "--eval-batch", "64",
              "--threads", "1", "--quiet", "--neuron", "alif", *extra]
    train(task, "--data-dir", data_dir, *common, "--out", tmp_path / "paper")
    train("custom", "--preset", task, "--train", tmp_path / "exp" / "train.npz", "--test",
          tmp_path / "exp" / "test.npz", *common, "--out", tmp_path / "custom")
    a, b = metrics(tmp_path / "paper"), metrics(tmp_path / "custom")
    assert a == b  # bit-identical scores, epoch by epoch
    assert a[-1]["test_sops"] > 0 and a[-1]["train_loss"] is not None
    for ck in ("init.npz", "last.npz", "best.npz"):
        pa, pb = params(tmp_path / "paper" / ck), params(tmp_path / "custom" / ck)
        assert pa.keys() == pb.keys()
        for k in pa:
            np.testing.assert_array_equal(pa[k], pb[k], err_msg=f"{ck} {k}")
    sa = json.loads((tmp_path / "paper" / "summary.json").read_text())
    sb = json.loads((tmp_path / "custom" / "summary.json").read_text())
    assert sa == sb
    return exported


@needs_ecg
def test_export_ecg_trains_bit_identically_as_custom(tmp_path):
    exported = same_runs("ecg", ECG_DIR, tmp_path)
    assert exported["train"]["labels"] == "per step" and exported["train"]["I"] == 4
    # an export never overwrites
    r = subprocess.run([sys.executable, "-m", "resonet.data", "export", "ecg", "--out",
                        str(tmp_path / "exp"), "--data-dir", str(ECG_DIR)], capture_output=True,
                       text=True, cwd=ROOT)
    assert r.returncode == 2 and "exists" in r.stderr and "Traceback" not in r.stderr


@needs_mnist
def test_export_smnist_trains_bit_identically_as_custom(tmp_path):
    exported = same_runs("smnist", MNIST_DIR, tmp_path)
    assert exported["train"]["N"] == 60000 and exported["test"]["T"] == 784


def test_export_shd_stand_in_keeps_the_events(tmp_path):
    """The SHD stand-in (generated offline) exports as events and trains as custom."""
    env = dict(os.environ, RESONET_DATA=str(tmp_path / "data"))
    r = subprocess.run([sys.executable, "-m", "resonet.data", "synth", "--out",
                        str(tmp_path / "shd"), "--n-train", "40", "--n-test", "20"],
                       capture_output=True, text=True, cwd=ROOT, env=env)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([sys.executable, "-m", "resonet.data", "export", "shd", "--out",
                        str(tmp_path / "exp"), "--data-dir", str(tmp_path / "shd")],
                       capture_output=True, text=True, cwd=ROOT, env=env)
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["train"]["form"] == "events" and info["train"]["I"] == 700
    assert info["train"]["N"] == 40 and info["test"]["N"] == 20
