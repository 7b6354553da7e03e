"""A sweep over a user's files: ``task = "custom"`` with ``train``/``test`` paths (relative to
where the sweep runs) trains like ``python -m resonet.train custom``."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.sweep_helpers import state, sweep_cli

pytest.importorskip("tomllib")  # sweep files need Python >= 3.11


def test_sweep_of_custom_files(tmp_path):
    rng = np.random.default_rng(0)
    y = np.arange(30) % 3
    x = rng.random((30, 12, 4)) < 0.3
    np.savez(tmp_path / "a.npz", x=x[:24], y=y[:24])
    np.savez(tmp_path / "b.npz", x=x[24:], y=y[24:])
    (tmp_path / "s.toml").write_text(
        'task = "custom"\ntrain = "a.npz"\ntest = "b.npz"\nneuron = ["brf", "alif"]\n'
        "epochs = 1\nhidden = 8\nbatch = 8\n[sweep]\nname = \"mine\"\nthreads_per_trial = 1\n")
    r = sweep_cli("run", "s.toml", "--out", "out", "--executor", "local", cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    st = state(tmp_path / "out")
    assert sorted(st["trials"]) == ["custom-alif-s0", "custom-brf-s0"]
    assert all(t["status"] == "done" for t in st["trials"].values())
    for tid in st["trials"]:
        s = json.loads((tmp_path / "out" / tid / "config.json").read_text())["settings"]
        # the files as absolute paths: a trial's worker may run in another directory
        assert s["train"] == str(tmp_path / "a.npz") and s["test"] == str(tmp_path / "b.npz")
        assert (s["preset"]["n_in"], s["preset"]["n_out"], s["preset"]["T"]) == (4, 3, 12)
