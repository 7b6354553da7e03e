"""Shared pieces of the sweep tests: tiny real trials and the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from resonet.sweep.grid import to_toml
from tests.conftest import ECG_DIR, ROOT

HAVE_ECG = (ECG_DIR / "QTDB_train.mat").exists()


def tiny_base(synthetic_dir: Path | None) -> dict:
    """Settings of a tiny but real training run (2 epochs of 2 batches, a few seconds): ECG
    segments when the ECG files are here, else the synthetic SHD-format stand-in."""
    if synthetic_dir is None:
        return {"task": "ecg", "data_dir": str(ECG_DIR), "subset": 16, "batch": 8, "epochs": 2,
                "hidden": 8, "eval_batch": 64}
    return {"task": "shd", "data_dir": str(synthetic_dir), "synthetic": "yes", "subset": 16, "batch": 8,
            "epochs": 2, "hidden": 8, "eval_batch": 64}


def write_sweep(path: Path, base: dict, extra: str = "") -> Path:
    """A sweep file: ``base`` (scalars; lists become axes) then ``extra`` TOML text (tables)."""
    lines = []
    for k, v in base.items():
        if isinstance(v, list):
            lines.append(f"{k} = {json.dumps(v)}")
        else:
            lines.append(to_toml({k: v}).strip())
    path.write_text("\n".join(lines) + "\n" + extra)
    return path


def sweep_cli(*args, env=None, **kw) -> subprocess.CompletedProcess:
    e = dict(os.environ)
    e["PYTHONPATH"] = str(ROOT) + os.pathsep + e.get("PYTHONPATH", "")
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "resonet.sweep", *map(str, args)],
                          capture_output=True, text=True, env=e, **kw)


def state(out: Path) -> dict:
    return json.loads((out / "sweep.json").read_text())
