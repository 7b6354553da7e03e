"""The width table of benchmarks/README.md: SHD BRF training steps (700-H-20, B = 32, T = 250,
float32) at several widths H, resonet beside the official PyTorch code and a JAX implementation
of the official model, all run in one session on one machine, interleaved width by width.

    python benchmarks/width.py --widths 128,256,512,1024,2048 --peer-python PY \\
        --official-src DIR --jax-script FILE --json benchmarks/results/width.json

- resonet: ``benchmarks/train_step.py --hidden H --sgemm`` in this Python (cpu backend, the
  hidden layer calibrated to 6 % spikes, 4 % input events): median, min and max of a training
  step, the dense floor (the backward's adjoint products W_recᵀδ, 2·B·H²·T flops, at the float32
  GEMM rate measured in the same run), GFLOP/s of those flops over the step, the ratio to the
  floor, and the BPTT tape per sample;
- official: ``benchmarks/peer_official.py`` in ``--peer-python`` (a Python with torch; torch is
  no dependency of resonet) with the official code from ``--official-src``; also the bytes
  autograd saves per sample (the official BPTT tape);
- JAX: ``--jax-script`` (a JAX implementation of the official model; ``--time --hidden H``) in
  ``--peer-python``.

Each engine gets ``--threads`` threads. Fewer repetitions at large H keep the run short
(``--repeats`` up to 512, ``--repeats-wide`` above). The load average before and after each run
is recorded: on a shared machine the spread is part of the result. A peer that is not given is
left out.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _run(cmd: list[str], env: dict | None = None, timeout: float = 1800) -> tuple[int, str]:
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    return r.returncode, r.stdout + r.stderr


def resonet_step(H: int, args) -> dict:
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "r.json"
        rc, text = _run([sys.executable, str(HERE / "train_step.py"), "--task", "shd", "--neuron",
                         "brf", "--hidden", str(H), "--batch", "32", "--threads",
                         str(args.threads), "--repeats", str(_reps(H, args)), "--warmup", "2",
                         "--sgemm", "--json", str(out)])
        if rc != 0:
            return {"error": text.strip().splitlines()[-1:]}
        d = json.loads(out.read_text())
    tr, fl = d["train"], d["dense_floor"]
    return {"median_s": tr["median_s"], "min_s": tr["min_s"], "max_s": tr["max_s"],
            "times_s": tr["times_s"], "hidden_spike_rate": d["hidden_spike_rate"],
            "tape_bytes_per_sample": d.get("tape_bytes_per_sample"), "floor": fl,
            "machine": d["machine"]}


def official_step(H: int, args) -> dict | None:
    if not (args.peer_python and args.official_src):
        return None
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "o.json"
        rc, text = _run([args.peer_python, str(HERE / "peer_official.py"), "--src",
                         args.official_src, "--hidden", str(H), "--threads", str(args.threads),
                         "--repeats", str(_reps(H, args)), "--warmup", "3", "--json", str(out)])
        return json.loads(out.read_text()) if rc == 0 else {"error": text.strip().splitlines()[-1:]}


def jax_step(H: int, args) -> dict | None:
    if not (args.peer_python and args.jax_script):
        return None
    rc, text = _run([args.peer_python, args.jax_script, "--time", "--config", "shd", "--hidden",
                     str(H), "--threads", str(args.threads), "--steps", str(_reps(H, args)),
                     "--warmup", "2"])
    rows = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    if rc != 0 or not rows:
        return {"error": text.strip().splitlines()[-1:]}
    r = rows[-1]
    return {"median_s": r["ms_per_step"] / 1e3, "min_s": r["ms_min"] / 1e3,
            "max_s": r["ms_max"] / 1e3, "raw": r}


def _reps(H: int, args) -> int:
    return args.repeats if H <= 512 else args.repeats_wide


def _load() -> float:
    return os.getloadavg()[0]


def table(rows: list[dict]) -> str:
    def ms(d):
        if not d or "median_s" not in d:
            return "–"
        return f"{d['median_s'] * 1e3:.0f} ({d['min_s'] * 1e3:.0f}–{d['max_s'] * 1e3:.0f})"

    def ratio(a, b):
        if not a or not b or "median_s" not in a or "median_s" not in b:
            return "–"
        return f"{b['median_s'] / a['median_s']:.1f}×"

    lines = ["| H | resonet ms, median (min–max) | dense GFLOP | GFLOP/s over the step | "
             "sgemm GFLOP/s | floor ms | step / floor | JAX ms | official ms | JAX / resonet | "
             "official / resonet | load |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        rs = r["resonet"]
        fl = rs.get("floor", {}) if "floor" in rs else {}
        lines.append(
            f"| {r['H']} | {ms(rs)} | {fl.get('flops', 0) / 1e9:.2f} | "
            f"{fl.get('gflops_of_step', 0):.0f} | {fl.get('sgemm', {}).get('best_gflops', 0):.0f} | "
            f"{fl.get('floor_s', 0) * 1e3:.0f} | {fl.get('ratio_to_floor', 0):.1f} | {ms(r['jax'])} | "
            f"{ms(r['official'])} | {ratio(rs, r['jax'])} | {ratio(rs, r['official'])} | "
            f"{r['load_before']:.1f}–{r['load_after']:.1f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--widths", default="128,256,512,1024,2048")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--repeats-wide", type=int, default=3)
    ap.add_argument("--peer-python", default=None, help="a Python with torch and jax")
    ap.add_argument("--official-src", default=None, help="the official code's folder holding snn/")
    ap.add_argument("--jax-script", default=None, help="the JAX implementation to time")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    try:
        widths = [int(h) for h in args.widths.split(",")]
        assert all(h >= 1 for h in widths)
    except (ValueError, AssertionError):
        print(f"error: --widths takes positive integers separated by commas, got {args.widths!r}",
              file=sys.stderr)
        return 2
    rows = []
    for H in widths:
        row = {"H": H, "load_before": _load()}
        row["resonet"] = resonet_step(H, args)
        row["jax"] = jax_step(H, args)
        row["official"] = official_step(H, args)
        row["load_after"] = _load()
        rows.append(row)
        print(table(rows).splitlines()[-1], flush=True)
        if args.json:
            Path(args.json).parent.mkdir(parents=True, exist_ok=True)
            Path(args.json).write_text(json.dumps({"threads": args.threads, "rows": rows},
                                                  indent=2) + "\n")
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
