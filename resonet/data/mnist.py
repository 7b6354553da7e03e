"""Sequential MNIST (S-MNIST) and permuted sequential MNIST (PS-MNIST).

**Files**: the four standard IDX files, gzipped or not, found in ``D``, ``D/mnist`` or
``D/MNIST/raw`` (torchvision's layout):
``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``,
``t10k-labels-idx1-ubyte`` (each optionally ``.gz``).

IDX layout: bytes 0–1 zero, byte 2 the type code (0x08 = uint8), byte 3 the number of dimensions
d, then d big-endian uint32 sizes, then the data in C order. Images are (N, 28, 28), labels (N,).

**Sequences.** An image becomes 784 steps of one scalar input in row-major pixel order,
x_t = pixel_t / 255 (float32 division, exactly torchvision's ``ToTensor``; no normalisation, no
spike encoding), shape (784, B, 1). PS-MNIST applies one fixed permutation,
x̃_t = x_{perm[t]} with ``perm = numpy.random.default_rng(perm_seed).permutation(784)``; the
permutation and its seed go into the task info and ``TaskData.save`` writes the array to the run.

**Splits**: 60,000 training images → 54,000 train / 6,000 validation (seeded), 10,000 test.
"""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

import numpy as np

from ..errors import DataError
from .download import download

FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
SEARCH_SUBDIRS = ("mnist", "MNIST/raw")
T_MNIST = 784
ENV_MNIST_URL = "RESONET_MNIST_URL"
MNIST_BASE_URL = "https://ossci-datasets.s3.amazonaws.com/mnist"  # torchvision's mirror
# MD5 of the gzipped files (identical on yann.lecun.com and the mirror); the values torchvision
# hard-codes, confirmed by several independent loaders.
MNIST_GZ_MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}


def _where_to_put(data_dir: Path) -> str:
    return (
        f"put the four MNIST IDX files ({', '.join(FILES.values())}, optionally .gz) into "
        f"{data_dir / 'mnist'}, or run python -m resonet.data fetch mnist --data-dir {data_dir} "
        "when online"
    )


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a uint8 IDX file (gzip detected from the magic bytes); validates the header and size."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            raw = f.read()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(
            f"{path}: cannot read ({exc}); the file is truncated or not gzip, download it again"
        ) from exc
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise DataError(f"{path}: not an IDX file (bad magic number); use the MNIST IDX files")
    if raw[2] != 0x08:
        raise DataError(f"{path}: IDX type code 0x{raw[2]:02x}, expected 0x08 (uint8)")
    ndim = raw[3]
    head = 4 + 4 * ndim
    if ndim == 0 or len(raw) < head:
        raise DataError(f"{path}: truncated IDX header; download the file again")
    shape = tuple(int(v) for v in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    size = int(np.prod(shape))
    if len(raw) - head != size:
        raise DataError(
            f"{path}: {'truncated' if len(raw) - head < size else 'too long'}: "
            f"header says {shape} = {size} bytes of data, found {len(raw) - head}; "
            "download the file again"
        )
    return np.frombuffer(raw, np.uint8, count=size, offset=head).reshape(shape)


def find_mnist(data_dir: Path) -> dict[str, Path] | None:
    """Paths of the four files if all are found in one searched folder (raw preferred over .gz)."""
    for d in [data_dir] + [data_dir / s for s in SEARCH_SUBDIRS]:
        found = {}
        for key, name in FILES.items():
            for cand in (d / name, d / f"{name}.gz"):
                if cand.is_file():
                    found[key] = cand
                    break
        if len(found) == 4:
            return found
    return None


def read_mnist(files: dict[str, Path]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{"train": (x uint8 (N, 784), y int64 (N,)), "test": (...)}``, validated."""
    out = {}
    for split in ("train", "test"):
        img_p, lab_p = files[f"{split}_images"], files[f"{split}_labels"]
        img, lab = read_idx(img_p), read_idx(lab_p)
        if img.ndim != 3 or img.shape[1:] != (28, 28):
            raise DataError(f"{img_p}: images have shape {img.shape}, expected (N, 28, 28)")
        if lab.ndim != 1:
            raise DataError(f"{lab_p}: labels have shape {lab.shape}, expected (N,)")
        if img.shape[0] != lab.shape[0]:
            raise DataError(
                f"{lab_p}: {lab.shape[0]} labels for {img.shape[0]} images in "
                f"{img_p.name}; the files do not belong together"
            )
        if lab.size and lab.max() > 9:
            raise DataError(f"{lab_p}: labels must lie in 0..9, found {int(lab.max())}")
        out[split] = (img.reshape(img.shape[0], T_MNIST), lab.astype(np.int64))
    return out


def mnist_base_url(base_url: str | None = None) -> str:
    """Download base URL: argument > ``$RESONET_MNIST_URL`` > :data:`MNIST_BASE_URL`."""
    return (base_url or os.environ.get(ENV_MNIST_URL, "").strip() or MNIST_BASE_URL).rstrip("/")


def fetch_mnist(
    data_dir: Path,
    *,
    base_url: str | None = None,
    checksums: dict[str, str] | None = None,
    timeout: float = 60.0,
) -> dict[str, Path]:
    """Download the four gzipped IDX files into ``data_dir/mnist`` (MD5-checked, atomic)."""
    sums = MNIST_GZ_MD5 if checksums is None else checksums
    dest = Path(data_dir) / "mnist"
    base = mnist_base_url(base_url)
    out = {}
    for key, name in FILES.items():
        target = dest / f"{name}.gz"
        if not (target.is_file() or (dest / name).is_file()):
            download(f"{base}/{name}.gz", target, md5=sums.get(f"{name}.gz"), timeout=timeout)
        out[key] = target if target.is_file() else dest / name
    return out


def permutation(perm_seed: int) -> np.ndarray:
    """The PS-MNIST pixel order: ``default_rng(perm_seed).permutation(784)`` (int64)."""
    return np.random.default_rng(perm_seed).permutation(T_MNIST).astype(np.int64)


def missing_error(data_dir: Path) -> DataError:
    return DataError(f"{data_dir}: MNIST files not found; {_where_to_put(data_dir)}")
