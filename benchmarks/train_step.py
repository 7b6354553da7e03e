"""Time full training steps (forward, loss, BPTT, optimizer) and inference of a task's network.

    python benchmarks/train_step.py --task shd|ecg|smnist --neuron NAME \
        --backend cpu|cuda|reference --batch N --repeats N [--dtype float32|float64] \
        [--input events|dense] [--threads N] [--json FILE]

The network is the task's (SHD 700-128-20, T=250; ECG 4-36-6, T=1301; S-MNIST 1-256-10, T=784)
with the neuron (any of resonet.neurons.NEURONS) initialised as its preset for the task says, fed
random input of realistic density (SHD: 4 % binary spikes, given as SpikeEvents like the SHD
loader's sparse batches; ECG: 8 % binary level-crossing spikes,
measured 7.75 % on QTDB_train; S-MNIST: grey values, 19 % of pixels nonzero). Labels: one per
sequence (SHD), one per step (ECG), label-last (S-MNIST). A training step is
``backend.run(...)`` with gradients plus ``resonet.optim.Adam.step`` (S-MNIST also clips the
global norm to 1.0, as its preset does); inference is ``backend.run(..., grads=False)`` with the
labels (the loss is computed, as in validation). Both are timed with ``time.perf_counter`` after
warm-up calls (the first of which includes JIT compilation or loading it from the cache, and is
reported separately); median, min and max seconds per step over ``--repeats`` calls, samples/s
from the median, peak RSS from ``resource.getrusage``.

Exit code 2 with one line on stderr if the backend is unavailable (e.g. ``--backend cuda``
before the GPU engine exists).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from resonet.contract import BACKEND_NAMES, DEFAULT_BACKEND, DTYPES
from resonet.errors import ConfigError
from resonet.events import SpikeEvents
from resonet.network import NetworkSpec, init_params
from resonet.neurons import DEFAULT_NEURON, NEURONS
from resonet.optim import Adam, clip_grad_norm
from resonet.presets import get_preset

# I, H, C, T; labels; input density; hidden spike rate the input weights are scaled to (trained
# nets: SHD BRF ~5.9 %, ECG BRF 5.3 spikes/step of 36 = 15 %, S-MNIST BRF
# 15,462 SOPs / 784 steps / 256 = 7.7 % (docs/official-code.md §6)); lr, clip (paper Table 3). The
# initial ranges are the neuron's preset for the task (resonet.presets).
TASKS = {
    "shd": dict(size=(700, 128, 20, 250), labels="sequence", density=0.04, rate=0.06, lr=0.075, clip=None,
                input="events"),
    "ecg": dict(size=(4, 36, 6, 1301), labels="per_step", density=0.08, rate=0.15, lr=0.1, clip=None,
                input="dense"),
    "smnist": dict(size=(1, 256, 10, 784), labels="last", density=0.19, rate=0.08, lr=0.1, clip=1.0,
                   input="dense"),
}


def build(task: str, neuron: str, batch: int, dtype, input_kind: str, seed: int = 0,
          hidden: int | None = None):
    cfg = TASKS[task]
    I, H, C, T = cfg["size"]
    H = hidden or H
    spec = NetworkSpec(neuron, I, H, C, label_last=cfg["labels"] == "last")
    rng = np.random.default_rng(seed)
    init = dict(get_preset(task, neuron).init)
    params = {k: v.astype(dtype) for k, v in init_params(spec, rng, init).items()}
    if input_kind == "events" and task != "smnist":
        # binary events drawn step by step, so no dense (T, B, I) array is ever built
        counts, cols = [], []
        for _ in range(T):
            rows, c = np.nonzero(rng.random((batch, I)) < cfg["density"])
            counts.append(np.bincount(rows, minlength=batch))
            cols.append(c.astype(np.int32))
        indptr = np.zeros(T * batch + 1, dtype=np.int64)
        np.cumsum(np.concatenate(counts), out=indptr[1:])
        x = SpikeEvents(indptr, np.concatenate(cols), None, T, batch, I)
    else:
        active = rng.random((T, batch, I)) < cfg["density"]
        if task == "smnist":
            x = np.where(active, rng.random((T, batch, I)), 0.0).astype(dtype)
        else:
            x = active.astype(dtype)
        if input_kind == "events":
            x = SpikeEvents.from_dense(x)
    if cfg["labels"] == "per_step":
        y = rng.integers(0, C, (T, batch))
    else:
        y = rng.integers(0, C, batch)
    return spec, params, x, y, T


def spike_rate(backend, spec, params, x, T, dtype) -> float:
    """Fraction of hidden neuron-steps that spike."""
    res = backend.run(spec, params, x, None, grads=False, dtype=dtype)
    return float(res.num_spikes.sum() / (T * res.num_spikes.shape[0] * spec.n_hidden))


def calibrate(backend, spec, params, x, T, dtype, target: float) -> tuple[float, float]:
    """Scale the input weights (in place) so the hidden spike rate is about ``target``.

    The official initialisation barely spikes on random input (SHD BRF: 0 %), which would time
    a network with no recurrent or readout work; trained networks spike at a few percent. The
    scale is found by doubling, then bisection in log scale (8 steps); returns (scale, rate).
    """
    W = params["hidden.linear.weight"]
    base = W[:, : spec.n_in].copy()

    def rate_at(s):
        W[:, : spec.n_in] = base * s
        return spike_rate(backend, spec, params, x, T, dtype)

    lo, hi = 1.0, 1.0
    r = rate_at(hi)
    while r < target and hi < 2.0**16:
        lo, hi = hi, hi * 2.0
        r = rate_at(hi)
    if hi > 1.0 and r >= target:
        for _ in range(8):
            mid = (lo * hi) ** 0.5
            if rate_at(mid) < target:
                lo = mid
            else:
                hi = mid
    return hi, rate_at(hi)


def timed(fn, repeats: int, warmup: int, after=None) -> dict:
    """Call ``fn`` warm-up times, then ``repeats`` timed times; ``after`` runs untimed after each."""
    t = time.perf_counter()
    fn()
    first = time.perf_counter() - t
    if after:
        after()
    for _ in range(max(0, warmup - 1)):
        fn()
        if after:
            after()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
        if after:
            after()
    return {"median_s": statistics.median(times), "min_s": min(times), "max_s": max(times),
            "first_call_s": first, "times_s": times}


def machine() -> dict:
    model = platform.processor() or "unknown"
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    import numba

    return {"cpu": model, "cores": os.cpu_count(), "numba": numba.__version__,
            "numpy": np.__version__, "threads": numba.get_num_threads(),
            "python": platform.python_version()}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--task", choices=list(TASKS), default="shd")
    ap.add_argument("--neuron", choices=list(NEURONS), default=DEFAULT_NEURON)
    ap.add_argument("--backend", choices=BACKEND_NAMES, default=DEFAULT_BACKEND)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--hidden", type=int, default=None,
                    help="hidden neurons (default: the task's, SHD 128, ECG 36, S-MNIST 256)")
    ap.add_argument("--infer-batch", type=int, default=None,
                    help="batch of the inference timing (default: --batch)")
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--dtype", choices=list(DTYPES), default="float32")
    ap.add_argument("--input", choices=["events", "dense"], default=None,
                    help="input format (default: events for SHD, dense otherwise)")
    ap.add_argument("--threads", type=int, default=None, help="numba threads (default: all)")
    ap.add_argument("--hidden-rate", type=float, default=None,
                    help="hidden spike rate the input weights are scaled to (default per task; "
                         "0 keeps the official initialisation)")
    ap.add_argument("--no-train", action="store_true", help="time inference only")
    ap.add_argument("--json", default=None, help="write the numbers to this file")
    ap.add_argument("--epoch-samples", type=int, default=None,  # --backend cuda only (cuda_epoch)
                    help="cuda: also time whole training epochs of this many samples on the device "
                         "(default: the task's training set, SHD 7341, ECG 557, S-MNIST 54000; 0: skip)")
    return ap


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.batch < 1 or args.repeats < 1 or (args.hidden is not None and args.hidden < 1):
        print("error: --batch, --repeats and --hidden must be >= 1", file=sys.stderr)
        return 2

    from resonet.backends import get_backend

    try:
        backend = get_backend(args.backend)
    except (ImportError, ConfigError) as exc:
        print(f"error: backend {args.backend!r} is not available: {exc}", file=sys.stderr)
        return 2
    if args.threads:
        import numba

        numba.set_num_threads(args.threads)
    dtype = np.dtype(args.dtype)
    input_kind = args.input or TASKS[args.task]["input"]
    cfg = TASKS[args.task]
    target = cfg["rate"] if args.hidden_rate is None else args.hidden_rate

    def setup(batch):
        spec, params, x, y, T = build(args.task, args.neuron, batch, dtype, input_kind,
                                      hidden=args.hidden)
        scale, rate = calibrate(backend, spec, params, x, T, dtype, target) if target > 0 else (
            1.0, spike_rate(backend, spec, params, x, T, dtype))
        return spec, params, x, y, T, scale, rate

    t_setup = time.perf_counter()
    spec, params, x, y, T, scale, rate = setup(args.batch)
    t_setup = time.perf_counter() - t_setup
    out = {"task": args.task, "neuron": args.neuron, "backend": args.backend,
           "dtype": args.dtype, "input": input_kind, "batch": args.batch, "T": T,
           "network": f"{spec.n_in}-{spec.n_hidden}-{spec.n_out}", "repeats": args.repeats,
           "machine": machine(), "input_weight_scale": scale, "hidden_spike_rate": rate,
           "setup_s_incl_compile": t_setup}
    print(f"{args.task} {args.neuron} {out['network']} T={T} backend={args.backend} "
          f"{args.dtype} input={input_kind} threads={out['machine']['threads']}; hidden spike "
          f"rate {rate:.2%} (input weights x{scale:.3g}); setup incl. compile {t_setup:.1f} s")
    if not args.no_train:
        out["train"] = time_train(args, backend, spec, params, x, y, dtype, cfg)
    ib = args.infer_batch or args.batch
    if ib != args.batch:
        spec, params, x, y, T, scale, rate = setup(ib)
        print(f"  inference batch {ib}: hidden spike rate {rate:.2%} (input weights x{scale:.3g})")
    out["infer"] = time_infer(args, backend, spec, params, x, y, dtype, ib)
    if args.backend == "cpu":
        from resonet.kernels.cpu import tape_bytes_per_sample

        out["tape_bytes_per_sample"] = tape_bytes_per_sample(spec, T, dtype)
        print(f"  BPTT tape: {out['tape_bytes_per_sample'] / 1e6:.4f} MB per sample ({args.dtype})")
    if args.backend == "cuda" and args.epoch_samples != 0:  # device-resident training, see below
        out["cuda_epoch"] = cuda_epoch(args, backend, spec, params, x, y, dtype, cfg)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
    return 0


def time_train(args, backend, spec, params, x, y, dtype, cfg) -> dict:
    """Median, min and max seconds of a training step (forward, loss, BPTT, Adam), the
    parameters restored (untimed) after each so that every step sees the same workload."""
    opt = Adam(params, lr=cfg["lr"])
    saved = {k: v.copy() for k, v in params.items()}

    def train_step():
        res = backend.run(spec, params, x, y, dtype=dtype)
        if cfg["clip"] is not None:
            clip_grad_norm(res.grads, cfg["clip"])
        opt.step(res.grads)

    def restore():  # untimed: keep the workload (spike rate) the same for every step
        for k, v in saved.items():
            params[k][...] = v

    tr = timed(train_step, args.repeats, args.warmup, after=restore)
    tr["samples_per_s"] = args.batch / tr["median_s"]
    tr["peak_rss_mb"] = peak_rss_mb()
    print(f"  train  batch {args.batch}: median {tr['median_s'] * 1e3:8.2f} ms  "
          f"min {tr['min_s'] * 1e3:8.2f}  max {tr['max_s'] * 1e3:8.2f}  "
          f"{tr['samples_per_s']:9.1f} samples/s  peak RSS {tr['peak_rss_mb']:.0f} MB")
    return tr


def time_infer(args, backend, spec, params, x, y, dtype, ib: int) -> dict:
    """Median, min and max seconds of an inference call with the labels (the loss is computed,
    as in validation)."""
    inf = timed(lambda: backend.run(spec, params, x, y, grads=False, dtype=dtype),
                args.repeats, args.warmup)
    inf["batch"] = ib
    inf["samples_per_s"] = ib / inf["median_s"]
    inf["peak_rss_mb"] = peak_rss_mb()
    print(f"  infer  batch {ib}: median {inf['median_s'] * 1e3:8.2f} ms  "
          f"min {inf['min_s'] * 1e3:8.2f}  max {inf['max_s'] * 1e3:8.2f}  "
          f"{inf['samples_per_s']:9.1f} samples/s  peak RSS {inf['peak_rss_mb']:.0f} MB")
    return inf


# ----------------------------------------------------------------------------------------------
# --backend cuda: device-resident training (resonet.kernels.cuda.session, docs/cuda-kernels.md).
# The data set is uploaded once and a training step sends only the batch's indices, so an epoch
# is timed as the trainer runs it: DeviceSession.train_batch over every batch of a shuffled
# epoch, then DeviceSession.evaluate over the same samples. The samples are the calibrated
# benchmark batch repeated (same statistics and spike rate), stored as the loaders store them
# (SHD: events; S-MNIST: uint8 pixels / 255; ECG: int8 spikes).
# ----------------------------------------------------------------------------------------------
EPOCH_SAMPLES = {"shd": 7341, "ecg": 557, "smnist": 54000}


def _tiled_dataset(task: str, spec, x, y, n: int):
    from resonet.data import DenseDataset, EventDataset

    dense = x.to_dense(np.float64) if isinstance(x, SpikeEvents) else np.asarray(x, np.float64)
    T, B, I = dense.shape
    reps = np.arange(n) % B
    per_step = np.ndim(y) == 2
    labels = (np.asarray(y).T if per_step else np.asarray(y))[reps]
    meta = dict(name=f"{task}-bench", n_in=I, n_out=spec.n_out, T=T, labels=labels,
                per_step_labels=per_step, synthetic=True, source="benchmark (repeated batch)")
    if isinstance(x, SpikeEvents):
        ev = [np.nonzero(dense[:, b, :]) for b in range(B)]  # (steps, chans) sorted by step
        counts = np.array([ev[b][0].size for b in reps])
        offsets = np.concatenate([[0], np.cumsum(counts)])
        steps = np.concatenate([ev[b][0] for b in reps]).astype(np.int16)
        chans = np.concatenate([ev[b][1] for b in reps]).astype(np.int16)
        return EventDataset(offsets=offsets, steps=steps, chans=chans, **meta)
    xs = dense.transpose(1, 0, 2)[reps]  # (n, T, I)
    if task == "smnist":  # grey values as uint8 / 255, as the MNIST loader stores them
        return DenseDataset(x=np.round(xs * 255).astype(np.uint8), divisor=255.0, **meta)
    return DenseDataset(x=xs.astype(np.int8), **meta)


def cuda_epoch(args, backend, spec, params, x, y, dtype, cfg) -> dict:
    from numba import cuda

    from resonet.optim import Adam

    n = args.epoch_samples or EPOCH_SAMPLES[args.task]
    ds = _tiled_dataset(args.task, spec, x, y, n)
    p = {k: v.copy() for k, v in params.items()}
    t0 = time.perf_counter()
    sess = backend.session(spec, p, Adam(p, lr=cfg["lr"]), {"train": ds}, dtype,
                                  clip=cfg["clip"])
    upload = time.perf_counter() - t0
    order = np.random.default_rng(0).permutation(n)
    batches = [order[k:k + args.batch] for k in range(0, n, args.batch)]
    t0 = time.perf_counter()
    sess.train_batch(batches[0])  # compiles the kernels
    sess.train_batch(batches[-1])  # the partial last batch has its own buffers
    first = time.perf_counter() - t0
    epochs = []
    for _ in range(max(1, min(args.repeats, 3))):
        t0 = time.perf_counter()
        spikes = 0.0
        for idx in batches:
            spikes += sess.train_batch(idx)["spikes"]
        epochs.append(time.perf_counter() - t0)
    ib = args.infer_batch or 256
    sess.evaluate("train", ib)
    t0 = time.perf_counter()
    sess.evaluate("train", ib)
    ev = time.perf_counter() - t0
    try:
        dev = cuda.get_current_device()
        name = dev.name.decode() if isinstance(dev.name, bytes) else str(dev.name)
    except AttributeError:  # the CUDA simulator has no device
        name = "CUDA simulator"
    try:
        from importlib.metadata import version

        nc = version("numba-cuda")
    except Exception:
        nc = "built-in numba.cuda (numba " + __import__("numba").__version__ + ")"
    res = {"samples": n, "batch": args.batch, "batches": len(batches), "epoch_s": epochs,
           "epoch_median_s": statistics.median(epochs), "first_two_batches_s_incl_compile": first,
           "upload_s": upload, "eval_batch": ib, "eval_epoch_s": ev,
           "hidden_spike_rate_last_epoch": spikes / (n * ds.T * spec.n_hidden),
           "device": name, "numba_cuda": nc}
    print(f"  cuda epoch: {n} samples, batch {args.batch}: {res['epoch_median_s']:.3f} s per "
          f"training epoch (median of {len(epochs)}), evaluation {ev:.3f} s (batch {ib}); "
          f"first two batches incl. compile {first:.1f} s; {name}, numba-cuda {nc}")
    return res


if __name__ == "__main__":
    sys.exit(main())
