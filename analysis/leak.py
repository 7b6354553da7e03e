"""Leak in spiking neurons: the spectral coherence of IF and LIF neurons driven by white noise
(Chowdhury, Lee & Roy, "Towards understanding the effect of leak in spiking neural networks",
2020: its eq. (3) and appendix eqs. (7)–(11); closed forms after Lindner and co-workers).

**Model** (one neuron, threshold 1, reset 0, time in seconds or any other unit)::

    dv/dt = −v/τ + μ + s(t) + n(t)          v ≥ 1 → spike, v → 0 (held there for τ_ref)   (C1)
    ⟨s(t)s(t')⟩ = 2D_st·δ(t − t'),   ⟨n(t)n(t')⟩ = 2(D − D_st)·δ(t − t')

s is the stimulus, n an independent background noise (D_st = D: all the noise is stimulus, the
paper's case). τ = ∞ is the perfect integrate-and-fire neuron (IF); finite τ the LIF. In units
of τ (t' = t/τ) the LIF reads v̇ = −v + μ' + √(2D')ξ with μ' = μτ, D' = Dτ, ω' = ωτ: the
paper's eq. (5). The output spike train is x(t) = Σ_k δ(t − t_k).

**Coherence** (the paper's eq. (3)), ω = 2πf::

    C(ω) = |S_xs(ω)|² / (S_xx(ω)·S_ss(ω)),   S_ss = 2D_st                                (C2)

Any linear filter applied to x or s cancels in (C2): neither the normalisation of the spike
train (δ pulses, counts per bin, 1/dt spikes) nor one- vs two-sided spectra matter.

**LIF closed form** in the paper's units, x_T = (μ' − 1)/√D', x_R = μ'/√D',
Δ = (2μ' − 1)/(4D'), 𝒟_ν the parabolic cylinder function, τ_r = τ_ref/τ::

    1/r₀ = τ_r + √π ∫_{(μ'−1)/√(2D')}^{μ'/√(2D')} e^{z²} erfc(z) dz                       (C3)
    χ(ω) = r₀ iω / (√D' (iω − 1)) · [𝒟_{iω−1}(x_T) − e^Δ 𝒟_{iω−1}(x_R)]
                                   / [𝒟_{iω}(x_T) − e^Δ e^{iωτ_r} 𝒟_{iω}(x_R)]           (C4)
    S_xx(ω) = r₀ [|𝒟_{iω}(x_T)|² − e^{2Δ} |𝒟_{iω}(x_R)|²] / |𝒟_{iω}(x_T) − e^Δ e^{iωτ_r} 𝒟_{iω}(x_R)|²   (C5)
    S_xs = 2D'_st·χ,   C(ω) = 2D'_st |χ(ω)|² / S_xx(ω)                                       (C6)

χ is the linear response of the firing rate to a current s added to the drift; χ(0) = dr₀/dμ'
and S_xx(0) = r₀·CV², the two checks the tests make. With τ_r = 0, (C6) is::

    C(ω) = 2D'_st r₀ ω² / (D' (1 + ω²)) · |𝒟_{iω−1}(x_T) − e^Δ 𝒟_{iω−1}(x_R)|²
                                          / (|𝒟_{iω}(x_T)|² − e^{2Δ} |𝒟_{iω}(x_R)|²)

**The paper's printed formula differs** (:func:`paper_eq11`): its eq. (7) multiplies by a
fraction whose numerator and denominator are the same (so the denominator of χ is lost), and
eqs. (10)–(11) drop |iω − 1|² = 1 + ω² from |χ|². Printed eq. (11) is the coherence above times
(1 + ω²): it exceeds 1 from ω ≈ 0.5 (3.2 at ω = 3 for μ' = 0.8, D' = 0.1), which the simulation
rules out (docs/analysis.md).

**IF closed form** (perfect integrator, τ = ∞, τ_ref = 0; from the Fokker–Planck equation with
a modulated drift, solved in closed form; λ₋ = (μ − √(μ² − 4iωD))/(2D), Re √ > 0)::

    r₀ = μ,   χ(ω) = r₀ λ₋ / (iω),   F(ω) = e^{λ₋}  (inverse-Gaussian ISI density)          (C7)
    S_xx(ω) = r₀ (1 − |F|²) / |1 − F|²  (renewal),   C = 2D_st |χ|² / S_xx                  (C8)

χ(0) = 1 and C(0) = 1 exactly: the IF counts the integral of its input. |χ| stays ≈ 1 up to
ω ~ μ²/D: the IF's rate follows the input at all frequencies of interest, but its spike train
cannot carry the input's power near multiples of r₀ when it fires regularly.

**Simulation** (:func:`simulate`): the K trials of a batch run side by side (vectorised NumPy),
each one Welch segment long after a burn-in; per step of length δ with ξ_k ~ N(0, 1)::

    s_k = √(2D_st/δ)·ξ_k,  I_k = μ + s_k + n_k,  v ← a·v + g·I_k,  a = e^{−δ/τ}, g = τ(1 − a)
    (IF: a = 1, g = δ; the exponential step is exact for input held over the step)

A spike is emitted when v ≥ 1 at the grid point, or (``crossing="bridge"``) with the Brownian
bridge probability exp(−2(1 − v_k)(1 − v_{k+1})/σ²_δ) that the path crossed between grid
points, σ²_δ = Dτ(1 − a²) (IF: 2Dδ). After a spike ``reset="carry"`` sets v ← v − 1: the path
restarted from 0 at the crossing keeps what the step added after it (exact for the IF, whose
dynamics do not depend on v); ``reset="zero"`` sets v ← 0 at the grid point. Without the bridge
the rate is biased low by O(√δ), without the carry the IF loses O(δ) per spike and its
low-frequency coherence falls below 1 (:func:`discretisation_study`).

**Welch estimates** (:func:`welch_coherence`): scipy.signal.csd/welch with a Hann window on
non-overlapping segments, cross- and auto-spectra averaged over all K segments before (C2) is
formed. For K independent segments the estimate Ĉ has (Carter, Knapp & Nuttall 1973)::

    E[Ĉ] − C ≈ (1 − C)²/K,    sd(Ĉ) ≈ √(2C/K)·(1 − C)    (at C = 0: Beta(1, K − 1), sd ≈ 1/K)   (C9)

Segments must be long against the spike train's correlation time (several inter-spike
intervals; for a regular neuron many), or the window's resolution smooths the spectra.

``python -m analysis.leak`` writes the coherence figure (simulation and closed forms on the same
axes), the IF/LIF noise table and the JSON behind them; see docs/analysis.md, section 8.
"""

from __future__ import annotations

import math
import sys
from typing import Any, NamedTuple

import numpy as np
from scipy import integrate, optimize, signal, special

from resonet.cli import run_main
from resonet.errors import ConfigError

from .common import add_out_arg, float_list, make_parser, out_dir, progress, pyplot, write_outputs

MPMATH_HINT = "pip install 'resonet[analysis]' (or: pip install mpmath)"
MP_DPS = 40  # working digits for 𝒟_ν: |𝒟(x_T)|² − e^{2Δ}|𝒟(x_R)|² cancels like ω² as ω → 0


def _mpmath():
    """The mpmath module, or a ConfigError that says how to install it."""
    try:
        import mpmath
    except ImportError:
        raise ConfigError("the LIF closed form (parabolic cylinder functions of complex order) needs "
                          f"mpmath, which is not installed: {MPMATH_HINT}") from None
    return mpmath


class Neuron(NamedTuple):
    """One IF/LIF neuron with its input, eq. (C1). Units: any time unit (seconds in the CLI)."""

    tau: float  # membrane time constant; math.inf = IF (no leak)
    mu: float  # mean drive μ (threshold units per time unit)
    D: float  # total noise intensity D: ⟨(s + n)(t)(s + n)(t')⟩ = 2D·δ(t − t')
    D_st: float | None = None  # the stimulus' share D_st ≤ D (None: all of D, the paper's case)
    tau_ref: float = 0.0  # absolute refractory period (v held at 0)

    @property
    def is_if(self) -> bool:
        return math.isinf(self.tau)

    @property
    def d_st(self) -> float:
        return self.D if self.D_st is None else self.D_st

    def label(self) -> str:
        return "IF" if self.is_if else f"LIF τ = {self.tau:g}"


def check_neuron(n: Neuron) -> Neuron:
    if not (n.tau > 0 and np.isfinite(n.mu) and n.D > 0 and n.tau_ref >= 0 and np.isfinite(n.tau_ref)):
        raise ConfigError(f"need tau > 0 (inf for IF), finite mu, D > 0 and tau_ref >= 0, got {n}")
    if not 0 <= n.d_st <= n.D:
        raise ConfigError(f"the stimulus intensity D_st must lie in [0, D] = [0, {n.D:g}], got {n.D_st}")
    if n.is_if and n.mu <= 0:
        raise ConfigError(f"an IF neuron needs a positive drive mu to fire regularly, got {n.mu}")
    return n


def _paper_units(n: Neuron) -> tuple[float, float, float, float]:
    """(μ', D', D'_st, τ_r) of a LIF in units of τ (the paper's eq. (5))."""
    return n.mu * n.tau, n.D * n.tau, n.d_st * n.tau, n.tau_ref / n.tau


# -- LIF closed form (paper units) ----------------------------------------------------------------
def lif_rate(mu: float, D: float, tau_ref: float = 0.0) -> float:
    """r₀ of eq. (C3) in units of 1/τ (e^{z²}erfc(z) = erfcx(z): no overflow for z > 0)."""
    lo, hi = (mu - 1.0) / math.sqrt(2.0 * D), mu / math.sqrt(2.0 * D)
    if lo < -25.0:  # e^{z²} beyond 1e271: the neuron practically never fires
        return 0.0
    val, _ = integrate.quad(special.erfcx, lo, hi, limit=200, epsabs=0.0, epsrel=1e-12)
    return 1.0 / (tau_ref + math.sqrt(math.pi) * val)


def lif_cv2(mu: float, D: float, tau_ref: float = 0.0) -> float:
    """Squared coefficient of variation of the LIF's inter-spike intervals (paper units)::

        ⟨ΔT²⟩ = 2π ∫_{(μ'−1)/√(2D')}^{μ'/√(2D')} dx e^{x²} ∫_x^∞ dy e^{y²} erfc²(y),   CV² = ⟨ΔT²⟩ r₀²

    (the refractory period shifts every interval: it adds to the mean only).
    """
    lo, hi = (mu - 1.0) / math.sqrt(2.0 * D), mu / math.sqrt(2.0 * D)

    def inner(x):  # e^{x²} ∫_x^∞ e^{y²} erfc²(y) dy = ∫_x^∞ erfcx(y)² e^{x² − y²} dy (y ≥ x: no overflow)
        return integrate.quad(lambda y: special.erfcx(y) ** 2 * math.exp((x - y) * (x + y)), x, np.inf,
                              limit=200, epsrel=1e-11)[0]

    var = 2.0 * math.pi * integrate.quad(inner, lo, hi, limit=200, epsrel=1e-10)[0]
    return var * lif_rate(mu, D, tau_ref) ** 2


def _lif_ratios(omega, mu: float, D: float, tau_ref: float):
    """r₀, ω and, per ω, N/Q and P/|Q|², with N, Q the numerator and denominator of χ in (C4) and
    P = |𝒟_{iω}(x_T)|² − e^{2Δ}|𝒟_{iω}(x_R)|² of (C5). The ratios are formed in mpmath: for a
    strongly driven, weakly noisy LIF the 𝒟_ν themselves underflow double precision (e^{−x²/4})."""
    mp = _mpmath()
    r0 = lif_rate(mu, D, tau_ref)
    omega = np.atleast_1d(np.asarray(omega, dtype=np.float64))
    if np.any(omega <= 0):
        raise ConfigError("the closed form needs angular frequencies omega > 0 (omega = 0 is a limit)")
    ratio = np.empty(omega.size, dtype=np.complex128)
    power = np.empty(omega.size)
    with mp.workdps(MP_DPS):
        xt = mp.mpf(mu - 1.0) / mp.sqrt(D)
        xr = mp.mpf(mu) / mp.sqrt(D)
        e_delta = mp.exp((2 * mp.mpf(mu) - 1) / (4 * mp.mpf(D)))
        for k, w in enumerate(omega):
            iw = mp.mpc(0, w)
            dt_, dr_ = mp.pcfd(iw, xt), mp.pcfd(iw, xr)
            num = mp.pcfd(iw - 1, xt) - e_delta * mp.pcfd(iw - 1, xr)
            den = dt_ - e_delta * mp.exp(iw * tau_ref) * dr_
            diff = abs(dt_) ** 2 - e_delta ** 2 * abs(dr_) ** 2
            ratio[k] = complex(num / den)
            power[k] = float(diff / abs(den) ** 2)
    return r0, omega, ratio, power


def lif_closed_form(omega, mu: float, D: float, D_st: float | None = None,
                    tau_ref: float = 0.0) -> dict:
    """χ (C4), S_xx (C5) and C (C6) at angular frequencies ω (rad per τ), paper units, from one set
    of 𝒟_ν evaluations; D_st defaults to D (all the noise is stimulus)."""
    D_st = D if D_st is None else D_st
    r0, w, ratio, power = _lif_ratios(omega, mu, D, tau_ref)
    chi = r0 * 1j * w / (math.sqrt(D) * (1j * w - 1.0)) * ratio
    S = r0 * power
    with np.errstate(invalid="ignore", divide="ignore"):  # a silent neuron (r₀ = 0) has no coherence
        C = np.where(S > 0, 2.0 * D_st * np.abs(chi) ** 2 / np.where(S > 0, S, 1.0), 0.0)
    return {"rate": r0, "chi": chi, "S": S, "C": C}


def lif_susceptibility(omega, mu: float, D: float, tau_ref: float = 0.0) -> np.ndarray:
    """χ(ω) of eq. (C4), paper units (ω in rad per τ)."""
    return lif_closed_form(omega, mu, D, None, tau_ref)["chi"]


def lif_spectrum(omega, mu: float, D: float, tau_ref: float = 0.0) -> np.ndarray:
    """S_xx(ω) of eq. (C5), paper units."""
    return lif_closed_form(omega, mu, D, None, tau_ref)["S"]


def lif_coherence(omega, mu: float, D: float, D_st: float | None = None, tau_ref: float = 0.0) -> np.ndarray:
    """C(ω) of eq. (C6), paper units; D_st defaults to D (all the noise is stimulus)."""
    return lif_closed_form(omega, mu, D, D_st, tau_ref)["C"]


def paper_eq11(omega, mu: float, D: float, D_st: float | None = None) -> np.ndarray:
    """The paper's eq. (11) exactly as printed (τ_r = 0): eq. (C6) times (1 + ω²). For the record."""
    w = np.atleast_1d(np.asarray(omega, dtype=np.float64))
    return lif_coherence(w, mu, D, D_st) * (1.0 + w * w)


# -- IF closed form ---------------------------------------------------------------------------------
def _pif_root(omega, mu: float, D: float) -> np.ndarray:
    """√(μ² − 4iωD), the principal root (Re > 0)."""
    return np.sqrt(mu * mu - 4j * np.asarray(omega, dtype=np.float64) * D)


def pif_susceptibility(omega, mu: float, D: float) -> np.ndarray:
    """χ(ω) = r₀ λ₋/(iω) of eq. (C7) (threshold 1, reset 0), written as 2μ/(μ + √(μ² − 4iωD)),
    since λ₋ = 2iω/(μ + √(μ² − 4iωD)) (no cancellation as ω → 0)."""
    return 2.0 * mu / (mu + _pif_root(omega, mu, D))


def pif_spectrum(omega, mu: float, D: float) -> np.ndarray:
    """S_xx(ω) of eq. (C8): the renewal spectrum of inverse-Gaussian intervals, F = e^{λ₋}
    (1 − F and 1 − |F|² through expm1: both vanish like ω as ω → 0)."""
    w = np.asarray(omega, dtype=np.float64)
    lam = 2j * w / (mu + _pif_root(w, mu, D))
    return mu * -np.expm1(2.0 * lam.real) / np.abs(np.expm1(lam)) ** 2


def pif_coherence(omega, mu: float, D: float, D_st: float | None = None) -> np.ndarray:
    D_st = D if D_st is None else D_st
    return 2.0 * D_st * np.abs(pif_susceptibility(omega, mu, D)) ** 2 / pif_spectrum(omega, mu, D)


# -- any neuron, frequencies in cycles per time unit ------------------------------------------------
def rate(n: Neuron) -> float:
    """Stationary firing rate r₀ (per time unit)."""
    check_neuron(n)
    if n.is_if:
        return 1.0 / (n.tau_ref + 1.0 / n.mu)
    mu, D, _, tr = _paper_units(n)
    return lif_rate(mu, D, tr) / n.tau


def cv(n: Neuron) -> float:
    """Coefficient of variation of the inter-spike intervals."""
    check_neuron(n)
    if n.is_if:  # inverse Gaussian: mean 1/μ, variance 2D/μ³
        return math.sqrt(2.0 * n.D / n.mu ** 3) * rate(n)
    mu, D, _, tr = _paper_units(n)
    return math.sqrt(lif_cv2(mu, D, tr))


def closed_form(n: Neuron, f) -> dict:
    """χ (rate response per unit of added current), S_xx (two-sided, per time unit) and the
    coherence C at frequencies f (cycles per time unit), from (C4)–(C6) or (C7)–(C8)."""
    check_neuron(n)
    if n.is_if and n.tau_ref > 0:
        raise ConfigError("the IF closed form (C7)-(C8) has no refractory period; use tau_ref = 0")
    w = 2.0 * np.pi * np.atleast_1d(np.asarray(f, dtype=np.float64))
    if n.is_if:
        chi, S = pif_susceptibility(w, n.mu, n.D), pif_spectrum(w, n.mu, n.D)
        return {"chi": chi, "S": S, "C": 2.0 * n.d_st * np.abs(chi) ** 2 / S}
    mu, D, D_st, tr = _paper_units(n)
    r = lif_closed_form(w * n.tau, mu, D, D_st, tr)
    # χ is invariant under t → t/τ; x(t) = x'(t/τ)/τ scales the spectrum by 1/τ; C is invariant
    return {"chi": r["chi"], "S": r["S"] / n.tau, "C": r["C"]}


def susceptibility(n: Neuron, f) -> np.ndarray:
    return closed_form(n, f)["chi"]


def spectrum(n: Neuron, f) -> np.ndarray:
    return closed_form(n, f)["S"]


def coherence(n: Neuron, f) -> np.ndarray:
    """C between the stimulus s and the spike train at frequencies f (closed form)."""
    return closed_form(n, f)["C"]


def match_rate(target: float, tau: float, D: float, D_st: float | None = None,
               tau_ref: float = 0.0) -> Neuron:
    """The neuron with time constant ``tau`` and noise D whose rate (C3) is ``target``."""
    if not target > 0 or (tau_ref > 0 and target * tau_ref >= 1):
        raise ConfigError(f"target rate must lie in (0, 1/tau_ref), got {target}")
    if math.isinf(tau):
        return check_neuron(Neuron(tau, 1.0 / (1.0 / target - tau_ref), D, D_st, tau_ref))

    def gap(mu):
        return rate(Neuron(tau, mu, D, D_st, tau_ref)) - target

    hi = 2.0 / tau
    while gap(hi) < 0:  # a deterministic LIF with drive μ fires at 1/(τ ln(μτ/(μτ − 1)))
        hi *= 2.0
        if hi > 1e9 / tau:
            raise ConfigError(f"rate {target} is out of reach for tau = {tau}")
    mu = optimize.brentq(gap, -20.0 * math.sqrt(D * tau) / tau, hi, xtol=1e-12, rtol=1e-12)
    return Neuron(tau, mu, D, D_st, tau_ref)


# -- simulation and Welch estimates -----------------------------------------------------------------
def simulate(n: Neuron, dt: float, seg_len: float, n_seg: int, seed: int = 0, burn_in: float | None = None,
             crossing: str = "bridge", reset: str = "carry",
             spike_times: str = "interpolate") -> tuple[np.ndarray, np.ndarray]:
    """``(s, x)``, each (N, K): the stimulus s_k and the spike train x_k (spikes per δ, divided by δ)
    of K = ``n_seg`` independent trials of N = round(seg_len/δ) steps (after ``burn_in``, default
    10 mean intervals + 5τ); see the module docstring for the step, ``crossing``, ``reset`` and
    ``spike_times``."""
    _check_simulation(n, dt, seg_len, n_seg, crossing, reset, spike_times)
    rng = np.random.default_rng(seed)
    N, K = int(round(seg_len / dt)), int(n_seg)
    if burn_in is None:
        r0 = rate(n)
        burn_in = min(10.0 / r0 if r0 > 0 else np.inf, 4.0 * seg_len) + (0.0 if n.is_if else 5.0 * n.tau)
    nb = int(round(burn_in / dt))
    a, g, var = _step_constants(n, dt)
    ref_steps = int(round(n.tau_ref / dt))
    sig_s = math.sqrt(2.0 * n.d_st / dt)
    sig_n = math.sqrt(2.0 * (n.D - n.d_st) / dt)
    s_out = np.empty((N, K))  # (T, K) stimulus
    x_out = np.zeros((N, K))  # (T, K) spike train
    v = rng.random(K)  # a spread of phases; the burn-in removes what is left of the start
    hold = np.zeros(K, dtype=np.int64)
    spill = np.zeros(K)  # the part of a spike that belongs to the next row (interpolated times)
    chunk = 512
    for start in range(0, nb + N, chunk):
        m = min(chunk, nb + N - start)
        xi_s = rng.standard_normal((m, K)) * sig_s
        I_all = n.mu + xi_s  # (m, K) input current
        if sig_n > 0:
            I_all += rng.standard_normal((m, K)) * sig_n
        u_all = rng.random((m, K)) if crossing == "bridge" else np.empty((m, 0))
        for j in range(m):
            k = start + j
            vn = a * v + g * I_all[j]
            fire = vn >= 1.0
            if crossing == "bridge":  # P(a Brownian bridge from v to vn crossed 1) = exp(−2 d₀ d₁ / σ²)
                d0 = np.maximum(1.0 - v, 0.0)
                d1 = np.maximum(1.0 - vn, 0.0)
                fire |= u_all[j] < np.exp(-2.0 * d0 * d1 / var)
            if ref_steps:
                fire &= hold == 0
                vn = np.where(hold == 0, vn, 0.0)
                hold = np.where(fire, ref_steps, np.maximum(hold - 1, 0))
            if spike_times == "interpolate":  # crossing at t_k + θδ, θ from the straight line v → vn
                with np.errstate(divide="ignore", invalid="ignore"):
                    theta = np.where(vn > v, (1.0 - v) / (vn - v), 0.5)
                theta = np.where(vn >= 1.0, np.clip(theta, 0.0, 1.0), 0.5) * fire  # bridge-only: mid-step
            v = np.where(fire, vn - 1.0 if (reset == "carry" and not ref_steps) else 0.0, vn)
            if k >= nb:
                s_out[k - nb] = xi_s[j]
                if spike_times == "interpolate":  # the pulse split between rows k and k + 1
                    x_out[k - nb] = (spill + fire * (1.0 - theta)) / dt
                    spill = theta
                else:
                    x_out[k - nb] = fire / dt
    return s_out, x_out


def _check_simulation(n: Neuron, dt: float, seg_len: float, n_seg: int, crossing: str, reset: str,
                      spike_times: str) -> None:
    check_neuron(n)
    if (crossing not in ("bridge", "grid") or reset not in ("carry", "zero")
            or spike_times not in ("interpolate", "grid")):
        raise ConfigError(f"crossing must be 'bridge' or 'grid', reset 'carry' or 'zero', spike_times "
                          f"'interpolate' or 'grid'; got {crossing!r}, {reset!r}, {spike_times!r}")
    if not (dt > 0 and seg_len >= 8 * dt and n_seg >= 1):
        raise ConfigError(f"need dt > 0, a segment of >= 8 steps and >= 1 segment, "
                          f"got {dt}, {seg_len}, {n_seg}")
    if not n.is_if and dt > 0.1 * n.tau:
        raise ConfigError(f"dt = {dt:g} is too coarse for tau = {n.tau:g}; use dt <= tau/10")


def _step_constants(n: Neuron, dt: float) -> tuple[float, float, float]:
    """``(a, g, σ²_δ)`` of the exact step v ← a·v + g·I and the variance of its noise."""
    if n.is_if:
        return 1.0, dt, 2.0 * n.D * dt
    a = math.exp(-dt / n.tau)
    return a, n.tau * (1.0 - a), n.D * n.tau * (1.0 - a * a)


def welch_coherence(x: np.ndarray, s: np.ndarray, dt: float, nperseg: int | None = None) -> dict:
    """Welch estimates from (N, K) arrays: cross- and auto-spectra averaged over every Hann-windowed,
    non-overlapping segment of every column, then C = |S_xs|²/(S_xx S_ss). ``n_segments`` is K·⌊N/nperseg⌋."""
    x = np.asarray(x, dtype=np.float64)
    s = np.asarray(s, dtype=np.float64)
    if x.shape != s.shape or x.ndim != 2:
        raise ConfigError(f"x and s must be (N, K) arrays of the same shape, got {x.shape}, {s.shape}")
    N = x.shape[0]
    nperseg = N if nperseg is None else int(nperseg)
    if not 8 <= nperseg <= N:
        raise ConfigError(f"nperseg must lie in [8, {N}], got {nperseg}")
    kw = {"fs": 1.0 / dt, "window": "hann", "nperseg": nperseg, "noverlap": 0, "axis": 0}
    f, Sxs = signal.csd(x, s, **kw)
    _, Sxx = signal.welch(x, **kw)
    _, Sss = signal.welch(s, **kw)
    Sxs, Sxx, Sss = Sxs.mean(axis=1), Sxx.mean(axis=1), Sss.mean(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        C = np.abs(Sxs) ** 2 / (Sxx * Sss)
    return {"f": f, "C": C, "Sxs": Sxs, "Sxx": Sxx, "Sss": Sss,
            "n_segments": x.shape[1] * (N // nperseg), "rate": float(x.mean())}


def welch_bias(C, K: int) -> np.ndarray:
    """E[Ĉ] − C ≈ (1 − C)²/K for K independent segments, eq. (C9)."""
    return (1.0 - np.asarray(C)) ** 2 / K


def welch_sd(C, K: int) -> np.ndarray:
    """sd(Ĉ) ≈ √(2C/K)(1 − C), with the C = 0 floor 1/K (the Beta(1, K − 1) law), eq. (C9)."""
    C = np.clip(np.asarray(C, dtype=np.float64), 0.0, 1.0)
    return np.sqrt(2.0 * C * (1.0 - C) ** 2 / K + 1.0 / K ** 2)


def info_rate(f, C, fmax: float) -> float:
    """The coherence lower bound on the information rate, −∫_0^fmax log₂(1 − C(f)) df (bits per time
    unit), by the trapezoid rule over the given f (from 0: the value at the first f is held down
    to 0). C may hold bias-corrected estimates below 0; they count with their sign (unbiased sums)."""
    f = np.asarray(f, dtype=np.float64)
    C = np.minimum(np.asarray(C, dtype=np.float64), 1.0 - 1e-12)
    keep = f <= fmax
    f, y = f[keep], -np.log2(1.0 - C[keep])
    return float(np.trapezoid(y, f) + f[0] * y[0])


def info_grid(r0: float, fmax: float, n_base: int = 200, n_window: int = 41, log: bool = False,
              max_harmonic: int | None = None) -> np.ndarray:
    """Frequencies for a closed form: ``n_base`` even (``log``: log-spaced) steps up to ``fmax``, 12
    log-spaced points below them, and ``n_window`` points within ±5 % of each multiple of r₀ (up to
    ``max_harmonic``), where a regular neuron's coherence and gain have narrow dips and peaks."""
    if log:
        base = np.geomspace(fmax / 1000.0, fmax, n_base)
    else:
        base = np.linspace(fmax / n_base, fmax, n_base)
    # below the even grid the IF's −log₂(1 − C) grows like −log f (none needed on a log grid)
    low = np.geomspace(fmax * 1e-5, base[0], 12) if not log else base[:1]
    top = int(fmax / r0) if r0 > 0 else 0
    harmonics = range(1, min(top, max_harmonic or top) + 1)
    extra = [np.linspace(0.95 * k * r0, 1.05 * k * r0, n_window) for k in harmonics]
    f = np.unique(np.concatenate([low, base, *extra]))
    return f[f <= fmax]


def simulated_coherence(n: Neuron, dt: float, seg_len: float, n_seg: int, seed: int = 0, **kw) -> dict:
    """:func:`simulate` then :func:`welch_coherence` (one segment per trial)."""
    s, x = simulate(n, dt, seg_len, n_seg, seed, **kw)
    return welch_coherence(x, s, dt)


def compare(n: Neuron, f_points, dt: float, seg_len: float, n_seg: int, seed: int = 0, **kw) -> dict:
    """Simulated vs closed-form coherence at the Welch bins nearest ``f_points``, with the
    estimator's bias and sd of eq. (C9) and z = (Ĉ − C − bias)/sd."""
    w = simulated_coherence(n, dt, seg_len, n_seg, seed, **kw)
    fw = np.where(w["f"] > 0, w["f"], np.inf)  # never the DC bin (removed by the detrending)
    idx = np.unique([int(np.argmin(np.abs(fw - fp))) for fp in np.atleast_1d(f_points)])
    f = w["f"][idx]
    C = coherence(n, f)
    K = w["n_segments"]
    sd = welch_sd(C, K)
    return {"f": f, "sim": w["C"][idx], "closed": C, "bias": welch_bias(C, K), "sd": sd, "K": K,
            "z": (w["C"][idx] - C - welch_bias(C, K)) / sd, "rate_sim": w["rate"], "rate": rate(n)}


# -- the analyses behind the figure and the table -------------------------------------------------
def noise_table(rate_hz: float = 20.0, sigma_s: float = 0.3, noise=(0.0, 0.3, 1.0, 3.0),
                taus=(math.inf, 0.1, 0.03), f_report=(1.0, 10.0, 20.0), fmax: float = 100.0,
                dt: float = 1e-3, seg_len: float = 16.0, n_seg: int = 100, seed: int = 0,
                simulate_too: bool = True, verbose: bool = False, n_grid: int = 200) -> list[dict]:
    """IF and LIF neurons, each matched to ``rate_hz`` at every level, carry a white stimulus of
    amplitude σ_s (D_st = σ_s²/2) through background noise of amplitude σ_n (D = D_st + σ_n²/2).

    Per row: μ, CV, the coherence at ``f_report`` and the information rate up to ``fmax`` from the
    closed form and (``simulate_too``) from simulation (bias-corrected by eq. (C9)), and the input's
    own coherence D_st/D, the bound no neuron exceeds (C_xs = C_xI·C_Is, C_Is = D_st/D). ``n_grid``
    sets the closed form's frequency grid (:func:`info_grid`)."""
    rows = []
    for sn in noise:
        D_st = sigma_s ** 2 / 2.0
        D = D_st + sn ** 2 / 2.0
        for tau in taus:
            n = match_rate(rate_hz, tau, D, D_st)
            # the IF's closed form is cheap NumPy: a fine grid; the LIF's costs ~10 ms a frequency
            f_grid = info_grid(rate(n), fmax, 20 * n_grid if n.is_if else n_grid, max(n_grid // 5, 5))
            C = coherence(n, f_grid)
            row = {"neuron": n.label(), "tau": tau, "sigma_noise": sn, "mu": n.mu, "D": D, "D_st": D_st,
                   "rate": rate(n), "cv": cv(n), "bound": D_st / D, "f": list(f_report),
                   "C_closed": [float(c) for c in coherence(n, f_report)],
                   "info_closed": info_rate(f_grid, C, fmax)}
            if simulate_too:
                if verbose:
                    progress(f"  simulating {n.label()} at noise {sn:g}")
                w = simulated_coherence(n, dt, seg_len, n_seg, seed)
                idx = [int(np.argmin(np.abs(w["f"] - fr))) for fr in f_report]
                K = w["n_segments"]
                Cu = w["C"] - welch_bias(w["C"], K)  # bias-corrected, eq. (C9)
                row.update(C_sim=[float(w["C"][i]) for i in idx],
                           sd_sim=[float(welch_sd(w["C"][i], K)) for i in idx],
                           info_sim=info_rate(w["f"][1:], Cu[1:], fmax), rate_sim=w["rate"], K=K)
            rows.append(row)
    return rows


DISCRETISATION_CASES = (  # (label, neuron, δ, segment length, frequencies to compare at, segments)
    ("IF, μ = 1, D = 0.1, δ = 0.01", Neuron(math.inf, 1.0, 0.1), 0.01, 32.0, (0.125, 0.25, 1.0), 200),
    ("IF, μ = 40/s, D = 0.045/s, δ = 1 ms", Neuron(math.inf, 40.0, 0.045), 1e-3, 16.0, (2.0, 10.0, 20.0),
     100),
    ("LIF, μ' = 0.8, D' = 0.1, δ = 0.01", Neuron(1.0, 0.8, 0.1), 0.01, 32.0, (0.125, 0.25, 0.5), 200),
)
DISCRETISATION_VARIANTS = (  # simulate() options; "segment": a factor on the case's segment length
    {"crossing": "grid", "reset": "zero", "spike_times": "grid"},
    {"crossing": "bridge", "reset": "zero", "spike_times": "grid"},
    {"crossing": "bridge", "reset": "carry", "spike_times": "grid"},
    {"crossing": "bridge", "reset": "carry", "spike_times": "interpolate"},
    {"crossing": "bridge", "reset": "carry", "spike_times": "interpolate", "segment": 0.25},
)


def discretisation_study(cases=DISCRETISATION_CASES, variants=DISCRETISATION_VARIANTS, seeds=range(8),
                         verbose: bool = False) -> list[dict]:
    """Why simulation and closed form can disagree: the rate and the coherence (mean over ``seeds``,
    with its standard error from eq. (C9), sd/√seeds) of each case under each variant of the step --
    crossing rule, reset rule, spike times on the grid or interpolated, a shorter Welch segment --
    against the closed form."""
    out = []
    for label, n, dt, seg_len, f_points, n_seg in cases:
        for var in variants:
            kw = {k: v for k, v in var.items() if k != "segment"}
            L = seg_len * var.get("segment", 1.0)
            if verbose:
                progress(f"  {label}: {var}")
            runs = [compare(n, f_points, dt, L, n_seg, seed, **kw) for seed in seeds]
            Cs = np.array([c["sim"] for c in runs])
            out.append({"case": label, **var, "segment": L, "dt": dt, "K": runs[0]["K"],
                        "rate": runs[0]["rate"], "rate_sim": float(np.mean([c["rate_sim"] for c in runs])),
                        "f": runs[0]["f"], "C_closed": runs[0]["closed"], "C_sim": Cs.mean(0),
                        "se": runs[0]["sd"] / math.sqrt(len(Cs)),
                        "se_seeds": Cs.std(0, ddof=1) / math.sqrt(len(Cs))})
    return out


# -- CLI ------------------------------------------------------------------------------------------
AGREEMENT = (  # (label, neuron) in units of τ (LIF) or of the time unit (IF)
    ("LIF μ' = 0.8, D' = 0.1 (noise-driven)", Neuron(1.0, 0.8, 0.1)),
    ("LIF μ' = 1.2, D' = 0.02 (supra-threshold)", Neuron(1.0, 1.2, 0.02)),
    ("IF μ = 1, D = 0.1", Neuron(math.inf, 1.0, 0.1)),
)


def build_parser():
    ap = make_parser("python -m analysis.leak", __doc__.split("\n\n")[0] + """

Computes the coherence C(f) between a white-noise stimulus and the output spike train of IF and
LIF neurons from simulation (Welch) and from the closed forms, and writes leak.png (six panels:
closed form vs simulation for LIF and IF; rate-matched and fixed-input IF vs LIF; the rate's
gain |χ|; information rate against background noise) and leak.json. Prints the IF/LIF noise
table. Needs mpmath for the LIF closed form (""" + MPMATH_HINT + ")")
    ap.add_argument("--rate", type=float, default=20.0,
                    help="firing rate (Hz) of the rate-matched neurons (default 20)")
    ap.add_argument("--sigma", type=float, default=0.3,
                    help="stimulus amplitude σ_s per √s: D_st = σ_s²/2 (default 0.3)")
    ap.add_argument("--taus", type=float_list, default=[0.1, 0.03],
                    help="LIF membrane time constants in s, compared with the IF (default 0.1,0.03)")
    ap.add_argument("--fixed-mu", type=float, default=40.0,
                    help="drive μ (1/s) shared by every neuron in the fixed-input panel (default 40)")
    ap.add_argument("--noise", type=float_list, default=[0.0, 0.3, 1.0, 3.0],
                    help="background-noise amplitudes σ_n per √s for the noise table (default 0,0.3,1,3)")
    ap.add_argument("--fmax", type=float, default=100.0,
                    help="upper end (Hz) of the information integral (default 100)")
    ap.add_argument("--dt", type=float, default=1e-3, help="simulation step in s (default 0.001)")
    ap.add_argument("--segment", type=float, default=16.0, help="Welch segment length in s (default 16)")
    ap.add_argument("--segments", type=int, default=100,
                    help="independent segments per simulation (default 100)")
    ap.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    ap.add_argument("--quick", action="store_true", help="small simulations (a smoke run, not for numbers)")
    ap.add_argument("--diagnose", action="store_true",
                    help="also run the discretisation study (step size, crossing and reset rules)")
    add_out_arg(ap, "leak")
    return ap


def _check_args(args) -> None:
    if not (args.rate > 0 and args.sigma > 0 and args.fixed_mu > 0 and args.fmax > 0):
        raise ConfigError("--rate, --sigma, --fixed-mu and --fmax must be > 0")
    if not all(t > 0 for t in args.taus) or not all(s >= 0 for s in args.noise):
        raise ConfigError(f"--taus must be > 0 and --noise >= 0, got {args.taus}, {args.noise}")
    if not (0 < args.dt <= 0.1 * min(args.taus)):
        raise ConfigError(f"--dt must lie in (0, min(--taus)/10] = (0, {0.1 * min(args.taus):g}], "
                          f"got {args.dt}")
    if not (args.segment * args.rate >= 20 and args.segments >= 2):
        raise ConfigError("a Welch segment must hold >= 20 mean intervals (--segment * --rate >= 20) "
                          "and --segments must be >= 2")


def _sim_curve(n: Neuron, dt, seg_len, n_seg, seed, fmax):
    w = simulated_coherence(n, dt, seg_len, n_seg, seed)
    keep = (w["f"] > 0) & (w["f"] <= fmax)
    return {"f": w["f"][keep], "C": w["C"][keep], "K": w["n_segments"], "rate_sim": w["rate"]}


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    _check_args(args)
    _mpmath()
    if args.quick:
        args.segments, args.segment = min(args.segments, 8), min(args.segment, max(4.0, 20.0 / args.rate))
    dt, L, K, seed = args.dt, args.segment, args.segments, args.seed
    D_st = args.sigma ** 2 / 2.0
    out: dict[str, Any] = {"settings": {k: v for k, v in vars(args).items() if k != "out"}}
    taus = [math.inf] + list(args.taus)

    progress("closed form vs simulation (paper units)")
    agree = {}
    for label, n in AGREEMENT:
        w = np.linspace(0.05, 12.0, 30 if args.quick else 120)
        c = compare(n, np.arange(0.0625, 2.0, 0.0625), 0.005, 32.0, 40 if args.quick else 200, seed)
        agree[label] = {"neuron": n._asdict(), "omega": w, "closed": coherence(n, w / (2 * np.pi)),
                        "sim_omega": 2 * np.pi * c["f"], "sim": c["sim"], "sd": c["sd"], "z": c["z"],
                        "K": c["K"], "rate": c["rate"], "rate_sim": c["rate_sim"]}
        if not n.is_if:
            agree[label]["paper_eq11"] = paper_eq11(w, n.mu, n.D)
    out["agreement"] = agree

    n_grid = 40 if args.quick else 200
    f = np.linspace(0.25, min(3 * args.rate, 0.5 / dt), 160 if not args.quick else 40)
    comparisons = {}
    for mode in ("rate-matched", "fixed-input"):
        progress(f"IF vs LIF, {mode}")
        rows = {}
        for tau in taus:
            n = (match_rate(args.rate, tau, D_st) if mode == "rate-matched"
                 else check_neuron(Neuron(tau, args.fixed_mu, D_st)))
            r0 = rate(n)
            row = {"neuron": n._asdict(), "rate": r0, "cv": cv(n) if r0 > 0 else None, "f": f,
                   "closed": coherence(n, f)}
            if mode == "rate-matched":
                f_gain = info_grid(r0, min(50 * args.rate, 0.5 / dt), n_grid // 2, max(n_grid // 10, 5),
                                   log=True, max_harmonic=5)
                row.update(f_gain=f_gain, gain=np.abs(susceptibility(n, f_gain)))
            if r0 * L >= 20:  # enough intervals per segment for a Welch estimate
                row["sim"] = _sim_curve(n, dt, L, K, seed, f[-1])
            rows[n.label()] = row
        comparisons[mode] = rows
    out["comparisons"] = comparisons

    progress("noise table")
    f_report = (args.rate / 20.0, args.rate / 2.0, args.rate)  # 1, 10, 20 Hz at the default 20 Hz
    table = noise_table(args.rate, args.sigma, args.noise, taus, f_report, args.fmax, dt, L, K, seed,
                        verbose=True, n_grid=n_grid)
    out["noise_table"] = table
    if args.diagnose:
        progress("discretisation study")
        out["discretisation"] = discretisation_study(seeds=range(2) if args.quick else range(8), verbose=True)
        print(format_discretisation(out["discretisation"]))

    fig = _plot(out, args)
    write_outputs(out_dir(args.out, "leak"), "leak", fig, out)
    print(format_table(table))
    return 0


def format_table(rows: list[dict]) -> str:
    """The noise table as Markdown (closed form, simulation in parentheses)."""
    fr = rows[0]["f"]
    head = ("| σ_n | neuron | μ (1/s) | CV | " + " | ".join(f"C({x:g} Hz)" for x in fr)
            + " | info (bits/s) | bound D_st/D |")
    lines = [head, "|" + "---|" * (6 + len(fr))]
    for r in rows:
        cells = [f"{c:.3f}" + (f" ({s:.3f})" if "C_sim" in r else "")
                 for c, s in zip(r["C_closed"], r.get("C_sim", r["C_closed"]))]
        info = f"{r['info_closed']:.1f}" + (f" ({r['info_sim']:.1f})" if "info_sim" in r else "")
        lines.append(f"| {r['sigma_noise']:g} | {r['neuron']} | {r['mu']:.2f} | {r['cv']:.3f} | "
                     + " | ".join(cells) + f" | {info} | {r['bound']:.3f} |")
    return "\n".join(lines)


def format_discretisation(rows: list[dict]) -> str:
    """The discretisation study as Markdown."""
    lines = ["| case | crossing | reset | spike times | segment | rate (sim / exact) | C sim ± se "
             "(closed form) at f |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        cs = ", ".join(f"{f:g}: {c:.3f} ± {e:.3f} ({cf:.3f})"
                       for f, c, e, cf in zip(r["f"], r["C_sim"], r["se"], r["C_closed"]))
        lines.append(f"| {r['case']} | {r['crossing']} | {r['reset']} | {r['spike_times']} | "
                     f"{r['segment']:g} | {r['rate_sim']:.4g} / {r['rate']:.4g} | {cs} |")
    return "\n".join(lines)


def _plot(out: dict, args):
    plt = pyplot()
    fig, ax = plt.subplots(2, 3, figsize=(17, 9.5))
    ax = ax.ravel()
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for k, (label, a) in enumerate(out["agreement"].items()):
        axis = ax[1] if label.startswith("IF") else ax[0]
        col = colours[k % len(colours)]
        axis.plot(a["omega"], a["closed"], color=col, label=f"{label}: closed form")
        axis.errorbar(a["sim_omega"], a["sim"], yerr=2 * a["sd"], fmt="o", ms=3, color=col, lw=0.8,
                      label=f"simulation (±2 sd, K = {a['K']})")
        if "paper_eq11" in a:
            axis.plot(a["omega"], a["paper_eq11"], ls=":", color=col, label="printed eq. (11)")
    ax[0].set(xlabel="ω (rad per τ)", ylabel="coherence C(ω)", ylim=(0, 1.5),
              title="LIF, paper units: closed form (C6) vs simulation")
    ax[0].axhline(1.0, color="k", lw=0.5)
    ax[1].set(xlabel="ω (rad per time unit)", ylabel="coherence C(ω)", ylim=(0, 1.05),
              title="IF: closed form (C7)–(C8) vs simulation")
    for axis in ax[:2]:
        axis.legend(fontsize=7)
    for panel, mode in ((2, "rate-matched"), (3, "fixed-input")):
        for k, (label, r) in enumerate(out["comparisons"][mode].items()):
            col = colours[k % len(colours)]
            ax[panel].plot(r["f"], r["closed"], color=col,
                           label=f"{label}: {r['rate']:.1f} Hz, CV {r['cv'] or 0:.2f}")
            if "sim" in r:
                ax[panel].plot(r["sim"]["f"], r["sim"]["C"], ".", ms=2, color=col, alpha=0.5)
        ax[panel].legend(fontsize=8)
    ax[2].set(xlabel="f (Hz)", ylabel="coherence", ylim=(0, 1.02),
              title=f"rate-matched at {args.rate:g} Hz, σ_s = {args.sigma:g} "
                    "(lines: closed form, dots: simulation)")
    ax[3].set(xlabel="f (Hz)", ylabel="coherence", ylim=(0, 1.02),
              title=f"same input μ = {args.fixed_mu:g}/s, σ_s = {args.sigma:g}: the leak lowers the rate")
    for k, (label, r) in enumerate(out["comparisons"]["rate-matched"].items()):
        ax[4].loglog(r["f_gain"], r["gain"], color=colours[k % len(colours)], label=label)
    ax[4].set(xlabel="f (Hz)", ylabel="|χ(f)| (Hz per unit of current)",
              title="rate gain |χ| (rate-matched, closed form)")
    ax[4].legend(fontsize=8)
    rows = out["noise_table"]
    for k, label in enumerate(dict.fromkeys(r["neuron"] for r in rows)):
        sel = [r for r in rows if r["neuron"] == label]
        xs = [r["sigma_noise"] for r in sel]
        col = colours[k % len(colours)]
        ax[5].plot(xs, [r["info_closed"] for r in sel], "-o", color=col, ms=4, label=f"{label} (closed form)")
        if "info_sim" in sel[0]:
            ax[5].plot(xs, [r["info_sim"] for r in sel], "x", color=col, ms=7)
    ax[5].set_yscale("log")
    ax[5].set(xlabel="background noise σ_n (per √s)", ylabel=f"info rate 0–{args.fmax:g} Hz (bits/s)",
              title=f"rate-matched at {args.rate:g} Hz under background noise (x: simulation)")
    ax[5].legend(fontsize=8)
    fig.tight_layout()
    return fig


if __name__ == "__main__":
    sys.exit(run_main(main))
