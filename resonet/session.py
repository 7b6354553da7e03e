"""A training run on the host: the :class:`resonet.contract.Session` of the backends that run on
host arrays (``reference``, ``cpu``; ``cuda`` keeps its run on the device), so that
:class:`resonet.train.Trainer` has one path.

One training step (:meth:`HostSession.train_batch`): the batch of the given sample indices
(``Dataset.batch``) → ``backend.run`` (forward, loss, BPTT) → the gradients of pruned weights set
to 0 (``masks``, :mod:`resonet.pruning`) → stop before the update if the loss
or a gradient is not finite → global-norm clipping → ``Optimizer.step`` → the projection onto the
model's bounds (``BOUNDS``, e.g. BRF |ω| < 1/δ_p). The parameters and the optimizer are the
caller's objects, updated in place, so :meth:`pull` and :meth:`push` only hand them over.
"""

from __future__ import annotations

import math

import numpy as np

from .contract import feeds_events
from .errors import ConfigError
from .evaluation import evaluate_dataset, official_targets
from .loss import accuracy_counts
from .neurons.model import project
from .optim import clip_grad_norm
from .pruning import mask_grads


class HostSession:
    """A training run driven from the host; see the module docstring.

    ``datasets`` maps split names (``train``, ``val``, ``test``) to :class:`resonet.data.Dataset`;
    a split's batches go to the backend as SpikeEvents where both take them
    (:func:`resonet.contract.feeds_events`), or as ``sparse`` says when it is given; ``masks``
    maps parameter names to bool arrays, False where a weight is pruned (its gradient is zeroed
    every step).
    """

    def __init__(self, backend, spec, params: dict, optimizer, datasets: dict, dtype, *,
                 clip: float | None = None, truncation: int | None = None,
                 sparse: bool | None = None, masks: dict | None = None):
        self.backend = backend
        self.spec = spec
        self.params = params
        self.opt = optimizer
        self.data = dict(datasets)
        self.dtype = dtype
        self.clip = float(clip) if clip else None
        self.truncation = int(truncation) if truncation else None
        self.sparse = sparse
        self.masks = masks

    def push(self, params: dict | None = None, optimizer=None) -> None:
        """Use these parameters and optimizer from now on (after a resume)."""
        if params is not None:
            self.params = params
        if optimizer is not None:
            self.opt = optimizer

    def pull(self) -> tuple[dict, dict]:
        """``(params, optimizer.state_dict())``: the host objects are always current."""
        return self.params, self.opt.state_dict()

    def train_batch(self, indices, lr: float | None = None, split: str = "train") -> dict:
        """One training step on the samples ``indices`` (positions in the split).

        Returns ``loss`` (summed over recorded steps, eq. (N10)), ``correct``/``total`` (the
        official accuracy counts), ``n`` (B), ``spikes``, ``clamps`` (entries projected onto
        the model's bounds) and ``nonfinite``: None, or ``"loss"`` / the first parameter name
        with a NaN/Inf gradient, in which case nothing was updated.
        """
        ds = self.data[split]
        x, y = ds.batch(np.asarray(indices), sparse=self._sparse(ds), dtype=self.dtype)
        if lr is not None:
            self.opt.lr = float(lr)
        res = self.backend.run(self.spec, self.params, x, official_targets(y), dtype=self.dtype,
                               truncation=self.truncation)
        mask_grads(res.grads, self.masks)
        bad = None
        if not math.isfinite(res.loss):
            bad = "loss"
        else:
            for name, g in res.grads.items():
                if not np.all(np.isfinite(g)):
                    bad = name
                    break
        clamps = 0
        if bad is None:
            if self.clip:
                clip_grad_norm(res.grads, self.clip)
            self.opt.step(res.grads)
            clamps = project(self.spec.model, self.spec, self.params)
        T = ds.T
        c, t = accuracy_counts(res.outputs, official_targets(y), self.spec.recorded(T), T)
        return {"loss": res.loss, "correct": c, "total": t, "n": y.shape[-1],
                "spikes": float(res.num_spikes.sum()), "clamps": clamps, "nonfinite": bad}

    def evaluate(self, split: str, batch: int, on_batch=None) -> dict:
        """Scores of the current parameters on a split (:func:`resonet.evaluation.evaluate`;
        ``on_batch(done, total)`` after every batch)."""
        if batch < 1:
            raise ConfigError(f"batch must be >= 1, got {batch}")
        ds = self.data[split]
        return evaluate_dataset(self.backend, self.spec, self.params, ds, batch, self.dtype,
                                self._sparse(ds), on_batch=on_batch)

    def _sparse(self, ds) -> bool:
        return feeds_events(self.backend, ds) if self.sparse is None else self.sparse
