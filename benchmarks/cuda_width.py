"""The CUDA kernels at width: parity with the CPU engine and what a step costs, for wide layers.

    python benchmarks/cuda_width.py [--hidden 1024,2048] [--json FILE]

For each width H (SHD shape: 700 inputs, 20 classes, BRF, input events):

1. **parity**: a short sequence (T=30, B=2, float64) on the cuda and cpu backends: outputs, loss
   and every gradient (max relative error, as resonet.verify measures it) and the spikes;
2. **memory**: the device buffers a full SHD training batch (B=256, T=250, float32) needs, from
   the workspace's own sizes (``device.workspace_bytes``), and that they can be allocated;
3. **speed**: inference of that full batch (B=256, T=250, float32; the forward pass is
   event-driven), and training steps (forward + BPTT + gradients) at B=``--batch``, T=``--steps``
   (the BPTT's dense adjoint Ī_{t+1} W_rec reads all of W_rec per sample and step, so a full
   SHD batch at H=2048 would take a minute or more; the per-sample-step cost is reported and
   scaled to B=256, T=250, labelled as an extrapolation).

The input weights are scaled so that the hidden layer spikes at a few percent, as a trained
network does (a silent network would time nothing).

Exit code 0 when every width passes the parity check (float64: max relative error ≤ 1e-9,
spikes identical), 1 otherwise, 2 without a usable CUDA backend.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # train_step's calibration

from resonet.errors import ConfigError
from resonet.events import SpikeEvents
from resonet.network import NetworkSpec, init_params
from resonet.presets import get_preset
from resonet.verify import TOLERANCE, rel_err

C_SHD, T_SHD, B_FULL = 20, 250, 256
DENSITY = 0.04  # SHD input spikes per channel and step


def events(rng, T: int, B: int, I: int) -> SpikeEvents:
    counts, cols = [], []
    for _ in range(T):
        rows, c = np.nonzero(rng.random((B, I)) < DENSITY)
        counts.append(np.bincount(rows, minlength=B))
        cols.append(c.astype(np.int32))
    indptr = np.zeros(T * B + 1, np.int64)
    np.cumsum(np.concatenate(counts), out=indptr[1:])
    return SpikeEvents(indptr, np.concatenate(cols), None, T, B, I)


def network(H: int, I: int, backend, seed: int = 0):
    """The SHD BRF network of width H, its input weights scaled so that a few percent of the
    neuron-steps spike (train_step.calibrate on a short batch; ``backend``: the cpu one, the
    scale is a property of the network)."""
    from train_step import TASKS, calibrate

    spec = NetworkSpec("brf", I, H, C_SHD)
    p = init_params(spec, np.random.default_rng(seed), dict(get_preset("shd", "brf").init))
    x = events(np.random.default_rng(seed + 7), 100, 4, I)
    scale, rate = calibrate(backend, spec, p, x, 100, np.float64, TASKS["shd"]["rate"])
    return spec, p, scale


def timed(fn, n: int) -> dict:
    fn()  # warm-up (and compile)
    ts = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return {"median_s": statistics.median(ts), "min_s": min(ts), "max_s": max(ts), "n": n}


def one_width(H: int, args, cuda_be, cpu_be) -> dict:
    from numba import cuda

    from resonet.kernels.cuda.device import workspace_bytes

    I = args.inputs
    spec, p, scale = network(H, I, cpu_be)
    rng = np.random.default_rng(1)
    out: dict = {"H": H, "network": f"{I}-{H}-{C_SHD}", "input_weight_scale": scale}

    # 1. parity, float64
    x = events(rng, 30, 2, I)
    y = np.array([3, 7])
    a = cuda_be.run(spec, p, x, y, dtype=np.float64, return_states=True)
    b = cpu_be.run(spec, p, x, y, dtype=np.float64, return_states=True)
    errs = {"outputs": rel_err(a.outputs, b.outputs), "loss": rel_err(np.array(a.loss),
                                                                      np.array(b.loss))}
    errs.update({f"grad {k}": rel_err(a.grads[k], b.grads[k]) for k in b.grads})
    flips = int(np.sum(a.states["z"] != b.states["z"]))
    rate = float(b.states["z"].mean())
    worst = max(errs, key=errs.get)
    out["parity"] = {"T": 30, "B": 2, "dtype": "float64", "errors": errs, "max_rel_err":
                     errs[worst], "worst": worst, "spike_mismatches": flips,
                     "hidden_spike_rate": rate,
                     "pass": bool(errs[worst] <= TOLERANCE and flips == 0)}
    print(f"H={H}: parity cuda vs cpu float64 (T=30, B=2, {rate:.1%} spikes): max rel err "
          f"{errs[worst]:.1e} ({worst}), {flips} spike flips -> "
          f"{'PASS' if out['parity']['pass'] else 'FAIL'}", flush=True)

    # 2. memory of a full SHD training batch (float32), allocated for real
    TF, BF = args.full_steps, args.full_batch
    need = workspace_bytes(spec, TF, BF, 4, keep=True)
    from resonet.kernels.cuda.device import Workspace

    def free_total():
        try:
            free, total = cuda.current_context().get_memory_info()
            return (int(free), int(total)) if np.isfinite(free) and np.isfinite(total) else None
        except Exception:  # the simulator has no memory information
            return None

    before = free_total()
    ws = Workspace(spec, TF, BF, np.float32, True, False)
    after = free_total()
    del ws
    used = before[0] - after[0] if before and after else None
    out["memory"] = {"B": BF, "T": TF, "dtype": "float32", "workspace_bytes": need,
                     "allocated_bytes": used, "gpu_total_bytes": before[1] if before else None}
    shown = "" if used is None else f" (allocated {used / 2**30:.3f} GiB of {before[1] / 2**30:.0f})"
    print(f"  full batch (B={BF}, T={TF}, float32): workspace {need / 2**30:.3f} GiB{shown}",
          flush=True)

    # 3. speed, float32
    p32 = {k: v.astype(np.float32) for k, v in p.items()}
    xf = events(rng, TF, BF, I)
    yf = rng.integers(0, C_SHD, BF)
    inf = timed(lambda: cuda_be.run(spec, p32, xf, yf, grads=False, dtype=np.float32),
                args.repeats)
    inf.update({"B": BF, "T": TF, "samples_per_s": BF / inf["median_s"]})
    xs = events(rng, args.steps, args.batch, I)
    ys = rng.integers(0, C_SHD, args.batch)
    tr = timed(lambda: cuda_be.run(spec, p32, xs, ys, dtype=np.float32), args.repeats)
    per = tr["median_s"] / (args.batch * args.steps)
    tr.update({"B": args.batch, "T": args.steps, "s_per_sample_step": per,
               "extrapolated_full_batch_s": per * BF * TF})
    out["infer_full_batch"] = inf
    out["train"] = tr
    print(f"  inference B={BF} T={TF}: {inf['median_s'] * 1e3:.1f} ms "
          f"({inf['samples_per_s']:,.0f} samples/s); training step B={args.batch} "
          f"T={args.steps}: {tr['median_s'] * 1e3:.1f} ms (min {tr['min_s'] * 1e3:.1f}, max "
          f"{tr['max_s'] * 1e3:.1f}) -> {per * 1e6:.2f} µs per sample-step, "
          f"~{per * BF * TF:.1f} s for B={BF}, T={TF} (extrapolated)", flush=True)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hidden", default="1024,2048", help="comma-separated widths")
    ap.add_argument("--inputs", type=int, default=700, help="input channels (default 700, SHD)")
    ap.add_argument("--batch", type=int, default=32, help="batch of the timed training step")
    ap.add_argument("--steps", type=int, default=25, help="sequence length of that step")
    ap.add_argument("--full-batch", type=int, default=B_FULL,
                    help="batch of the memory check and the timed inference (default 256)")
    ap.add_argument("--full-steps", type=int, default=T_SHD,
                    help="sequence length of those (default 250, SHD)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    try:
        widths = [int(h) for h in args.hidden.split(",") if h.strip()]
    except ValueError:
        print(f"error: --hidden takes comma-separated integers, got {args.hidden!r}",
              file=sys.stderr)
        return 2
    from resonet.backends import get_backend

    try:
        cuda_be = get_backend("cuda")
    except (ImportError, ConfigError) as exc:
        print(f"error: the cuda backend is not available: {exc}", file=sys.stderr)
        return 2
    cpu_be = get_backend("cpu")
    res = {"widths": []}
    ok = True
    for H in widths:
        r = one_width(H, args, cuda_be, cpu_be)
        res["widths"].append(r)
        ok = ok and r["parity"]["pass"]
        if args.json:  # after every width: a later one that runs out of time keeps these
            Path(args.json).parent.mkdir(parents=True, exist_ok=True)
            Path(args.json).write_text(json.dumps(res, indent=2) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
