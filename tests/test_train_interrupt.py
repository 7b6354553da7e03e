"""Interruptions and resume integrity of python -m resonet.train, for real: Ctrl-C (SIGINT) and
SIGTERM between batches and during the epoch-0 evaluation, SIGKILL before the first epoch, two
processes on one run directory, an edited config.json, a full disk; and the run directory's
record (the command as typed, file modes)."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest

from resonet.checkpoint import atomic_write_bytes, load_checkpoint
from resonet.data.ecg import write_qtdb_mat
from resonet.data.synthetic import write_synthetic_shd
from tests.conftest import ROOT, needs_ecg
from tests.test_train import TINY, train

CPU = [*TINY, "--backend", "cpu"]  # 48 ECG segments, batch 8: 6 batches per epoch, 2 epochs


def _umask_022():
    os.umask(0o022)


def same_result(a, b):
    """Final and best parameters bit-identical, the same metrics (timings aside)."""
    for name in ("last.npz", "best.npz"):
        pa, pb = load_checkpoint(a / name).params, load_checkpoint(b / name).params
        assert pa.keys() == pb.keys()
        for k in pa:
            assert np.array_equal(pa[k], pb[k]), f"{name} {k}"
    strip = lambda p: [line.split(",")[:11] for line in (p / "metrics.csv").read_text().splitlines()]  # noqa: E731
    assert strip(a) == strip(b)
    sa, sb = (json.loads((d / "summary.json").read_text()) for d in (a, b))
    assert sa == sb


def position(run_dir):
    ck = load_checkpoint(run_dir / "last.npz")
    return int(ck.train["epoch"]), int(ck.train["batch"])


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    """The uninterrupted run every interrupted one must reproduce (made with umask 022)."""
    out = tmp_path_factory.mktemp("full") / "run"
    args = [*CPU, "--out", out]
    r = subprocess.run([sys.executable, "-m", "resonet.train", *map(str, args)],
                       capture_output=True, text=True, cwd=ROOT, preexec_fn=_umask_022)
    assert r.returncode == 0, r.stdout + r.stderr
    return out, args


@needs_ecg
def test_ctrl_c_mid_epoch_a_second_resume_refused_and_the_result_bit_identical(full, tmp_path):
    run = tmp_path / "run"
    # Ctrl-C after batch 3 of epoch 2: the batch is finished, saved, and the process exits 130
    r = train(*CPU, "--out", run, kill_at="2:3", signal="INT", check=False)
    assert r.returncode == 130, r.stdout + r.stderr
    assert "Traceback" not in r.stderr and "SystemError" not in r.stderr
    assert f"interrupted at epoch 2, batch 3/6; resume with python -m resonet.train --resume {run}" \
        in r.stderr
    assert position(run) == (1, 3)  # nothing of the interrupted epoch is lost
    assert "resume with" in (run / "train.log").read_text()
    assert not (run / "summary.json").exists()

    # a --resume that stops itself after batch 5 (still holding the run directory) ...
    first = subprocess.Popen(
        [sys.executable, "-m", "tests.kill_train", "--signal", "STOP", "2:5", "--resume", str(run),
         "--quiet"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _, status = os.waitpid(first.pid, os.WUNTRACED)
        assert os.WIFSTOPPED(status), status
        before = (run / "last.npz").read_bytes()
        # ... so that a second --resume of the same directory is refused, and changes nothing
        r = train("--resume", run, check=False)
        assert r.returncode == 2, r.stdout + r.stderr
        assert "in use" in r.stderr and len(r.stderr.strip().splitlines()) == 1
        assert (run / "last.npz").read_bytes() == before
        # a real Ctrl-C from outside, delivered when the first continues
        os.kill(first.pid, signal.SIGINT)
        os.kill(first.pid, signal.SIGCONT)
        out, err = first.communicate(timeout=300)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert first.returncode == 130, out + err
    assert position(run) == (1, 5)

    train("--resume", run)
    same_result(full[0], run)


@needs_ecg
@pytest.mark.parametrize("sig,code", [("INT", 130), ("TERM", 130), ("KILL", -9)])
def test_a_signal_during_the_epoch0_evaluation_leaves_a_resumable_run(full, tmp_path, sig, code):
    run = tmp_path / "run"
    r = train(*CPU, "--out", run, kill_at="eval:0", signal=sig, check=False)
    assert r.returncode == code, r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    if sig != "KILL":
        assert "resume with python -m resonet.train --resume" in r.stderr
    # before its first evaluation the run already has its resume point
    assert position(run) == (0, 0) and not (run / "metrics.jsonl").exists()
    r = train("--resume", run)
    assert "resuming" in r.stdout
    same_result(full[0], run)


@needs_ecg
def test_a_run_killed_before_any_checkpoint_restarts_from_its_initialisation(full, tmp_path):
    run = tmp_path / "run"
    r = train(*CPU, "--out", run, kill_at="eval:0", signal="KILL", check=False)
    assert r.returncode == -9
    for name in ("last.npz", "init.npz"):  # as if killed right after config.json was written
        (run / name).unlink()
    r = train("--resume", run)
    assert "has no checkpoint yet" in r.stdout
    same_result(full[0], run)


@needs_ecg
def test_a_full_disk_gives_one_line_and_keeps_the_last_good_checkpoint(full, tmp_path):
    run = tmp_path / "run"
    # last.npz is written at the start, after the epoch-0 evaluation and (--save-every 0) after
    # every batch: the 4th write, after batch 2 of epoch 1, finds the disk full
    r = train(*CPU, "--out", run, "--save-every", "0", enospc="last.npz:4", check=False)
    assert r.returncode == 2, r.stdout + r.stderr
    err = r.stderr.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1
    assert f"{run / 'last.npz'}: cannot write it: No space left on device" in err
    assert "the last good checkpoint is kept" in err and "after batch 1 of epoch 1" in err
    assert position(run) == (0, 1)
    assert not [p.name for p in run.iterdir() if p.name.startswith(".")]  # no temp file left
    train("--resume", run)
    same_result(full[0], run)


@needs_ecg
def test_resume_refuses_an_edited_config_json(tmp_path):
    run = tmp_path / "run"
    train(*CPU, "--epochs", "3", "--stop-after", "1", "--out", run)
    cfg_path = run / "config.json"
    original = cfg_path.read_text()
    last = (run / "last.npz").read_bytes()

    def edited(change) -> subprocess.CompletedProcess:
        cfg = json.loads(original)
        change(cfg["settings"])
        cfg_path.write_text(json.dumps(cfg))
        return train("--resume", run, check=False)

    def to_rf(s):  # BRF parameters have RF's names and shapes: this resumed silently as RF
        s["neuron"] = s["spec"]["neuron"] = "rf"

    for change, needle in ((to_rf, "neuron 'rf' in config.json, 'brf' in the checkpoint"),
                           (lambda s: s.update(lr=0.05), "lr 0.05 in config.json, 0.1 in"),
                           (lambda s: s.update(hidden=40), "hidden 40 in config.json, 36 in")):
        r = edited(change)
        assert r.returncode == 2, r.stdout + r.stderr
        assert f"{cfg_path} does not match {run / 'last.npz'}" in r.stderr and needle in r.stderr
        assert len(r.stderr.strip().splitlines()) == 1
        assert (run / "last.npz").read_bytes() == last
    cfg_path.write_text(original)
    r = train("--resume", run, "--stop-after", "2")
    assert "resuming" in r.stdout


@needs_ecg
def test_config_json_records_the_command_as_typed(full):
    run, args = full
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["command"] == "python -m resonet.train " + shlex.join(map(str, args))


@needs_ecg
def test_run_directory_files_are_readable_like_any_new_file(full):
    run, _ = full
    modes = {p.name: oct(p.stat().st_mode & 0o777) for p in run.iterdir()}
    assert set(modes.values()) == {"0o644"}, modes  # mkstemp made the checkpoints 0600


def test_written_data_and_checkpoint_files_are_0644(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write_bytes(tmp_path / "a.bin", b"x")
        files = list(write_synthetic_shd(tmp_path / "syn", n_train=4, n_test=2).values())
        x = np.zeros((2, 1300, 4), np.int8)
        files.append(write_qtdb_mat(tmp_path / "QTDB_test.mat", x, np.full((2, 1300), -1)))
    finally:
        os.umask(old)
    for p in [tmp_path / "a.bin", *files]:
        assert p.stat().st_mode & 0o777 == 0o644, p


def test_the_sweep_lock_and_the_run_lock_do_not_wait_on_each_other(tmp_path):
    """A sweep trial holds <sweep>/locks/<id>.lock while its train process locks the run
    directory: different files, and the run lock never waits (a second holder is refused)."""
    import fcntl

    from resonet.errors import CheckpointError
    from resonet.rundir import RunDir
    from resonet.sweep.trial import paths

    p = paths(tmp_path, "t0")
    p["lock"].parent.mkdir(parents=True)
    p["run"].mkdir()
    with open(p["lock"], "a") as sweep_lock:
        fcntl.flock(sweep_lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        held = RunDir(p["run"]).lock()
        try:
            with pytest.raises(CheckpointError, match="in use"):
                RunDir(p["run"]).lock()
        finally:
            held.close()
    again = RunDir(p["run"]).lock()  # released with its file
    again.close()
    shutil.rmtree(p["run"])
