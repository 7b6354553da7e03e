"""Frequency response of single resonator neurons to in-phase spike trains (paper A.4, Figs. 3 and 8).

**Units.** One step is δ = dt (0.01) time units; ω is in rad per time unit, so a neuron's
eigenfrequency is f₀ = ω/(2π) cycles per time unit (ω = 10 → f₀ ≈ 1.59, a period of ≈ 628
steps). Input frequencies f are in cycles per time unit too.

**Input.** A spike train at frequency f: spikes of amplitude ``amp`` at the steps
round(k/(f·δ)), k = 0, 1, … -- all trains start with a spike at t = 0 (in phase). Each input
frequency is one batch element, so one neuron is simulated for all frequencies at once.

**Neurons** (one each, I_t = the spike train): every resonator of the registry (the models with
an (ω, b) plane, :class:`resonet.neurons.model.Resonator`: RF with b = −b' and no reset, so
spikes do not act back; BRF with b = p(ω) − b' − q; the coded BHRF with b = 0.005ω² + b' + q),
run by the engine's step functions, and ``hrf``, this module's harmonic RF with constant damping
b = b' and the code's (symplectic) integrator v' = v + δu, u' = u + δI − 2δbu − δω²v' (u is the
thresholded variable).

By default the spike function is replaced by 0 (``spiking=False``): the **sub-threshold** (linear)
response. With ``spiking=True`` the BRF/BHRF spikes raise q, which damps the response.

**Measure.** mean |u_t| over the last ``window`` fraction of the run (steady state), per f; and the
gain at the drive frequency, |Û(f)| / |Î(f)| (discrete-time Fourier sums over the same window),
which for a linear neuron is its transfer function |H(e^{i2πfδ})|.

**What to expect** (linear theory, z_t = λz_{t−1} + δI_t for RF/BRF with λ = 1 + δ(b + iω)):
the response peaks where the input frequency matches the discrete eigenfrequency
f_d = arg(λ)/(2πδ) (≈ f₀); spike trains at f_d/2, f_d/3, … also resonate (a kick every 2nd,
3rd, … cycle arrives in phase) -- the sub-harmonic sensitivity; at 2f_d kicks arrive in
anti-phase and cancel. For an integer period of P steps the steady state just after a kick is
Z = δ·amp/(1 − λ^P) and mean |u| = (1/P) Σ_{m<P} |Re(λ^m Z)| (:func:`periodic_mean_abs_u`).

**Stability.** A neuron with |λ| > 1 (at q = 0) has no steady state: its response grows without
bound and the sweep would report the growth, not a frequency response. :func:`sweep` refuses
such a neuron (``on_unstable="error"``, the CLI's default) or warns and marks it
(``on_unstable="warn"``, ``--allow-unstable``). The stable b' per model (:func:`stable_b_offset`,
from the model's ``damping_band``): RF (1 − r)/δ ≤ b' ≤ (1 + r)/δ with r = √(1 − (δω)²) (ω = 30:
b' ≥ 4.61); BRF p(ω; 0.01) − (−1 + r)/δ ≤ b' ≤ p(ω; 0.01) + (1 + r)/δ; HRF 0 ≤ b' <
(4 − δ²ω²)/(4δ); BHRF the same for 0.005ω² + b'.

**BRF's p(ω) is evaluated at δ_p = 0.01 whatever ``dt`` is** -- the engine's ``NetworkSpec.p_dt``,
as in the official code. With dt ≠ 0.01 the BRF is then not at its divergence boundary: for
dt > 0.01 small b' diverge (ω = 10, dt = 0.02: b' ≥ 0.51 needed), for dt < 0.01 b' = 0 is damped.

LIF and IF neurons are not resonators: their coherence with a noisy input is in
:mod:`analysis.leak`.
"""

from __future__ import annotations

import sys
import warnings

import numpy as np

from resonet.cli import run_main
from resonet.errors import ConfigError
from resonet.network import NetworkSpec
from resonet.neurons.model import Resonator, zero_state
from resonet.surrogate import heaviside

from .common import add_out_arg, make_parser, out_dir, progress, pyplot, write_outputs
from .divergence import resonators

# The harmonic RF with constant damping, this module's own linear comparator (not a model of the
# registry: it has no threshold dynamics of its own worth training).
HRF = "hrf"
MODELS = (*resonators(), HRF)


def spike_trains(freqs, T: int, dt: float = 0.01, amp: float = 1.0) -> np.ndarray:
    """(T, F) in-phase spike trains: ``amp`` at steps round(k/(f·δ)), k ≥ 0, for each f."""
    freqs = np.asarray(freqs, dtype=np.float64)
    if np.any(freqs <= 0) or np.any(freqs * dt > 0.5):
        raise ConfigError(f"input frequencies must lie in (0, 1/(2·dt)] = (0, {0.5 / dt:g}] "
                          f"cycles per time unit (Nyquist), got [{freqs.min():g}, {freqs.max():g}]")
    x = np.zeros((T, freqs.size))
    for j, f in enumerate(freqs):
        steps = np.round(np.arange(0.0, T * dt * f) / (f * dt)).astype(np.int64)
        steps = steps[steps < T]
        np.add.at(x[:, j], steps, amp)
    return x


def _check_model(model: str) -> None:
    if model not in MODELS:
        raise ConfigError(f"model must be one of {MODELS}, got {model!r}")


def _spec(model: str, dt: float) -> NetworkSpec:
    return NetworkSpec(model, 1, 1, 1, dt=dt)


def _resonator(spec: NetworkSpec) -> Resonator:
    m = spec.model
    if not isinstance(m, Resonator):
        raise ConfigError(f"{spec.neuron} is not a resonator; choose one of {MODELS}")
    return m


def simulate(model: str, x: np.ndarray, omega: float, b_offset: float, dt: float = 0.01,
             spiking: bool = False) -> np.ndarray:
    """u_t (T, F) of one neuron driven by the currents ``x`` (T, F) (one neuron per column)."""
    _check_model(model)
    T, F = x.shape
    spike = heaviside if spiking else (lambda s: np.zeros_like(s))
    U = np.empty((T, F))
    if model == HRF:  # constant damping b = b', the code's symplectic integrator
        u = np.zeros(F)
        v = np.zeros(F)
        w2 = omega * omega
        for t in range(T):
            v = v + u * dt
            u = ((u + x[t] * dt) - (b_offset * u) * (2.0 * dt)) - (w2 * v) * dt
            U[t] = u
        return U
    spec = _spec(model, dt)
    mod = spec.model
    c = mod.derive({"omega": np.array([omega]), "b_offset": np.array([b_offset])}, spec)
    state = zero_state(mod, F, 1)
    for t in range(T):
        state = mod.step_forward(c, state, x[t][:, None], spike)
        U[t] = state[1][:, 0]
    return U


def _hrf_eigenvalues(omega: float, b: float, dt: float) -> np.ndarray:
    """Both eigenvalues of the symplectic step with damping b (the coded BHRF's, eq. (D4))."""
    tr = 2.0 - 2.0 * dt * b - dt * dt * omega * omega
    det = 1.0 - 2.0 * dt * b
    root = np.sqrt(complex(tr * tr - 4.0 * det))
    return np.array([(tr + root) / 2.0, (tr - root) / 2.0])


def _eigenvalues(model: str, omega: float, b_offset: float, dt: float) -> np.ndarray:
    _check_model(model)
    if model == HRF:
        return _hrf_eigenvalues(omega, b_offset, dt)
    spec = _spec(model, dt)
    return np.asarray(_resonator(spec).free_eigenvalues(np.array(omega), np.array(b_offset), spec))


def transition_eig(model: str, omega: float, b_offset: float, dt: float = 0.01) -> complex:
    """The eigenvalue with Im ≥ 0 of the neuron's free (u, v) transition (at q = 0)."""
    lam = complex(_eigenvalues(model, omega, b_offset, dt)[0])
    return complex(lam.real, abs(lam.imag))


def transition_radius(model: str, omega: float, b_offset: float, dt: float = 0.01) -> float:
    """Spectral radius max |λ| of the free (u, v) transition at q = 0 (both eigenvalues: a real
    pair of the HRF/BHRF can leave the unit circle through −1 while the other stays inside)."""
    return float(np.abs(_eigenvalues(model, omega, b_offset, dt)).max())


def eigenfrequency(model: str, omega: float, b_offset: float, dt: float = 0.01) -> float:
    """f_d = arg(λ)/(2πδ): the discrete oscillation frequency (cycles per time unit)."""
    return float(np.angle(transition_eig(model, omega, b_offset, dt)) / (2.0 * np.pi * dt))


def periodic_mean_abs_u(lam: complex, P: int, dt: float = 0.01, amp: float = 1.0) -> float:
    """Steady-state mean |u| of z_t = λz_{t−1} + δI_t driven by a kick ``amp`` every P steps."""
    Z = dt * amp / (1.0 - lam ** P)
    m = np.arange(P)
    return float(np.mean(np.abs((lam ** m * Z).real)))


def _window(T: int, window: float) -> slice:
    if not 0 < window <= 1:
        raise ConfigError(f"window must lie in (0, 1], got {window}")
    return slice(T - max(1, int(round(window * T))), T)


def _detrend(a: np.ndarray) -> np.ndarray:
    """Remove the least-squares line from each column (the IF's ramp, the LIF's offset)."""
    t = np.linspace(-1.0, 1.0, a.shape[0])
    A = np.stack([np.ones_like(t), t], axis=1)
    coef, *_ = np.linalg.lstsq(A, a, rcond=None)
    return a - A @ coef


def gain_at(U: np.ndarray, x: np.ndarray, freqs, dt: float, window: float = 0.5) -> np.ndarray:
    """|Û(f)| / |Î(f)| over the window, per column (the drive frequency of that column).

    Both signals are detrended and Hann-windowed before the Fourier sum, so the DC level and the
    IF's ramp do not leak into the drive frequency. Reliable once the window holds ≳ 5 cycles of
    f (``cycles_in_window`` in the sweep results); then it matches |H| to ~0.1 %.
    """
    sl = _window(U.shape[0], window)
    t = np.arange(U.shape[0])[sl] * dt
    w = np.hanning(t.size)[:, None]
    e = np.exp(-2j * np.pi * np.outer(t, np.asarray(freqs)))  # (Tw, F)
    num = np.abs((w * _detrend(U[sl]) * e).sum(0))
    den = np.abs((w * _detrend(x[sl]) * e).sum(0))
    return num / np.maximum(den, 1e-300)


def stable_b_offset(model: str, omega: float, dt: float = 0.01) -> tuple[float, float]:
    """(lo, hi): the b' for which the model's free transition has |λ| ≤ 1 at q = 0 (see the module
    docstring; BRF's p(ω) at δ_p = 0.01 as in the engine). Empty (lo > hi) where none is.

    From the model's stable band of b (``damping_band``) through its b at q = 0
    (``effective_damping``), which is b(0) ± b' for every resonator."""
    _check_model(model)
    w = np.array(float(omega))
    if model == HRF:  # b = b', eq. (D4)
        return 0.0, float((4.0 - dt * dt * w * w) / (4.0 * dt))
    spec = _spec(model, dt)
    m = _resonator(spec)
    lo, hi = m.damping_band(w, spec)
    b0 = m.effective_damping({"hidden.omega": w, "hidden.b_offset": np.array(0.0)}, spec)[1]
    b1 = m.effective_damping({"hidden.omega": w, "hidden.b_offset": np.array(1.0)}, spec)[1]
    slope = np.sign(b1 - b0)  # ±1
    ends = sorted([float((lo - b0) / slope), float((hi - b0) / slope)])
    return ends[0], ends[1]


def unstable_models(models, omega: float, b_offset: float, dt: float = 0.01) -> dict:
    """{model: |λ|} of the models whose free transition grows (|λ| > 1, at q = 0)."""
    out = {}
    for m in models:
        rho = transition_radius(m, omega, b_offset, dt)
        if rho > 1.0 + 1e-12:  # |λ| = 1 (BRF at b' = 0, δ = 0.01) is a sustained oscillation: bounded
            out[m] = rho
    return out


def _unstable_message(unstable: dict, omega: float, b_offset: float, dt: float) -> str:
    parts = []
    for m, rho in unstable.items():
        lo, hi = stable_b_offset(m, omega, dt)
        rng = f"b' in [{max(lo, 0.0):.4g}, {hi:.4g}]" if hi >= max(lo, 0.0) else "no b' >= 0"
        parts.append(f"{m} (|lambda| = {rho:.5g}; stable for {rng})")
    return (f"unstable neuron(s) at omega = {omega:g}, b' = {b_offset:g}, dt = {dt:g}: " + "; ".join(parts)
            + ". Their response grows without bound and has no steady state to measure")


def sweep(freqs, omega: float = 10.0, b_offset: float = 1.0, dt: float = 0.01, duration: float = 60.0,
          amp: float = 1.0, window: float = 0.5, spiking: bool = False, models=MODELS,
          on_unstable: str = "error") -> dict:
    """Mean |u| and gain per input frequency for each resonator model, plus expected peaks.

    A model whose free transition grows (|λ| > 1 at q = 0) raises a ConfigError
    (``on_unstable="error"``) or is swept with a RuntimeWarning and ``"unstable": True`` in its
    results (``"warn"``)."""
    if on_unstable not in ("error", "warn"):
        raise ConfigError(f"on_unstable must be 'error' or 'warn', got {on_unstable!r}")
    unstable = unstable_models(models, omega, b_offset, dt)
    if unstable:
        msg = _unstable_message(unstable, omega, b_offset, dt)
        if on_unstable == "error":
            raise ConfigError(msg + " (leave them out with --models, change b' or omega, or sweep anyway "
                              "with --allow-unstable)")
        warnings.warn(msg, RuntimeWarning, stacklevel=2)
    freqs = np.asarray(freqs, dtype=np.float64)
    T = int(round(duration / dt))
    x = spike_trains(freqs, T, dt, amp)
    sl = _window(T, window)
    out = {"freqs": freqs, "omega": omega, "b_offset": b_offset, "dt": dt, "T": T, "amp": amp,
           "window": window, "spiking": spiking, "f0": omega / (2 * np.pi), "models": {},
           "cycles_in_window": freqs * (sl.stop - sl.start) * dt, "unstable": unstable}
    for m in models:
        U = simulate(m, x, omega, b_offset, dt, spiking)
        resp = np.abs(U[sl]).mean(0)
        fd = eigenfrequency(m, omega, b_offset, dt)
        k = int(np.argmax(resp))
        out["models"][m] = {
            "mean_abs_u": resp,
            "gain": gain_at(U, x, freqs, dt, window),
            "f_discrete": fd,
            "radius": transition_radius(m, omega, b_offset, dt),
            "unstable": m in unstable,
            "peak_freq": float(freqs[k]),
            "subharmonics": subharmonic_summary(freqs, resp, fd),
        }
    return out


def subharmonic_summary(freqs, resp, fd: float, orders=(2, 3, 4)) -> dict:
    """Response at f_d/n relative to the response at f_d, whether f_d/n is a local maximum of the
    sweep (within ±10 % of f_d/n), and the relative response at 2f_d."""
    freqs = np.asarray(freqs)
    resp = np.asarray(resp)

    def at(f):
        return float(np.interp(f, freqs, resp)) if freqs[0] <= f <= freqs[-1] else float("nan")

    peak = at(fd)
    res = {"at_fd": peak, "at_2fd_rel": at(2 * fd) / peak}
    for n in orders:
        f = fd / n
        near = (freqs > 0.9 * f) & (freqs < 1.1 * f)
        local = bool(near.any()) and float(resp[near].max()) > max(at(0.8 * f), at(1.2 * f))
        res[f"n{n}"] = {"freq": f, "rel": at(f) / peak, "local_max": local}
    return res


# -- CLI ------------------------------------------------------------------------------------------
def build_parser():
    ap = make_parser("python -m analysis.freqresp", __doc__.split("\n\n")[0] + """

Sweeps the input frequency for the resonators ({models}) (mean |u| and gain per
frequency, the peak near ω/(2π), the sub-harmonic responses). Frequencies are in cycles per
time unit; one step is --dt time units. Refuses a neuron whose free dynamics grow (|λ| > 1) unless
--allow-unstable. BRF's divergence boundary p(ω) is evaluated at δ = 0.01 whatever --dt is (the
engine's p_dt, as in the official code). Writes freqresp.png and freqresp.json. (LIF vs IF:
python -m analysis.leak.)""".format(models=", ".join(MODELS)))
    ap.add_argument("--omega", type=float, default=10.0, help="ω in rad per time unit (default 10)")
    ap.add_argument("--b-offset", type=float, default=1.0, help="b' of every resonator (default 1)")
    ap.add_argument("--dt", type=float, default=0.01,
                    help="time step δ in time units (default 0.01); BRF's p(ω) stays at δ = 0.01, as in "
                         "the engine, so with another --dt the BRF is not at its boundary")
    ap.add_argument("--fmin", type=float, default=0.05, help="lowest input frequency (default 0.05)")
    ap.add_argument("--fmax", type=float, default=None,
                    help="highest input frequency (default 2.5·ω/(2π), capped at the Nyquist 1/(2δ))")
    ap.add_argument("--nfreq", type=int, default=240, help="number of input frequencies (default 240)")
    ap.add_argument("--duration", type=float, default=60.0, help="run length in time units (default 60)")
    ap.add_argument("--window", type=float, default=0.5,
                    help="fraction of the run (at its end) that is averaged (default 0.5)")
    ap.add_argument("--amp", type=float, default=1.0, help="input spike amplitude (default 1)")
    ap.add_argument("--spiking", action="store_true",
                    help="keep the spike function (BRF/BHRF q then damps); default: sub-threshold response")
    ap.add_argument("--models", default=",".join(MODELS),
                    help=f"comma-separated resonators to sweep (default {','.join(MODELS)})")
    ap.add_argument("--allow-unstable", action="store_true",
                    help="sweep neurons with |λ| > 1 anyway (with a warning; default: refuse)")
    add_out_arg(ap, "freqresp")
    return ap


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if not 0 < args.dt <= 1:
        raise ConfigError(f"--dt must lie in (0, 1], got {args.dt}")
    if not 0 < args.omega * args.dt < 1:
        raise ConfigError(f"--omega must lie in (0, 1/dt) = (0, {1 / args.dt:g}), got {args.omega}")
    if args.b_offset < 0:
        raise ConfigError(f"--b-offset must be >= 0, got {args.b_offset}")
    if args.nfreq < 2 or args.duration <= 0:
        raise ConfigError("--nfreq must be >= 2 and --duration > 0")
    fmax = args.fmax if args.fmax is not None else min(2.5 * args.omega / (2 * np.pi), 0.5 / args.dt)
    if not 0 < args.fmin < fmax:
        raise ConfigError(f"need 0 < --fmin < --fmax, got {args.fmin}, {fmax}")
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    bad = [m for m in models if m not in MODELS]
    if bad or not models:
        raise ConfigError(f"--models: unknown {bad}; choose from {','.join(MODELS)}")
    freqs = np.linspace(args.fmin, fmax, args.nfreq)
    progress(f"sweeping {args.nfreq} frequencies over {int(round(args.duration / args.dt))} steps")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RuntimeWarning)
        res = sweep(freqs, args.omega, args.b_offset, args.dt, args.duration, args.amp, args.window,
                    args.spiking, models, "warn" if args.allow_unstable else "error")
    for w in caught:
        progress(f"warning: {w.message}")
    plt = pyplot()
    fig, ax = plt.subplots(1, 2, figsize=(12, 4.5))
    for m, r in res["models"].items():
        tag = f" UNSTABLE |λ| = {r['radius']:.4f}" if r["unstable"] else ""
        ax[0].plot(freqs, r["mean_abs_u"] / r["mean_abs_u"].max(),
                   label=f"{m} (f_d = {r['f_discrete']:.3f}){tag}")
    f0 = res["f0"]
    for n, ls in ((1, "-"), (2, "--"), (3, ":"), (0.5, "-.")):
        ax[0].axvline(f0 / n, color="grey", ls=ls, lw=0.8)
    ax[0].set(xlabel="input frequency (cycles / time unit)", ylabel="mean |u| (normalised)",
              title=f"resonators, ω = {args.omega:g} (f₀ = {f0:.3f}; lines f₀, f₀/2, f₀/3, 2f₀)")
    ax[0].legend(fontsize=8)
    ok = res["cycles_in_window"] >= 5  # the Fourier sums need a few cycles in the window
    for m, r in res["models"].items():
        ax[1].semilogy(freqs[ok], r["gain"][ok], label=m + (" (unstable)" if r["unstable"] else ""))
    ax[1].set(xlabel="input frequency", ylabel="gain |Û(f)|/|Î(f)|",
              title="gain at the drive frequency (≥ 5 cycles in the window)")
    ax[1].legend(fontsize=8)
    fig.tight_layout()
    write_outputs(out_dir(args.out, "freqresp"), "freqresp", fig, {"resonators": res})
    for m, r in res["models"].items():
        s = r["subharmonics"]
        print(f"{m:5s} peak at f = {r['peak_freq']:.3f} (f_d = {r['f_discrete']:.3f}); response at "
              f"f_d/2 {s['n2']['rel']:.2f}, f_d/3 {s['n3']['rel']:.2f}, "
              f"2f_d {s['at_2fd_rel']:.3f} of the peak")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
