"""Optimizers, the linear learning-rate decay and global-norm clipping (PyTorch's update rules).

Parameters and gradients are dicts of NumPy arrays (keyed like :mod:`resonet.network` params);
:meth:`Optimizer.step` updates the parameter arrays **in place**. Defaults are PyTorch's.

Adam (Kingma & Ba; torch.optim.Adam, no weight decay, no amsgrad), step k = 1, 2, …:

    m ← m + (1 − β₁)(g − m)                         (a lerp, as torch computes it)
    v ← β₂ v + (1 − β₂) g²
    p ← p − (lr / (1 − β₁ᵏ)) · m / (√v / √(1 − β₂ᵏ) + ε)          β = (0.9, 0.999), ε = 1e-8

RAdam (Liu et al. 2020; torch.optim.RAdam): m, v as Adam, m̂ = m / (1 − β₁ᵏ),
ρ∞ = 2/(1 − β₂) − 1, ρₖ = ρ∞ − 2k β₂ᵏ / (1 − β₂ᵏ);

    if ρₖ > 5:  r = √((ρₖ − 4)(ρₖ − 2)ρ∞ / ((ρ∞ − 4)(ρ∞ − 2)ρₖ))
                p ← p − lr · m̂ · r · √(1 − β₂ᵏ) / (√v + ε)
    else:       p ← p − lr · m̂

RMSprop (Hinton; torch.optim.RMSprop, no momentum, not centred):

    v ← α v + (1 − α) g²,   p ← p − lr · g / (√v + ε)          α = 0.99, ε = 1e-8

Schedule (the official code's LambdaLR, which the paper calls "LinearLR"): training epoch e
(0-based) uses lr_e = lr₀ · (1 − e / E).

Clipping (torch.nn.utils.clip_grad_norm_): total = ‖(‖g₁‖₂, …, ‖g_n‖₂)‖₂, every gradient is
multiplied by min(1, max_norm / (total + 1e-6)).
"""

from __future__ import annotations

import math

import numpy as np

from .errors import CheckpointError, ConfigError


class Optimizer:
    """Base class: per-parameter state arrays plus a step counter, saved as flat arrays."""

    name = "optimizer"
    _state_names: tuple[str, ...] = ()

    def __init__(self, params: dict, lr: float):
        if not (lr >= 0 and math.isfinite(lr)):
            raise ConfigError(f"learning rate must be a finite number >= 0, got {lr}")
        self.params = params
        self.lr = float(lr)
        self.k = 0  # number of steps taken
        self.state = {s: {n: np.zeros_like(p) for n, p in params.items()} for s in self._state_names}

    def step(self, grads: dict) -> None:
        missing = set(self.params) - set(grads)
        if missing:
            raise ConfigError(f"no gradient for {sorted(missing)}")
        self.k += 1
        for name, p in self.params.items():
            g = np.asarray(grads[name], dtype=p.dtype)
            if g.shape != p.shape:
                raise ConfigError(f"gradient of {name} has shape {g.shape}, expected {p.shape}")
            self._update(name, p, g)

    def _update(self, name: str, p: np.ndarray, g: np.ndarray) -> None:
        raise NotImplementedError

    def state_dict(self) -> dict:
        """Flat dict of arrays (``<state>/<param>``) and scalars, suitable for ``np.savez``."""
        out = {"optim/name": np.array(self.name), "optim/k": np.array(self.k),
               "optim/lr": np.array(self.lr)}
        for s, d in self.state.items():
            for n, a in d.items():
                out[f"optim/{s}/{n}"] = a.copy()
        return out

    def load_state_dict(self, d: dict) -> None:
        try:
            name = str(d["optim/name"])
            if name != self.name:
                raise CheckpointError(f"checkpoint holds {name} optimizer state, not {self.name}")
            self.k = int(d["optim/k"])
            self.lr = float(d["optim/lr"])
            for s, per in self.state.items():
                for n, a in per.items():
                    src = np.asarray(d[f"optim/{s}/{n}"])
                    if src.shape != a.shape:
                        raise CheckpointError(
                            f"optimizer state {s}/{n} has shape {src.shape}, expected {a.shape}")
                    a[...] = src
        except KeyError as exc:
            raise CheckpointError(f"optimizer state is missing {exc.args[0]}") from None


class _AdamFamily(Optimizer):
    """Adam's first and second moments, shared by Adam and RAdam."""

    _state_names = ("m", "v")

    def __init__(self, params: dict, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8):
        super().__init__(params, lr)
        self.b1, self.b2 = betas
        self.eps = eps

    def _moments(self, name: str, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        m, v = self.state["m"][name], self.state["v"][name]
        m += (g - m) * (1.0 - self.b1)  # torch's lerp
        v *= self.b2
        v += (1.0 - self.b2) * g * g
        return m, v


class Adam(_AdamFamily):
    name = "adam"

    def _update(self, name, p, g):
        m, v = self._moments(name, g)
        bc1 = 1.0 - self.b1**self.k
        bc2_sqrt = math.sqrt(1.0 - self.b2**self.k)
        denom = np.sqrt(v) / bc2_sqrt + self.eps
        p -= (self.lr / bc1) * m / denom


class RAdam(_AdamFamily):
    name = "radam"

    def _update(self, name, p, g):
        m, v = self._moments(name, g)
        k = self.k
        m_hat = m / (1.0 - self.b1**k)
        rho_inf = 2.0 / (1.0 - self.b2) - 1.0
        rho_k = rho_inf - 2.0 * k * self.b2**k / (1.0 - self.b2**k)
        if rho_k > 5.0:
            rect = math.sqrt((rho_k - 4) * (rho_k - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_k))
            adaptive = math.sqrt(1.0 - self.b2**k) / (np.sqrt(v) + self.eps)
            p -= m_hat * self.lr * adaptive * rect
        else:
            p -= m_hat * self.lr


class RMSprop(Optimizer):
    name = "rmsprop"
    _state_names = ("v",)

    def __init__(self, params: dict, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8):
        super().__init__(params, lr)
        self.alpha = alpha
        self.eps = eps

    def _update(self, name, p, g):
        v = self.state["v"][name]
        v *= self.alpha
        v += (1.0 - self.alpha) * g * g
        p -= self.lr * g / (np.sqrt(v) + self.eps)


OPTIMIZERS = {"adam": Adam, "radam": RAdam, "rmsprop": RMSprop}


def make_optimizer(name: str, params: dict, lr: float) -> Optimizer:
    try:
        cls = OPTIMIZERS[name]
    except KeyError:
        raise ConfigError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}") from None
    return cls(params, lr)


def linear_decay(lr0: float, epoch: int, epochs: int) -> float:
    """lr of training epoch ``epoch`` (0-based) of ``epochs``: lr₀·(1 − epoch/epochs)."""
    if epochs < 1:
        raise ConfigError(f"epochs must be >= 1, got {epochs}")
    return lr0 * (1.0 - epoch / epochs)


class LinearLR:
    """Per-epoch linear decay bound to an optimizer: call :meth:`step` after each epoch."""

    def __init__(self, optimizer: Optimizer, epochs: int, lr0: float | None = None):
        self.optimizer = optimizer
        self.epochs = epochs
        self.lr0 = optimizer.lr if lr0 is None else lr0
        self.epoch = 0
        optimizer.lr = linear_decay(self.lr0, 0, epochs)

    def step(self) -> None:
        self.epoch += 1
        self.optimizer.lr = linear_decay(self.lr0, self.epoch, self.epochs)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self.optimizer.lr = linear_decay(self.lr0, epoch, self.epochs)


def global_norm(grads: dict) -> float:
    return math.sqrt(sum(float(np.sum(np.square(g, dtype=np.float64))) for g in grads.values()))


def clip_grad_norm(grads: dict, max_norm: float) -> float:
    """Scale ``grads`` in place so their global 2-norm is at most ``max_norm``; return the
    norm before clipping (torch.nn.utils.clip_grad_norm_, including its 1e-6)."""
    total = global_norm(grads)
    coef = max_norm / (total + 1e-6)
    if coef < 1.0:
        for g in grads.values():
            g *= coef
    return total
