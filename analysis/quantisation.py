"""Spiking as quantisation of spike trains (Moser & Lunglmayr): the leaky Alexiewicz norm and LIF.

Source: B. A. Moser and M. Lunglmayr, "Quantization in Spiking Neural Networks" (arXiv:2305.08012,
ESANN 2023/24) and "On Leaky-Integrate-and-Fire as Spike-Train-Quantization Operator on
Dirac-Superimposed Continuous-Time Signals" (arXiv:2402.07954). Discrete setting used here:
a spike train is a finite sequence η = (η_1, …, η_N) of real weights of Dirac pulses at the
integer times 1, …, N.

**Leaky Alexiewicz norm** (α ∈ (0, 1] the leak per time step):

    ‖η‖_{A,α} = max_{1≤n≤N} | Σ_{k=1}^{n} α^{n−k} η_k |                                 (Q1)

(α = 1: the Alexiewicz norm max_n |η_1 + … + η_n|, the max over prefix sums. It is not Weyl's
discrepancy norm max_{m≤n} |η_m + … + η_n|, the max over all sub-intervals, only equivalent to it:
‖η‖_A ≤ ‖η‖_D ≤ 2‖η‖_A, and η = (1, −2) gives 1 against 2.) (Q1) is a norm on finite
sequences: the map η ↦ (S_1, …, S_N), S_n = αS_{n−1} + η_n, is linear and invertible
(η_n = S_n − αS_{n−1}), and (Q1) is the max-norm of its image. In continuous time the sup over
all t is attained at pulse times (between pulses the sum only decays), so (Q1) is the same.

**LIF_{α,θ}** (threshold θ > 0, symmetric: it fires signed spikes ±θ). Potential before the
reset u_n = α·u⁺_{n−1} + η_n (u⁺_0 = 0); the output s_n (a multiple of θ) and the reset:

    reset-to-mod          s_n = θ·trunc(u_n/θ),                  u⁺_n = u_n − s_n (= fmod(u_n, θ))
    reset-by-subtraction  s_n = sgn(u_n)·θ if |u_n| ≥ θ else 0,  u⁺_n = u_n − s_n
    reset-to-zero         s_n = sgn(u_n)·θ if |u_n| ≥ θ else 0,  u⁺_n = 0 if s_n ≠ 0 else u_n

(reset-to-mod may emit several spikes at once: s_n = k·θ, k ∈ ℤ.)

**Quantisation bound.** The error's leaky partial sums E_n = Σ_{k≤n} α^{n−k}(η_k − s_k) obey
E_n = αE_{n−1} + η_n − s_n, the same recursion as u⁺ for the mod and subtraction resets, so
‖η − LIF(η)‖_{A,α} = max_n |u⁺_n|. For reset-to-mod |u⁺_n| < θ by construction:

    ‖LIF_{α,θ}(η) − η‖_{A,α} < θ     for every η and every α ∈ (0, 1]                  (Q2)

Reset-by-subtraction leaves |u⁺| ≥ θ once |u_n| ≥ 2θ (e.g. one pulse η = (2.5θ): error 1.5θ) --
it meets (Q2) only while the inputs stay sub-threshold (then it coincides with reset-to-mod).
Reset-to-zero discards the remainder from u⁺ but not from E, so the error accumulates: it breaks
(Q2) for the same supra-threshold pulse and even for sub-threshold inputs (α = 1,
η = (0.625, 0.625, 0.625, 0.625, 0.625)θ gives E_5 = 1.125θ).
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from resonet.cli import run_main
from resonet.errors import ConfigError

from .common import add_out_arg, float_list, make_parser, out_dir, progress, pyplot, write_outputs

RESETS = ("mod", "subtract", "zero")


def _check_alpha(alpha: float) -> None:
    if not 0.0 < alpha <= 1.0:
        raise ConfigError(f"the leak alpha must lie in (0, 1], got {alpha}")


def leaky_partial_sums(eta, alpha: float) -> np.ndarray:
    """S_n = Σ_{k≤n} α^{n−k} η_k along the last axis (the recursion S_n = αS_{n−1} + η_n)."""
    _check_alpha(alpha)
    eta = np.asarray(eta, dtype=np.float64)
    S = np.empty_like(eta)
    acc = np.zeros(eta.shape[:-1])
    for n in range(eta.shape[-1]):
        acc = alpha * acc + eta[..., n]
        S[..., n] = acc
    return S


def alexiewicz_norm(eta, alpha: float = 1.0) -> np.ndarray | float:
    """‖η‖_{A,α} of eq. (Q1) along the last axis (0 for an empty sequence)."""
    eta = np.asarray(eta, dtype=np.float64)
    if eta.shape[-1] == 0:
        return np.zeros(eta.shape[:-1]) if eta.ndim > 1 else 0.0
    out = np.abs(leaky_partial_sums(eta, alpha)).max(axis=-1)
    return float(out) if np.ndim(out) == 0 else out


def lif(eta, alpha: float, theta: float = 1.0, reset: str = "mod") -> tuple[np.ndarray, np.ndarray]:
    """``(s, u_after)``: the LIF_{α,θ} output spike train s (multiples of θ) and the potential after
    each reset, for inputs η along the last axis (see the module docstring)."""
    _check_alpha(alpha)
    if not theta > 0:
        raise ConfigError(f"the threshold theta must be > 0, got {theta}")
    if reset not in RESETS:
        raise ConfigError(f"reset must be one of {RESETS}, got {reset!r}")
    eta = np.asarray(eta, dtype=np.float64)
    s = np.zeros_like(eta)
    post = np.zeros_like(eta)
    u = np.zeros(eta.shape[:-1])
    for n in range(eta.shape[-1]):
        u = alpha * u + eta[..., n]
        if reset == "mod":
            r = np.fmod(u, theta)  # exact remainder with the sign of u: |r| < θ
            s[..., n] = u - r
            u = r
        else:
            fire = np.abs(u) >= theta
            sn = np.where(fire, np.sign(u) * theta, 0.0)
            s[..., n] = sn
            u = u - sn if reset == "subtract" else np.where(fire, 0.0, u)
        post[..., n] = u
    return s, post


def quantisation_error(eta, alpha: float, theta: float = 1.0, reset: str = "mod") -> np.ndarray | float:
    """‖LIF_{α,θ}(η) − η‖_{A,α}."""
    s, _ = lif(eta, alpha, theta, reset)
    return alexiewicz_norm(s - np.asarray(eta, dtype=np.float64), alpha)


COUNTEREXAMPLES: dict[str, dict[str, Any]] = {
    "supra_threshold_pulse": {"eta_over_theta": [2.5], "alpha": 1.0},
    "reset_to_zero_subthreshold": {"eta_over_theta": [0.625, 0.625, 0.625, 0.625, 0.625], "alpha": 1.0},
}


def trials(amplitudes, alpha: float, theta: float = 1.0, T: int = 50, n: int = 1000, seed: int = 0) -> dict:
    """η_k ~ U(−A, A)·θ for each amplitude A: max and mean error/θ and the violation rate per reset."""
    rng = np.random.default_rng(seed)
    out: dict[str, Any] = {"amplitudes": list(amplitudes), "alpha": alpha, "theta": theta, "T": T,
                           "n": n}
    for reset in RESETS:
        out[reset] = {"max_err": [], "mean_err": [], "frac_violating": []}
    for A in amplitudes:
        eta = rng.uniform(-A, A, (n, T)) * theta
        for reset in RESETS:
            e = np.asarray(quantisation_error(eta, alpha, theta, reset)) / theta
            out[reset]["max_err"].append(float(e.max()))
            out[reset]["mean_err"].append(float(e.mean()))
            out[reset]["frac_violating"].append(float(np.mean(e >= 1.0)))
    return out


# -- CLI ------------------------------------------------------------------------------------------
def build_parser():
    ap = make_parser("python -m analysis.quantisation", __doc__.split("\n\n")[0] + """

Random spike trains η_k ~ U(−A, A)·θ for each amplitude A, quantised by LIF with reset-to-mod,
reset-by-subtraction and reset-to-zero; the error ‖LIF(η) − η‖_{A,α} / θ per reset (the bound
is 1 for reset-to-mod), an example, and the counterexamples. Writes quantisation.png/.json.""")
    ap.add_argument("--alpha", type=float, default=0.9, help="leak per step α in (0, 1] (default 0.9)")
    ap.add_argument("--theta", type=float, default=1.0, help="threshold θ > 0 (default 1)")
    ap.add_argument("--T", type=int, default=50, help="length of each spike train (default 50)")
    ap.add_argument("--trials", type=int, default=1000, help="random trains per amplitude (default 1000)")
    ap.add_argument("--amplitudes", type=float_list, default=[0.25, 0.5, 0.9, 1.5, 2.0, 3.0, 5.0],
                    help="comma-separated input amplitudes A in units of θ (default 0.25,...,5)")
    ap.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    add_out_arg(ap, "quantisation")
    return ap


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    _check_alpha(args.alpha)
    if not args.theta > 0 or args.T < 1 or args.trials < 1 or min(args.amplitudes) <= 0:
        raise ConfigError("need --theta > 0, --T >= 1, --trials >= 1 and amplitudes > 0")
    progress(f"{args.trials} trains x {len(args.amplitudes)} amplitudes x 3 resets")
    res = trials(args.amplitudes, args.alpha, args.theta, args.T, args.trials, args.seed)
    cex = {}
    for name, ce in COUNTEREXAMPLES.items():
        eta = np.array(ce["eta_over_theta"]) * args.theta
        cex[name] = {**ce, **{r: quantisation_error(eta, ce["alpha"], args.theta, r) / args.theta
                              for r in RESETS}}
    rng = np.random.default_rng(args.seed + 1)
    eta = rng.uniform(-2.0, 2.0, 30) * args.theta
    plt = pyplot()
    fig, ax = plt.subplots(1, 3, figsize=(16, 4.5))
    t = np.arange(1, eta.size + 1)
    ax[0].stem(t, eta / args.theta, basefmt=" ", label="η/θ")
    for k, r in enumerate(RESETS):
        s, _ = lif(eta, args.alpha, args.theta, r)
        ax[0].plot(t + 0.15 * (k + 1), s / args.theta, "o", ms=4, label=f"LIF {r}")
        ax[1].plot(t, leaky_partial_sums(eta - s, args.alpha) / args.theta, label=r)
    ax[0].set(xlabel="step n", title="example: input η ~ U(−2θ, 2θ) and output spikes (units of θ)")
    ax[0].legend(fontsize=8)
    ax[1].axhline(1, color="k", ls="--")
    ax[1].axhline(-1, color="k", ls="--")
    ax[1].set(xlabel="step n", ylabel="E_n / θ", title=f"error's leaky partial sums (α = {args.alpha:g})")
    ax[1].legend(fontsize=8)
    for r in RESETS:
        ax[2].plot(args.amplitudes, res[r]["max_err"], "o-", label=r)
    ax[2].axhline(1, color="k", ls="--", label="bound θ")
    ax[2].set(xlabel="input amplitude A / θ", ylabel="max ‖LIF(η) − η‖_{A,α} / θ",
              title=f"{args.trials} random trains of length {args.T}")
    ax[2].legend(fontsize=8)
    fig.tight_layout()
    data = {"definition": "||eta||_{A,alpha} = max_n |sum_{k<=n} alpha^(n-k) eta_k| (Moser & Lunglmayr, "
                          "arXiv:2305.08012)", "trials": res, "counterexamples": cex}
    write_outputs(out_dir(args.out, "quantisation"), "quantisation", fig, data)
    for r in RESETS:
        errs = ", ".join(f"{v:.4f}" for v in res[r]["max_err"])
        viol = ", ".join(f"{v:.3f}" for v in res[r]["frac_violating"])
        print(f"{r:9s} max error / theta per amplitude: {errs}; fraction of trains >= theta: {viol}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
