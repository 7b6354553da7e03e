"""A tiny toy task and a quickly trained checkpoint, for the analysis tests and for trying the CLIs
before real training runs exist.

**Task** ("rate pairs"): I = 4 input channels, C = 2 classes, T steps. In a sample of class c the
channels 2c and 2c+1 spike with probability 0.3 per step, the other two with 0.05; spikes have
amplitude ``amp`` (30: the BRF's input enters as δ·W·x, so unit spikes would never reach the
threshold at Xavier-initialised weights). One label per sequence, every step recorded.

**Training**: a few Adam steps (lr 0.05) on surrogate-gradient BPTT from the reference backend;
about 40 steps reach ~100 % test accuracy for a 12-neuron BRF network in well under a second.

``python -m analysis.toy --out DIR`` writes ``DIR/best.npz`` + ``DIR/config.json`` (the training
layout, see :mod:`analysis.common`) and ``DIR/test.npz``/``DIR/train.npz`` (x (T, N, I), y (N,)).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from resonet.backends import get_backend
from resonet.cli import run_main
from resonet.errors import CheckpointError
from resonet.network import NetworkSpec, init_params
from resonet.neurons import DEFAULT_NEURON, NEURONS
from resonet.optim import Adam

from .common import make_parser, write_checkpoint


def make_data(n: int, rng: np.random.Generator, T: int = 40,
              amp: float = 30.0) -> tuple[np.ndarray, np.ndarray]:
    """``(x (T, n, 4), y (n,))`` of the rate-pairs task."""
    y = rng.integers(0, 2, n)
    rate = np.full((n, 4), 0.05)
    for c in (0, 1):
        rate[y == c, 2 * c:2 * c + 2] = 0.3
    x = (rng.random((T, n, 4)) < rate[None]).astype(np.float64) * amp
    return x, y


def train_toy(neuron: str = DEFAULT_NEURON, hidden: int = 12, steps: int = 40, seed: int = 0, T: int = 40,
              n_train: int = 256, n_test: int = 200, lr: float = 0.05):
    """``(spec, params, (x_train, y_train), (x_test, y_test))`` after ``steps`` Adam steps."""
    rng = np.random.default_rng(seed)
    spec = NetworkSpec(neuron, 4, hidden, 2)
    params = init_params(spec, rng, spec.model.SPIKING_INIT)  # the model's lively ranges
    train = make_data(n_train, rng, T)
    test = make_data(n_test, rng, T)
    be = get_backend("reference")
    opt = Adam(params, lr=lr)
    for _ in range(steps):
        idx = rng.choice(n_train, min(64, n_train), replace=False)
        res = be.run(spec, params, train[0][:, idx], train[1][idx])
        opt.step(res.grads or {})  # labels given: grads are there
    return spec, params, train, test


def write_toy_run(run_dir: str | Path, **kw) -> Path:
    """Train a toy network and write its checkpoint and data files into ``run_dir``."""
    run_dir = Path(run_dir)
    spec, params, train, test = train_toy(**kw)
    write_checkpoint(run_dir, spec, params, task="toy-rate-pairs")
    for name, (x, y) in (("train", train), ("test", test)):
        p = run_dir / f"{name}.npz"
        if p.exists():
            raise CheckpointError(f"{p}: exists; refusing to overwrite")
        np.savez(p, x=x, y=y)
    return run_dir


def build_parser():
    ap = make_parser("python -m analysis.toy", __doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, metavar="DIR",
                    help="run directory to create (must not hold a best.npz)")
    ap.add_argument("--neuron", default=DEFAULT_NEURON, choices=list(NEURONS),
                    help=f"hidden neuron (default {DEFAULT_NEURON})")
    ap.add_argument("--hidden", type=int, default=12, help="hidden neurons (default 12)")
    ap.add_argument("--steps", type=int, default=40, help="Adam steps (default 40)")
    ap.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    return ap


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    d = write_toy_run(args.out, neuron=args.neuron, hidden=args.hidden, steps=args.steps, seed=args.seed)
    print(f"wrote {d}/best.npz, config.json, train.npz, test.npz")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
