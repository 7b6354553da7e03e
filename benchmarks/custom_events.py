"""Training on a user's events file of >= 10^7 events: wall time and peak memory.

Generates an events split in resonet's file format (docs/data.md, "Your own data": ``sample``,
``step``, ``channel``, ``n_steps``, ``n_inputs``, ``y``) of SHD's shape (N samples of T = 250
steps over I = 700 channels, 20 classes) with E events in all, and a test split of a tenth of
that, then runs, in a fresh process each time,

    python -m resonet.train custom --train train.npz --test test.npz --epochs 1 --hidden H
        --threads 1 --batch 32

``--repeats`` times. Reports per run the wall time of the whole command (reading and checking the
files, building the run, the untrained evaluation, one epoch, the final evaluation), the epoch's
training time and the evaluation times from metrics.jsonl, and the peak resident memory of the
training process (``ru_maxrss`` of the child, Linux: KiB); the median and range; the size the
same data would have dense (N·T·I float32), which resonet never builds.

    python benchmarks/custom_events.py [--events 12000000] [--samples 8000] [--hidden 32]
        [--repeats 3] [--dir DIR] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def make_split(path: Path, rng: np.random.Generator, N: int, E: int, T: int, I: int, C: int):
    """E events over N samples; class k fires more on its own band of channels (learnable)."""
    y = np.arange(N) % C
    sample = np.sort(rng.integers(0, N, E)).astype(np.int32)
    step = rng.integers(0, T, E).astype(np.int16)
    band = I // C
    own = rng.random(E) < 0.3
    chan = rng.integers(0, I, E)
    chan[own] = y[sample[own]] * band + rng.integers(0, band, int(own.sum()))
    np.savez(path, sample=sample, step=step, channel=chan.astype(np.int16), n_steps=T,
             n_inputs=I, y=y)


def run_once(train: Path, test: Path, out: Path, hidden: int) -> dict:
    cmd = [sys.executable, "-m", "resonet.train", "custom", "--train", str(train), "--test",
           str(test), "--epochs", "1", "--hidden", str(hidden), "--threads", "1", "--batch", "32",
           "--out", str(out), "--quiet"]
    t0 = time.perf_counter()
    # a child process per run: its ru_maxrss is its own peak (the parent's generation excluded,
    # since each run is waited for alone and RUSAGE_CHILDREN keeps the largest child)
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if r.returncode != 0:
        sys.exit(f"training failed:\n{r.stderr}")
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return {"wall_s": wall, "peak_rss_mib": peak / 1024,
            "peak_is_this_run": peak > before,
            "epoch_train_s": rows[-1]["epoch_seconds"],
            "eval_s": [row["eval_seconds"] for row in rows],
            "train_samples_per_s": rows[-1]["train_samples_per_s"],
            "test_acc": rows[-1]["test_acc"]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--events", type=float, default=1.2e7)
    ap.add_argument("--samples", type=int, default=8000)
    ap.add_argument("--steps", type=int, default=250)
    ap.add_argument("--inputs", type=int, default=700)
    ap.add_argument("--classes", type=int, default=20)
    ap.add_argument("--hidden", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--dir", type=Path, help="folder for the files and runs (default: a temp dir)")
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    E, N, T, I, C = int(a.events), a.samples, a.steps, a.inputs, a.classes
    work = a.dir or Path(tempfile.mkdtemp(prefix="resonet-custom-events-"))
    work.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    train, test = work / "train.npz", work / "test.npz"
    t0 = time.perf_counter()
    make_split(train, rng, N, E, T, I, C)
    make_split(test, rng, max(C, N // 10), E // 10, T, I, C)
    gen_s = time.perf_counter() - t0
    # one untimed run compiles (and caches) the numba kernels, as a user's first run does
    run_once(train, test, work / "warm", a.hidden)
    runs = [run_once(train, test, work / f"run{k}", a.hidden) for k in range(a.repeats)]

    def stat(key):
        v = np.array([r[key] for r in runs], dtype=float)
        return float(np.median(v)), float(v.min()), float(v.max())

    dense_gib = N * T * I * 4 / 2**30
    print(f"train file: {E:,} events, N {N:,}, T {T}, I {I} ({train.stat().st_size / 2**20:.0f} "
          f"MiB .npz; dense float32 would be {dense_gib:.1f} GiB); test {E // 10:,} events; "
          f"generated in {gen_s:.1f} s")
    print(f"network {I}-{a.hidden}-{C} BRF (SHD presets), 1 epoch, batch 32, --threads 1, "
          f"{a.repeats} runs after a warm-up run")
    print("| quantity | median | min–max |")
    print("|---|---|---|")
    for key, label in (("wall_s", "wall time of the command, s"),
                       ("epoch_train_s", "training epoch, s"),
                       ("train_samples_per_s", "training samples/s"),
                       ("peak_rss_mib", "peak RSS of the process, MiB")):
        m, lo, hi = stat(key)
        print(f"| {label} | {m:.1f} | {lo:.1f}–{hi:.1f} |")
    result = {"benchmark": "custom_events", "events": E, "samples": N, "steps": T, "inputs": I,
              "classes": C, "hidden": a.hidden, "file_mib": train.stat().st_size / 2**20,
              "dense_float32_gib": dense_gib, "runs": runs,
              "machine": {"python": platform.python_version(), "cpu": platform.processor(),
                          "cores": os.cpu_count(), "load": os.getloadavg()},
              "numpy": np.__version__}
    if a.json:
        a.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
