"""Accuracy vs the fraction of recurrent weights removed (paper Fig. 7), optional masked retraining.

Pruning acts on the recurrent block W_rec = W_h[:, I:] (H × H) only. A fraction φ removes
k = round(φ·H²) weights:

- ``method="magnitude"``: the k smallest |w| (ties broken by position, a stable sort);
- ``method="random"``: k positions drawn uniformly without replacement.

The mask (ones on the input block) is returned with the pruned parameters. Optional **masked
retraining**: a few Adam steps (resonet.optim.Adam, surrogate-gradient BPTT from the backend) on
training data, with the gradient of pruned weights zeroed and the mask re-applied after every
step, so pruned weights stay exactly 0.

Note: the paper's Fig. 7 networks were trained from scratch with a random recurrent mask
(``LinearMask``: masked weights are zeroed on every forward); this module prunes a *trained*
network post hoc. Random pruning + retraining is the closest post-hoc analogue.
"""

from __future__ import annotations

import sys

import numpy as np

from resonet.backends import get_backend
from resonet.cli import run_main
from resonet.errors import ConfigError
from resonet.evaluation import official_targets
from resonet.network import NetworkSpec
from resonet.optim import Adam

from .common import (
    add_backend_arg,
    add_data_args,
    add_out_arg,
    check_data,
    evaluate,
    float_list,
    load_eval_data,
    load_npz_data,
    load_run,
    make_parser,
    out_dir,
    progress,
    pyplot,
    write_outputs,
)

METHODS = ("magnitude", "random")
W_KEY = "hidden.linear.weight"


def prune_recurrent(spec: NetworkSpec, params: dict, fraction: float, method: str = "magnitude",
                    rng: np.random.Generator | None = None) -> tuple[dict, np.ndarray]:
    """``(pruned_params, mask)``: a copy with round(fraction·H²) recurrent weights set to 0."""
    if not 0.0 <= fraction <= 1.0:
        raise ConfigError(f"pruning fraction must lie in [0, 1], got {fraction}")
    if method not in METHODS:
        raise ConfigError(f"pruning method must be one of {METHODS}, got {method!r}")
    I, H = spec.n_in, spec.n_hidden  # noqa: E741
    W = np.asarray(params[W_KEY], dtype=np.float64)
    rec = W[:, I:].ravel()
    k = int(round(fraction * rec.size))
    if method == "magnitude":
        order = np.argsort(np.abs(rec), kind="stable")
    else:
        if rng is None:
            raise ConfigError("random pruning needs a random generator (rng)")
        order = rng.permutation(rec.size)
    keep = np.ones(rec.size)
    keep[order[:k]] = 0.0
    mask = np.ones_like(W)
    mask[:, I:] = keep.reshape(H, H)
    out = {n: np.array(v, dtype=np.float64) for n, v in params.items()}
    out[W_KEY] = W * mask
    return out, mask


def retrain_masked(spec: NetworkSpec, params: dict, mask: np.ndarray, train, *, steps: int, lr: float,
                   batch_size: int, rng: np.random.Generator, backend="reference") -> tuple[dict, list]:
    """``steps`` Adam steps on random batches of ``train`` (EvalData) keeping masked weights at 0.

    Returns the new parameters and the training loss per step.
    """
    if steps < 0 or not lr > 0:
        raise ConfigError(f"need retrain steps >= 0 and lr > 0, got {steps}, {lr}")
    be = get_backend(backend) if isinstance(backend, str) else backend
    p = {n: np.array(v, dtype=np.float64) for n, v in params.items()}
    opt = Adam(p, lr=lr)
    losses = []
    for _ in range(steps):
        idx = np.sort(rng.choice(train.n, size=min(batch_size, train.n), replace=False))
        x, y = train.take(idx)
        res = be.run(spec, p, x, official_targets(y), grads=True)
        g = dict(res.grads)
        g[W_KEY] = g[W_KEY] * mask
        opt.step(g)
        p[W_KEY] *= mask  # pruned weights stay exactly 0
        losses.append(float(res.loss))
    return p, losses


def sweep(spec: NetworkSpec, params: dict, data, fractions, *, method: str = "magnitude", seed: int = 0,
          backend="reference", batch_size: int = 256, retrain_steps: int = 0, train=None,
          lr: float = 1e-3, verbose: bool = False) -> dict:
    """Accuracy, loss and SOPs per pruning fraction (and after masked retraining, if asked)."""
    res = {"fractions": list(fractions), "method": method, "seed": seed, "retrain_steps": retrain_steps,
           "pruned": [], "retrained": [] if retrain_steps else None}
    for i, f in enumerate(fractions):
        rng = np.random.default_rng([seed, i])
        pp, mask = prune_recurrent(spec, params, f, method, rng)
        m = evaluate(spec, pp, data, backend=backend, batch_size=batch_size)
        m["n_removed"] = int((mask == 0).sum())
        res["pruned"].append(m)
        msg = f"  fraction {f:g}: accuracy {m['accuracy']:.2f} %"
        if retrain_steps:
            if train is None:
                raise ConfigError("masked retraining needs training data (--train-data)")
            rp, losses = retrain_masked(spec, pp, mask, train, steps=retrain_steps, lr=lr,
                                        batch_size=batch_size, rng=rng, backend=backend)
            mr = evaluate(spec, rp, data, backend=backend, batch_size=batch_size)
            mr["train_loss"] = losses
            res["retrained"].append(mr)
            msg += f", after {retrain_steps} masked Adam steps {mr['accuracy']:.2f} %"
        if verbose:
            progress(msg)
    return res


def build_parser():
    ap = make_parser("python -m analysis.pruning", __doc__.split("\n\n")[0] + """

Removes a growing fraction of the recurrent weights of a checkpoint (smallest |w| or random)
and evaluates it, optionally after masked retraining; writes pruning.png and pruning.json.""")
    add_data_args(ap)
    ap.add_argument("--fractions", type=float_list, default=[round(v, 10) for v in np.arange(0, 1.0, 0.1)],
                    help="comma-separated fractions of recurrent weights to remove (default 0,0.1,...,0.9)")
    ap.add_argument("--method", default="magnitude", choices=list(METHODS),
                    help="which weights go: smallest |w| (magnitude, default) or random")
    ap.add_argument("--retrain-steps", type=int, default=0,
                    help="masked Adam steps after pruning (default 0: no retraining)")
    ap.add_argument("--train-data", metavar="FILE.npz", default=None,
                    help="training data for retraining (.npz with x (T, N, I), y); default: the task's "
                         "train split via resonet.data.load_task")
    ap.add_argument("--lr", type=float, default=1e-3,
                    help="Adam learning rate of the retraining (default 1e-3)")
    ap.add_argument("--seed", type=int, default=0, help="seed of random pruning and of retraining batches")
    add_backend_arg(ap)
    add_out_arg(ap, "pruning")
    return ap


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if any(not 0 <= f <= 1 for f in args.fractions):
        raise ConfigError(f"--fractions must lie in [0, 1], got {args.fractions}")
    if args.retrain_steps < 0 or not args.lr > 0:
        raise ConfigError("--retrain-steps must be >= 0 and --lr > 0")
    spec, params, config = load_run(args.checkpoint)
    data = load_eval_data(args.data, config, args.limit)
    check_data(spec, data)
    train = None
    if args.retrain_steps:
        train = (load_npz_data(args.train_data) if args.train_data
                 else load_eval_data(None, config, None, split="train"))
        check_data(spec, train)
    progress(f"pruning {len(args.fractions)} fractions ({args.method}) on {data.n} samples")
    res = sweep(spec, params, data, args.fractions, method=args.method, seed=args.seed,
                backend=args.backend, batch_size=args.batch_size, retrain_steps=args.retrain_steps,
                train=train, lr=args.lr, verbose=True)
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    # markers at 0 % and 100 % must not be cut in half by the axes: a little room, and no clipping
    ax.plot(res["fractions"], [m["accuracy"] for m in res["pruned"]], "o-", label=f"pruned ({args.method})",
            clip_on=False)
    if res["retrained"]:
        ax.plot(res["fractions"], [m["accuracy"] for m in res["retrained"]], "s-", clip_on=False,
                label=f"+ {args.retrain_steps} masked Adam steps")
    ax.set(xlabel="fraction of recurrent weights removed", ylabel="accuracy (%)", ylim=(-3, 103),
           yticks=np.arange(0, 101, 20), title=f"{spec.neuron}: {args.checkpoint}")
    ax.legend(loc="lower left")
    fig.tight_layout()
    out = {"checkpoint": str(args.checkpoint), "spec": spec.to_dict(), "data": data.source,
           "backend": args.backend, **res}
    write_outputs(out_dir(args.out, "pruning"), "pruning", fig, out)
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
