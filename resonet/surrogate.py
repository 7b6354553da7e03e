"""The spike function and the surrogate derivatives of its backward pass, each next to its exact
antiderivative. A model declares which surrogate it uses (``SURROGATE`` of its module):
:data:`DOUBLE_GAUSSIAN` (BRF, BHRF, RF, ALIF) or :data:`LINEAR` (LIF, IF).

Forward (docs/derivations/surrogate.md, eq. (S1)):

    Θ(s) = 1 if s > 0 else 0                      (strict: Θ(0) = 0, Θ(NaN) = 0)

Backward, the official "double Gaussian" of the BRF code (eq. (S2)):

    σ'(s) = γ · [ (1 + h) · N(s; 0, σ₁) − 2h · N(s; 0, σ₂) ]
    N(s; 0, σ) = exp(−s² / 2σ²) / (σ √(2π))       (normalised densities, peak σ'(0) = 0.4388)
    h = 0.15, σ₁ = 0.5, σ₂ = 6 · 0.5 = 3.0, γ = 0.5

Its exact antiderivative, the *smooth spike* used by the gradient checks (eq. (S3)):

    S(s) = γ · [ (1 + h) · Φ(s / σ₁) − 2h · Φ(s / σ₂) ]      (Φ the standard normal CDF)

With S in the forward pass, BPTT with σ' is the exact gradient, so finite differences can check
every backward equation; with Θ in the forward pass the same BPTT gives the surrogate gradient.

The official linear surrogate of ``LIFCell`` (``StepLinearGrad``) and its antiderivative
(eqs. (S4)–(S5)):

    σ'(s) = max(0, 1 − |s|)
    S(s)  = 0 (s ≤ −1),  (1 + s)²/2 (−1 < s ≤ 0),  1 − (1 − s)²/2 (0 < s < 1),  1 (s ≥ 1)

S is only once continuously differentiable (S'' jumps at s = −1, 0, 1: ``Surrogate.kinks``), so
the gradient check avoids finite-difference stencils across those points (resonet.gradcheck).

Graded, signed spikes of the reset-to-mod variant (``reset="mod"``, eqs. (S6)–(S7)): with K =
MOD_LEVELS and any spike function f (Θ, or the smooth S),

    z(u) = Σ_{k=1..K} [ f(u − kϑ) − f(−u − kϑ) ]                     (S6)
    dz/du = Σ_{k=1..K} [ σ'(u − kϑ) + σ'(−u − kϑ) ]                  (S7)

With f = Θ, z = trunc(u/ϑ) clipped to ±K (strict: z(kϑ) = k − 1), so u − ϑz is u modulo ϑ
whenever |u| ≤ (K + 1)ϑ; with f = S, (S7) is its exact derivative.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
from scipy.special import ndtr

H_SG = 0.15  # h: weight of the negative side lobes
SIGMA1 = 0.5  # σ₁: width of the central Gaussian
SIGMA2 = 6.0 * 0.5  # σ₂ = s·σ₁ with s = 6
GAMMA = 0.5  # γ: overall scale
_SQRT_2PI = math.sqrt(2.0 * math.pi)
# Normalisation constants 1/(σ√(2π)) in exact float64 (the golden vectors were made in a
# float64-first process; see docs/official-code.md §2).
C1 = 1.0 / (SIGMA1 * _SQRT_2PI)
C2 = 1.0 / (SIGMA2 * _SQRT_2PI)

SPIKE_FUNCTIONS = ("heaviside", "smooth")


def heaviside(s: np.ndarray) -> np.ndarray:
    """Θ(s) (eq. (S1)) in the dtype of ``s``; NaN maps to 0 as in the official autograd path."""
    return (s > 0).astype(np.result_type(s, np.float32))


def dspike(s: np.ndarray) -> np.ndarray:
    """σ'(s), the double-Gaussian surrogate derivative (eq. (S2)).

    Evaluated as ``(1.15·g(s; 0.5) − 0.3·g(s; 3.0)) · 0.5`` with the divisions by 2σ² written
    as in the official code (s²/0.5 and s²/18), so float64 results agree to the last ulp or two.
    """
    s2 = s * s
    g1 = C1 * np.exp(-s2 / (2.0 * SIGMA1 * SIGMA1))
    g2 = C2 * np.exp(-s2 / (2.0 * SIGMA2 * SIGMA2))
    return ((1.0 + H_SG) * g1 - (2.0 * H_SG) * g2) * GAMMA


def smooth_spike(s: np.ndarray) -> np.ndarray:
    """S(s), the exact antiderivative of σ' (eq. (S3)); S(−∞) = 0, S(+∞) = γ(1 − h) = 0.425."""
    return GAMMA * ((1.0 + H_SG) * ndtr(s / SIGMA1) - (2.0 * H_SG) * ndtr(s / SIGMA2))


def dspike_linear(s: np.ndarray) -> np.ndarray:
    """σ'(s) = max(0, 1 − |s|), the official ``StepLinearGrad`` (eq. (S4)), as it evaluates it
    (relu(1 − |s|))."""
    return np.maximum(1.0 - np.abs(s), 0.0)


def smooth_spike_linear(s: np.ndarray) -> np.ndarray:
    """S(s), the exact antiderivative of :func:`dspike_linear` with S(−∞) = 0 (eq. (S5))."""
    a = np.clip(s, -1.0, 1.0)
    return np.where(a <= 0.0, 0.5 * (1.0 + a) ** 2, 1.0 - 0.5 * (1.0 - a) ** 2)


class Surrogate(NamedTuple):
    """A surrogate derivative σ' of Θ and its exact antiderivative S (the smooth spike)."""

    name: str
    dspike: Callable  # σ'(s), used by every backward pass of the models that declare it
    smooth: Callable  # S(s) with S' = σ' exactly: forward spike of the gradient checks
    kinks: tuple  # the s where S is not smooth (S'' jumps): the gradient check steps around them


DOUBLE_GAUSSIAN = Surrogate("double_gaussian", dspike, smooth_spike, ())  # (S2)–(S3), analytic
LINEAR = Surrogate("linear", dspike_linear, smooth_spike_linear, (-1.0, 0.0, 1.0))  # (S4)–(S5)


MOD_LEVELS = 8  # K of (S6): the largest graded spike; beyond (K + 1)ϑ the excess stays in u


def graded_spike(spike, u: np.ndarray, theta: float = 1.0, levels: int = MOD_LEVELS) -> np.ndarray:
    """z = Σ_{k=1..K} [f(u − kϑ) − f(−u − kϑ)], eq. (S6), summed in the order k = 1, …, K (the
    kernels' order); ``spike`` is f (Θ or a smooth spike)."""
    z = spike(u - theta) - spike(-u - theta)
    for k in range(2, levels + 1):
        z = z + (spike(u - k * theta) - spike(-u - k * theta))
    return z


def dgraded(dspike_fn, u: np.ndarray, theta: float = 1.0, levels: int = MOD_LEVELS) -> np.ndarray:
    """dz/du = Σ_{k=1..K} [σ'(u − kϑ) + σ'(−u − kϑ)], eq. (S7) (σ' even), in the order of
    :func:`graded_spike`."""
    d = dspike_fn(u - theta) + dspike_fn(-u - theta)
    for k in range(2, levels + 1):
        d = d + (dspike_fn(u - k * theta) + dspike_fn(-u - k * theta))
    return d


def spike_fn(name: str, surrogate: Surrogate = DOUBLE_GAUSSIAN):
    """The forward spike function by name: ``"heaviside"`` (Θ) or ``"smooth"`` (the smooth spike S
    of ``surrogate``, the model's)."""
    if name == "heaviside":
        return heaviside
    if name == "smooth":
        return surrogate.smooth
    raise ValueError(f"unknown spike function {name!r}; expected one of {SPIKE_FUNCTIONS}")
