"""Permuted sequential MNIST: S-MNIST with a fixed permutation of the 784 steps
(``default_rng(perm_seed).permutation(784)``, ``perm_seed`` defaulting to the split seed, or a
given ``permutation``, int (784,), e.g. an official run's, which overrides the seed); every step
is recorded, as in the official PS-MNIST script."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..data import mnist
from .model import Loaded, Task
from .smnist import load_mnist


def load(d: Path, *, split_seed: int, download: bool, explicit_dir: bool,
         synthetic: bool | None = None, base_url: str | None = None,
         perm_seed: int | None = None, permutation: np.ndarray | None = None) -> Loaded:
    ps = split_seed if perm_seed is None else perm_seed
    return load_mnist(d, name="psmnist", download=download, base_url=base_url, perm_seed=ps,
                      permutation=permutation)


TASK = Task(
    name="psmnist",
    summary="permuted sequential MNIST: S-MNIST with a fixed permutation of the steps",
    files="the four MNIST IDX files",
    n_in=1, n_out=10, T=mnist.T_MNIST, n_hidden=256,
    labels="sample",
    events=False,
    loader=load,
    options=frozenset({"base_url", "perm_seed", "permutation"}),
)
