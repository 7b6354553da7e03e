"""ALIF: the adaptive leaky integrate-and-fire baseline of Yin et al. (2021), as officially coded.

State (z, u, a), each (B, H); parameters τ_m,raw (``hidden.tau_mem``) and τ_a,raw
(``hidden.tau_adp``), each (H,), in units of one time step (no dt). One step from the previous
state (z, u, a) and the input current I (docs/derivations/alif.md, eqs. (A1)–(A6)):

    α = exp(−1/|τ_m|),  ρ = exp(−1/|τ_a|)
    a' = ρ·a + (1 − ρ)·z                          (A1)  adaptation driven by the *previous* spike
    θ  = θ₀ + β_a·a',  θ₀ = 0.01, β_a = 1.8       (A2)
    ũ  = α·u + (1 − α)·I                          (A3)
    s  = ũ − θ                                    (A4)
    z' = Θ(s)                                     (A5)
    u' = ũ − z'·θ                                 (A6)  soft reset (gradient flows through z' and θ)

Bounds: 0 ≤ a ≤ 1, hence θ ∈ [θ₀, θ₀ + β_a].
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from ..errors import ConfigError
from ..surrogate import DOUBLE_GAUSSIAN, dspike
from .model import Param, param_names

NAME = "alif"
PARAMS = (  # N(mean, std), official init; the SHD preset's ranges
    Param("tau_mem", "normal", (20.0, 5.0), "τ_m"),
    Param("tau_adp", "normal", (150.0, 10.0), "τ_a"),
)
PARAM_NAMES = param_names(PARAMS)
STATE_NAMES = ("z", "u", "a")
RESETS = ("none",)  # the soft reset (A6) is part of the model
SURROGATE = DOUBLE_GAUSSIAN
BOUNDS = ()  # α, ρ = exp(−1/|τ|) lie in (0, 1) for every finite nonzero τ
THETA0 = 0.01
BETA_ADP = 1.8
ACC_ROWS = ("alpha", "rho")  # Σ dα terms and Σ dρ terms over batch and time (A14)
SPIKING_INIT = {"tau_mem": (20.0, 5.0), "tau_adp": (150.0, 10.0)}  # the official defaults
DECAYS = ("alpha", "rho")  # the official low-precision cell (ALIFCellBP) quantises both
REFRACTORY = None  # the adaptation a raises the threshold, but is bounded by 1 and decays with ρ

# Official scripts (docs/official-code.md §4). The official (P)S-MNIST ALIF uses TBPTT-50 with
# in-sequence updates and lr 0.001; resonet trains it with full BPTT and one update per batch
# (see docs/training.md).
_MNIST: dict[str, Any] = dict(init={"tau_mem": (20.0, 5.0), "tau_adp": (200.0, 50.0), "out_tau": (20.0, 5.0)},
              lr=0.001, batch=256, epochs=300, best_rule="<=", source="official+resonet")
PRESETS: dict[str, dict[str, Any]] = {
    "shd": dict(sub_seq_length=10,
                init={"tau_mem": (20.0, 5.0), "tau_adp": (150.0, 10.0), "out_tau": (20.0, 5.0)},
                lr=0.075, batch=32, epochs=20, best_rule="<="),
    # float64: the exact BPTT gradient of τ_m on ECG's 1,300 steps reaches 1e51–1e54 on some
    # batches, beyond float32's 3.4e38; in float32 3 of 5 seeds stop on it, as the official
    # float32 code's gradients overflow on the same batches (docs/results.md, "ALIF in float32")
    "ecg": dict(sub_seq_length=10,
                init={"tau_mem": (20.0, 0.5), "tau_adp": (7.0, 0.2), "out_tau": (20.0, 0.5)},
                lr=0.05, batch=64, epochs=400, best_rule="<=", dtype="float64"),
    "smnist": _MNIST,
    "psmnist": _MNIST,
}


class Consts(NamedTuple):
    alpha: np.ndarray  # α = exp(−1/|τ_m|)
    rho: np.ndarray  # ρ = exp(−1/|τ_a|)


def derive(params: dict, spec) -> Consts:
    for name in PARAM_NAMES:
        t = params[name]
        if not np.all(np.isfinite(t)) or np.any(t == 0):
            raise ConfigError(f"hidden.{name} must be finite and nonzero (a time constant in steps)")
    return Consts(np.exp(-1.0 / np.abs(params["tau_mem"])), np.exp(-1.0 / np.abs(params["tau_adp"])))


def step_forward(c: Consts, prev: tuple, I: np.ndarray, spike) -> tuple:
    z, u, a = prev
    a_new = a * c.rho + z * (1.0 - c.rho)  # (A1)
    theta = THETA0 + a_new * BETA_ADP  # (A2)
    u_t = u * c.alpha + I * (1.0 - c.alpha)  # (A3)
    z_new = spike(u_t - theta)  # (A4)–(A5)
    u_new = u_t - z_new * theta  # (A6)
    return z_new, u_new, a_new


def step_backward(
    c: Consts, prev: tuple, I: np.ndarray, new: tuple, dnew: tuple, dc: dict,
    dspike=dspike,
) -> tuple:
    """VJP of one step (docs/derivations/alif.md, eqs. (A7)–(A14)); returns ``(dprev, Ī)``.

    Unlike the resonators, the ALIF cell reads the previous spike z (in (A1)), so ``dprev[0]``
    is nonzero: the network adds it to the adjoint of z_{t−1}.
    """
    z, u, a = prev
    z_new, _, a_new = new
    dz, du_new, da_new = dnew
    theta = THETA0 + a_new * BETA_ADP
    u_t = u * c.alpha + I * (1.0 - c.alpha)
    dz_tot = dz - du_new * theta  # (A7)   u' = ũ − z'·θ
    ds = dz_tot * dspike(u_t - theta)  # (A8)
    du_t = du_new + ds  # (A9)
    dtheta = -du_new * z_new - ds  # (A10)
    da_tot = da_new + BETA_ADP * dtheta  # (A11)
    du = c.alpha * du_t  # (A12)
    dI = (1.0 - c.alpha) * du_t
    da = c.rho * da_tot  # (A13)
    dz_prev = (1.0 - c.rho) * da_tot
    dc["alpha"] += (du_t * (u - I)).sum(axis=0)  # (A14)
    dc["rho"] += (da_tot * (a - z)).sum(axis=0)
    return (dz_prev, du, da), dI


def grad_accumulators(c: Consts) -> dict:
    return {"alpha": np.zeros_like(c.alpha), "rho": np.zeros_like(c.rho)}


def raw_grads(params: dict, dc: dict) -> dict:
    """dα/dτ = α/τ² · sign(τ_raw) (and the same for ρ), eq. (A15)."""
    tm, ta = params["tau_mem"], params["tau_adp"]
    alpha = np.exp(-1.0 / np.abs(tm))
    rho = np.exp(-1.0 / np.abs(ta))
    return {
        "tau_mem": dc["alpha"] * alpha / (tm * tm) * np.sign(tm),
        "tau_adp": dc["rho"] * rho / (ta * ta) * np.sign(ta),
    }


def finish(params: dict, c: Consts, acc: np.ndarray) -> dict:
    """Eqs. (A14)–(A15) from the kernels' sums: ``acc[0]`` = Σ dα terms, ``acc[1]`` = Σ dρ."""
    return raw_grads(params, {"alpha": acc[0].copy(), "rho": acc[1].copy()})


# -- the free dynamics (analysis.spectral, analysis.divergence) -----------------------------------
def stability(params: dict, spec, q_max: float) -> dict:
    """Plain leaks: ρ = α (membrane) and margin 1 − max(α, ρ) > 0 for every finite nonzero τ."""
    c = derive({n: params[f"hidden.{n}"] for n in PARAM_NAMES}, spec)
    return {"radius_q0": c.alpha, "radius_qmax": c.alpha, "alpha": c.alpha, "rho": c.rho,
            "margin": 1.0 - np.maximum(c.alpha, c.rho)}


def frozen_jacobian(c: Consts, state: tuple, z_new: np.ndarray) -> tuple:
    """On (u, a): u' = ũ − z'·(θ₀ + β_a(ρa + (1 − ρ)z_prev)), a' = ρa + (1 − ρ)z_prev; I enters
    ũ with 1 − α, and z_prev enters u' and a' through a'."""
    H = z_new.shape[0]
    J = np.zeros((H, 2, 2))
    J[:, 0, 0] = c.alpha
    J[:, 0, 1] = -z_new * BETA_ADP * c.rho
    J[:, 1, 1] = c.rho
    g_in = np.zeros((H, 2))
    g_in[:, 0] = 1.0 - c.alpha
    g_z = np.zeros((H, 2))
    g_z[:, 0] = -z_new * BETA_ADP * (1.0 - c.rho)
    g_z[:, 1] = 1.0 - c.rho
    return J, g_in, g_z
