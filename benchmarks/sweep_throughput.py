"""Sweep throughput: the same trials as parallel single-thread trials or one after another.

    python benchmarks/sweep_throughput.py --data-dir DIR [--trials 4] [--epochs 20]
        [--layouts 2x1,1x2] [--rounds 3] [--json FILE]

Each layout WxK runs the same small ECG BRF sweep (seeds 0..trials-1, ``epochs`` epochs each)
with ``python -m resonet.sweep run --workers W --threads-per-trial K`` into a fresh temporary
directory: 2x1 is the sweep's default on two cores (two trials at once, one thread each), 1x2
the trials one after another with both cores each. Layouts alternate within each round, so slow
phases of a shared machine hit both. Reported per layout: the median (and range) over the rounds
of the driver's wall time, of the trials' summed wall time, and trials per hour.

The kernels are compiled (or loaded from the cache) by a throw-away 1-epoch run first, so no
layout pays for compilation.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def sweep_file(path: Path, trials: int, epochs: int, data_dir: str) -> None:
    seeds = ", ".join(str(s) for s in range(trials))
    from resonet.neurons import DEFAULT_NEURON  # the paper's model

    path.write_text(f'task = "ecg"\nneuron = "{DEFAULT_NEURON}"\nseed = [{seeds}]\nepochs = {epochs}\n'
                    f'data_dir = "{data_dir}"\n\n[sweep]\nname = "throughput"\n')


def run_layout(toml: Path, out: Path, workers: int, threads: int) -> dict:
    cmd = [sys.executable, "-m", "resonet.sweep", "run", str(toml), "--out", str(out),
           "--workers", str(workers), "--threads-per-trial", str(threads)]
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        sys.exit(f"error: {' '.join(cmd)} exited {r.returncode}:\n{r.stdout[-2000:]}{r.stderr[-2000:]}")
    state = json.loads((out / "sweep.json").read_text())
    trial_sum = sum(t.get("wall_s_total") or 0.0 for t in state["trials"].values())
    accs = {tid: t["summary"]["test_acc"] for tid, t in sorted(state["trials"].items())}
    return {"wall_s": wall, "trials_wall_s": trial_sum, "test_acc": accs}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", required=True, help="folder with QTDB_train.mat and QTDB_test.mat")
    ap.add_argument("--trials", type=int, default=4)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--layouts", default="2x1,1x2", help="comma-separated WORKERSxTHREADS")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", default=None, help="write the numbers to this file")
    a = ap.parse_args(argv)
    if not Path(a.data_dir).is_dir():
        ap.error(f"--data-dir {a.data_dir}: no such folder")
    layouts = []
    for item in a.layouts.split(","):
        try:
            w, k = (int(v) for v in item.lower().split("x"))
        except ValueError:
            ap.error(f"--layouts: {item!r} is not WORKERSxTHREADS (e.g. 2x1)")
        layouts.append((w, k))
    cores = os.cpu_count() or 1
    results: dict[str, list[dict]] = {f"{w}x{k}": [] for w, k in layouts}
    with tempfile.TemporaryDirectory(prefix="resonet-throughput-") as tmp:
        tmp = Path(tmp)
        toml = tmp / "throughput.toml"
        sweep_file(toml, a.trials, a.epochs, a.data_dir)
        warm = tmp / "warm.toml"
        sweep_file(warm, 1, 1, a.data_dir)
        run_layout(warm, tmp / "warm", 1, 1)  # compile or load the kernels once, untimed
        for rnd in range(a.rounds):
            for w, k in layouts:
                key = f"{w}x{k}"
                res = run_layout(toml, tmp / f"r{rnd}-{key}", w, k)
                results[key].append(res)
                print(f"round {rnd + 1}/{a.rounds}  {key}: sweep {res['wall_s']:.1f} s, "
                      f"trials together {res['trials_wall_s']:.1f} s", flush=True)
    print(f"\n{a.trials} ECG BRF trials x {a.epochs} epochs, {a.rounds} round(s), {cores} cores\n")
    print("| workers x threads | sweep wall s (median, min–max) | trials' summed wall s | trials/h |")
    print("|---|---|---|---|")
    summary = {}
    for key, runs in results.items():
        walls = [r["wall_s"] for r in runs]
        med = statistics.median(walls)
        tsum = statistics.median(r["trials_wall_s"] for r in runs)
        summary[key] = {"wall_s_median": med, "wall_s_min": min(walls), "wall_s_max": max(walls),
                        "trials_wall_s_median": tsum, "trials_per_hour": a.trials * 3600 / med}
        print(f"| {key} | {med:.1f} ({min(walls):.1f}–{max(walls):.1f}) | {tsum:.1f} | "
              f"{a.trials * 3600 / med:.0f} |")
    # the same seeds must give the same accuracy whatever the layout at equal threads; across
    # thread counts, float32 reductions may be ordered differently, so only report it
    accs = {key: runs[0]["test_acc"] for key, runs in results.items()}
    if a.json:
        Path(a.json).write_text(json.dumps({"trials": a.trials, "epochs": a.epochs, "cores": cores,
                                            "rounds": a.rounds, "layouts": summary,
                                            "runs": results, "test_acc": accs}, indent=1))
        print(f"\nwritten: {a.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
