"""2-D loss surface around a checkpoint along two filter-normalised random directions (Fig. 13).

Method of Li et al. (2018, "Visualizing the loss landscape of neural nets") as the official
script applies it (docs/official-code.md §10.5):

- two independent directions d₁, d₂ ~ N(0, 1) of the shape of ``hidden.linear.weight`` **only**
  (W_o, ω, b', τ stay fixed);
- each is filter-normalised **per row, separately on the input block [:, :I] and the recurrent
  block [:, I:]**: d_j ← d_j / ‖d_j‖₂ · ‖W_j‖₂ with the same block's row of the trained W (for
  I = 1 the input block becomes sign(d)·|W_j,in|; a zero row of d stays 0);
- W(α, β) = W* + α·d₁ + β·d₂ for α, β ∈ linspace(−1, 1, n) (the official n = 50 contains no 0;
  an odd n puts W* at the centre);
- loss(α, β) = mean NLL per recorded step over the evaluation set (for label-last tasks the
  official label-last NLL); the accuracy is recorded too.
"""

from __future__ import annotations

import sys

import numpy as np

from resonet.cli import run_main
from resonet.errors import ConfigError
from resonet.network import NetworkSpec

from .common import (
    add_backend_arg,
    add_data_args,
    add_out_arg,
    check_data,
    evaluate,
    load_eval_data,
    load_run,
    make_parser,
    out_dir,
    progress,
    pyplot,
    write_outputs,
)

W_KEY = "hidden.linear.weight"


def filter_normalise(d: np.ndarray, W: np.ndarray, n_in: int) -> np.ndarray:
    """Row-wise filter normalisation of direction ``d`` against ``W``, per block (input, recurrent)."""
    d = np.asarray(d, dtype=np.float64)
    W = np.asarray(W, dtype=np.float64)
    if d.shape != W.shape:
        raise ConfigError(f"direction shape {d.shape} differs from the weight shape {W.shape}")
    out = np.zeros_like(d)
    for sl in (slice(0, n_in), slice(n_in, None)):
        db, wb = d[:, sl], W[:, sl]
        dn = np.linalg.norm(db, axis=1, keepdims=True)
        wn = np.linalg.norm(wb, axis=1, keepdims=True)
        out[:, sl] = np.divide(db, dn, out=np.zeros_like(db), where=dn > 0) * wn
    return out


def directions(spec: NetworkSpec, params: dict, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    W = params[W_KEY]
    d1, d2 = (filter_normalise(rng.standard_normal(W.shape), W, spec.n_in) for _ in range(2))
    return d1, d2


def loss_surface(spec: NetworkSpec, params: dict, data, *, n: int = 25, span: float = 1.0, seed: int = 0,
                 backend="reference", batch_size: int = 256, verbose: bool = False) -> dict:
    """Loss and accuracy on the n×n grid W* + α·d₁ + β·d₂, α, β ∈ linspace(−span, span, n)."""
    if n < 2 or not span > 0:
        raise ConfigError(f"need a grid of n >= 2 points and span > 0, got n={n}, span={span}")
    rng = np.random.default_rng(seed)
    d1, d2 = directions(spec, params, rng)
    grid = np.linspace(-span, span, n)
    loss = np.zeros((n, n))
    acc = np.zeros((n, n))
    W0 = np.asarray(params[W_KEY], dtype=np.float64)
    for i, a in enumerate(grid):
        for j, b in enumerate(grid):
            p = dict(params)
            p[W_KEY] = W0 + a * d1 + b * d2
            m = evaluate(spec, p, data, backend=backend, batch_size=batch_size)
            loss[i, j], acc[i, j] = m["loss"], m["accuracy"]
        if verbose:
            progress(f"  row {i + 1}/{n} (alpha = {a:+.3f}): loss {loss[i].min():.4f}..{loss[i].max():.4f}")
    base = evaluate(spec, params, data, backend=backend, batch_size=batch_size)
    return {"alphas": grid, "betas": grid, "loss": loss, "accuracy": acc, "seed": seed,
            "base_loss": base["loss"], "base_accuracy": base["accuracy"], "d1": d1, "d2": d2}


def build_parser():
    ap = make_parser("python -m analysis.landscape", __doc__.split("\n\n")[0] + """

Evaluates the loss on an n×n grid around a checkpoint (n² evaluations of the whole data set:
use --limit and a small --n for a quick look); writes landscape.png (contours) and
landscape.json (the grid, without the directions).""")
    add_data_args(ap)
    ap.add_argument("--n", type=int, default=25, help="grid points per axis (default 25; the paper used 50)")
    ap.add_argument("--span", type=float, default=1.0, help="α, β range [−span, span] (default 1)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the two random directions (default 0)")
    add_backend_arg(ap)
    add_out_arg(ap, "landscape")
    return ap


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.n < 2 or not args.span > 0:
        raise ConfigError(f"need --n >= 2 and --span > 0, got {args.n}, {args.span}")
    spec, params, config = load_run(args.checkpoint)
    data = load_eval_data(args.data, config, args.limit)
    check_data(spec, data)
    progress(f"loss surface: {args.n}x{args.n} grid on {data.n} samples")
    res = loss_surface(spec, params, data, n=args.n, span=args.span, seed=args.seed, backend=args.backend,
                       batch_size=args.batch_size, verbose=True)
    plt = pyplot()
    fig, ax = plt.subplots(1, 2, figsize=(11, 4.5))
    A, B = np.meshgrid(res["alphas"], res["betas"], indexing="ij")
    cs = ax[0].contourf(A, B, res["loss"], levels=30, cmap="viridis")
    fig.colorbar(cs, ax=ax[0], label="loss")
    ax[0].plot([0], [0], "r+", ms=12)
    ax[0].set(xlabel="α (d₁)", ylabel="β (d₂)", title=f"{spec.neuron}: loss surface")
    cs2 = ax[1].contourf(A, B, res["accuracy"], levels=30, cmap="magma")
    fig.colorbar(cs2, ax=ax[1], label="accuracy (%)")
    ax[1].set(xlabel="α", ylabel="β", title="accuracy")
    fig.tight_layout()
    out = {"checkpoint": str(args.checkpoint), "spec": spec.to_dict(), "data": data.source,
           "backend": args.backend, **{k: v for k, v in res.items() if k not in ("d1", "d2")}}
    write_outputs(out_dir(args.out, "landscape"), "landscape", fig, out)
    print(f"loss at the checkpoint {res['base_loss']:.4f}; grid min {res['loss'].min():.4f}, "
          f"max {res['loss'].max():.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
