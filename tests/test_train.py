"""python -m resonet.train: run directories, checkpoints, exact resume, bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from resonet.checkpoint import atomic_write_bytes, load_checkpoint, save_checkpoint
from resonet.errors import CheckpointError
from tests.conftest import ECG_DIR, ROOT, needs_ecg

# A tiny but real training problem: 48 ECG segments, batch 8 (6 batches/epoch), 2 epochs.
TINY = ["ecg", "--data-dir", str(ECG_DIR), "--subset", "48", "--batch", "8", "--epochs", "2",
        "--eval-batch", "64", "--quiet"]


def train(*args, env=None, check=True, kill_at=None, signal=None, enospc=None):
    """``python -m resonet.train ARGS``; ``kill_at="E:B"`` SIGKILLs it after batch B of epoch E
    (``"eval:E"``: as epoch E's evaluation begins; ``signal="INT"``: another signal),
    ``enospc="NAME:K"`` fails the K-th write of NAME with a full disk (tests/kill_train.py)."""
    e = dict(os.environ)
    e.update(env or {})
    cmd = ["-m", "resonet.train"]
    if enospc is not None:
        cmd = ["-m", "tests.kill_train", "--enospc", enospc]
    elif kill_at is not None:
        cmd = ["-m", "tests.kill_train", *(["--signal", signal] if signal else []), kill_at]
    r = subprocess.run([sys.executable, *cmd, *map(str, args)], capture_output=True, text=True,
                       env=e, cwd=ROOT)
    if check:
        assert r.returncode == 0, r.stdout + r.stderr
    return r


def final_params(run_dir):
    return load_checkpoint(run_dir / "last.npz").params


@needs_ecg
@pytest.mark.parametrize("backend", ["reference", "cpu"])
def test_resume_after_sigkill_is_bit_identical(tmp_path, backend):
    if backend == "cpu":
        pytest.importorskip("resonet.kernels.cpu")
    full = tmp_path / "full"
    train(*TINY, "--backend", backend, "--out", full)
    killed = tmp_path / "killed"
    # SIGKILL after batch 3 of epoch 2 (mid-epoch); checkpoint after every batch.
    r = train(*TINY, "--backend", backend, "--out", killed, "--save-every", "0", kill_at="2:3",
              check=False)
    assert r.returncode == -9, r.stdout + r.stderr
    ck = load_checkpoint(killed / "last.npz")
    # killed after the update of batch 3, before its checkpoint: resume redoes batch 3
    assert (int(ck.train["epoch"]), int(ck.train["batch"])) == (1, 2)
    assert not (killed / "summary.json").exists()
    r = train("--resume", killed)
    assert "resuming" in r.stdout
    a, b = final_params(full), final_params(killed)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    m1 = (full / "metrics.csv").read_text()
    m2 = (killed / "metrics.csv").read_text()
    strip = lambda s: [line.split(",")[:11] for line in s.splitlines()]  # noqa: E731 (no timings)
    assert strip(m1) == strip(m2)
    for f in ("best.npz", "summary.json", "learning_curves.png", "raster.png", "omega_b.png"):
        assert (killed / f).exists(), f


@needs_ecg
def test_run_directory_contents_and_metadata(tmp_path):
    out = tmp_path / "run"
    r = train(*TINY, "--backend", "reference", "--dtype", "float32", "--out", out, "--epochs", "1")
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["settings"]["task"] == "ecg" and cfg["settings"]["seed"] == 0
    assert cfg["synthetic_data"] is False and "numpy" in cfg["versions"]
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r_["epoch"] for r_ in rows] == [0, 1]
    assert rows[0]["train_loss"] is None and rows[1]["train_loss"] > 0
    # the untrained resonator net is silent: loss ln 6 per step exactly (docs/official-code.md §9)
    assert rows[0]["val_loss"] == pytest.approx(np.log(6), rel=1e-6)
    header = (out / "metrics.csv").read_text().splitlines()[0].split(",")
    assert {"train_loss", "val_acc", "test_acc", "test_sops", "test_sops_per_step", "lr",
            "epoch_seconds"} <= set(header)
    assert "best checkpoint" in r.stdout and "test accuracy" in r.stdout
    best = load_checkpoint(out / "best.npz")
    assert set(best.params) == {"hidden.omega", "hidden.b_offset", "hidden.linear.weight",
                                "out.tau_mem", "out.linear.weight"}


@needs_ecg
def test_progress_is_shown_during_the_evaluations(tmp_path):
    """A log (not a terminal) gets a line as the untrained network is evaluated (32 s on cold
    SHD) and progress lines during evaluations (at most one a minute), not only per training
    batch."""
    r = train("ecg", "--data-dir", ECG_DIR, "--subset", "24", "--batch", "8", "--epochs", "1",
              "--eval-batch", "8", "--backend", "reference", "--out", tmp_path / "run")
    out = r.stdout
    assert "epoch   0: evaluating the untrained network on 24 validation and 24 test samples" in out
    assert out.index("evaluating epoch 0: val: batch 1/3") < out.index("epoch   0/1")


@needs_ecg
def test_existing_run_directory_is_never_overwritten(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "precious.txt").write_text("keep me")
    r = train(*TINY, "--out", out, check=False)
    assert r.returncode == 2 and "already exists" in r.stderr and "Traceback" not in r.stderr
    assert (out / "precious.txt").read_text() == "keep me"
    assert sorted(p.name for p in out.iterdir()) == ["precious.txt"]


@pytest.mark.parametrize(
    "args,needle",
    [
        (["ecg", "--data-dir", "/nonexistent/dir"], "/nonexistent/dir"),
        (["ecg", "--lr", "-1"], "--lr"),
        (["ecg", "--epochs", "0"], "--epochs"),
        (["shd", "--neuron", "alif", "--reset", "soft"], "--reset"),
        (["--resume", "/nonexistent/run"], "config.json"),
        ([], "no task"),
        (["ecg", "--config", "/nonexistent.toml"], "nonexistent.toml"),
        # checked before anything is created (the run directory, the data):
        (["ecg", "--threads", "100000"], "--threads 100000 is more than"),
        (["ecg", "--hidden", "10000000"], "PiB of memory"),  # 728 TiB for W alone
        (["shd", "--batch", "100000000"], "use a smaller --batch"),
        (["ecg", "--clip", "-1"], "--clip -1.0 must be >= 0"),
        (["ecg", "--clip", "nan"], "--clip nan"),
        (["ecg", "--save-every", "-5"], "--save-every -5.0 must be >= 0"),
        (["ecg", "--save-every", "nan"], "--save-every nan"),
        (["ecg", "--seed", "-1"], "--seed -1 must be >= 0"),
    ],
)
def test_bad_input_one_line_exit_2(args, needle, tmp_path):
    r = train(*args, "--out", tmp_path / "x", check=False) if args and args[0] != "--resume" \
        else train(*args, check=False)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    assert needle in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("text,needle", [
    ('epochs = "three"\n', "epochs = 'three' must be an integer"),
    ("batch = 8.5\n", "batch = 8.5 must be an integer"),
    ('lr = "fast"\n', "lr = 'fast' must be a number"),
    ('neuron = "alif"\nreset = "soft"\n', "reset = 'soft' is not defined for the alif neuron"),
    ("save_every = -1\n", "save_every = -1 must be >= 0"),
])
def test_bad_config_values_one_line_exit_2(text, needle, tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text(text)
    r = train("ecg", "--config", cfg, "--out", tmp_path / "x", check=False)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert f"{cfg}: {needle}" in r.stderr  # names the file the value came from
    assert not (tmp_path / "x").exists()


def test_resume_refuses_out(tmp_path):
    r = train("--resume", tmp_path / "run", "--out", tmp_path / "other", check=False)
    assert r.returncode == 2 and "--out" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "other").exists()


def test_bad_config_keys(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('epochs = 3\nlearning_rate = 0.1\n')
    r = train("ecg", "--config", cfg, check=False)
    assert r.returncode == 2 and "learning_rate" in r.stderr
    cfg.write_text('epochs = [')
    r = train("ecg", "--config", cfg, check=False)
    assert r.returncode == 2 and "TOML" in r.stderr


@needs_ecg
def test_config_file_and_flags_precedence(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('task = "ecg"\nepochs = 1\nbatch = 4\nlr = 0.05\nsubset = 8\nbackend = "reference"\n')
    out = tmp_path / "run"
    train("--config", cfg, "--batch", "8", "--data-dir", ECG_DIR, "--out", out, "--quiet")
    s = json.loads((out / "config.json").read_text())["settings"]
    assert (s["epochs"], s["batch"], s["lr"]) == (1, 8, 0.05)


@needs_ecg
def test_nan_stops_before_the_update_and_keeps_the_checkpoint(tmp_path):
    out = tmp_path / "run"
    r = train(*TINY, "--backend", "reference", "--out", out, "--lr", "1e300", check=False)
    # an absurd learning rate blows the parameters up within a few steps
    assert r.returncode == 3, r.stdout + r.stderr
    assert "NaN" in r.stderr or "Inf" in r.stderr or "nan" in r.stderr or "inf" in r.stderr
    assert "batch" in r.stderr
    ck = load_checkpoint(out / "last.npz")
    for k, v in ck.params.items():
        assert np.all(np.isfinite(v)), k


def test_resume_refuses_extra_settings(tmp_path):
    r = train("--resume", tmp_path, "--lr", "0.1", check=False)
    assert r.returncode == 2 and "--resume" in r.stderr


def test_help_explains_every_flag():
    r = subprocess.run([sys.executable, "-m", "resonet.train", "--help"], capture_output=True,
                       text=True)
    assert r.returncode == 0
    for flag in ("--neuron", "--backend", "--epochs", "--batch", "--lr", "--seed", "--data-dir",
                 "--config", "--out", "--resume"):
        assert flag in r.stdout


def test_atomic_write_leaves_old_file_on_failure(tmp_path):
    p = tmp_path / "ck.npz"
    save_checkpoint(p, {"w": np.arange(3.0)})
    before = p.read_bytes()

    class Boom(bytes):
        pass

    with pytest.raises(TypeError):
        atomic_write_bytes(p, object())  # fails while writing: the old file must survive
    assert p.read_bytes() == before
    assert [f.name for f in tmp_path.iterdir()] == ["ck.npz"]  # no temp file left behind


def test_corrupt_checkpoint_is_a_named_error(tmp_path):
    p = tmp_path / "bad.npz"
    p.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(CheckpointError, match="bad.npz"):
        load_checkpoint(p)
    save_checkpoint(p, {"hidden.omega": np.ones(3)})
    with pytest.raises(CheckpointError, match="shape"):
        load_checkpoint(p, {"hidden.omega": (4,)})


@needs_ecg
def test_stop_after_keeps_the_schedule_and_resume_continues(tmp_path):
    out = tmp_path / "run"
    r = train(*TINY, "--backend", "reference", "--epochs", "4", "--stop-after", "1", "--out", out)
    assert "stopping after 1 of 4 epochs" in r.stdout
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [x["epoch"] for x in rows] == [0, 1]
    train("--resume", out, "--stop-after", "2", "--quiet")
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [x["epoch"] for x in rows] == [0, 1, 2]
    assert rows[2]["lr"] == pytest.approx(0.1 * (1 - 1 / 4))  # epoch 2 trained at lr0·(1 − 1/4)


def test_main_job_runs_offline_on_the_synthetic_stand_in(tmp_path):
    """`python -m resonet.train shd` on a machine without SHD: the generated SHD-format data is
    used (the full default size, generated into an empty data dir) and every output says so."""
    out = tmp_path / "run"
    r = train("shd", "--epochs", "1", "--subset", "96", "--out", out,
              env={"RESONET_DATA": str(tmp_path / "data")})
    assert "SYNTHETIC" in r.stdout and "[SYNTHETIC] epoch   1/1" in r.stdout
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["synthetic_data"] is True and cfg["data"]["synthetic"] is True
    assert json.loads((out / "summary.json").read_text())["synthetic_data"] is True
    assert "NOT the real SHD" in (out / "train.log").read_text()
    for f in ("best.npz", "last.npz", "init.npz", "metrics.csv", "learning_curves.png", "raster.png",
              "omega_b.png", "data_split.npz"):
        assert (out / f).exists(), f
