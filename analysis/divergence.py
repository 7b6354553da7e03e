"""Divergence boundary p(ω) and the exact stability regions of the coded resonator steps.

The closed forms are declared by each model's module (``stability``, ``damping_band``,
``offset_band`` …; :class:`resonet.neurons.model.Stability` and
:class:`~resonet.neurons.model.Resonator`); this module checks parameters and initial ranges
with them, for every model of the registry (numerically, from the frozen-spike Jacobian, for a
model without a closed form). The equations, for the three resonators of the paper:

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
  [p(ω; δ_p) − p(ω; δ), p(ω; δ_p) + (1 + r)/δ] (``offset_band`` of resonet.neurons.brf).

**BHRF as coded** (symplectic Euler; docs/official-code.md §11.2, §12.4): on (u, v) with I = 0,
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
from resonet.neurons import DEFAULT_NEURON, NEURONS, get_neuron, li
from resonet.neurons.model import NeuronModel, Resonator, Stability, frozen_jacobian, zero_state
from resonet.presets import TASKS as PRESET_TASKS
from resonet.presets import get_preset

from .common import add_out_arg, float_list, load_run, make_parser, out_dir, pyplot, write_outputs

Q_MAX = 10.0  # sup of the refractory variable q_t = Σ 0.9^k z (never reached)
ENGINE_P_DT: float = NetworkSpec.p_dt  # δ_p of p(ω) in the engine (the dataclass default)


def resonators() -> dict[str, Resonator]:
    """The registered models with an (ω, b) plane (:class:`resonet.neurons.model.Resonator`)."""
    return {n: m for n, m in NEURONS.items() if isinstance(m, Resonator)}


def _box_models() -> list[str]:
    """Models whose stability is declared in closed form and whose every parameter is drawn
    from a uniform box (the presets' ranges can then be checked corner to corner)."""
    return [n for n, m in NEURONS.items() if isinstance(m, Stability) and m.PARAMS
            and all(p.init == "uniform" for p in m.PARAMS)]


def init_ranges() -> dict[tuple[str, str], dict]:
    """{(neuron, task): {param: (low, high)}}: the initial ranges of every preset (resonet.presets:
    paper Table 3; RF uses the BRF ranges; BHRF outside SHD keeps the BRF ω range with
    b' U(0.1, 1), resonet's choice) of the models of :func:`_box_models`."""
    return {(n, task): {p.name: tuple(get_preset(task, n).init[p.name]) for p in NEURONS[n].PARAMS}
            for n in _box_models() for task in PRESET_TASKS}


INIT_RANGES = init_ranges()


# -- checks of parameters -------------------------------------------------------------------------
def _numeric_stability(model: NeuronModel, params: dict, spec: NetworkSpec) -> dict:
    """For a model without a closed form: ρ of the frozen per-neuron block at rest (all states 0,
    no input), the margin 1 − ρ."""
    c = model.derive({n: np.asarray(params[f"hidden.{n}"], dtype=np.float64)
                      for n in model.PARAM_NAMES}, spec)
    H = spec.n_hidden
    state = tuple(s[0] for s in zero_state(model, 1, H))
    A = frozen_jacobian(model, c, state, np.zeros(H))[0]
    rho = np.abs(np.linalg.eigvals(A)).max(axis=-1) if A.shape[-1] else np.zeros(H)
    return {"radius_q0": rho, "radius_qmax": rho, "margin": 1.0 - rho}


def check_params(spec: NetworkSpec, params: dict, q_max: float = Q_MAX) -> dict:
    """Per-neuron stability of the hidden layer's free dynamics (I = 0, no spike in the step).

    Returns a dict of per-neuron arrays (``radius_q0``: ρ at q = 0, ``radius_qmax``: ρ at
    q = q_max, ``margin``: distance of the worst c to the nearer end of the stable c interval,
    negative when violated), whatever else the model's ``stability`` reports, and a
    ``summary``. For BRF/BHRF c ranges over [b', b' + q_max]; ρ² is convex in c, so the worst
    case is at an end. ALIF and the readout are plain leaks (0 < α, ρ < 1): always stable. A
    model without a closed form gets ρ of its frozen block at rest.
    """
    out: dict = {"neuron": spec.neuron, "dt": spec.dt, "p_dt": spec.p_dt, "q_max": q_max}
    model = spec.model
    if isinstance(model, Stability):
        out.update(model.stability(params, spec, q_max))
    else:
        out.update(_numeric_stability(model, params, spec))
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


def check_ranges(neuron: str, ranges: dict, dt: float = 0.01, p_dt: float = 0.01,
                 q_max: float = Q_MAX, n: int = 201) -> dict:
    """Worst case of :func:`check_params` over a box of initial ranges ``{param: (low, high)}``
    of a model with two parameters (an n×n grid incl. corners)."""
    model = get_neuron(neuron)
    if len(model.PARAMS) != 2 or set(ranges) != set(model.PARAM_NAMES):
        raise ConfigError(f"check_ranges needs a (low, high) range for each of the two parameters "
                          f"of {neuron} ({', '.join(model.PARAM_NAMES)}), got {sorted(ranges)}")
    (a0, a1), (b0, b1) = (ranges[name] for name in model.PARAM_NAMES)
    g0, g1 = np.meshgrid(np.linspace(a0, a1, n), np.linspace(b0, b1, n))
    spec = NetworkSpec(neuron, 1, g0.size, 1, dt=dt, p_dt=p_dt)
    names = [f"hidden.{name}" for name in model.PARAM_NAMES]
    params = {names[0]: g0.ravel(), names[1]: g1.ravel(), "out.tau_mem": np.array([20.0])}
    res = check_params(spec, params, q_max)
    s = res["summary"]
    return {"neuron": neuron, **{f"{k}_range": list(v) for k, v in ranges.items()},
            "frac_stable": 1.0 - s["n_outside_stable_interval"] / s["n_neurons"], **s}


def fig9_curves(dts, omega_max: float | None = None, n: int = 400) -> dict:
    """p(ω; δ) on ω ∈ [0, min(1/δ, omega_max)] for each δ (paper Fig. 9: the upper end of the
    paper's model's stable band of b, with the lower end ``b_lo``)."""
    model = get_neuron(DEFAULT_NEURON)
    if not isinstance(model, Resonator):
        raise ConfigError(f"the {DEFAULT_NEURON} neuron has no (omega, b) plane")
    curves = {}
    for dt in dts:
        top = 1.0 / dt if omega_max is None else min(1.0 / dt, omega_max)
        w = np.linspace(0.0, top, n)
        lo, hi = model.damping_band(w, NetworkSpec(DEFAULT_NEURON, 1, 1, 1, dt=dt))
        curves[f"{dt:g}"] = {"dt": dt, "omega": w, "p": hi, "b_lo": lo}
    return curves


def summary_table(dt: float = 0.01) -> dict:
    """Per resonator at the ω of docs/official-code.md §12.8: the
    stable band of b, and ρ at b' = 0 (where BRF sustains its oscillation and the coded BHRF is
    already damped)."""
    ws = np.array([5.0, 10.0, 50.0, 85.0, 99.0, 100.0])
    out: dict = {"omega": ws, "dt": dt}
    for name, m in resonators().items():
        spec = NetworkSpec(name, 1, 1, 1, dt=dt)
        lo, hi = m.damping_band(ws, spec)
        out[name] = {"b_lo": lo, "b_hi": hi,
                     "radius_b_offset_0": np.abs(m.free_eigenvalues(ws, np.zeros_like(ws), spec)).max(-1)}
    return out


# -- CLI ------------------------------------------------------------------------------------------
def _plot(curves, checks, dt):
    plt = pyplot()
    models = resonators()
    fig, ax = plt.subplots(1, 1 + len(models), figsize=(5.4 * (1 + len(models)), 4.6), squeeze=False)
    ax = ax[0]
    for key, cv in curves.items():
        ax[0].plot(cv["omega"], cv["p"], label=f"δ = {key}")
    ax[0].set(xlabel="ω (rad / unit time)", ylabel="p(ω)",
              title=f"{DEFAULT_NEURON.upper()} divergence boundary p(ω) (Fig. 9)")
    ax[0].legend()
    for axis, (name, m) in zip(ax[1:], models.items()):
        spec = NetworkSpec(name, 1, 1, 1, dt=dt)
        w = np.linspace(0, 1.0 / dt, 500)
        lo, hi = m.damping_band(w, spec)
        axis.fill_between(w, lo, hi, alpha=0.3, label="ρ ≤ 1")
        axis.plot(w, hi, label="upper end (ρ = 1)")
        axis.plot(w, lo, label="lower end (ρ = 1)")
        for path, chk in checks.items():
            if chk.get("neuron") == name and "omega" in chk:
                w_c, b_c = m.effective_damping({"hidden.omega": chk["omega"],
                                                "hidden.b_offset": chk["b_offset"]}, spec)
                axis.scatter(w_c, b_c, s=6, label=f"{path} (q=0)")
        # asinh, not symlog: symlog's switch from linear to log at |b| = linthresh puts a kink
        # into every curve that crosses it; asinh passes from linear to log smoothly
        axis.set_yscale("asinh", linear_width=1.0)
        axis.set(xlabel="ω", ylabel="b at q = 0", title=f"{name.upper()}: stable band of b (δ = {dt:g})")
        axis.legend(fontsize=8)
    fig.tight_layout()
    return fig


def build_parser():
    ap = make_parser("python -m analysis.divergence", __doc__.split("\n\n")[0] + """

Writes divergence.png (p(ω) for several δ as in the paper's Fig. 9, and the exact stable band of
b of every resonator, with the checkpoints' neurons) and divergence.json (boundary values, the
worst case over the paper's initial ranges, and per-neuron checks of any checkpoints given).""")
    ap.add_argument("checkpoints", nargs="*", help="run directories or best.npz files to check (optional)")
    ap.add_argument("--dts", type=float_list, default=[0.005, 0.01, 0.02, 0.05],
                    help="comma-separated step sizes δ for the p(ω) curves (default 0.005,0.01,0.02,0.05)")
    ap.add_argument("--dt", type=float, default=0.01,
                    help="δ of the stable-band panels and of the preset checks (default 0.01)")
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
    presets = {f"{n}/{task}": check_ranges(n, r, args.dt, ENGINE_P_DT, args.q_max)
               for (n, task), r in INIT_RANGES.items()}
    curves = fig9_curves(args.dts)
    data = {
        "engine_p_dt": ENGINE_P_DT,
        "note": "the engine evaluates p(omega) with NetworkSpec.p_dt (default 0.01, as the official "
                "code) whatever the cell's dt; the curves here take dt as a parameter",
        "table_dt_0.01": summary_table(0.01),
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
