"""Where a training run stands (:class:`TrainState`): position in the schedule, the running sums
of the epoch in progress, the best validation loss so far, the history of evaluated epochs.

It is what ``last.npz`` stores besides the parameters and the optimizer state (``train/...``,
:mod:`resonet.checkpoint`), under the names older checkpoints use, so every checkpoint written
since the first version resumes.
"""

from __future__ import annotations

import json
import math
from dataclasses import astuple, dataclass, field

import numpy as np

from .checkpoint import Checkpoint
from .errors import CheckpointError


@dataclass
class Running:
    """Sums over the batches of the epoch in progress (the progress line and the epoch's training
    scores come from them). Stored as the 6-vector ``running`` in this order."""

    loss_b: float = 0.0  # Σ_batches (summed loss / recorded steps) · B
    correct: float = 0.0  # official accuracy counts
    total: float = 0.0
    samples: float = 0.0
    spikes: float = 0.0
    seconds: float = 0.0  # time in training steps

    def add(self, loss_per_step_b: float, correct: int, total: int, samples: int,
            spikes: float) -> None:
        self.loss_b += loss_per_step_b
        self.correct += correct
        self.total += total
        self.samples += samples
        self.spikes += spikes

    def to_array(self) -> np.ndarray:
        return np.array(astuple(self), dtype=np.float64)

    @classmethod
    def from_array(cls, a) -> Running:
        a = np.asarray(a, dtype=np.float64)
        if a.shape != (6,):
            raise ValueError(f"running sums have shape {a.shape}, expected (6,)")
        return cls(*(float(v) for v in a))


@dataclass
class TrainState:
    """Where a run stands; see the module docstring."""

    epoch: int = 0  # completed training epochs
    batch: int = 0  # batches of the current epoch done
    running: Running = field(default_factory=Running)
    best_val: float = math.inf
    best_epoch: int = -1
    clamps: int = 0  # entries projected onto the model's bounds so far
    history: list[dict] = field(default_factory=list)

    def evaluated(self, epoch: int) -> bool:
        return any(r["epoch"] == epoch for r in self.history)

    def to_checkpoint(self) -> dict:
        """The ``train/...`` arrays of ``last.npz`` ("omega_clamps": the projection count under
        its first name, so that checkpoints stay readable both ways)."""
        return {"epoch": self.epoch, "batch": self.batch, "running": self.running.to_array(),
                "best_val": self.best_val, "best_epoch": self.best_epoch,
                "omega_clamps": self.clamps, "history_json": json.dumps(self.history)}

    @classmethod
    def from_checkpoint(cls, ck: Checkpoint) -> TrainState:
        t = ck.train
        try:
            return cls(epoch=int(t["epoch"]), batch=int(t["batch"]),
                       running=Running.from_array(t["running"]),
                       best_val=float(t["best_val"]), best_epoch=int(t["best_epoch"]),
                       clamps=int(t["omega_clamps"]), history=json.loads(str(t["history_json"])))
        except (KeyError, ValueError, TypeError) as exc:
            raise CheckpointError(f"{ck.path}: incomplete training state ({exc})") from None
