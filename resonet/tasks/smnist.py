"""Sequential MNIST: the 784 pixels of a digit, one per step (x_t = pixel_t / 255); only the last
step is recorded, as in the official S-MNIST script."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..data import mnist
from ..data.dataset import DenseDataset
from ..errors import ConfigError
from .model import Loaded, Task


def load_mnist(d: Path, *, name: str, download: bool, base_url: str | None = None,
               perm_seed: int | None = None, split_seed: int = 0,
               permutation: np.ndarray | None = None) -> Loaded:
    """The MNIST IDX files as sequences; with ``perm_seed`` (PS-MNIST) a fixed time permutation,
    or with ``permutation`` a given pixel order (int (784,), e.g. an official run's; overrides
    the seed)."""
    files = mnist.find_mnist(d)
    if files is None and download:
        files = mnist.fetch_mnist(d, base_url=base_url)
    if files is None:
        raise mnist.missing_error(d)
    data = mnist.read_mnist(files)
    info: dict[str, Any] = {"files": {k: str(p) for k, p in files.items()}}
    perm = None
    if permutation is not None:
        perm = np.asarray(permutation)
        if perm.shape != (mnist.T_MNIST,) or not np.array_equal(np.sort(perm),
                                                                 np.arange(mnist.T_MNIST)):
            raise ConfigError(f"permutation must be a permutation of 0..{mnist.T_MNIST - 1}")
        perm = perm.astype(np.int64)
        info["perm_seed"] = None
        info["permutation"] = perm.tolist()
    elif perm_seed is not None:
        perm = mnist.permutation(perm_seed)
        info["perm_seed"] = perm_seed
        info["permutation"] = perm.tolist()
    sets = {}
    for split, (x, y) in data.items():
        sets[split] = DenseDataset(
            x=x,
            divisor=255.0,
            time_perm=perm,
            name=f"{name}/{split}",
            n_in=1,
            n_out=10,
            T=mnist.T_MNIST,
            labels=y,
            per_step_labels=False,
            synthetic=False,
            source=str(files[f"{split}_images"].parent),
        )
    extra = {} if perm is None else {"permutation": perm}
    return Loaded(sets["train"], sets["test"], info, extra=extra)


def load(d: Path, *, split_seed: int, download: bool, explicit_dir: bool,
         synthetic: bool | None = None, base_url: str | None = None) -> Loaded:
    return load_mnist(d, name="smnist", download=download, base_url=base_url)


TASK = Task(
    name="smnist",
    summary="sequential MNIST: 784 pixels one per step, 10 classes, the last step scored",
    files="the four MNIST IDX files",
    n_in=1, n_out=10, T=mnist.T_MNIST, n_hidden=256,
    labels="last",
    events=False,
    loader=load,
    options=frozenset({"base_url"}),
)
