"""Scoring a network on labelled batches: the one evaluation used by training, the figures and the
analysis modules.

Per batch (eqs. (N10)–(N12) of docs/derivations/network.md):

- targets: :func:`official_targets` (per-step labels −1, unlabelled ECG steps, count as class 0,
  as the official scoring does; the paper's numbers include them);
- loss: the summed NLL over the recorded steps (from the backend, or from the outputs when a
  custom runner gives only outputs), divided by the number of recorded steps;
- accuracy: the official prediction (N12) against the official targets; with per-step labels
  also over the labelled steps only (``acc_labelled``);
- SOPs: hidden spikes per sample (the paper's synaptic operations), and per step.

Over a split the loss is the sample-weighted mean of the per-batch values.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

from .loss import accuracy_counts, nll_loss, step_targets


def official_targets(y: np.ndarray) -> np.ndarray:
    """Training/scoring labels: unlabelled steps (−1) count as class 0 (the official rule)."""
    return np.where(y < 0, 0, y)


class Tally:
    """Running sums of the scores of a network over batches (see the module docstring)."""

    def __init__(self, spec) -> None:
        self.spec = spec
        self.n = 0.0  # samples
        self.loss_sum = 0.0  # Σ_batches loss / |recorded| · B
        self.spikes = 0.0
        self.correct = self.total = 0
        self.correct_labelled = self.total_labelled = 0
        self.T = 0

    def add(self, outputs: np.ndarray, y: np.ndarray, num_spikes, T: int, loss: float | None = None):
        """One batch: ``outputs`` (T_rec, B, C), labels ``y`` (B,) or (T, B) with −1 for
        unlabelled steps, ``num_spikes`` (B,), ``loss`` the batch's summed NLL against the
        official targets (computed from ``outputs`` if None)."""
        rec = self.spec.recorded(T)
        y = np.asarray(y)
        targets = official_targets(y)
        if loss is None:
            loss = nll_loss(outputs, step_targets(targets, rec, T))[0]
        B = y.shape[-1]
        self.loss_sum += loss / len(rec) * B
        self.n += B
        self.spikes += float(np.sum(num_spikes))
        c, t = accuracy_counts(outputs, targets, rec, T)
        self.correct, self.total = self.correct + c, self.total + t
        if y.ndim == 2:
            c, t = accuracy_counts(outputs, y, rec, T, ignore=-1)
            self.correct_labelled += c
            self.total_labelled += t
        self.T = T

    def result(self) -> dict:
        """``loss`` per recorded step, ``acc`` (%), ``sops`` and ``sops_per_step``, and
        ``acc_labelled`` (%) when per-step labels had labelled steps."""
        n = max(self.n, 1.0)
        out = {"loss": self.loss_sum / n, "acc": 100.0 * self.correct / max(self.total, 1),
               "sops": self.spikes / n, "sops_per_step": self.spikes / n / max(self.T, 1)}
        if self.total_labelled:
            out["acc_labelled"] = 100.0 * self.correct_labelled / self.total_labelled
        return out


def evaluate(backend, spec, params: dict, batches: Iterable, *, dtype=np.float64,
             x_transform: Callable | None = None, runner: Callable | None = None,
             on_batch: Callable | None = None, total: int | None = None) -> dict:
    """Scores of ``params`` over ``batches`` of ``(x, y)`` (:meth:`Tally.result`).

    ``backend`` runs the forward pass and the loss (``grads=False``).
    ``x_transform(x, batch_index) -> x`` perturbs each input batch (e.g. input noise);
    ``runner(spec, params, x) -> (outputs, num_spikes)`` replaces the backend (e.g. the
    spike-deletion loop of analysis.robustness); the loss is then computed from the outputs.
    ``on_batch(done, total)`` is called after every batch (progress, and the trainer's Ctrl-C
    check: it may raise to abandon the evaluation); ``total`` is the number of batches if known.
    """
    tally = Tally(spec)
    for i, (x, y) in enumerate(batches):
        if x_transform is not None:
            x = x_transform(x, i)
        T = x.shape[0]
        if runner is not None:
            out, ns = runner(spec, params, x)
            tally.add(out, y, ns, T)
        else:
            res = backend.run(spec, params, x, official_targets(y), grads=False, dtype=dtype)
            tally.add(res.outputs, y, res.num_spikes, T, res.loss)
        if on_batch is not None:
            on_batch(i + 1, total)
    return tally.result()


def evaluate_dataset(backend, spec, params: dict, dataset, batch: int, dtype, sparse: bool,
                     on_batch: Callable | None = None) -> dict:
    """:func:`evaluate` over a whole :class:`resonet.data.Dataset` split, in order (the batches of
    ``iterate_batches(shuffle=False)``; ``sparse``: SpikeEvents input; ``on_batch(done, total)``
    after every batch)."""
    from .data import iterate_batches
    from .data.batching import num_batches

    batches = iterate_batches(dataset, batch, seed=0, epoch=0, shuffle=False, sparse=sparse,
                              dtype=dtype)
    return evaluate(backend, spec, params, batches, dtype=dtype, on_batch=on_batch,
                    total=num_batches(len(dataset), batch))
