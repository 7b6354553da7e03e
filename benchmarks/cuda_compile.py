"""Compile (or load from numba-cuda's disk cache) every kernel of one model and report the cost
and the kernels' resource use on this GPU.

    python benchmarks/cuda_compile.py [--neuron brf] [--dtype float32] [--json FILE]

One training step of a tiny network (I=3, H=4, C=2, T=5, B=2, input events, the network of
``CudaBackend.run`` and of a device session alike: the kernels' argument types do not depend on
the sizes) runs twice: the first call compiles the forward, loss, BPTT, dW_rec, reduction and
preparation kernels, or loads them from the cache that an earlier process wrote
(``RESONET_CUDA_CACHE``, resonet/kernels/cuda/config.py); the second call is warm. Run it twice
in a row: the first process shows the cold compile time, the second the cache load time. Then
the optimizer kernels (norm, update) compile or load the same way.

Per kernel it reports what the compiled code needs on this GPU: registers per thread, local
memory per thread (spills), static shared memory and the most threads per block it can launch
with (numba-cuda's ``get_regs_per_thread`` etc.; ``null`` under the simulator).

Exit code 0 when everything compiled and ran, 1 otherwise, 2 without a usable CUDA backend.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from resonet.errors import ConfigError
from resonet.events import SpikeEvents
from resonet.network import NetworkSpec, init_params
from resonet.neurons import NEURONS
from resonet.optim import Adam
from resonet.presets import get_preset

KERNELS = ("prepare", "forward", "loss_sample", "loss_batch", "backward", "grad_rec", "reduce")


def resources(kernel) -> dict | None:
    """Registers, local and shared memory, max threads of the kernel's (only) compiled
    version; None where the runtime does not say (the simulator)."""
    out = {}
    for key, fn in (("registers", "get_regs_per_thread"), ("local_bytes", "get_local_mem_per_thread"),
                    ("shared_bytes_static", "get_shared_mem_per_block"),
                    ("max_threads_per_block", "get_max_threads_per_block")):
        f = getattr(kernel, fn, None)
        if f is None:
            return None
        try:
            v = f()
        except Exception:  # not compiled (e.g. the step never launched it)
            return None
        if isinstance(v, dict):  # one entry per compiled signature
            v = max(v.values()) if v else None
        out[key] = v
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--neuron", choices=list(NEURONS), default="brf")
    ap.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    ap.add_argument("--json", default=None, help="write the numbers to this file")
    args = ap.parse_args(argv)
    t_import = time.perf_counter()
    from resonet.backends import get_backend

    try:
        backend = get_backend("cuda")
    except (ImportError, ConfigError) as exc:
        print(f"error: the cuda backend is not available: {exc}", file=sys.stderr)
        return 2
    from resonet.kernels.cuda import config
    from resonet.kernels.cuda.device import cells_for
    from resonet.kernels.cuda.network import get_kernels
    from resonet.kernels.cuda.optim import get_optim_kernels
    from resonet.kernels.cuda.session import DeviceSession

    t_import = time.perf_counter() - t_import
    dtype = np.dtype(args.dtype)
    spec = NetworkSpec(args.neuron, 3, 4, 2)
    rng = np.random.default_rng(0)
    params = init_params(spec, rng, dict(get_preset("shd", args.neuron).init))
    x = SpikeEvents.from_dense((rng.random((5, 2, 3)) < 0.5).astype(np.float64))
    y = np.array([0, 1])
    times = []
    for _ in range(2):
        t0 = time.perf_counter()
        res = backend.run(spec, params, x, y, dtype=dtype)
        times.append(time.perf_counter() - t0)
    ok = all(np.all(np.isfinite(g)) for g in res.grads.values())

    # the optimizer kernels, as a device session launches them (one step on a tiny data set)
    from resonet.data import EventDataset

    dense = x.to_dense(np.float64)
    ev = [np.nonzero(dense[:, b, :]) for b in range(2)]
    ds = EventDataset(offsets=np.array([0, ev[0][0].size, ev[0][0].size + ev[1][0].size]),
                      steps=np.concatenate([e[0] for e in ev]).astype(np.int16),
                      chans=np.concatenate([e[1] for e in ev]).astype(np.int16),
                      name="compile-check", n_in=3, n_out=2, T=5, labels=y,
                      per_step_labels=False, synthetic=True, source="benchmarks/cuda_compile.py")
    p = {k: v.astype(dtype) for k, v in params.items()}
    t0 = time.perf_counter()
    sess = DeviceSession(spec, p, Adam(p, lr=0.01), {"train": ds}, dtype, clip=1.0)
    st = sess.train_batch(np.array([0, 1]))
    t_session = time.perf_counter() - t0
    ok = ok and st["nonfinite"] is None

    ks = get_kernels(dtype, cells_for(spec), len(spec.model.PARAM_NAMES))
    oks = get_optim_kernels(dtype)
    kern = {name: resources(getattr(ks, name)) for name in KERNELS}
    kern.update({name: resources(getattr(oks, name)) for name in ("norm_part", "norm_final",
                                                                  "update")})
    out = {"neuron": args.neuron, "dtype": args.dtype, "cache": config.CACHE,
           "import_s": t_import, "first_step_s": times[0], "second_step_s": times[1],
           "session_first_step_s": t_session, "kernels": kern, "ok": bool(ok)}
    print(f"{args.neuron} {args.dtype}: first training step {times[0]:.2f} s (compile or cache "
          f"load), second {times[1] * 1e3:.1f} ms; device session incl. optimizer kernels "
          f"{t_session:.2f} s; cache {'on' if config.CACHE else 'off'}")
    for name, r in kern.items():
        if r:
            print(f"  {name:<11s} {r['registers']:>4} registers/thread, {r['local_bytes']:>5} B "
                  f"local, {r['shared_bytes_static']:>5} B static shared, up to "
                  f"{r['max_threads_per_block']} threads/block")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
