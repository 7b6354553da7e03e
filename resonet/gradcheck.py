"""``python -m resonet.gradcheck --neuron NAME [--T N --hidden N[,N2...] --bias --seed S ...]``

Numerical check of the hand-derived BPTT. A random network is run with the *smooth* spike
S(s) (resonet.surrogate, eq. (S3)) in place of Θ. S' is exactly the surrogate σ', so BPTT is then
the exact gradient of a smooth function, and central finite differences in float64 must agree
with it:

    g_fd[i] = (−L(θ+2h·e_i) + 8L(θ+h·e_i) − 8L(θ−h·e_i) + L(θ−2h·e_i)) / 12h,
    h = 1e-3 · max(1, |θ_i|)   (one-sided stencils or a smaller h next to a kink of S, below)

For every parameter tensor (and a random subset of input entries) the relative error
‖g_fd − g_bptt‖₂ / max(‖g_fd‖₂, ‖g_bptt‖₂) is printed; exit 0 iff all are below 1e-6.

Why 1e-6: with the five-point stencil the truncation error is O(h^4) and the rounding error
O(eps |L| / h) ~ 1e-16 * 100 / 1e-3 ~ 1e-11 absolute; relative to the gradient norms of these
networks both stay below ~1e-8 (measured at h = 1e-3: 1e-12 to 7e-9 over all models and seeds
tried, against 1e-7 to 4e-5 for a plain central difference at its best h). A wrong term (a
missing path through q, a sign) gives 1e-3 or worse.

Kinks. The O(h⁴) bound needs S smooth on the stencil. The linear surrogate's smooth spike (LIF,
IF; eq. (S5)) is only once continuously differentiable: S'' jumps at s = −1, 0, 1
(``Surrogate.kinks``), and a stencil over which some neuron-step's s crosses such a point errs by
O(h) instead. No fixed step serves (measured for LIF and IF, T = 50–100, four seeds and the
label variants: up to 2e-5 at h = 1e-3, 2.6e-6 at 1e-5, and at 1e-6 the rounding error reaches
2.7e-6). Worse, a silent neuron with zero state and no input sits exactly on the kink s = −1,
where every central stencil straddles it. So the check records every s the smooth spike is
evaluated at, and for an entry whose central stencil has some s strictly on both sides of a kink
it takes the one-sided five-point stencil (forward, else backward; also O(h⁴), on one smooth
piece), and only if both cross a kink divides h by 10 (at most three times). Measured with this
rule over the same cases: at most 3.3e-9 (LIF) and 4.9e-8 (IF).

A network that barely spikes makes the check meaningless (the paths through spikes, q and the
recurrent weights carry no signal), so the input weights are scaled until the Θ network spikes at
a rate of at least 2 % (reported), and the check refuses to pass below ``--min-rate``. With
stacked layers (``--hidden 8,6``) each layer's input weights are scaled in turn, from the input
side, until that layer spikes at that rate (a silent layer would cut the path from the readout to
every layer below it), and the lowest layer's rate is the one checked.
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
from .spec import RESETS

TOLERANCE = 1e-6
MIN_RATE = 0.02
# Input-weight scales tried in order until the Θ network spikes at >= 2 % of neuron-steps.
# Resonators integrate I·dt (dt = 0.01), so they need currents ~100x larger than ALIF.
_SCALES = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048)


def _loss(spec, params, x, y, spike="smooth") -> float:
    fwd = forward(spec, params, x, spike=spike)
    return nll_loss(fwd.outputs, step_targets(y, fwd.recorded, x.shape[0]))[0]


class _Probe:
    """The model's smooth spike S, recording every argument s it is evaluated at."""

    def __init__(self, surrogate):
        self.smooth = surrogate.smooth
        self.seen: list[np.ndarray] = []

    def __call__(self, s):
        self.seen.append(np.array(s, dtype=np.float64).ravel())
        return self.smooth(s)


def _loss_and_s(spec, params, x, y) -> tuple[float, np.ndarray]:
    """The smooth-spike loss and every s of the forward pass (for the kink test)."""
    probe = _Probe(spec.model.SURROGATE)
    loss = _loss(spec, params, x, y, spike=probe)
    return loss, np.concatenate(probe.seen)


def spike_rate(spec, params, x, layer: int | None = None) -> float:
    """Fraction of hidden neuron-steps with a spike in the Θ (real) network: of layer ``layer``,
    or of the layer the readout reads (None)."""
    fwd = forward(spec, params, x, spike="heaviside")
    z = fwd.spikes if layer is None else fwd.states[spec.state_key(layer, "z")]
    return float((z != 0).mean())  # graded spikes (reset-to-mod) count once per neuron-step


def build_case(neuron: str, T: int, hidden: int | tuple[int, ...], seed: int, n_in: int = 4,
               n_out: int = 3, batch: int = 2, reset: str = "none", sub_seq: int = 0,
               label_last: bool = False, per_step: bool = False, bias: bool = False,
               ablate: tuple[str, ...] | str = ()):
    """A random network and input that spikes; returns (spec, params, x, y, rate), ``rate`` the
    lowest spike rate of its layers."""
    rng = np.random.default_rng(seed)
    spec = NetworkSpec(neuron, n_in, hidden, n_out, reset=reset, sub_seq_length=sub_seq,
                       label_last=label_last, bias=bias, ablate=ablate)
    params = init_params(spec, rng, spec.model.SPIKING_INIT)
    x = (rng.random((T, batch, n_in)) < 0.2).astype(np.float64)
    y = rng.integers(0, n_out, (T, batch) if per_step else batch)
    rates = []
    for l, I in enumerate(spec.layer_inputs):  # from the input side: layer l reads layer l − 1
        W = params[f"{spec.prefix(l)}.linear.weight"]
        base = W[:, :I].copy()
        rate = 0.0
        for s in _SCALES:
            W[:, :I] = base * s
            rate = spike_rate(spec, params, x, l)
            if rate >= MIN_RATE:
                break
        rates.append(rate)
    return spec, params, x, y, min(rates)


def rel_error(a: np.ndarray, b: np.ndarray) -> float:
    num = np.linalg.norm(a - b)
    den = max(np.linalg.norm(a), np.linalg.norm(b))
    return 0.0 if den == 0 else float(num / den)


def crosses_kink(s_points: list[np.ndarray], kinks) -> bool:
    """True if some s lies strictly on both sides of a kink over the stencil's points (an s
    that only touches a kink, as at the centre of a one-sided stencil, stays on a smooth piece)."""
    if not kinks:
        return False
    lo = np.minimum.reduce(s_points)
    hi = np.maximum.reduce(s_points)
    return any(bool(np.any((lo < k) & (hi > k))) for k in kinks)


# Five-point stencils (offset in units of h, weight; the sum is divided by 12h): central, then the
# one-sided ones used next to a kink (all O(h⁴)).
CENTRAL = ((2, -1.0), (1, 8.0), (-1, -8.0), (-2, 1.0))
FORWARD = ((0, -25.0), (1, 48.0), (2, -36.0), (3, 16.0), (4, -3.0))
BACKWARD = ((0, 25.0), (-1, -48.0), (-2, 36.0), (-3, -16.0), (-4, 3.0))


def _evaluate(f, flat, i, old, h, m, kinks):
    """f() with entry i of ``flat`` moved to old + m·h (restored); (loss, s or None)."""
    flat[i] = old + m * h
    try:
        return f() if kinks else (f(), None)
    finally:
        flat[i] = old


def finite_difference(f, arr: np.ndarray, indices=None, rel_step: float = 1e-3, kinks=(),
                      max_shrink: int = 3) -> np.ndarray:
    """Five-point differences of f() w.r.t. entries of ``arr`` (changed in place, restored).

    g = (-f(p+2h) + 8 f(p+h) - 8 f(p-h) + f(p-2h)) / 12h with h = rel_step * max(1, |p|): the
    truncation error is O(h^4), so a fairly large h can be used, which keeps the rounding error
    O(eps |L| / h) small (the loss sums T per-step terms, so |L| ~ T ln C).

    With ``kinks`` (the points where the smooth spike's S'' jumps) f() returns ``(loss, s)`` with
    every s of the forward pass. A stencil over which some s crosses a kink is not used: the
    one-sided five-point stencils (forward, then backward) are tried, then h / 10, at most
    ``max_shrink`` times (see the module docstring).
    """
    flat = arr.reshape(-1)
    idx = range(flat.size) if indices is None else indices
    out = np.zeros(len(idx))
    stencils = (CENTRAL, FORWARD, BACKWARD) if kinks else (CENTRAL,)
    for k, i in enumerate(idx):
        old = flat[i]
        h = rel_step * max(1.0, abs(old))
        for attempt in range(max_shrink + 1):
            cache: dict = {}
            for stencil in stencils:
                for m, _ in stencil:
                    if m not in cache:
                        cache[m] = _evaluate(f, flat, i, old, h, m, kinks)
                g = sum(w * cache[m][0] for m, w in stencil) / (12.0 * h)
                if not crosses_kink([cache[m][1] for m, _ in stencil], kinks):
                    break
            else:
                if attempt < max_shrink:
                    h /= 10.0
                    continue
            break
        out[k] = g
    return out


def run_check(spec, params, x, y, n_input_entries: int = 48, seed: int = 0) -> dict:
    """Relative error per tensor (and for a random subset of the input) -> dict name -> error."""
    fwd = forward(spec, params, x, spike="smooth")
    _, d_out = nll_loss(fwd.outputs, step_targets(y, fwd.recorded, x.shape[0]))
    grads, dx = backward(spec, params, fwd, d_out)
    errors = {}
    kinks = spec.model.SURROGATE.kinks
    if kinks:
        def f():
            return _loss_and_s(spec, params, x, y)
    else:
        def f():
            return _loss(spec, params, x, y)
    for name in spec.param_shapes():
        fd = finite_difference(f, params[name], kinks=kinks)
        errors[name] = rel_error(fd, grads[name].reshape(-1))
    rng = np.random.default_rng(seed)
    sel = rng.choice(x.size, size=min(n_input_entries, x.size), replace=False)
    fd = finite_difference(f, x, sel, kinks=kinks)
    errors["input x"] = rel_error(fd, dx.reshape(-1)[sel])
    return errors


def parse_hidden(text: str) -> int | tuple[int, ...]:
    """``--hidden``: one width (``8``) or one per stacked layer (``8,6``), each >= 1."""
    from .spec import _widths

    try:
        ws = tuple(int(v) for v in str(text).split(","))
        return _widths(ws)
    except (ValueError, ConfigError):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a width >= 1 or a comma-separated list of them (8 or 8,6)") from None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m resonet.gradcheck",
        description="Finite-difference check (float64, smooth spike) of the hand-derived BPTT.",
    )
    ap.add_argument("--neuron", required=True, choices=list(NEURONS), help="the neuron model")
    ap.add_argument("--T", type=int, default=100, help="sequence length (default 100)")
    ap.add_argument("--hidden", type=parse_hidden, default=8,
                    help="hidden neurons, or one width per stacked layer: 8,6 (default 8)")
    ap.add_argument("--bias", action="store_true", help="hidden and readout biases")
    ap.add_argument("--inputs", type=int, default=4, help="input channels (default 4)")
    ap.add_argument("--classes", type=int, default=3, help="readout classes (default 3)")
    ap.add_argument("--batch", type=int, default=2, help="batch size (default 2)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--reset", default="none", choices=list(RESETS),
                    help="reset variant, for the models that have them (the model's RESETS)")
    ap.add_argument("--ablate", default="", metavar="NAME[,NAME]",
                    help="mechanisms removed from the model (its ABLATIONS; brf: boundary, "
                         "refractory, smooth_reset)")
    ap.add_argument("--sub-seq", type=int, default=0, help="sub_seq_length (unrecorded steps)")
    ap.add_argument("--label-last", action="store_true", help="record only the last step")
    ap.add_argument("--per-step", action="store_true", help="a label per step (ECG-style)")
    ap.add_argument("--min-rate", type=float, default=MIN_RATE,
                    help=f"refuse to pass below this spike rate (default {MIN_RATE})")
    args = ap.parse_args(argv)
    for name in ("T", "inputs", "classes", "batch"):
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
        args.reset, args.sub_seq, args.label_last, args.per_step, args.bias, args.ablate)
    print(f"gradcheck {args.neuron} (reset={args.reset}"
          f"{', without ' + ','.join(spec.ablate) if spec.ablate else ''}) I={args.inputs} "
          f"H={','.join(map(str, spec.layers))}{' bias' if args.bias else ''} "
          f"C={args.classes} T={args.T} B={args.batch} seed={args.seed}: smooth spike, float64, "
          f"central differences")
    what = "the Θ network" if spec.n_layers == 1 else "the least active layer of the Θ network"
    print(f"  spike rate of {what}: {rate:.3%} of neuron-steps")
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
