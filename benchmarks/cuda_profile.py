"""Where a device-resident training step spends its time: each kernel timed on its own.

    python benchmarks/cuda_profile.py [--task shd --batch 32] [--repeats 20] [--json FILE]

The network and data are benchmarks/train_step.py's (the task's shape, BRF, input weights
scaled to the task's hidden spike rate, float32), run as ``DeviceSession.train_batch`` runs
them: prepare → forward → loss → backward → grad_rec → reduce → optimizer (norm, update),
each followed by a device synchronisation so that its time is its own (the sum is therefore a
little more than a real step, which overlaps the host's launch work with the GPU). Also timed:
the whole ``train_batch`` as the trainer calls it, and the host time to enqueue the launches
alone. Medians over ``--repeats`` batches, milliseconds.
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
sys.path.insert(0, str(Path(__file__).resolve().parent))

from resonet.errors import ConfigError


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--task", choices=["shd", "ecg", "smnist"], default="shd")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--hidden", type=int, default=None)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    from resonet.backends import get_backend

    try:
        backend = get_backend("cuda")
    except (ImportError, ConfigError) as exc:
        print(f"error: the cuda backend is not available: {exc}", file=sys.stderr)
        return 2
    from numba import cuda
    from train_step import TASKS, _tiled_dataset, build, calibrate

    from resonet.kernels.cuda.optim import launch_step
    from resonet.optim import Adam

    cfg = TASKS[args.task]
    dtype = np.dtype(np.float32)
    spec, params, x, y, T = build(args.task, "brf", args.batch, dtype, cfg["input"],
                                  hidden=args.hidden)
    scale, rate = calibrate(backend, spec, params, x, T, dtype, cfg["rate"])
    ds = _tiled_dataset(args.task, spec, x, y, args.batch * (args.repeats + 2))
    p = {k: v.copy() for k, v in params.items()}
    sess = backend.session(spec, p, Adam(p, lr=cfg["lr"]), {"train": ds}, dtype,
                                  clip=cfg["clip"])
    n = args.batch
    batches = [np.arange(k * n, (k + 1) * n) for k in range(args.repeats + 2)]
    sess.train_batch(batches[0])  # compile / load
    sess.train_batch(batches[1])
    eng, dp = sess.eng, sess.dp
    ws = sess._workspace(ds.T, n, True)
    inp = sess.data["train"]
    r0 = int(spec.recorded(ds.T)[0])
    stages = {k: [] for k in ("prepare", "forward", "loss", "backward+grad_rec", "reduce",
                              "optimizer", "sum", "grad_rec_alone", "train_batch",
                              "enqueue_only")}
    Wd = (spec.n_hidden + 31) // 32

    def grad_rec():  # as Engine.backward launches it (its own thread count)
        from resonet.kernels.cuda import config

        tpb = eng._threads("grad_rec", eng.ks.grad_rec, None,
                           config.recurrent_threads(spec.n_hidden))
        ht = -(-spec.n_hidden // tpb)
        eng.ks.grad_rec[(Wd * ht, ws.n_chunks), tpb](ws.dIt, ws.zmask, ht, ws.spc, ws.part,
                                                  ws.graded, ws.zv)

    def timed(fn):
        cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        cuda.synchronize()
        return (time.perf_counter() - t0) * 1e3

    for idx in batches[2:]:
        ws.idx.copy_to_device(idx)
        s = {"prepare": timed(lambda: eng.prepare(dp, derive=True)),
             "forward": timed(lambda: eng.forward(dp, inp, ws, ws.idx, n, keep=True)),
             "loss": timed(lambda: eng.loss(inp, ws, ws.idx, r0, ws.stats, False)),
             "backward+grad_rec": timed(lambda: eng.backward(dp, inp, ws, ws.idx, n, r0, 0,
                                                             False)),
             "reduce": timed(lambda: eng.reduce(dp, ws, sess.G)),
             "optimizer": timed(lambda: launch_step(
                 sess.opt, sess.k + 1, sess.opt.lr, dp.P, sess.G, sess.M, sess.V, eng.seg,
                 ws.stats, sess.nout, sess.istat, sess.scal, sess.clip, *sess.bounds,
                 work=sess.norm_work))}
        s["sum"] = sum(s.values())
        s["grad_rec_alone"] = timed(grad_rec)
        s["train_batch"] = timed(lambda idx=idx: sess.train_batch(idx))
        cuda.synchronize()
        t0 = time.perf_counter()  # the host's work alone: launches queue up behind a sleep
        eng.prepare(dp, derive=True)
        eng.forward(dp, inp, ws, ws.idx, n, keep=True)
        eng.loss(inp, ws, ws.idx, r0, ws.stats, False)
        eng.backward(dp, inp, ws, ws.idx, n, r0, 0, False)
        eng.reduce(dp, ws, sess.G)
        s["enqueue_only"] = (time.perf_counter() - t0) * 1e3
        cuda.synchronize()
        for key, v in s.items():
            stages[key].append(v)
    med = {k: statistics.median(v) for k, v in stages.items()}
    out = {"task": args.task, "batch": n, "T": ds.T, "network": f"{spec.n_in}-{spec.n_hidden}-"
           f"{spec.n_out}", "hidden_spike_rate": rate, "input_weight_scale": scale,
           "median_ms": med, "min_ms": {k: min(v) for k, v in stages.items()},
           "max_ms": {k: max(v) for k, v in stages.items()}, "repeats": args.repeats}
    print(f"{args.task} {out['network']} T={ds.T} B={n} float32, {rate:.1%} hidden spikes: "
          "median ms per batch (min-max)")
    for k in stages:
        print(f"  {k:<18s} {med[k]:8.3f}  ({out['min_ms'][k]:.3f}-{out['max_ms'][k]:.3f})")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
