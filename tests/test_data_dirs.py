"""Data-directory rules: an explicit folder must exist (unless --download), and the synthetic SHD
stand-in is generated on its own only in the default data directory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from resonet.cli import run_main
from resonet.data import TASKS, load_task
from resonet.data.__main__ import main as data_main
from resonet.errors import DataError

ROOT = Path(__file__).resolve().parents[1]


def _run(*args, env=None):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([sys.executable, *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                          env=e, timeout=300)


@pytest.mark.parametrize("task", TASKS)
def test_explicit_missing_data_dir_is_an_error(tmp_path, task):
    d = tmp_path / "typo"
    with pytest.raises(DataError, match=r"typo: data directory does not exist; check --data-dir, or "
                                        r"add --download"):
        load_task(task, d)
    assert not d.exists()
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(DataError, match="data directory is not a directory"):
        load_task(task, f)


@pytest.mark.parametrize("task", TASKS)
def test_train_cli_missing_data_dir_exit_2(tmp_path, task):
    d, out = tmp_path / "typo", tmp_path / "run"
    r = _run("-m", "resonet.train", task, "--data-dir", d, "--out", out)
    assert r.returncode == 2, r.stdout + r.stderr
    err = r.stderr.strip().splitlines()
    assert err == [f"error: {d}: data directory does not exist; check --data-dir, or add --download "
                   f"to create it and download the {task} data into it"]
    assert not d.exists() and not out.exists()


def test_data_info_cli_missing_data_dir_exit_2(tmp_path, capsys):
    assert run_main(data_main, ["info", "ecg", "--data-dir", str(tmp_path / "typo")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "data directory does not exist" in err[0]


def test_shd_in_an_explicit_empty_dir_is_an_error_and_writes_nothing(tmp_path):
    """Formerly 117 MB of synthetic data were generated into such a folder and trained on."""
    with pytest.raises(DataError, match="SHD files not found.*--synthetic yes"):
        load_task("shd", tmp_path)
    assert list(tmp_path.iterdir()) == []
    out = tmp_path / "run"
    r = _run("-m", "resonet.train", "shd", "--data-dir", tmp_path, "--out", out)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stdout + r.stderr
    assert "SHD files not found" in r.stderr and "--synthetic yes" in r.stderr
    assert list(tmp_path.iterdir()) == []


def test_shd_synthetic_yes_generates_in_an_explicit_dir(tmp_path):
    td = load_task("shd", tmp_path, synthetic=True, synthetic_n_train=30, synthetic_n_test=10)
    assert td.info["synthetic"] and len(td.test) == 10
    assert (tmp_path / "shd-synthetic").is_dir()


@pytest.mark.parametrize("where", ["xdg", "env"])
def test_shd_auto_generates_the_stand_in_in_the_default_dir(tmp_path, monkeypatch, where):
    monkeypatch.delenv("RESONET_DATA", raising=False)
    if where == "xdg":
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
        default = tmp_path / "cache" / "resonet"
    else:  # $RESONET_DATA moves the default data directory; it need not exist yet
        monkeypatch.setenv("RESONET_DATA", str(tmp_path / "mine"))
        default = tmp_path / "mine"
    td = load_task("shd", synthetic_n_train=30, synthetic_n_test=10)
    assert td.info["synthetic"] and (default / "shd-synthetic").is_dir()
    assert td.info["files"]["train"].startswith(str(default))


def test_synthetic_no_never_generates(tmp_path, monkeypatch):
    monkeypatch.delenv("RESONET_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with pytest.raises(DataError, match="SHD files not found"):
        load_task("shd", synthetic=False)
    assert not (tmp_path / "cache" / "resonet" / "shd-synthetic").exists()
