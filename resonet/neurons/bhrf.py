"""BHRF: the balanced harmonic resonate-and-fire neuron, as the official code computes it.

State (z, u, v, q), each (B, H); parameters ω_raw (``hidden.omega``) and b'_raw
(``hidden.b_offset``). One step (docs/derivations/bhrf.md, eqs. (H1)–(H6)):

    ω = |ω_raw|,  β = |b'_raw|
    b  = 0.005·ω² + β + q                         (H1)  note the + signs: more damping
    v' = v + δ·u                                  (H2)  old u
    u' = u + δ·I − 2δ·b·u − δ·ω²·v'               (H3)  new v' (symplectic Euler)
    s  = u' − ϑ − q,  ϑ = 1                       (H4)
    z  = Θ(s)                                     (H5)
    q' = 0.9·q + z                                (H6)

0.005 is hard-coded in the official code (= δ/2 for δ = 0.01). With I = 0 the transition on
(u, v) has determinant 1 − 2δ·b, so the neuron is always damped (spectral radius
√(1 − δ²ω² − 2δ(β + q)) at δ = 0.01): unlike the paper's equations, the coded BHRF does not
sustain oscillation at b = p(ω) (docs/official-code.md §11.2, §12.4; the closed forms are at
the end of this module).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..errors import ConfigError
from ..surrogate import DOUBLE_GAUSSIAN, dspike
from . import _resonator
from .model import param_names

NAME = "bhrf"
PARAMS = _resonator.params(omega=(3.0, 10.0), b_offset=(0.1, 1.0))  # SHD, paper Table 3
PARAM_NAMES = param_names(PARAMS)
STATE_NAMES = ("z", "u", "v", "q")
RESETS = ("none",)
SURROGATE = DOUBLE_GAUSSIAN
BOUNDS = ()  # always damped (determinant 1 − 2δb < 1): nothing to keep it from
THETA = 1.0
Q_DECAY = 0.9
P_COEF = 0.005  # hard-coded ω² coefficient of the boundary term
SPIKING_INIT = {"omega": (3.0, 10.0), "b_offset": (0.1, 1.0)}  # the SHD ranges of Table 3
DECAYS = ()
REFRACTORY = "q"
ACC_ROWS = ("b", "v_u")  # Σ b̄ and Σ v'·ū'_tot over batch and time (H14)

# Paper Table 3 (the official repository has no BHRF script). The readout is the official
# network's LICell, alpha = exp(-1/|tau_o|) with the BRF preset's tau_o init (SimpleHarmonicRNN,
# the official BHRF network, and the golden vector bhrf_seed1.npz made with it, use LICell),
# except on ECG, where Table 3 gives "alpha: Sigmoid(N(0, 0.1))" (below). S-MNIST keeps the BRF
# preset's clipping at 1.0 (Table 3 is silent on clipping); its "CE" loss is the same as NLL of log_softmax.
_TABLE3 = {  # optimizer, lr, batch, epochs, ω U(a, b), b' U(a, b)
    "shd": ("rmsprop", 0.1, 32, 20, (3.0, 10.0), (0.1, 1.0)),
    "ecg": ("radam", 0.3, 4, 300, (7.0, 11.0), (0.1, 1.0)),
    "smnist": ("radam", 0.1, 256, 400, (15.0, 35.0), (0.1, 1.0)),
    "psmnist": ("radam", 0.1, 256, 200, (10.0, 50.0), (1.0, 6.0)),
}
PRESETS = {
    task: {**_resonator.PRESETS[task], "optimizer": opt, "lr": lr, "batch": batch, "epochs": ep,
           "init": {**_resonator.PRESETS[task]["init"], "omega": om, "b_offset": bo},
           "source": "paper+official"}
    for task, (opt, lr, batch, ep, om, bo) in _TABLE3.items()
}
# Table 3's BHRF readout on ECG: "α: Sigmoid(N(0, 0.1))", the official LICellSigmoid (α = σ(τ_o),
# τ_o ~ N(0, 0.1)); --readout li keeps the LICell readout of the other models.
PRESETS["ecg"] = {**PRESETS["ecg"], "readout": "li_sigmoid",
                  "init": {**PRESETS["ecg"]["init"], "out_tau": (0.0, 0.1)}}


class Consts(NamedTuple):
    omega: np.ndarray  # ω
    omega2: np.ndarray  # ω·ω
    beta: np.ndarray  # β
    dt: float


def derive(params: dict, spec) -> Consts:
    _resonator.check_finite(params)
    omega = np.abs(params["omega"])
    return Consts(omega, omega * omega, np.abs(params["b_offset"]), spec.dt)


def step_forward(c: Consts, prev: tuple, I: np.ndarray, spike) -> tuple:
    _, u, v, q = prev
    dt = c.dt
    b = (c.omega2 * P_COEF + c.beta) + q  # (H1)
    v_new = v + u * dt  # (H2)
    u_new = ((u + I * dt) - (b * u) * (2.0 * dt)) - (c.omega2 * v_new) * dt  # (H3)
    s = (u_new - THETA) - q  # (H4)
    z = spike(s)  # (H5)
    q_new = q * Q_DECAY + z  # (H6)
    return z, u_new, v_new, q_new


def step_backward(
    c: Consts, prev: tuple, I: np.ndarray, new: tuple, dnew: tuple, dc: dict,
    dspike=dspike,
) -> tuple:
    """VJP of one step (docs/derivations/bhrf.md, eqs. (H7)–(H14)); returns ``(dprev, Ī)``."""
    _, u, v, q = prev
    u_new, v_new = new[1], new[2]
    dz, du_new, dv_new, dq_new = dnew
    dt = c.dt
    b = (c.omega2 * P_COEF + c.beta) + q
    s = (u_new - THETA) - q
    ds = (dz + dq_new) * dspike(s)  # (H7)
    du_tot = du_new + ds  # (H8)
    dv_tot = dv_new - (dt * c.omega2) * du_tot  # (H9)   v' feeds u' of the same step
    db = -2.0 * dt * u * du_tot  # (H10)
    du = du_tot * (1.0 - 2.0 * dt * b) + dt * dv_tot  # (H11)
    dv = dv_tot  # (H12)
    dq = Q_DECAY * dq_new - ds + db  # (H13)
    dI = dt * du_tot
    # (H14): ω enters b through 0.005·ω² and u' through −δ·ω²·v'.
    dc["omega"] += (2.0 * P_COEF) * c.omega * db.sum(axis=0) - (2.0 * dt) * c.omega * (
        v_new * du_tot
    ).sum(axis=0)
    dc["beta"] += db.sum(axis=0)
    return (np.zeros_like(u), du, dv, dq), dI


grad_accumulators = _resonator.grad_accumulators
raw_grads = _resonator.raw_grads


def finish(params: dict, c: Consts, acc: np.ndarray) -> dict:
    """Eq. (H14) from the kernels' sums: ``acc[0]`` = Σ b̄, ``acc[1]`` = Σ v'·ū'_tot."""
    dc = {"omega": (2.0 * P_COEF) * c.omega * acc[0] - (2.0 * c.dt) * c.omega * acc[1],
          "beta": acc[0].copy()}
    return raw_grads(params, dc)


# -- the free dynamics (analysis.spectral, analysis.divergence, analysis.freqresp) ---------------
# On (u, v) with I = 0 the coded (symplectic) step is A = [[1 − 2δb − δ²ω², −δω²], [δ, 1]],
# det A = 1 − 2δb, tr A = 2 − 2δb − δ²ω². By the Jury (Schur–Cohn) test ρ < 1 iff
# 0 < b < (4 − δ²ω²)/(4δ) (docs/analysis.md, eq. (D4)): damped for every c = b' + q ≥ 0, and
# divergent (an eigenvalue through −1) beyond the upper end. The paper's explicit scheme
# A_paper = [[1 − 2δb, −δω²], [δ, 1]] has det = 1 at its p(ω) = δω²/2 instead.

def effective_damping(params: dict, spec) -> tuple[np.ndarray, np.ndarray]:
    """(ω, b) per neuron at q = 0: b = 0.005·ω² + |b'| as coded (the ω–b figure)."""
    omega = np.abs(params["hidden.omega"])
    return omega, P_COEF * omega**2 + np.abs(params["hidden.b_offset"])


def paper_boundary(omega, dt: float = 0.01):
    """The paper's BHRF boundary p(ω) = δω²/2 (the code hard-codes 0.005ω², = this at δ = 0.01)."""
    return 0.5 * dt * np.square(np.asarray(omega, dtype=np.float64))


def interval(omega, dt: float = 0.01):
    """(0, (4 − δ²ω²)/(4δ)): the coded step has ρ < 1 iff b lies strictly inside (eq. (D4));
    empty (hi ≤ 0) for δω ≥ 2."""
    w2 = np.square(np.asarray(omega, dtype=np.float64))
    return np.zeros_like(w2), (4.0 - dt * dt * w2) / (4.0 * dt)


def damping_band(omega, spec):
    """(b_lo, b_hi) of eq. (D4) at the cell's δ."""
    return interval(omega, spec.dt)


def offset_band(omega, dt: float = 0.01, p_coef: float = P_COEF):
    """(c_lo, c_hi) for the code's b = κω² + c: ρ < 1 iff c_lo < c < c_hi."""
    w2 = np.square(np.asarray(omega, dtype=np.float64))
    lo, hi = interval(omega, dt)
    return lo - p_coef * w2, hi - p_coef * w2


def transition(omega: float, b: float, dt: float = 0.01, scheme: str = "code") -> np.ndarray:
    """A (2, 2) of the (u, v) step: the coded symplectic step or the paper's explicit one."""
    w2 = omega * omega
    if scheme == "code":
        return np.array([[1.0 - 2.0 * dt * b - dt * dt * w2, -dt * w2], [dt, 1.0]])
    if scheme == "paper":
        return np.array([[1.0 - 2.0 * dt * b, -dt * w2], [dt, 1.0]])
    raise ConfigError(f"scheme must be 'code' or 'paper', got {scheme!r}")


def eigenvalues(omega, b, dt: float = 0.01, scheme: str = "code") -> np.ndarray:
    """Both eigenvalues (complex, shape (..., 2)) of :func:`transition`, closed form."""
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


def radius(omega, b, dt: float = 0.01, scheme: str = "code"):
    """max |λ| of :func:`eigenvalues`."""
    return np.abs(eigenvalues(omega, b, dt, scheme)).max(axis=-1)


def free_eigenvalues(omega, b_offset, spec) -> np.ndarray:
    """Both eigenvalues of the coded step at q = 0, b = κω² + b'."""
    omega = np.asarray(omega, dtype=np.float64)
    return eigenvalues(omega, P_COEF * omega * omega + np.asarray(b_offset, dtype=np.float64),
                       spec.dt)


def stability(params: dict, spec, q_max: float) -> dict:
    """Per neuron: ρ at q = 0 and q = q_max, and the margin of c ∈ [β, β + q_max] to the stable
    c interval of :func:`offset_band`."""
    w, beta = _resonator.offsets(params)
    c_lo, c_hi = offset_band(w, spec.dt)
    return {"omega": w, "b_offset": beta, "c_lo": c_lo, "c_hi": c_hi,
            "radius_q0": radius(w, P_COEF * w * w + beta, spec.dt),
            "radius_qmax": radius(w, P_COEF * w * w + beta + q_max, spec.dt),
            "margin": np.minimum(beta - c_lo, c_hi - (beta + q_max))}


def frozen_jacobian(c: Consts, state: tuple, z_new: np.ndarray) -> tuple:
    """On (u, v, q), from u' = u − 2δbu − δω²(v + δu) + δI, v' = v + δu, q' = 0.9q + z."""
    _, u, v, q = state
    H = u.shape[0]
    dt = c.dt
    b = (c.omega2 * P_COEF + c.beta) + q
    J = np.zeros((H, 3, 3))
    J[:, 0, 0] = 1.0 - 2.0 * dt * b - dt * dt * c.omega2
    J[:, 0, 1] = -dt * c.omega2
    J[:, 0, 2] = -2.0 * dt * u
    J[:, 1, 0] = dt
    J[:, 1, 1] = 1.0
    J[:, 2, 2] = Q_DECAY
    g_in = np.zeros((H, 3))
    g_in[:, 0] = dt
    return J, g_in, np.zeros((H, 3))
