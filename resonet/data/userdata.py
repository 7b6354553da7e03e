"""A user's split from either kind of file of resonet's format (docs/data.md, "Your own data"):
``.npz`` (:mod:`.custom`, read whole) or ``.h5`` (:mod:`.custom_h5`, read batch by batch), told
apart by their first bytes, or from a mapping of arrays in the same layout.

- :func:`probe`: what a run's settings need (N, T, I, form, label kind, classes), samples unread;
- :func:`open_split`: the split as a :class:`resonet.data.Dataset` for training;
- :func:`read_split`: the split in memory, checked, as :class:`resonet.data.SplitArrays`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import DataError
from .custom import FileInfo, SplitArrays, file_kind, from_arrays, from_dataset, probe_npz, read_npz
from .custom_h5 import open_h5, probe_h5
from .dataset import Dataset


def probe(path: str | os.PathLike[str], *, dt: float | None = None) -> FileInfo:
    """The sizes, label kind and classes of a split file; its labels are checked, its samples
    are not read (:func:`open_split` checks them)."""
    path = Path(path)
    return probe_h5(path) if file_kind(path) == "h5" else probe_npz(path)


def open_split(path: str | os.PathLike[str], *, name: str, n_out: int, dt: float | None = None
               ) -> Dataset:
    """The split of a file as a dataset with C = ``n_out`` classes, every value checked: an
    ``.npz`` file in memory, an ``.h5`` file read batch by batch."""
    path = Path(path)
    if file_kind(path) == "h5":
        return open_h5(path, dt=dt, name=name, n_out=n_out)
    return read_npz(path, dt=dt).dataset(name=name, n_out=n_out)


def read_split(source: Any, *, dt: float | None = None, where: str | None = None) -> SplitArrays:
    """A split, read and checked: ``source`` is the path of an ``.npz`` or ``.h5`` file (read
    whole, here) or a mapping of arrays in the file layout. ``dt``: seconds per step for events
    given as ``time`` (overrides the file's ``dt``)."""
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if file_kind(path) == "h5":
            return from_dataset(open_h5(path, dt=dt, name=str(path), n_out=None).resident())
        return read_npz(path, dt=dt, where=where)
    if isinstance(source, Mapping):
        return from_arrays(source, where=where or "arrays", dt=dt)
    raise DataError(f"{where or 'split'}: expected the path of an .npz/.h5 file or a mapping of "
                    f"arrays, got {type(source).__name__}")
