"""Moved to :mod:`resonet.kernels.cuda.simulator` (benchmarks use it too); kept for callers of the
old name."""

from resonet.kernels.cuda.simulator import install

__all__ = ["install"]
