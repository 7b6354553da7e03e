"""Loss, prediction and accuracy of the official code.

Loss (docs/derivations/network.md, eq. (N10)): for every recorded step t, the batch-mean negative
log-likelihood of the log-softmax readout, **summed** over recorded steps (the sum is what the
official code back-propagates; its logs divide by the number of recorded steps):

    L = Σ_t ℓ_t,   ℓ_t = −(1/B) Σ_b log softmax(o_t[b])[y_t[b]]

Gradient (eq. (N11)):  ∂L/∂o_t = (softmax(o_t) − onehot(y_t)) / B.

Prediction (eq. (N12)): argmax over classes of the mean of o_t over the recorded steps (ties go to
the first class, as torch.argmax does, so a silent network predicts class 0). With per-step labels
(ECG) each recorded step is predicted on its own: argmax of o_t.
"""

from __future__ import annotations

import numpy as np

from .errors import ConfigError


def step_targets(y: np.ndarray, recorded: np.ndarray, T: int) -> np.ndarray:
    """Labels per recorded step, (T_rec, B).

    ``y`` is (B,) (one label per sequence, repeated over time) or (T, B) (a label per step; the
    recorded steps are selected, as the official code compares ``targets[sub_seq:]``).
    """
    y = np.asarray(y)
    if y.ndim == 1:
        return np.broadcast_to(y, (len(recorded), y.shape[0]))
    if y.ndim == 2 and y.shape[0] == T:
        return y[recorded]
    raise ConfigError(f"labels must have shape (B,) or (T={T}, B), got {y.shape}")


def log_softmax(o: np.ndarray) -> np.ndarray:
    m = o.max(axis=-1, keepdims=True)
    sh = o - m
    return sh - np.log(np.exp(sh).sum(axis=-1, keepdims=True))


def nll_loss(outputs: np.ndarray, targets: np.ndarray) -> tuple[float, np.ndarray]:
    """Eqs. (N10)–(N11): the summed loss and ∂L/∂outputs, both for outputs (T_rec, B, C)."""
    Tr, B, C = outputs.shape
    targets = np.asarray(targets)
    if targets.shape != (Tr, B):
        raise ConfigError(f"targets have shape {targets.shape}, expected {(Tr, B)}")
    if targets.size and (targets.min() < 0 or targets.max() >= C):
        raise ConfigError(f"labels must lie in [0, {C}), got range [{targets.min()}, {targets.max()}]")
    logp = log_softmax(outputs)
    tt, bb = np.meshgrid(np.arange(Tr), np.arange(B), indexing="ij")
    loss = -logp[tt, bb, targets].sum() / B
    grad = np.exp(logp)
    grad[tt, bb, targets] -= 1.0
    grad /= B
    return float(loss), grad


def predict(outputs: np.ndarray, per_step: bool = False) -> np.ndarray:
    """Eq. (N12): (B,) class per sequence, or (T_rec, B) per step when ``per_step``."""
    if per_step:
        return outputs.argmax(axis=-1)
    return outputs.mean(axis=0).argmax(axis=-1)


def accuracy_counts(outputs: np.ndarray, y: np.ndarray, recorded: np.ndarray, T: int,
                    ignore: int | None = None) -> tuple[int, int]:
    """(correct, total) over sequences, or over (step, sample) pairs for per-step labels.

    With per-step labels, ``ignore`` (e.g. −1 for unlabelled ECG steps) excludes those steps.
    """
    y = np.asarray(y)
    if y.ndim == 1:
        pred = predict(outputs)
        return int((pred == y).sum()), int(y.size)
    tgt = step_targets(y, recorded, T)
    pred = predict(outputs, per_step=True)
    keep = np.ones_like(tgt, dtype=bool) if ignore is None else tgt != ignore
    return int(((pred == tgt) & keep).sum()), int(keep.sum())
