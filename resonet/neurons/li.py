"""LI: the leaky-integrator readout (no spikes, no reset).

Parameters W_o (``out.linear.weight``, (C, H)), τ_raw (``out.tau_mem``, (C,)), τ in steps, and
optionally b_o (``out.linear.bias``, (C,); the official ``bias=True``, initialised to 0).
Over a sequence of hidden spikes z_t (B, H) (docs/derivations/li.md, eqs. (L1)–(L3)):

    α   = exp(−1/|τ_raw|)                         (L1)   readout "li" (the official LICell)
    α   = σ(τ_raw) = 1/(1 + exp(−τ_raw))          (L1s)  readout "li_sigmoid" (LICellSigmoid)
    r_t = z_t · W_oᵀ (+ b_o)                       (L2)  (B, C); the current step's spikes, no delay
    o_t = α·o_{t−1} + (1 − α)·r_t,  o_{−1} = 0     (L3)

Backward, with g_t = ∂L/∂o_t from the loss (zero on unrecorded steps) (eqs. (L4)–(L8)):

    ō_t  = g_t + α·ō_{t+1}                         (L4)
    r̄_t  = (1 − α)·ō_t                             (L5)
    dW_o = Σ_t r̄_tᵀ z_t,   z̄ᵒ_t = r̄_t W_o          (L6)
    dα   = Σ_{t,b} ō_t·(o_{t−1} − r_t)             (L7)
    dτ_raw = dα · α/τ² · sign(τ_raw)               (L8)
    dτ_raw = dα · α(1 − α)                         (L8s) (li_sigmoid)
    db_o = Σ_{t,b} r̄_t                             (L9)  (with a bias)

Only (L1) and (L8) depend on the readout: every engine gets α and returns dα, so the kind of
readout is a matter of this module (and of the CUDA engine's on-device α and dτ).
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError


def init_params(C: int, H: int, rng: np.random.Generator, tau=(20.0, 5.0)) -> dict:
    """Xavier-uniform W_o, τ ~ N(mean, std) (official init)."""
    k = np.sqrt(6.0 / (H + C))
    return {"weight": rng.uniform(-k, k, (C, H)), "tau_mem": rng.normal(tau[0], tau[1], C)}


READOUTS = ("li", "li_sigmoid")


def alpha(tau_raw: np.ndarray, readout: str = "li") -> np.ndarray:
    """α of eq. (L1) (``li``: refuses τ = 0, where α is undefined) or (L1s) (``li_sigmoid``);
    refuses non-finite τ."""
    if not np.all(np.isfinite(tau_raw)):
        raise ConfigError("out.tau_mem must be finite")
    if readout == "li_sigmoid":
        return 1.0 / (1.0 + np.exp(-tau_raw))
    if np.any(tau_raw == 0):
        raise ConfigError("out.tau_mem must be finite and nonzero (a time constant in steps)")
    return np.exp(-1.0 / np.abs(tau_raw))


def forward(
    a: np.ndarray, W_o: np.ndarray, Z: np.ndarray, o0: np.ndarray | None = None,
    b_o: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """o (T, B, C) and r (T, B, C) from Z (T, B, H), eqs. (L2)–(L3); o_{−1} = o0 (default 0),
    b_o the bias (None: none)."""
    R = Z @ W_o.T  # (T, B, C)
    if b_o is not None:
        R = R + b_o
    O = np.empty_like(R)
    o = np.zeros_like(R[0]) if o0 is None else o0
    for t in range(R.shape[0]):
        o = o * a + R[t] * (1.0 - a)  # official association order
        O[t] = o
    return O, R


def backward(
    a: np.ndarray,
    W_o: np.ndarray,
    Z: np.ndarray,
    O: np.ndarray,
    R: np.ndarray,
    G: np.ndarray,
    grads: dict,
    cut: np.ndarray | None = None,
    o0: np.ndarray | None = None,
) -> np.ndarray:
    """Eqs. (L4)–(L9): accumulate ``grads['weight']``, ``grads['alpha']`` (and ``grads['bias']``
    if it is there); return z̄ᵒ (T, B, H).

    ``cut[t]`` True means o_t was detached after step t (truncated BPTT): ō_{t+1} does not flow
    back into ō_t.
    """
    T = G.shape[0]
    dO = np.empty_like(G)
    do_next = np.zeros_like(G[0])
    for t in range(T - 1, -1, -1):
        carry = a * do_next
        if cut is not None and cut[t]:
            carry = np.zeros_like(carry)
        do_next = G[t] + carry  # (L4)
        dO[t] = do_next
    dR = (1.0 - a) * dO  # (L5)
    grads["weight"] += np.einsum("tbc,tbh->ch", dR, Z)  # (L6)
    if "bias" in grads:
        grads["bias"] += dR.sum(axis=(0, 1))  # (L9)
    first = np.zeros_like(O[:1]) if o0 is None else o0[None]
    O_prev = np.concatenate([first, O[:-1]], axis=0)
    grads["alpha"] += np.einsum("tbc,tbc->c", dO, O_prev - R)  # (L7)
    return dR @ W_o


def tau_grad(tau_raw: np.ndarray, dalpha: np.ndarray, readout: str = "li") -> np.ndarray:
    """Eq. (L8) (``li``) or (L8s) (``li_sigmoid``), with α of :func:`alpha`."""
    a = alpha(tau_raw, readout)
    if readout == "li_sigmoid":
        return dalpha * (a * (1.0 - a))
    return dalpha * a / (tau_raw * tau_raw) * np.sign(tau_raw)
