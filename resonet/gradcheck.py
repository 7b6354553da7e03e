"""``python -m resonet.gradcheck --neuron NAME [--T N --hidden N --seed S ...]``

Numerical check of the hand-derived BPTT. A random network is run with the *smooth* spike
S(s) (resonet.surrogate, eq. (S3)) in place of Θ. S' is exactly the surrogate σ', so BPTT is then
the exact gradient of a smooth function, and central finite differences in float64 must agree
with it:

    g_fd[i] = (−L(θ+2h·e_i) + 8L(θ+h·e_i) − 8L(θ−h·e_i) + L(θ−2h·e_i)) / 12h,
    h = 1e-3 · max(1, |θ_i|)

For every parameter tensor (and a random subset of input entries) the relative error
‖g_fd − g_bptt‖₂ / max(‖g_fd‖₂, ‖g_bptt‖₂) is printed; exit 0 iff all are below 1e-6.

Why 1e-6: with the five-point stencil the truncation error is O(h^4) and the rounding error
O(eps |L| / h) ~ 1e-16 * 100 / 1e-3 ~ 1e-11 absolute; relative to the gradient norms of these
networks both stay below ~1e-8 (measured at h = 1e-3: 1e-12 to 7e-9 over all models and seeds
tried, against 1e-7 to 4e-5 for a plain central difference at its best h). A wrong term (a
missing path through q, a sign) gives 1e-3 or worse.

A network that barely spikes makes the check meaningless (the paths through spikes, q and the
recurrent weights carry no signal), so the input weights are scaled until the Θ network spikes at
a rate of at least 2 % (reported), and the check refuses to pass below ``--min-rate``.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from .cli import run_main
from .errors import ConfigError
from .loss import nll_loss, step_targets
from .network import NetworkSpec, backward, forward, init_params
from .neurons import NEURONS

TOLERANCE = 1e-6
MIN_RATE = 0.02
# Input-weight scales tried in order until the Θ network spikes at >= 2 % of neuron-steps.
# Resonators integrate I·dt (dt = 0.01), so they need currents ~100x larger than ALIF.
_SCALES = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048)


def _loss(spec, params, x, y, spike="smooth") -> float:
    fwd = forward(spec, params, x, spike=spike)
    return nll_loss(fwd.outputs, step_targets(y, fwd.recorded, x.shape[0]))[0]


def spike_rate(spec, params, x) -> float:
    """Fraction of hidden neuron-steps with a spike in the Θ (real) network."""
    return float(forward(spec, params, x, spike="heaviside").spikes.mean())


def build_case(neuron: str, T: int, hidden: int, seed: int, n_in: int = 4, n_out: int = 3,
               batch: int = 2, reset: str = "none", sub_seq: int = 0, label_last: bool = False,
               per_step: bool = False):
    """A random network and input that spikes; returns (spec, params, x, y, rate)."""
    rng = np.random.default_rng(seed)
    spec = NetworkSpec(neuron, n_in, hidden, n_out, reset=reset, sub_seq_length=sub_seq,
                       label_last=label_last)
    init = {}
    if neuron in ("brf", "rf"):
        init = {"omega": (5.0, 10.0), "b_offset": (0.1, 1.0)}
    params = init_params(spec, rng, init)
    x = (rng.random((T, batch, n_in)) < 0.2).astype(np.float64)
    y = rng.integers(0, n_out, (T, batch) if per_step else batch)
    base = params["hidden.linear.weight"][:, :n_in].copy()
    rate = 0.0
    for s in _SCALES:
        params["hidden.linear.weight"][:, :n_in] = base * s
        rate = spike_rate(spec, params, x)
        if rate >= MIN_RATE:
            break
    return spec, params, x, y, rate


def rel_error(a: np.ndarray, b: np.ndarray) -> float:
    num = np.linalg.norm(a - b)
    den = max(np.linalg.norm(a), np.linalg.norm(b))
    return 0.0 if den == 0 else float(num / den)


def finite_difference(f, arr: np.ndarray, indices=None, rel_step: float = 1e-3) -> np.ndarray:
    """Five-point central differences of f() w.r.t. entries of ``arr`` (changed in place, restored).

    g = (-f(p+2h) + 8 f(p+h) - 8 f(p-h) + f(p-2h)) / 12h with h = rel_step * max(1, |p|): the
    truncation error is O(h^4), so a fairly large h can be used, which keeps the rounding error
    O(eps |L| / h) small (the loss sums T per-step terms, so |L| ~ T ln C).
    """
    flat = arr.reshape(-1)
    idx = range(flat.size) if indices is None else indices
    out = np.zeros(len(idx))
    for k, i in enumerate(idx):
        old = flat[i]
        h = rel_step * max(1.0, abs(old))
        vals = []
        for m in (2.0, 1.0, -1.0, -2.0):
            flat[i] = old + m * h
            vals.append(f())
        flat[i] = old
        out[k] = (-vals[0] + 8.0 * vals[1] - 8.0 * vals[2] + vals[3]) / (12.0 * h)
    return out


def run_check(spec, params, x, y, n_input_entries: int = 48, seed: int = 0) -> dict:
    """Relative error per tensor (and for a random subset of the input) -> dict name -> error."""
    fwd = forward(spec, params, x, spike="smooth")
    _, d_out = nll_loss(fwd.outputs, step_targets(y, fwd.recorded, x.shape[0]))
    grads, dx = backward(spec, params, fwd, d_out)
    errors = {}
    for name in spec.param_shapes():
        fd = finite_difference(lambda: _loss(spec, params, x, y), params[name])
        errors[name] = rel_error(fd, grads[name].reshape(-1))
    rng = np.random.default_rng(seed)
    sel = rng.choice(x.size, size=min(n_input_entries, x.size), replace=False)
    fd = finite_difference(lambda: _loss(spec, params, x, y), x, sel)
    errors["input x"] = rel_error(fd, dx.reshape(-1)[sel])
    return errors


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m resonet.gradcheck",
        description="Finite-difference check (float64, smooth spike) of the hand-derived BPTT.",
    )
    ap.add_argument("--neuron", required=True, choices=list(NEURONS))
    ap.add_argument("--T", type=int, default=100, help="sequence length (default 100)")
    ap.add_argument("--hidden", type=int, default=8, help="hidden neurons (default 8)")
    ap.add_argument("--inputs", type=int, default=4, help="input channels (default 4)")
    ap.add_argument("--classes", type=int, default=3, help="readout classes (default 3)")
    ap.add_argument("--batch", type=int, default=2, help="batch size (default 2)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--reset", default="none", choices=["none", "soft", "hard"],
                    help="RF reset variant (rf only)")
    ap.add_argument("--sub-seq", type=int, default=0, help="sub_seq_length (unrecorded steps)")
    ap.add_argument("--label-last", action="store_true", help="record only the last step")
    ap.add_argument("--per-step", action="store_true", help="a label per step (ECG-style)")
    ap.add_argument("--min-rate", type=float, default=MIN_RATE,
                    help=f"refuse to pass below this spike rate (default {MIN_RATE})")
    args = ap.parse_args(argv)
    for name in ("T", "hidden", "inputs", "classes", "batch"):
        if getattr(args, name) < 1:
            raise ConfigError(f"--{name} must be >= 1")
    if args.classes < 2:
        # log-softmax over one class is 0 whatever the network does: every gradient is exactly
        # 0 and the check would pass without testing anything
        raise ConfigError(f"--classes {args.classes}: with one class the loss is constant and "
                          "every gradient is 0, so the check would pass vacuously; use "
                          "--classes 2 or more")
    if not (0.0 <= args.min_rate < 1.0):  # also NaN
        raise ConfigError(f"--min-rate {args.min_rate} must be a fraction of neuron-steps in "
                          f"[0, 1) (default {MIN_RATE}, i.e. 2 %)")

    spec, params, x, y, rate = build_case(
        args.neuron, args.T, args.hidden, args.seed, args.inputs, args.classes, args.batch,
        args.reset, args.sub_seq, args.label_last, args.per_step)
    print(f"gradcheck {args.neuron} (reset={args.reset}) I={args.inputs} H={args.hidden} "
          f"C={args.classes} T={args.T} B={args.batch} seed={args.seed}: smooth spike, float64, "
          f"central differences")
    print(f"  spike rate of the Θ network: {rate:.3%} of neuron-steps")
    errors = run_check(spec, params, x, y, seed=args.seed)
    ok = True
    for name, err in errors.items():
        good = err < TOLERANCE
        ok &= good
        print(f"  {name:<24s} rel err {err:10.3e}  {'ok' if good else 'FAIL'}")
    if rate < args.min_rate:
        print(f"  REFUSED: the network barely spikes ({rate:.3%} < {args.min_rate:.1%}); the check "
              "would not exercise the spike paths. Use more hidden neurons, a longer T or "
              "another seed.")
        ok = False
    print(f"  => {'PASS' if ok else 'FAIL'} (tolerance {TOLERANCE:g})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(run_main(main))
