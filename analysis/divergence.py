"""Divergence boundary p(ω) and the exact stability regions of the coded BRF, BHRF and RF steps.

Units: time in the model's unit (one step is δ = dt = 0.01 of it by default), ω in rad per unit
time, b (damping) per unit time. Throughout, r = √(1 − (δω)²) and c = b' + q ≥ 0.

**BRF** (explicit Euler on u + iv, no input, no spike in the step) multiplies u + iv by
λ = 1 + δ(b + iω), so its spectral radius is ρ = |λ| = √((1 + δb)² + (δω)²)        (D1)

- the divergence boundary (ρ = 1 at the upper end, paper eq. 17):
  p(ω) = (−1 + √(1 − (δω)²)) / δ = (−1 + r)/δ ≈ −δω²/2                         (D2)
- the **exact stable interval** of b:  ρ ≤ 1  ⇔  (−1 − r)/δ ≤ b ≤ p(ω)             (D3)
- with b = p(ω) − c:  ρ² = 1 − δc(2r − δc), so ρ ≤ 1 ⇔ 0 ≤ c ≤ 2r/δ;  ρ = 1 exactly at c = 0
  (sustained oscillation) and at c = 2r/δ. "Below the boundary" is not sufficient: near δω → 1
  the interval shrinks to a point. At δω = 1 exactly (r = 0) every c > 0 gives ρ = √(1 + δ²c²) > 1;
  for δω > 1 no real p(ω) exists (the engine refuses such ω).
- The engine evaluates p(ω) with δ_p = ``NetworkSpec.p_dt`` (0.01 by default, as the official
  code, whatever the cell's dt). With δ_p ≠ δ the stable interval of c is
  [p(ω; δ_p) − p(ω; δ), p(ω; δ_p) + (1 + r)/δ] (:func:`brf_c_interval`).

**BHRF as coded** (symplectic Euler; reference-spec §2.4, §11.4): on (u, v) with I = 0,
A = [[1 − 2δb − δ²ω², −δω²], [δ, 1]],  det A = 1 − 2δb,  tr A = 2 − 2δb − δ²ω²,
with b = κω² + b' + q, κ = 0.005 hard-coded (= δ/2 at δ = 0.01). By the Jury (Schur–Cohn) test
the spectral radius is < 1 iff
    0 < b < (4 − δ²ω²) / (4δ)                                                   (D4)
(λ = +1 is never reached for ω > 0; at b = 0, det = 1, sustained; at the upper end an eigenvalue
passes −1: the explicit scheme overshoots). So the coded BHRF is damped for every c ≥ 0 -- it
does **not** sustain oscillation at its p(ω) = κω² -- and diverges (alternating sign) once
c > (4 − δ²ω²)/(4δ) − κω² (= 100 − 0.0075ω² at δ = 0.01). The paper's BHRF p(ω) = δω²/2 is the
b at which the paper's explicit scheme A_paper = [[1 − 2δb, −δω²], [δ, 1]] has det = 1.

**RF** (b = −b' constant): ρ² = (1 − δb')² + (δω)²; stable iff −p(ω) ≤ b' ≤ (1 + r)/δ.

The refractory variable obeys 0 ≤ q < 10 (q' = 0.9q + z from q = 0), so a checkpoint is checked
at q ∈ [0, Q_MAX) with Q_MAX = 10.
"""

from __future__ import annotations

import sys

import numpy as np

from resonet.cli import run_main
from resonet.errors import ConfigError
from resonet.network import NetworkSpec
from resonet.neurons import alif, bhrf, li
from resonet.presets import TASKS as PRESET_TASKS
from resonet.presets import get_preset

from .common import add_out_arg, float_list, load_run, make_parser, out_dir, pyplot, write_outputs

Q_MAX = 10.0  # sup of the refractory variable q_t = Σ 0.9^k z (never reached)
BHRF_P_COEF = bhrf.P_COEF  # κ = 0.005, hard-coded in the official code
ENGINE_P_DT = NetworkSpec.__dataclass_fields__["p_dt"].default  # δ_p of p(ω) in the engine

# Initial ranges of every preset (resonet.presets: paper Table 3; RF uses the BRF ranges; BHRF
# outside SHD keeps the BRF ω range with b' U(0.1, 1), resonet's choice), ω ~ U(a, b), b' ~ U(a, b).
INIT_RANGES = {(neuron, task): {k: get_preset(task, neuron).init[k] for k in ("omega", "b_offset")}
               for neuron in ("brf", "rf", "bhrf") for task in PRESET_TASKS}


# -- BRF ------------------------------------------------------------------------------------------
def _r(omega, dt):
    """r = √(1 − (δω)²); NaN where δω > 1 (no real boundary)."""
    x = 1.0 - np.square(dt * np.asarray(omega, dtype=np.float64))
    with np.errstate(invalid="ignore"):
        return np.where(x >= 0, np.sqrt(np.maximum(x, 0.0)), np.nan)


def brf_boundary(omega, dt: float = 0.01):
    """p(ω) of eq. (D2) for step δ = ``dt``; NaN where δω > 1. ω = 1/δ gives −1/δ."""
    return (-1.0 + _r(omega, dt)) / dt


def brf_interval(omega, dt: float = 0.01):
    """(b_lo, b_hi) of eq. (D3): ρ ≤ 1 iff b_lo ≤ b ≤ b_hi = p(ω). NaN where δω > 1."""
    r = _r(omega, dt)
    return (-1.0 - r) / dt, (-1.0 + r) / dt


def brf_c_interval(omega, dt: float = 0.01, p_dt: float | None = None):
    """(c_lo, c_hi): with b = p(ω; δ_p) − c, ρ ≤ 1 iff c_lo ≤ c ≤ c_hi (δ_p = dt by default)."""
    p = brf_boundary(omega, dt if p_dt is None else p_dt)
    lo, hi = brf_interval(omega, dt)
    return p - hi, p - lo


def brf_radius(omega, b, dt: float = 0.01):
    """ρ = |1 + δ(b + iω)| (eq. (D1))."""
    return np.hypot(1.0 + dt * np.asarray(b, dtype=np.float64), dt * np.asarray(omega, dtype=np.float64))


def brf_radius_c(omega, c, dt: float = 0.01):
    """ρ = √(1 − δc(2r − δc)) for b = p(ω) − c (same δ in p and in the step)."""
    r = _r(omega, dt)
    c = np.asarray(c, dtype=np.float64)
    return np.sqrt(np.maximum(1.0 - dt * c * (2.0 * r - dt * c), 0.0))


# -- BHRF -----------------------------------------------------------------------------------------
def bhrf_boundary(omega, dt: float = 0.01):
    """The paper's BHRF boundary p(ω) = δω²/2 (the code hard-codes 0.005ω², = this at δ = 0.01)."""
    return 0.5 * dt * np.square(np.asarray(omega, dtype=np.float64))


def bhrf_interval(omega, dt: float = 0.01):
    """(0, (4 − δ²ω²)/(4δ)): the coded (symplectic) BHRF has ρ < 1 iff b lies strictly inside
    (eq. (D4)); empty (hi ≤ 0) for δω ≥ 2."""
    w2 = np.square(np.asarray(omega, dtype=np.float64))
    return np.zeros_like(w2), (4.0 - dt * dt * w2) / (4.0 * dt)


def bhrf_c_interval(omega, dt: float = 0.01, p_coef: float = BHRF_P_COEF):
    """(c_lo, c_hi) for the code's b = κω² + c: ρ < 1 iff c_lo < c < c_hi."""
    w2 = np.square(np.asarray(omega, dtype=np.float64))
    lo, hi = bhrf_interval(omega, dt)
    return lo - p_coef * w2, hi - p_coef * w2


def bhrf_eigenvalues(omega, b, dt: float = 0.01, scheme: str = "code"):
    """Both eigenvalues (complex, shape (..., 2)) of the BHRF (u, v) transition, closed form.

    ``scheme="code"``: the symplectic step of the official code; ``"paper"``: the explicit step
    of the paper's Alg. 2, A = [[1 − 2δb, −δω²], [δ, 1]].
    """
    w2 = np.square(np.asarray(omega, dtype=np.float64))
    b = np.asarray(b, dtype=np.float64)
    if scheme == "code":
        tr = 2.0 - 2.0 * dt * b - dt * dt * w2
        det = 1.0 - 2.0 * dt * b
    elif scheme == "paper":
        tr = 2.0 - 2.0 * dt * b
        det = 1.0 - 2.0 * dt * b + dt * dt * w2
    else:
        raise ConfigError(f"scheme must be 'code' or 'paper', got {scheme!r}")
    disc = np.sqrt((tr * tr - 4.0 * det).astype(np.complex128))
    return np.stack([(tr + disc) / 2.0, (tr - disc) / 2.0], axis=-1)


def bhrf_radius(omega, b, dt: float = 0.01, scheme: str = "code"):
    return np.abs(bhrf_eigenvalues(omega, b, dt, scheme)).max(axis=-1)


# -- RF -------------------------------------------------------------------------------------------
def rf_radius(omega, b_offset, dt: float = 0.01):
    """ρ = √((1 − δb')² + (δω)²) of the vanilla RF (b = −b')."""
    return brf_radius(omega, -np.asarray(b_offset, dtype=np.float64), dt)


def rf_interval(omega, dt: float = 0.01):
    """(lo, hi) of b': stable iff −p(ω) ≤ b' ≤ (1 + r)/δ."""
    lo, hi = brf_interval(omega, dt)
    return -hi, -lo


# -- checks of parameters -------------------------------------------------------------------------
def check_params(spec: NetworkSpec, params: dict, q_max: float = Q_MAX) -> dict:
    """Per-neuron stability of the hidden layer's free dynamics (I = 0, no spike in the step).

    Returns a dict of per-neuron arrays (``radius_q0``: ρ at q = 0, ``radius_qmax``: ρ at
    q = q_max, ``margin``: distance of the worst c to the nearer end of the stable c interval,
    negative when violated) and a ``summary``. For BRF/BHRF c ranges over [b', b' + q_max]; ρ² is
    convex in c, so the worst case is at an end. ALIF and the readout are plain leaks
    (0 < α, ρ < 1): always stable.
    """
    dt, p_dt = spec.dt, spec.p_dt
    out: dict = {"neuron": spec.neuron, "dt": dt, "p_dt": p_dt, "q_max": q_max}
    if spec.neuron in ("brf", "bhrf", "rf"):
        w = np.abs(np.asarray(params["hidden.omega"], dtype=np.float64))
        beta = np.abs(np.asarray(params["hidden.b_offset"], dtype=np.float64))
        out["omega"], out["b_offset"] = w, beta
    if spec.neuron == "brf":
        p = brf_boundary(w, p_dt)
        c_lo, c_hi = brf_c_interval(w, dt, p_dt)
        rho0 = brf_radius(w, p - beta, dt)
        rho1 = brf_radius(w, p - beta - q_max, dt)
        margin = np.minimum(beta - c_lo, c_hi - (beta + q_max))
        out.update(p=p, c_lo=c_lo, c_hi=c_hi, radius_q0=rho0, radius_qmax=rho1, margin=margin,
                   omega_ok=w * p_dt < 1.0)
    elif spec.neuron == "bhrf":
        c_lo, c_hi = bhrf_c_interval(w, dt)
        rho0 = bhrf_radius(w, BHRF_P_COEF * w * w + beta, dt)
        rho1 = bhrf_radius(w, BHRF_P_COEF * w * w + beta + q_max, dt)
        margin = np.minimum(beta - c_lo, c_hi - (beta + q_max))
        out.update(c_lo=c_lo, c_hi=c_hi, radius_q0=rho0, radius_qmax=rho1, margin=margin)
    elif spec.neuron == "rf":
        rho0 = rf_radius(w, beta, dt)
        lo, hi = rf_interval(w, dt)
        out.update(radius_q0=rho0, radius_qmax=rho0, margin=np.minimum(beta - lo, hi - beta))
    elif spec.neuron == "alif":
        c = alif.derive({"tau_mem": params["hidden.tau_mem"], "tau_adp": params["hidden.tau_adp"]}, spec)
        out.update(radius_q0=c.alpha, radius_qmax=c.alpha, alpha=c.alpha, rho=c.rho,
                   margin=1.0 - np.maximum(c.alpha, c.rho))
    rho_all = np.maximum(out["radius_q0"], out["radius_qmax"])
    n_bad = int(np.sum(~(np.nan_to_num(out["margin"], nan=-1.0) >= 0)))
    out["readout_alpha"] = li.alpha(np.asarray(params["out.tau_mem"], dtype=np.float64))
    out["summary"] = {
        "n_neurons": int(rho_all.size),
        "n_outside_stable_interval": n_bad,
        "all_stable": n_bad == 0,
        "max_radius_q0": float(np.nanmax(out["radius_q0"])),
        "max_radius_qmax": float(np.nanmax(out["radius_qmax"])),
        "min_margin": float(np.nanmin(out["margin"])),
    }
    return out


def check_ranges(neuron: str, omega_range, b_range, dt: float = 0.01, p_dt: float = 0.01,
                 q_max: float = Q_MAX, n: int = 201) -> dict:
    """Worst case of :func:`check_params` over a box of initial ranges (an n×n grid incl. corners)."""
    w, b = np.meshgrid(np.linspace(*omega_range, n), np.linspace(*b_range, n))
    spec = NetworkSpec(neuron, 1, w.size, 1, dt=dt, p_dt=p_dt)
    params = {"hidden.omega": w.ravel(), "hidden.b_offset": b.ravel(), "out.tau_mem": np.array([20.0])}
    res = check_params(spec, params, q_max)
    s = res["summary"]
    return {"neuron": neuron, "omega_range": list(omega_range), "b_offset_range": list(b_range),
            "frac_stable": 1.0 - s["n_outside_stable_interval"] / s["n_neurons"], **s}


def fig9_curves(dts, omega_max: float | None = None, n: int = 400) -> dict:
    """p(ω; δ) on ω ∈ [0, min(1/δ, omega_max)] for each δ (paper Fig. 9)."""
    curves = {}
    for dt in dts:
        top = 1.0 / dt if omega_max is None else min(1.0 / dt, omega_max)
        w = np.linspace(0.0, top, n)
        lo, hi = brf_interval(w, dt)
        curves[f"{dt:g}"] = {"dt": dt, "omega": w, "p": hi, "b_lo": lo}
    return curves


def summary_table() -> dict:
    """p(ω) at the ω of reference-spec §11.8, the stable c range, and BHRF facts (δ = 0.01)."""
    ws = np.array([5.0, 10.0, 50.0, 85.0, 99.0, 100.0])
    c_lo, c_hi = brf_c_interval(ws, 0.01)
    bh_lo, bh_hi = bhrf_c_interval(ws, 0.01)
    return {
        "omega": ws,
        "brf_p": brf_boundary(ws, 0.01),
        "brf_b_lo": brf_interval(ws, 0.01)[0],
        "brf_c_max": c_hi,
        "bhrf_p_paper": bhrf_boundary(ws, 0.01),
        "bhrf_radius_code_c0": bhrf_radius(ws, BHRF_P_COEF * ws * ws, 0.01),
        "bhrf_c_max_code": bh_hi,
        "bhrf_radius_paper_at_p_c1": bhrf_radius(ws, bhrf_boundary(ws, 0.01) - 1.0, 0.01, "paper"),
    }


# -- CLI ------------------------------------------------------------------------------------------
def _plot(curves, checks, dt):
    plt = pyplot()
    fig, ax = plt.subplots(1, 3, figsize=(16, 4.6))
    for key, cv in curves.items():
        ax[0].plot(cv["omega"], cv["p"], label=f"δ = {key}")
    ax[0].set(xlabel="ω (rad / unit time)", ylabel="p(ω)", title="BRF divergence boundary p(ω) (Fig. 9)")
    ax[0].legend()
    w = np.linspace(0, 1.0 / dt, 500)
    lo, hi = brf_interval(w, dt)
    ax[1].fill_between(w, lo, hi, alpha=0.3, label="ρ ≤ 1")
    ax[1].plot(w, hi, label="p(ω) (ρ = 1, sustained)")
    ax[1].plot(w, lo, label="(−1 − r)/δ (ρ = 1)")
    # asinh, not symlog: symlog's switch from linear to log at |b| = linthresh puts a kink into
    # every curve that crosses it (p(ω) does, at b = −1); asinh passes from linear to log smoothly
    ax[1].set_yscale("asinh", linear_width=1.0)
    ticks = [t for t in (0.0, -1.0, -3.0, -10.0, -30.0, -100.0, -200.0) if t >= 1.05 * np.nanmin(lo)]
    ax[1].set_yticks(ticks, [f"{t:g}".replace("-", "−") for t in ticks])
    ax[1].yaxis.set_minor_locator(plt.NullLocator())
    ax[1].set(xlabel="ω", ylabel="b", title=f"BRF exact stable interval of b (δ = {dt:g})")
    ax[1].legend(fontsize=8)
    w2 = np.linspace(0, min(2.0 / dt, 120.0 if dt == 0.01 else 2.0 / dt), 500)
    c_lo, c_hi = bhrf_c_interval(w2, dt)
    ax[2].fill_between(w2, c_lo, c_hi, alpha=0.3, label="ρ < 1")
    ax[2].plot(w2, c_hi, label="coded BHRF: upper c (eigenvalue −1)")
    ax[2].plot(w2, c_lo, label="coded BHRF: lower c (b = 0)")
    ax[2].axhline(0, color="k", lw=0.5)
    ax[2].set(xlabel="ω", ylabel="c = b' + q", title=f"coded BHRF stable region (δ = {dt:g}, κ = 0.005)")
    for name, chk in checks.items():
        if chk.get("neuron") in ("bhrf",) and "omega" in chk:
            ax[2].scatter(chk["omega"], chk["b_offset"], s=6, label=name)
        if chk.get("neuron") == "brf" and "omega" in chk:
            ax[1].scatter(chk["omega"], chk["p"] - chk["b_offset"], s=6, label=f"{name} (q=0)")
    ax[2].legend(fontsize=8)
    fig.tight_layout()
    return fig


def build_parser():
    ap = make_parser("python -m analysis.divergence", __doc__.split("\n\n")[0] + """

Writes divergence.png (p(ω) for several δ as in the paper's Fig. 9, the exact BRF stable band,
the coded BHRF region) and divergence.json (boundary values, the worst case over the paper's
initial ranges, and per-neuron checks of any checkpoints given).""")
    ap.add_argument("checkpoints", nargs="*", help="run directories or best.npz files to check (optional)")
    ap.add_argument("--dts", type=float_list, default=[0.005, 0.01, 0.02, 0.05],
                    help="comma-separated step sizes δ for the p(ω) curves (default 0.005,0.01,0.02,0.05)")
    ap.add_argument("--dt", type=float, default=0.01,
                    help="δ of the stable-interval and BHRF panels and of the preset checks (default 0.01)")
    ap.add_argument("--q-max", type=float, default=Q_MAX,
                    help="largest refractory value q to check parameters at (default 10, the sup of q)")
    add_out_arg(ap, "divergence")
    return ap


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if not all(0 < d <= 1 for d in args.dts + [args.dt]):
        raise ConfigError(f"step sizes must lie in (0, 1], got {args.dts + [args.dt]}")
    if not args.q_max >= 0:
        raise ConfigError(f"--q-max must be >= 0, got {args.q_max}")
    checks = {}
    for path in args.checkpoints:
        spec, params, _ = load_run(path)
        checks[str(path)] = check_params(spec, params, args.q_max)
    presets = {f"{n}/{task}": check_ranges(n, r["omega"], r["b_offset"], args.dt, ENGINE_P_DT, args.q_max)
               for (n, task), r in INIT_RANGES.items()}
    curves = fig9_curves(args.dts)
    data = {
        "engine_p_dt": ENGINE_P_DT,
        "note": "the engine evaluates p(omega) with NetworkSpec.p_dt (default 0.01, as the official "
                "code) whatever the cell's dt; the curves here take dt as a parameter",
        "table_dt_0.01": summary_table(),
        "fig9_curves": curves,
        "init_range_checks": presets,
        "checkpoint_checks": checks,
    }
    d = out_dir(args.out, "divergence")
    write_outputs(d, "divergence", _plot(curves, checks, args.dt), data)
    for name, res in presets.items():
        print(f"{name:14s} max rho(q=0) {res['max_radius_q0']:.5f}  max rho(q={args.q_max:g}) "
              f"{res['max_radius_qmax']:.5f}  stable fraction {res['frac_stable']:.3f}")
    for name, res in checks.items():
        s = res["summary"]
        print(f"{name}: {s['n_outside_stable_interval']}/{s['n_neurons']} neurons outside the stable "
              f"interval; max rho {s['max_radius_q0']:.6f} (q=0), min margin {s['min_margin']:.4g}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
