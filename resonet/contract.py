"""The engine contracts: what a backend is (:class:`Backend`), what it returns for a batch
(:class:`Result`), and the training session it runs a run on (:class:`Session`), with the two
constants every engine shares (:data:`DTYPES`, :data:`BACKEND_NAMES`).

This module imports no engine, so the engines (:mod:`resonet.kernels.cpu`,
:mod:`resonet.kernels.cuda`) can import it without importing each other or the registry
(:mod:`resonet.backends`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

# The precisions every engine runs: float64 for checks (the parity with the golden vectors, the
# gradient check; the default of Backend.run), float32 for speed (each fast engine's
# ``train_dtype``). Declared once; settings, verify and the engines read it.
DTYPES: dict[str, type[np.floating]] = {"float32": np.float32, "float64": np.float64}
CHECK_DTYPE = "float64"

# The engines, in the order of --backend's choices: the default (fused CPU kernels) first.
BACKEND_NAMES = ("cpu", "cuda", "reference")
DEFAULT_BACKEND = "cpu"


@dataclass
class Result:
    """What a backend returns for one batch."""

    outputs: np.ndarray  # (T_rec, B, C) recorded readout
    num_spikes: np.ndarray  # (B,) hidden spikes per sample over all T steps
    loss: float | None = None  # summed loss (eq. (N10)); None without labels
    grads: dict | None = None  # d loss / d parameter, keyed like params
    dx: np.ndarray | None = None  # d loss / d input (T, B, I), when asked for
    states: dict | None = None  # state name -> (T, B, H), when asked for


class Session(Protocol):
    """A training run on one engine: it holds the parameters and the optimizer state (on the host
    for ``reference`` and ``cpu``, :class:`resonet.session.HostSession`; on the device for
    ``cuda``) and takes batches as sample indices of its data sets, so the trainer has one path.

    - ``train_batch(indices, lr=None, split="train") -> dict``: one step (forward, loss, BPTT,
      masks, clipping, optimizer, bounds); returns ``loss`` (summed, eq. (N10)),
      ``correct``/``total``, ``n``, ``spikes``, ``clamps`` and ``nonfinite`` (None, ``"loss"``
      or the first parameter with a NaN/Inf gradient: then nothing was updated);
    - ``evaluate(split, batch, on_batch=None) -> dict``: the scores of
      :func:`resonet.evaluation.evaluate` on a split (``on_batch(done, total)`` after every
      batch; it may raise to abandon the evaluation);
    - ``pull() -> (params, optimizer_state_dict)``: bring the caller's parameter dict and
      optimizer up to date (before a checkpoint); ``push(params=None, optimizer=None)``: upload
      them again (after a resume).
    """

    def train_batch(self, indices: Any, lr: float | None = None, split: str = "train") -> dict: ...

    def evaluate(self, split: str, batch: int, on_batch: Any = None) -> dict: ...

    def pull(self) -> tuple[dict, dict]: ...

    def push(self, params: dict | None = None, optimizer: Any = None) -> None: ...


class Backend(Protocol):
    """An engine. What it knows about itself it declares here, so no caller knows its internals.

    - ``name``; ``accepts_events``: whether it takes :class:`resonet.events.SpikeEvents` for what
      they are (skipping zeros), so that event data sets are fed to it as events;
      ``train_dtype``: the precision it trains in by default (a name of :data:`DTYPES`);
      ``on_device``: whether a run's working memory lives on an accelerator.
    - ``run(spec, params, x, y=None, *, grads, dtype, truncation, return_states, return_dx,
      spike) -> Result``: ``spec`` a :class:`resonet.spec.NetworkSpec`, ``params`` the parameter
      dict, ``x`` a dense (T, B, I) array or SpikeEvents, ``y`` labels (B,) or (T, B) (none:
      forward only). ``grads`` asks for BPTT, ``dtype`` float64 (:data:`CHECK_DTYPE`, the
      default) or float32, ``truncation`` a truncated-BPTT length
      (:func:`resonet.spec.truncation_cuts`), ``return_states``/``return_dx`` every state trace /
      the input gradient, ``spike`` the forward spike function ("heaviside", or "smooth" for
      gradient checks on the reference).
    - ``estimate_memory(spec, *, T, batch, eval_batch, dtype, threads) -> dict``: bytes the
      engine allocates for a training run beyond the parameters, the optimizer state and the
      input batches: ``gradients``, ``BPTT tape`` and ``batches`` (what it keeps per evaluated
      batch). ``free_device_memory() -> int | None``: free memory where ``on_device`` (None if
      unknown or not on a device).
    - ``session(spec, params, optimizer, datasets, dtype, *, clip, truncation, masks) ->
      Session``: the training session of a run (:class:`Session`).
    """

    name: str
    accepts_events: bool
    train_dtype: str
    on_device: bool

    def run(self, spec: Any, params: dict, x: Any, y: Any = None, *, grads: bool = True,
            dtype: Any = np.float64, truncation: int | None = None, return_states: bool = False,
            return_dx: bool = False, spike: str = "heaviside") -> Result: ...

    def estimate_memory(self, spec: Any, *, T: int, batch: int, eval_batch: int, dtype: Any,
                        threads: int | None = None) -> dict[str, int]: ...

    def free_device_memory(self) -> int | None: ...

    def session(self, spec: Any, params: dict, optimizer: Any, datasets: dict, dtype: Any, *,
                clip: float | None = None, truncation: int | None = None,
                masks: dict | None = None) -> Session: ...


def feeds_events(backend: Backend, dataset: Any) -> bool:
    """Whether batches of ``dataset`` go to ``backend`` as SpikeEvents: an event data set (SHD's
    spikes, ``Dataset.is_events``) and an engine that skips zeros (``accepts_events``)."""
    return bool(backend.accepts_events and getattr(dataset, "is_events", False))
