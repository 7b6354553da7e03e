"""Record every engine's results on fixed seeded cases, and check later that they are unchanged.

    python benchmarks/bit_identity.py record PREFIX [--backend reference|cpu|cuda|all]
    python benchmarks/bit_identity.py compare PREFIX [--backend ...]

``record`` writes ``PREFIX-<backend>.npz``; ``compare`` recomputes every quantity stored there and
requires ``np.array_equal`` (same dtype, same shape, same bits) for each, exit code 1 otherwise.
It is the proof that a refactoring changed no result: record on the commit before, compare on
the commit after.

What is recorded, for every neuron model of ``resonet.neurons.NEURONS`` (RF with each reset),
in float64 and float32:

- ``backend.run`` on fixed seeded networks and batches: outputs, loss, spike counts, every
  gradient, the input gradient and every state trace, for one label per sequence, truncated
  BPTT, ``sub_seq_length``, ``label_last``, per-step labels, binary and valued ``SpikeEvents``
  input, inference with and without labels, and (cpu) a wider network whose sizes exercise the
  whole-vector paths, the sample tiles and several checkpoint segments;
- a few epochs of ``resonet.train.Trainer`` on tiny in-memory tasks (events, per-step labels
  with unlabelled steps, label-last pixels with clipping; Adam, RAdam and RMSprop; each model
  from its ``SPIKING_INIT`` ranges with the input weights scaled until it spikes, and every
  parameter with a bound (``BOUNDS``: BRF's |ω|) next to its projection limit): final and best
  parameters, optimizer state, the metrics history and the projection count. With
  ``--backend cuda`` that is the device-resident session.

The cuda backend runs under numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``, set for a child
process started by this script) with tiny thread blocks, on smaller cases; the cpu backend runs
with a fixed number of numba threads (the gradient reduction order depends on it).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BACKENDS = ("reference", "cpu", "cuda")  # the engines, in the order they are recorded
CPU_THREADS = 2
DTYPES = (np.float64, np.float32)
# Input-weight scales tried in order until the float64 reference network spikes at >= 3 % of
# neuron-steps (resonators integrate I·dt, so they need ~100x larger currents than LIF-type cells).
SCALES = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
MIN_RATE = 0.03


# ----------------------------------------------------------------------------------- cases
def variants() -> list[tuple[str, str, dict]]:
    """(label, neuron, extra NetworkSpec fields) for every model of the registry; a model with
    several reset variants (``RESETS``) once with each."""
    from resonet.neurons import NEURONS

    out = []
    for name, model in NEURONS.items():
        if len(model.RESETS) > 1:
            out += [(f"{name}-{r}", name, {"reset": r}) for r in model.RESETS]
        else:
            out.append((name, name, {}))
    return out


def scale_until_spiking(spec, p: dict, x) -> float:
    """Scale the input weights of ``p`` (in place) by the first of SCALES at which the float64
    reference network spikes at >= MIN_RATE of neuron-steps on ``x``; returns the rate."""
    from resonet.backends import get_backend

    ref = get_backend("reference")
    I = spec.n_in
    W = p["hidden.linear.weight"]
    base = W[:, :I].copy()
    rate = 0.0
    for s in SCALES:
        W[:, :I] = base * s
        res = ref.run(spec, {k: np.asarray(v, np.float64) for k, v in p.items()}, x, None,
                      grads=False)
        rate = float(res.num_spikes.sum()) / (x.shape[0] * x.shape[1] * spec.n_hidden)
        if rate >= MIN_RATE:
            break
    return rate


def make_net(neuron: str, spec_kw: dict, I: int, H: int, C: int, seed: int, x):
    """A seeded network whose input weights are scaled until it spikes (see SCALES)."""
    from resonet.network import NetworkSpec, init_params

    spec = NetworkSpec(neuron, I, H, C, **spec_kw)
    rng = np.random.default_rng(seed)
    p = init_params(spec, rng)
    for name in spec.hidden_param_names:  # negative raw values exercise the chain rule of abs()
        p[name][::3] *= -1
    p["out.tau_mem"][::2] *= -1
    p["hidden.linear.weight"][:, I:] *= 3.0
    rate = scale_until_spiking(spec, p, x)
    return spec, p, rate


def make_x(T: int, B: int, I: int, seed: int, density: float = 0.3, values: bool = False):
    rng = np.random.default_rng(seed)
    x = (rng.random((T, B, I)) < density).astype(np.float64)
    if values:
        x *= rng.uniform(0.2, 1.5, x.shape)
    return x


def run_cases(backend_name: str) -> dict:
    """Every ``backend.run`` quantity of every case, keyed ``run/<case>/<dtype>/<quantity>``."""
    from resonet.backends import get_backend
    from resonet.events import SpikeEvents

    be = get_backend(backend_name)
    small = backend_name == "cuda"  # the simulator runs every CUDA thread as a Python thread
    T, B, I, H, C = (10, 3, 4, 7, 3) if small else (21, 6, 5, 13, 3)
    out: dict = {}
    for label, neuron, kw in variants():
        x = make_x(T, B, I, seed=1)
        spec, p, rate = make_net(neuron, kw, I, H, C, seed=0, x=x)
        out[f"rate/{label}"] = np.array(rate)
        rng = np.random.default_rng(2)
        y = rng.integers(0, C, B)
        y_step = rng.integers(0, C, (T, B))
        xv = make_x(T, B, I, seed=3, values=True)
        cases = {
            "seq": dict(spec=spec, x=x, y=y, kw=dict(return_states=True, return_dx=True)),
            "trunc": dict(spec=spec, x=x, y=y, kw=dict(truncation=4)),
            "step": dict(spec=spec, x=x, y=y_step, kw=dict(return_dx=True)),
            "events": dict(spec=spec, x=SpikeEvents.from_dense(x), y=y, kw=dict(return_states=True)),
            "values": dict(spec=spec, x=SpikeEvents.from_dense(xv), y=y_step, kw=dict(return_dx=True)),
            "dense-values": dict(spec=spec, x=xv, y=y, kw={}),
            "infer": dict(spec=spec, x=x, y=None, kw=dict(return_states=True)),
            "loss-only": dict(spec=spec, x=x, y=y, kw=dict(grads=False)),
        }
        from dataclasses import replace

        cases["subseq"] = dict(spec=replace(spec, sub_seq_length=4), x=x, y=y_step,
                               kw=dict(truncation=3))
        cases["last"] = dict(spec=replace(spec, label_last=True), x=x, y=y, kw=dict(return_dx=True))
        if backend_name == "cpu":
            # sizes off the vector widths (16 float32 / 8 float64 lanes), 9 samples = tiles of
            # 4, 4, 1, T = 70 -> checkpoint interval 9, 8 segments
            Tw, Bw, Iw, Hw, Cw = 70, 9, 30, 40, 5
            xw = make_x(Tw, Bw, Iw, seed=4, density=0.1)
            spec_w, p_w, rate_w = make_net(neuron, kw, Iw, Hw, Cw, seed=5, x=xw)
            out[f"rate/{label}-wide"] = np.array(rate_w)
            yw = np.random.default_rng(6).integers(0, Cw, Bw)
            cases["wide"] = dict(spec=spec_w, x=SpikeEvents.from_dense(xw), y=yw,
                                 kw=dict(return_dx=True), params=p_w)
            cases["wide-trunc"] = dict(spec=spec_w, x=xw, y=yw, kw=dict(truncation=16), params=p_w)
        for case, c in cases.items():
            params = c.get("params", p)
            for dt in DTYPES:
                key = f"run/{label}/{case}/{np.dtype(dt).name}"
                res = be.run(c["spec"], params, c["x"], c["y"], dtype=dt, **c["kw"])
                out[f"{key}/outputs"] = np.asarray(res.outputs)
                out[f"{key}/num_spikes"] = np.asarray(res.num_spikes)
                if res.loss is not None:
                    out[f"{key}/loss"] = np.array(res.loss)
                for n, g in (res.grads or {}).items():
                    out[f"{key}/grad/{n}"] = np.asarray(g)
                if res.dx is not None:
                    out[f"{key}/dx"] = np.asarray(res.dx)
                for n, s in (res.states or {}).items():
                    out[f"{key}/state/{n}"] = np.asarray(s)
        print(f"  {backend_name} {label}: {len(cases)} cases, spike rate {rate:.1%}", flush=True)
    return out


# -------------------------------------------------------------------------------- training
def _event_data(N, seed, T, I, C):
    from resonet.data import EventDataset

    rng = np.random.default_rng(seed)
    offsets, steps, chans = [0], [], []
    for _ in range(N):
        s, c = np.nonzero(rng.random((T, I)) < 0.3)  # sorted by (step, channel)
        steps.append(s)
        chans.append(c)
        offsets.append(offsets[-1] + s.size)
    return EventDataset(offsets=np.array(offsets), steps=np.concatenate(steps).astype(np.int16),
                        chans=np.concatenate(chans).astype(np.int16), name=f"ev{seed}", n_in=I,
                        n_out=C, T=T, labels=rng.integers(0, C, N), per_step_labels=False,
                        synthetic=True, source="bit_identity")


def _dense_data(N, seed, T, I, C, kind):
    from resonet.data import DenseDataset

    rng = np.random.default_rng(seed)
    if kind == "pixels":  # uint8 / 255 (S-MNIST-like)
        x = np.where(rng.random((N, T, I)) < 0.4, rng.integers(1, 256, (N, T, I)), 0).astype(np.uint8)
        return DenseDataset(x=x, divisor=255.0, name=f"px{seed}", n_in=I, n_out=C, T=T,
                            labels=rng.integers(0, C, N), per_step_labels=False, synthetic=True,
                            source="bit_identity")
    x = (rng.random((N, T, I)) < 0.3).astype(np.int8)  # ECG-like, −1 = unlabelled step
    y = rng.integers(-1, C, (N, T)).astype(np.int8)
    return DenseDataset(x=x, name=f"sp{seed}", n_in=I, n_out=C, T=T, labels=y,
                        per_step_labels=True, synthetic=True, source="bit_identity")


# (task name, data kind, optimizer, clip, label_last, lr)
TRAIN_TASKS = (
    ("shd", "events", "rmsprop", None, False, 0.05),
    ("ecg", "spikes", "adam", None, False, 0.05),
    ("smnist", "pixels", "radam", 1.0, True, 0.1),
)


def make_settings(task, neuron, backend, optimizer, clip, label_last, lr, I, H, C, init,
                  reset="none", truncation=None) -> dict:
    """The settings of a training run as ``resonet.train.resolve_settings`` returns them."""
    from resonet.network import NetworkSpec

    spec = NetworkSpec(neuron, I, H, C, label_last=label_last, reset=reset)
    return {"task": task, "neuron": neuron, "backend": backend, "dtype": "float64", "epochs": 3,
            "batch": 3, "eval_batch": 4, "lr": lr, "optimizer": optimizer, "clip": clip,
            "seed": 0, "split_seed": 0, "data_dir": None, "download": False, "synthetic": "no",
            "hidden": H, "reset": reset, "truncation": truncation, "subset": None,
            "threads": None, "save_every": 1e9, "stop_after": None, "best_rule": "<",
            "preset": {"init": init}, "out": None, "spec": spec.to_dict()}


def make_trainer(s: dict, run_dir: Path, data):
    from resonet.runlog import Log
    from resonet.train import Trainer

    return Trainer(s, run_dir, data, Log(quiet=True), quiet=True)


def near_bounds(spec, p: dict) -> None:
    """Put the first three entries of every bounded parameter next to its projection limit (and
    beyond it after an update), one of them negative."""
    for bound in spec.model.BOUNDS:
        lim = bound.limit(spec)
        w = p[f"hidden.{bound.param}"]
        w[:3] = np.array([lim - 0.01, -(lim - 0.005), lim - 0.001], dtype=w.dtype)


def train_cases(backend_name: str, dtype_names=("float64", "float32")) -> dict:
    """Final/best parameters, optimizer state and metrics of short Trainer runs."""
    from resonet.data import TaskData
    from resonet.neurons import get_neuron
    from resonet.rundir import RunDir

    T, I, C, H = 8, 5, 3, 6
    out: dict = {}
    for label, neuron, kw in variants():
        for task, kind, opt, clip, last, lr in TRAIN_TASKS:
            if kind == "events":
                full, test = _event_data(10, 1, T, I, C), _event_data(4, 2, T, I, C)
            else:
                full, test = _dense_data(10, 1, T, I, C, kind), _dense_data(4, 2, T, I, C, kind)
            data = TaskData(full.subset(np.arange(7)), full.subset(np.arange(7, 10)), test,
                            info={"synthetic": True})
            init = {k: list(v) for k, v in get_neuron(neuron).SPIKING_INIT.items()}
            for dtn in dtype_names:
                trunc = 3 if task == "ecg" else None
                s = make_settings(task, neuron, backend_name, opt, clip, last, lr, I, H, C, init,
                                  kw.get("reset", "none"), trunc)
                s["dtype"] = dtn
                with tempfile.TemporaryDirectory() as tmp:
                    run_dir = Path(tmp)
                    tr = make_trainer(s, run_dir, data)
                    tr.init_state()
                    p = tr.params
                    xs, _ = data.train.batch(np.arange(len(data.train)), dtype=np.float64)
                    scale_until_spiking(tr.spec, p, xs)
                    near_bounds(tr.spec, p)
                    assert tr.run() == 0
                    key = f"train/{label}/{task}/{dtn}"
                    rd = RunDir(run_dir)
                    last_ck = rd.load(rd.last)
                    best_ck = rd.load(rd.best)
                    for n, v in last_ck.params.items():
                        out[f"{key}/last/{n}"] = np.asarray(v)
                    for n, v in best_ck.params.items():
                        out[f"{key}/best/{n}"] = np.asarray(v)
                    for n, v in _flat(last_ck.optim).items():
                        out[f"{key}/optim/{n}"] = np.asarray(v)
                    for row in tr.history:
                        for m in ("val_loss", "val_acc", "test_loss", "test_acc", "train_loss",
                                  "train_acc", "test_sops", "val_acc_labelled", "test_acc_labelled"):
                            v = row.get(m)
                            if v is not None:
                                out[f"{key}/history/{row['epoch']}/{m}"] = np.array(v, np.float64)
                    out[f"{key}/clamps"] = np.array(tr.clamps)
                    out[f"{key}/best_epoch"] = np.array(tr.best_epoch)
        print(f"  {backend_name} {label}: training runs done", flush=True)
    return out


def _flat(d, prefix=""):
    out = {}
    for k, v in (d or {}).items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}/"))
        else:
            out[f"{prefix}{k}"] = v
    return out


# ------------------------------------------------------------------------------------ main
def compute(backend_name: str) -> dict:
    if backend_name == "cpu":
        import numba

        numba.set_num_threads(min(CPU_THREADS, numba.config.NUMBA_NUM_THREADS))
    ctx = None
    if backend_name == "cuda":
        sys.setswitchinterval(1e-4)  # the simulator's threads, not its poller, get the GIL
        from resonet.kernels.cuda import simulator  # the simulator's own races (see that module)

        simulator.install()
        from resonet.kernels.cuda import config

        ctx = config.override(recurrent=4, flat=8)  # strided loops, several blocks
        ctx.__enter__()
    try:
        out = run_cases(backend_name)
        out.update(train_cases(backend_name))
    finally:
        if ctx is not None:
            ctx.__exit__(None, None, None)
    return out


def _child(cmd: str, backend: str, path: Path) -> int:
    """Run ``cmd`` for the cuda backend in a child process with the simulator switched on."""
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    return subprocess.call([sys.executable, __file__, cmd, str(path), "--backend", backend,
                            "--_child"], env=env, cwd=ROOT)


def file_for(prefix: str, backend: str) -> Path:
    return Path(f"{prefix}-{backend}.npz")


def record(prefix: str, backend: str) -> int:
    path = file_for(prefix, backend)
    print(f"recording {backend} -> {path}", flush=True)
    out = compute(backend)
    np.savez_compressed(path, **out)
    print(f"{path}: {len(out)} arrays", flush=True)
    return 0


def compare(prefix: str, backend: str) -> int:
    path = file_for(prefix, backend)
    if not path.exists():
        print(f"{path}: not found (record it first)", file=sys.stderr)
        return 2
    with np.load(path, allow_pickle=False) as f:
        before = {k: f[k] for k in f.files}
    print(f"comparing {backend} against {path} ({len(before)} arrays)", flush=True)
    now = compute(backend)
    bad = []
    for k, a in before.items():
        b = now.get(k)
        if b is None:
            bad.append(f"{k}: not produced any more")
        elif a.dtype != b.dtype or a.shape != b.shape:
            bad.append(f"{k}: {a.dtype}{a.shape} before, {b.dtype}{b.shape} now")
        elif not np.array_equal(a, b):
            diff = np.abs(a.astype(np.float64) - b.astype(np.float64)).max() if a.size else 0.0
            bad.append(f"{k}: values differ (max |diff| {diff:.3g})")
    new = sorted(set(now) - set(before))
    for line in bad[:50]:
        print(f"  DIFF {line}")
    print(f"{backend}: {len(before) - len(bad)}/{len(before)} arrays np.array_equal"
          + (f", {len(new)} new arrays not in the record (e.g. new models)" if new else ""))
    return 1 if bad else 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("cmd", choices=["record", "compare"])
    ap.add_argument("prefix", help="file prefix: PREFIX-<backend>.npz")
    ap.add_argument("--backend", default="all", choices=["all", *BACKENDS])
    ap.add_argument("--_child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    backends = BACKENDS if args.backend == "all" else (args.backend,)
    rc = 0
    for be in backends:
        if be == "cuda" and os.environ.get("NUMBA_ENABLE_CUDASIM") != "1":
            r = _child(args.cmd, be, Path(args.prefix))
        else:
            r = (record if args.cmd == "record" else compare)(args.prefix, be)
        rc = max(rc, r)
    return rc


if __name__ == "__main__":
    sys.exit(main())
