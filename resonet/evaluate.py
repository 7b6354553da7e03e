"""``python -m resonet.evaluate CKPT [--task TASK] [--permutation FILE]`` -- score a trained
network on its task's test set with resonet's engine.

``CKPT`` is an official PyTorch checkpoint of the BRF paper (``.pt``; read without PyTorch by
:mod:`resonet.official`), a resonet run directory, or one of its ``.npz`` checkpoints.

Scores as the official statistics scripts compute them (reference-spec §4.2, §5.7), which are
also resonet's (:mod:`resonet.evaluation`):

- accuracy: argmax over classes of the readout averaged over the recorded steps (the last step
  only for label-last S-MNIST), in % of the samples; ECG per step, unlabelled steps counted as
  class 0 (the paper's numbers), and also over the labelled steps only;
- loss: the NLL per recorded step;
- SOPs: hidden spikes per sample over all T steps; SOPs/step divides by T.

Inputs as the official code feeds them: S-MNIST pixel/255 in row-major order (784 steps, one
input), PS-MNIST with the run's own permutation on the time axis (found beside the checkpoint or
given with ``--permutation``), ECG's 1,300 steps, SHD binned the official way (unit 0 dropped,
channel 700 − unit) for an official checkpoint.

Exit codes: 0 done; 2 bad input (a missing, corrupt, hostile or unknown file; a wrong flag):
one line on stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from .cli import Parser, run_main
from .contract import DTYPES
from .errors import ConfigError

SPLITS = ("test", "val", "train")


def build_parser() -> argparse.ArgumentParser:
    from .neurons import neuron_names
    from .presets import TASKS

    ap = Parser(prog="python -m resonet.evaluate", description=__doc__.split("\n\n")[0],
                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint", metavar="CKPT",
                    help="official PyTorch checkpoint (.pt), resonet run directory or .npz checkpoint")
    ap.add_argument("--task", choices=TASKS,
                    help="the task (official files: default from the sizes and the file name)")
    ap.add_argument("--neuron", choices=neuron_names(),
                    help="official resonator files: brf, rf or bhrf where the file name does not say")
    ap.add_argument("--permutation", metavar="FILE",
                    help="PS-MNIST pixel order: a *_permuted_idx.pt, a .npy, a data_split.npz, or "
                         "'identity' (default: the *_permuted_idx.pt beside an official checkpoint)")
    ap.add_argument("--label-last", choices=("yes", "no"),
                    help="official files: record only the last step (default: the file name, else "
                         "the task's preset)")
    ap.add_argument("--data-dir", help="data directory (default $RESONET_DATA, else ~/.cache/resonet; "
                                       "a resonet run: the one it was trained with)")
    ap.add_argument("--split", choices=SPLITS, default="test",
                    help="which split to score (default test; an official file's val split is "
                         "resonet's, not the run's)")
    ap.add_argument("--limit", type=int, metavar="N", help="score the first N samples only")
    ap.add_argument("--dtype", default="float32,float64", metavar="D[,D]",
                    help="precision(s) of the engine: float32, float64 or both (default both)")
    ap.add_argument("--backend", choices=("cpu", "reference", "cuda"), default="cpu",
                    help="engine (default cpu)")
    ap.add_argument("--batch", type=int, default=256, help="evaluation batch size (default 256)")
    ap.add_argument("--threads", type=int, help="CPU threads for the cpu backend (default: all cores)")
    ap.add_argument("--json", metavar="FILE", help="also write the scores as JSON (a new file)")
    return ap


def load_network(args):
    """The :class:`resonet.api.Run` of ``args.checkpoint``."""
    from .api import Run

    official = {"task": args.task, "neuron": args.neuron, "permutation": args.permutation,
                "label_last": None if args.label_last is None else args.label_last == "yes"}
    run = Run(args.checkpoint, backend=args.backend, **official)
    return run


def load_split(run, split: str, data_dir: str | None, limit: int | None):
    """The ``split`` of the network's task (:meth:`resonet.api.Run.dataset`, with ``data_dir``
    in place of the recorded one), its first ``limit`` samples."""
    from .rundata import task_data
    from .tasks import load_task

    if run.official is not None:
        td = load_task(run.task, data_dir, **run.config["task_options"])
        ds = getattr(td, split)
    elif data_dir is not None:
        from .settings import Settings

        if not run.settings.get("preset"):
            raise ConfigError(f"{run.path}: the run records no training settings; cannot load its data")
        s = Settings.from_dict({**run.settings, "data_dir": str(data_dir)}, str(run.path))
        ds = getattr(task_data(s), split)
    else:
        ds = run.dataset(split)
    if limit is not None:
        if limit < 1:
            raise ConfigError(f"--limit must be >= 1, got {limit}")
        ds = ds.subset(np.arange(min(limit, len(ds))))
    return ds


def describe(run) -> list[str]:
    s = run.spec
    lines = [f"{Path(run.checkpoint).name}"]
    what = f"{run.task} {s.neuron.upper()} {s.describe()} ({s.n_params():,} parameters"
    rec = "last step recorded" if s.label_last else (
        f"steps >= {s.sub_seq_length} recorded" if s.sub_seq_length else "every step recorded")
    lines.append(f"  {what}; {rec})")
    o = run.official
    if o is not None:
        extra = f", epoch {o.epoch}" if o.epoch is not None else ""
        lines.append(f"  official PyTorch checkpoint{extra}, md5 {o.md5}")
        for note in o.notes:
            lines.append(f"  ({note})")
        if o.permutation_source:
            lines.append(f"  permutation: {Path(o.permutation_source).name}")
    return lines


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    dtypes = [d.strip() for d in args.dtype.split(",") if d.strip()]
    bad = [d for d in dtypes if d not in DTYPES]
    if bad or not dtypes:
        raise ConfigError(f"--dtype {args.dtype}: choose float32, float64 or float32,float64")
    if args.batch < 1:
        raise ConfigError(f"--batch must be >= 1, got {args.batch}")
    if args.threads is not None:
        from .resources import usable_threads

        if not 1 <= args.threads <= usable_threads():
            raise ConfigError(f"--threads {args.threads}: use 1 to {usable_threads()}")
        import numba

        numba.set_num_threads(args.threads)
    if args.json and Path(args.json).exists():
        raise ConfigError(f"--json {args.json}: exists; give a new file name")
    run = load_network(args)
    data = load_split(run, args.split, args.data_dir, args.limit)
    for line in describe(run):
        print(line)
    print(f"  data: {data.name}, {len(data):,} samples of {data.T} steps from {data.source}")
    rows = []
    for d in dtypes:
        run.dtype = np.dtype(d).type
        t0 = time.perf_counter()
        r = run.evaluate(data, batch=args.batch)
        r = {"dtype": d, **r, "seconds": time.perf_counter() - t0}
        rows.append(r)
        lab = f"  (labelled steps {r['acc_labelled']:.2f} %)" if "acc_labelled" in r else ""
        print(f"  {d}: accuracy {r['acc']:.2f} %{lab}  loss {r['loss']:.4f}  SOPs {r['sops']:,.1f}"
              f" per sample ({r['sops_per_step']:.2f} per step)  [{r['seconds']:.1f} s, "
              f"{args.backend}]")
    if args.json:
        from .runlog import write_json

        o = run.official
        out = {"checkpoint": str(run.checkpoint), "task": run.task, "spec": run.spec.to_dict(),
               "n_params": run.spec.n_params(), "split": args.split, "n_samples": len(data),
               "data": data.source, "backend": args.backend, "results": rows,
               "official": None if o is None else {
                   "epoch": o.epoch, "md5": o.md5, "notes": o.notes, "lr": o.lr,
                   "permutation": o.permutation_source}}
        write_json(args.json, json.loads(json.dumps(out, default=str)))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
