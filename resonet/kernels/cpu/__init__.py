"""Fused ``@njit(parallel=True)`` CPU kernels: forward and BPTT of every model, event-driven.

- :class:`CpuBackend` (``get_backend("cpu")``): the :class:`resonet.contract.Backend` contract.
- :func:`tape_bytes_per_sample`: bytes the forward keeps per sample for BPTT.
- One module per neuron model of the registry, named like the model's module in resonet.neurons:
  its cell step ``cell_forward`` and VJP ``cell_backward`` (same arguments in every model,
  :class:`resonet.kernels.contract.CpuKernels`), its constants' layout and its compiled entry
  points ``forward``/``backward``;
- :mod:`.network` (the fused loops over time, written once as templates the entry points
  inline), :mod:`.inputs` (event-driven input currents and their weight gradients),
  :mod:`.spikebits` (spike index lists and tape bits), :mod:`.surrogate` (σ', the vectorisable
  exp, the common constants), :mod:`.readout` (LI readout and loss), :mod:`.csr` (dense input
  to events), :mod:`.intrinsics` (hand-written LLVM IR), :mod:`.config` (numerical knobs).

Design, tape layout and measured numbers: docs/cpu-kernels.md; float32 vs float64:
docs/numerics.md.
"""

from .config import drop_stale_cache

drop_stale_cache()

from .backend import CpuBackend, allocate_tape, as_events, tape_bytes_per_sample  # noqa: E402

__all__ = ["CpuBackend", "allocate_tape", "as_events", "tape_bytes_per_sample"]
