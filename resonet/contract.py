"""The backend contract: one call that runs forward (+ loss + BPTT) on a batch, whatever engine
does it. Engines implement :class:`Backend`; :mod:`resonet.backends` keeps the registry of them.

This module imports no engine, so the engines (:mod:`resonet.kernels.cpu`,
:mod:`resonet.kernels.cuda`) can import it without importing each other or the registry.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Result:
    """What a backend returns for one batch."""

    outputs: np.ndarray  # (T_rec, B, C) recorded readout
    num_spikes: np.ndarray  # (B,) hidden spikes per sample over all T steps
    loss: float | None = None  # summed loss (eq. (N10)); None without labels
    grads: dict | None = None  # d loss / d parameter, keyed like params
    dx: np.ndarray | None = None  # d loss / d input (T, B, I), when asked for
    states: dict | None = None  # state name -> (T, B, H), when asked for


class Backend:
    """Interface of an engine.

    ``run(spec, params, x, y=None, *, grads, dtype, truncation, return_states, return_dx, spike)``:
    ``spec`` a :class:`resonet.spec.NetworkSpec`, ``params`` the parameter dict, ``x`` a dense
    (T, B, I) array or :class:`resonet.events.SpikeEvents`, ``y`` labels (B,) or (T, B) (none:
    forward only). ``grads`` asks for BPTT, ``dtype`` float64 (the spec) or float32,
    ``truncation`` a truncated-BPTT length (:func:`resonet.spec.truncation_cuts`),
    ``return_states``/``return_dx`` every state trace / the input gradient, ``spike`` the forward
    spike function ("heaviside", or "smooth" for gradient checks on the reference).
    """

    name = "abstract"

    def run(
        self,
        spec,
        params: dict,
        x,
        y=None,
        *,
        grads: bool = True,
        dtype=np.float64,
        truncation: int | None = None,
        return_states: bool = False,
        return_dx: bool = False,
        spike: str = "heaviside",
    ) -> Result:
        raise NotImplementedError
