"""Sequential MNIST (S-MNIST) and permuted sequential MNIST (PS-MNIST).

**Files**: the four standard IDX files, gzipped or not, found in ``D``, ``D/mnist`` or
``D/MNIST/raw`` (torchvision's layout):
``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``,
``t10k-labels-idx1-ubyte`` (each optionally ``.gz``; the names with a dot before ``idx``, e.g.
``train-images.idx3-ubyte`` as some archives unpack them, are found too).

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
import hashlib
import os
import zlib
from pathlib import Path

import numpy as np

from ..errors import DataError
from .download import base_urls, download_first, expected_checksum

FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
SEARCH_SUBDIRS = ("mnist", "MNIST/raw")
T_MNIST = 784
ENV_MNIST_URL = "RESONET_MNIST_URL"
# Mirrors of the original files, tried in this order (the original host, yann.lecun.com, has
# refused downloads with HTTP 403 at times, so it comes last).
MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist",  # torchvision's mirror
    "https://storage.googleapis.com/cvdf-datasets/mnist",  # TensorFlow's mirror
    "https://yann.lecun.com/exdb/mnist",
)
# MD5 of the *uncompressed* files (the canonical MNIST values; torchvision and others check the
# same content). Downloads and files already present are checked on their content, so a mirror
# that gzips with other header bytes is accepted and a re-compressed local copy too.
MNIST_MD5 = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}


def candidate_names(name: str) -> tuple[str, ...]:
    """File names of one IDX file, in order of preference: raw, gzipped, then the dotted forms."""
    dotted = name.replace("-idx", ".idx")
    return (name, f"{name}.gz", dotted, f"{dotted}.gz")


def _where_to_put(data_dir: Path) -> str:
    return (
        f"put the four MNIST IDX files ({', '.join(FILES.values())}, optionally .gz) into "
        f"{data_dir / 'mnist'}, or run python -m resonet.data fetch mnist --data-dir {data_dir} "
        "when online"
    )


def _idx_bytes(path: Path) -> bytes:
    """The IDX content of a file, gunzipped when it starts with gzip's magic bytes."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(
            f"{path}: cannot read ({exc}); the file is truncated or not gzip, download it again"
        ) from exc
    return raw


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a uint8 IDX file (gzip detected from the magic bytes); validates the header and size."""
    path = Path(path)
    raw = _idx_bytes(path)
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
            for cand in candidate_names(name):
                if (d / cand).is_file():
                    found[key] = d / cand
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


def mnist_base_urls(base_url: str | list[str] | None = None) -> list[str]:
    """Download mirrors: argument > ``$RESONET_MNIST_URL`` (space-separated) > :data:`MNIST_MIRRORS`."""
    return base_urls(base_url, ENV_MNIST_URL, MNIST_MIRRORS)


def content_md5(path: Path) -> str:
    """MD5 of the IDX content of a file, gzipped or not."""
    return hashlib.md5(_idx_bytes(path)).hexdigest()


def verify_mnist_file(path: Path, name: str, checksums: dict[str, str] | None = None) -> None:
    """Check the content of one IDX file (``name``: its canonical name) against its MD5."""
    want = expected_checksum(MNIST_MD5 if checksums is None else checksums, name)
    got = content_md5(path)
    if got != want:
        raise DataError(
            f"{path}: checksum mismatch (md5 of the content {got}, expected {want}): the file is "
            f"corrupt or not the published {name}; delete it and run python -m resonet.data fetch "
            "mnist again"
        )


def fetch_mnist(
    data_dir: Path,
    *,
    base_url: str | list[str] | None = None,
    checksums: dict[str, str] | None = None,
    timeout: float = 60.0,
) -> dict[str, Path]:
    """Make sure the four IDX files are in the data directory, downloading what is missing.

    Files already present (all four in one searched folder, else each in ``data_dir/mnist``) are
    checked against the MD5 of their content; missing ones are downloaded gzipped from the first
    mirror that works (:data:`MNIST_MIRRORS`, or ``base_url``) into ``data_dir/mnist``, atomically
    and checked before they are kept. ``checksums`` maps canonical (uncompressed) name → MD5.
    """
    sums = MNIST_MD5 if checksums is None else checksums
    found = find_mnist(Path(data_dir))
    dest = Path(data_dir) / "mnist"
    wants = {name: expected_checksum(sums, name) for name in FILES.values()}  # before any download
    out = {}
    for key, name in FILES.items():
        want = wants[name]
        p = found[key] if found else next(
            (dest / c for c in candidate_names(name) if (dest / c).is_file()), None)
        if p is not None:
            verify_mnist_file(p, name, sums)
        else:

            def check(tmp: Path, want: str = want, name: str = name) -> None:
                got = content_md5(tmp)
                if got != want:
                    raise DataError(f"checksum mismatch (md5 of the content {got}, expected {want})")

            urls = [f"{b}/{name}.gz" for b in mnist_base_urls(base_url)]
            p = download_first(urls, dest / f"{name}.gz", check=check, timeout=timeout)
        out[key] = p
    return out


def permutation(perm_seed: int) -> np.ndarray:
    """The PS-MNIST pixel order: ``default_rng(perm_seed).permutation(784)`` (int64)."""
    return np.random.default_rng(perm_seed).permutation(T_MNIST).astype(np.int64)


def missing_error(data_dir: Path) -> DataError:
    return DataError(f"{data_dir}: MNIST files not found; {_where_to_put(data_dir)}")
