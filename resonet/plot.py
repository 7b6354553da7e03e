"""Figures of a run: learning curves, a spike raster, and ω–b before/after training.

matplotlib with the non-interactive Agg backend (no display needed). The ω–b figure follows the
paper's Figures 5 and 6: each neuron at (ω, b) with b the effective damping at q = 0, as the
model defines it (``effective_damping`` of the resonator models: BRF b = p(ω) − b', RF b = −b',
BHRF b = 0.005ω² + b'), before and after training, with the ends of the model's stable band of b
(``damping_band``: for BRF and RF the divergence boundary p(ω) above and (−1 − r)/δ,
r = √(1 − (δω)²), below; docs/analysis.md, eq. (D3)) where they lie near the neurons. Models
without ω get no ω–b figure; the raster sorts the neurons by the model's first per-neuron
parameter.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .rundir import RunDir


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


def resonator(spec):
    """The spec's model as a :class:`resonet.neurons.model.Resonator` (it has an (ω, b) plane);
    ConfigError for the other models."""
    from .errors import ConfigError
    from .neurons.model import Resonator

    if not isinstance(spec.model, Resonator):
        raise ConfigError(f"the {spec.neuron} neuron has no (omega, b) plane")
    return spec.model


def effective_damping(spec, params: dict) -> tuple[np.ndarray, np.ndarray]:
    """(ω, b) per neuron at q = 0, for the models that define it (the resonators)."""
    return resonator(spec).effective_damping(params, spec)


def plot_stable_band(ax, spec, ws: np.ndarray, bs: np.ndarray) -> None:
    """The ends of the model's stable band of b over ``ws`` on ``ax``, each only where it comes
    within the spread of the neurons' ``bs`` (a far end would only squash the figure)."""
    lo, hi = resonator(spec).damping_band(ws, spec)
    span = max(float(np.ptp(bs)), 1.0)
    for end, style, label in ((hi, "k-", "divergence boundary (ρ = 1)"),
                              (lo, "k:", "lower stability limit (ρ = 1)")):
        near = np.abs(end - np.clip(end, np.min(bs), np.max(bs))) <= 2.0 * span
        if np.any(near):
            ax.plot(ws, end, style, lw=1, label=label, scaley=False)


def plot_omega_b(spec, before: dict, after: dict, path: Path, title: str = "") -> None:
    plt = _plt()
    w0, b0 = effective_damping(spec, before)
    w1, b1 = effective_damping(spec, after)
    fig, ax = plt.subplots(figsize=(6, 4.5))
    ax.scatter(w0, b0, s=12, alpha=0.6, label="before training")
    ax.scatter(w1, b1, s=12, alpha=0.8, label="after training")
    hi = max(float(np.max(w0)), float(np.max(w1))) * 1.1
    ws = np.linspace(0, min(hi, 0.9999 / spec.dt), 400)
    plot_stable_band(ax, spec, ws, np.r_[b0, b1])
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
    plot_raster(spikes, key, run_dir / RunDir.RASTER, title=f"{title}: test sample 0{label}",
                key_name=name)
    from .neurons.model import Resonator

    if isinstance(model, Resonator):
        plot_omega_b(spec, init, best, run_dir / RunDir.OMEGA_B, title=title)
