"""Figures of a run: learning curves, a spike raster, and ω–b before/after training.

matplotlib with the non-interactive Agg backend (no display needed). The ω–b figure follows the
paper's Figures 5 and 6: each neuron at (ω, b) with b the effective damping at q = 0, as the
model defines it (``effective_damping`` of the resonator models: BRF b = p(ω) − b', RF b = −b',
BHRF b = 0.005ω² + b'), before and after training, with the divergence boundary p(ω) and, for
BRF, the lower end of its stable interval (−1 − r)/δ, r = √(1 − (δω)²) (model.md, "Facts for
property tests"). Models without ω get no ω–b figure; the raster sorts the neurons by the
model's first per-neuron parameter.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_learning_curves(history: list[dict], path: Path, title: str = "") -> None:
    plt = _plt()
    ep = [r["epoch"] for r in history]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
    for key, style in (("train", "-"), ("val", "--"), ("test", ":")):
        xs = [r["epoch"] for r in history if r.get(f"{key}_loss") is not None]
        ax1.plot(xs, [r[f"{key}_loss"] for r in history if r.get(f"{key}_loss") is not None],
                 style, marker=".", label=key)
        ax2.plot(xs, [r[f"{key}_acc"] for r in history if r.get(f"{key}_acc") is not None],
                 style, marker=".", label=key)
    if any(r.get("test_acc_labelled") is not None for r in history):
        ax2.plot(ep, [r.get("test_acc_labelled") for r in history], "-.", label="test (labelled steps)")
    ax1.set(xlabel="epoch", ylabel="loss per recorded step", title="loss")
    ax2.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def effective_damping(spec, params: dict) -> tuple[np.ndarray, np.ndarray]:
    """(ω, b) per neuron at q = 0, for the models that define it (the resonators)."""
    from .errors import ConfigError

    fn = getattr(spec.model, "effective_damping", None)
    if fn is None:
        raise ConfigError(f"the {spec.neuron} neuron has no (omega, b) plane")
    return fn(params, spec)


def plot_omega_b(spec, before: dict, after: dict, path: Path, title: str = "") -> None:
    from .neurons import brf

    plt = _plt()
    w0, b0 = effective_damping(spec, before)
    w1, b1 = effective_damping(spec, after)
    fig, ax = plt.subplots(figsize=(6, 4.5))
    ax.scatter(w0, b0, s=12, alpha=0.6, label="before training")
    ax.scatter(w1, b1, s=12, alpha=0.8, label="after training")
    hi = max(float(np.max(w0)), float(np.max(w1))) * 1.1
    ws = np.linspace(0, min(hi, 0.9999 / spec.p_dt), 400)
    ax.plot(ws, brf.boundary(ws, spec.p_dt), "k-", lw=1, label="divergence boundary p(ω)")
    if spec.neuron == "brf":
        r = np.sqrt(1 - (spec.p_dt * ws) ** 2)
        lower = (-1 - r) / spec.p_dt
        if np.min(np.r_[b0, b1]) < 0.5 * lower.max():
            ax.plot(ws, lower, "k:", lw=1, label="lower stability limit (−1−r)/δ")
    ax.set(xlabel="ω (rad per unit time)", ylabel="b at q = 0", title=title or "ω–b")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_raster(spikes: np.ndarray, order_key: np.ndarray, path: Path, title: str = "",
                key_name: str = "ω") -> None:
    """spikes (T, H) of one sample; neurons sorted by ``order_key``."""
    plt = _plt()
    order = np.argsort(order_key)
    t, h = np.nonzero(spikes[:, order])
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.scatter(t, h, s=2, c="k", marker="|")
    ax.set(xlabel="time step", ylabel=f"neuron (sorted by {key_name})",
           xlim=(0, spikes.shape[0]), ylim=(-1, spikes.shape[1]), title=title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_final(spec, init: dict, best: dict, backend, test_set, run_dir: Path, *, dtype,
               title: str = "") -> None:
    """The figures written at the end of a run."""
    from .evaluation import official_targets

    x, y = test_set.batch(np.array([0]), dtype=dtype)
    res = backend.run(spec, best, x, official_targets(y), grads=False, dtype=dtype,
                      return_states=True)
    spikes = np.asarray(res.states["z"])[:, 0, :]
    model = spec.model
    if model.PARAMS:  # sorted by the model's first per-neuron parameter (ω, τ_m, …)
        first = model.PARAMS[0]
        key, name = np.abs(best[f"hidden.{first.name}"]), first.symbol
    else:
        key, name = np.arange(spec.n_hidden), "index"
    label = "" if y.ndim == 2 else f" (label {int(y[0])})"
    plot_raster(spikes, key, run_dir / "raster.png", title=f"{title}: test sample 0{label}",
                key_name=name)
    if hasattr(model, "effective_damping"):
        plot_omega_b(spec, init, best, run_dir / "omega_b.png", title=title)
