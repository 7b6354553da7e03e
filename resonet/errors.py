"""Typed errors of the library.

The library raises these; only the command-line entry points turn them into a one-line message
and an exit code (see :mod:`resonet.cli`). Every message names the thing that is wrong (a file,
a parameter, a tensor) and, where there is one, the fix.
"""

from __future__ import annotations


class ResonetError(Exception):
    """Base class of every error resonet raises on purpose."""


class ConfigError(ResonetError, ValueError):
    """A setting, shape or parameter value is out of range or inconsistent."""


class DataError(ResonetError):
    """A data file is missing, corrupt, truncated or has the wrong layout."""


class CheckpointError(ResonetError):
    """A checkpoint or run directory is missing, corrupt or would be overwritten."""


class NumericalError(ResonetError, ArithmeticError):
    """A NaN or Inf appeared (or would appear) in a state, a loss or a gradient."""
