"""Spiking Heidelberg Digits (SHD): reading, validating, binning and fetching.

**File layout** (Cramer et al. 2020; ``shd_train.h5`` 8,156 samples, ``shd_test.h5`` 2,264):

- ``spikes/times``  (N,) variable-length float arrays, spike times in seconds (float16 in the
  published files);
- ``spikes/units``  (N,) variable-length integer arrays, the cochlear channel 0..699 of each spike;
- ``labels``        (N,) integers 0..19 (0–9 English, 10–19 German digits);
- ``extra/...``     speaker ids, class names (``extra/keys``), speaker meta data; not needed here.

**Binning, resonet's default.** ``dt`` = 4 ms, ``n_steps`` = 250, 700 channels, channel = unit
(natural order, unit 0 kept). With the float64 edges ``e_i = i·dt`` (``i·dt`` computed in float64)
and ``t`` the stored time converted exactly to float64, a spike goes to the step

    i = max{ i : e_i ≤ t }        i.e. bin i holds t ∈ [i·dt, (i+1)·dt),

and is dropped if i ≥ n_steps (t ≥ 1.0 s with the defaults). Several spikes of one channel in one
bin give a single 1 (binary input, as in the paper's code).

**The official rule** (``official_binning=True``; ``binary_image_readout`` of
``experiments/SHD/generate_data_shd.py``, after Yin et al.), reproduced exactly: for
i = 0 … n_steps−1, bin i takes the not-yet-used spikes with ``times <= i*dt``. Because ``times`` is a
float16 array and ``i*dt`` a Python float, NumPy compares in float16, i.e. against the edge
``ε_i = float16(i·dt)``. So a spike goes to i = min{ i : t ≤ ε_i } (bin i holds t ∈ (ε_{i−1}, ε_i],
bin 0 only t = 0), spikes later than ε_249 ≈ 0.996 s are dropped, unit 0 is dropped and the channel
is ``700 − unit`` (channel 0 always empty, order reversed). The default differs in: half-open
[i·dt, (i+1)·dt) bins (a one-bin shift), 4 ms more data (up to 1.0 s), unit 0 kept, natural
channel order. A fixed permutation of the input channels does not matter to a fully connected
input layer.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from ..checkpoint import new_temp_file
from ..errors import ConfigError, DataError
from .download import (
    base_urls,
    download_first,
    expected_checksum,
    file_hash,
    gunzip,
    unzip_member,
    verify_file,
)

log = logging.getLogger("resonet.data")

N_CHANNELS = 700
N_CLASSES = 20
DT = 4e-3
N_STEPS = 250
N_TRAIN, N_TEST = 8156, 2264

SPLIT_FILES = {"train": "shd_train.h5", "test": "shd_test.h5"}
SEARCH_SUBDIRS = ("shd", "SHD", "hdspikes")

ENV_SHD_URL = "RESONET_SHD_URL"
# The dataset's home and its older address (same folder, same md5sums.txt), tried in this order.
SHD_MIRRORS = ("https://zenkelab.org/datasets", "https://compneuro.net/datasets")
# MD5 of the published gzip archives, as listed in the server's md5sums.txt (the official BRF
# script reads them from there); several independent loaders hard-code the same values.
SHD_GZ_MD5 = {
    "shd_train.h5.gz": "d47c9825dee33347913e8ce0f2be08b0",
    "shd_test.h5.gz": "3062a80ec0c5719404d5b02e166543b1",
}
# MD5 of the zip archives the same server offers, which tonic downloads and keeps
# (``shd_train.h5.zip``; each holds the .h5 file).
SHD_ZIP_MD5 = {
    "shd_train.h5.zip": "f3252aeb598ac776c1b526422d90eecb",
    "shd_test.h5.zip": "1503a5064faa34311c398fb0a1ed0a6f",
}
# MD5 of the unpacked files, as hard-coded by a third-party loader (norse). An unpacked file is
# accepted if it matches this value or the one resonet recorded in ``<file>.md5`` when it unpacked
# the file from an archive whose checksum matched (so a wrong value here cannot lock a user out).
SHD_H5_MD5 = {
    "shd_train.h5": "8e9877c85f29a28dd353ea6a54402667",
    "shd_test.h5": "207ad1295a0ab611e22d1734989c254e",
}
ARCHIVE_SUFFIXES = (".gz", ".zip")

_FIX_REAL = "re-download it (python -m resonet.data fetch shd) or use the published SHD file"


def _bad(path: Path | str, what: str, fix: str = _FIX_REAL) -> DataError:
    return DataError(f"{path}: {what}; {fix}")


# --------------------------------------------------------------------------------------------
# binning
# --------------------------------------------------------------------------------------------
def bin_spikes(
    times: np.ndarray,
    units: np.ndarray,
    *,
    dt: float = DT,
    n_steps: int = N_STEPS,
    n_channels: int = N_CHANNELS,
    official: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Map spikes to (step, channel) bins; returns ``(keep, step, channel)``.

    ``keep`` is a boolean mask over the input spikes (dropped: late, or unit 0 with the official
    rule); ``step``/``channel`` (int64) are given for the kept spikes. Duplicates are not merged
    here. ``times`` keeps its stored dtype: with ``official=True`` the edges are rounded to it.
    See the module docstring for both rules.
    """
    times = np.asarray(times)
    t = times.astype(np.float64)
    u = np.asarray(units).astype(np.int64)
    if official:
        # the official loop compares `times <= i*dt` in the dtype of `times` (float16 in SHD)
        edge_dtype = times.dtype if np.issubdtype(times.dtype, np.floating) else np.float64
        edges = (np.arange(n_steps, dtype=np.float64) * dt).astype(edge_dtype).astype(np.float64)
        step = np.searchsorted(edges, t, side="left")
        keep = (step < n_steps) & (u > 0)
        return keep, step[keep], n_channels - u[keep]
    edges = np.arange(n_steps + 1, dtype=np.float64) * dt
    step = np.searchsorted(edges, t, side="right") - 1
    keep = (step >= 0) & (step < n_steps)
    return keep, step[keep], u[keep]


def _sorted_unique(key: np.ndarray) -> np.ndarray:
    """Sorted distinct values (merges repeated spikes of one channel in one bin).

    Sort + neighbour comparison: several times faster than ``np.unique`` (hash-based in NumPy 2).
    """
    key = np.sort(key)
    if key.size == 0:
        return key
    first = np.empty(key.shape[0], dtype=bool)
    first[0] = True
    np.not_equal(key[1:], key[:-1], out=first[1:])
    return key[first]


@dataclass
class ShdEvents:
    """Binned SHD samples: see :class:`resonet.data.dataset.EventDataset` for the storage."""

    offsets: np.ndarray  # int64 (N+1,)
    steps: np.ndarray  # int16 (nnz,)
    chans: np.ndarray  # int16 (nnz,)
    labels: np.ndarray  # int64 (N,)
    n_spikes: int  # raw spikes in the file (before binning/merging)
    synthetic: bool
    attrs: dict[str, Any]


# --------------------------------------------------------------------------------------------
# reading and validation
# --------------------------------------------------------------------------------------------
def _open(path: Path) -> h5py.File:
    if not path.is_file():
        raise DataError(f"{path}: no such file; {_FIX_REAL}")
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        msg = str(exc).split("(")[-1].rstrip(")") if "(" in str(exc) else str(exc)
        raise _bad(path, f"not a readable HDF5 file (truncated or corrupt: {msg})") from exc


def _vlen_base(path: Path, f: h5py.File, key: str) -> np.dtype:
    obj = f.get(key)
    if not isinstance(obj, h5py.Dataset):
        raise _bad(
            path, f"missing dataset '{key}' (expected the SHD layout spikes/times, spikes/units, labels)"
        )
    base = h5py.check_vlen_dtype(obj.dtype)
    if obj.ndim != 1 or base is None:
        raise _bad(
            path, f"'{key}' must be a 1-D variable-length array, got shape {obj.shape} dtype {obj.dtype}"
        )
    return np.dtype(base)


def read_shd(
    path: str | os.PathLike[str],
    *,
    dt: float = DT,
    n_steps: int = N_STEPS,
    n_channels: int = N_CHANNELS,
    n_classes: int = N_CLASSES,
    official_binning: bool = False,
    chunk: int = 512,
) -> ShdEvents:
    """Read, validate and bin one SHD file (see the module docstring for the binning rule).

    Raises :class:`DataError` naming the file and what is wrong: not HDF5/truncated, missing
    datasets, mismatched lengths, labels outside [0, n_classes), units outside [0, n_channels),
    negative or non-finite times.
    """
    path = Path(path)
    if n_steps >= 2**15 or n_channels >= 2**15:
        raise ConfigError("n_steps and n_channels must be < 32768 (stored as int16)")
    if dt <= 0:
        raise ConfigError(f"dt must be positive, got {dt}")
    with _open(path) as f:
        labels = _read_labels(path, f, n_classes)
        n = labels.shape[0]
        attrs = {k: (v.item() if getattr(v, "size", 0) == 1 else v) for k, v in f.attrs.items()}
        synthetic = bool(attrs.get("synthetic", False))

        offsets = [np.zeros(1, np.int64)]
        steps_l: list[np.ndarray] = []
        chans_l: list[np.ndarray] = []
        total = 0
        n_spikes = 0
        for a in range(0, n, chunk):
            b = min(n, a + chunk)
            try:
                tt = f["spikes/times"][a:b]
                uu = f["spikes/units"][a:b]
            except (OSError, RuntimeError, ValueError) as exc:
                raise _bad(
                    path, f"cannot read samples {a}..{b - 1} ({exc}); the file is truncated or corrupt"
                ) from exc
            binned = _bin_chunk(path, a, tt, uu, dt, n_steps, n_channels, official_binning)
            if binned is None:  # no spike in these samples
                offsets.append(np.full(b - a, total, np.int64))
                continue
            steps, chans, counts, spikes = binned
            n_spikes += spikes
            steps_l.append(steps)
            chans_l.append(chans)
            offsets.append(total + np.cumsum(counts))
            total += steps.shape[0]
    return ShdEvents(
        offsets=np.concatenate(offsets),
        steps=np.concatenate(steps_l) if steps_l else np.zeros(0, np.int16),
        chans=np.concatenate(chans_l) if chans_l else np.zeros(0, np.int16),
        labels=labels.astype(np.int64),
        n_spikes=n_spikes,
        synthetic=synthetic,
        attrs=attrs,
    )


def _read_labels(path: Path, f, n_classes: int) -> np.ndarray:
    """The labels (N,) of an open SHD file, after checking its layout: float spike times and
    integer units per sample, N of each, labels in [0, n_classes)."""
    t_base = _vlen_base(path, f, "spikes/times")
    u_base = _vlen_base(path, f, "spikes/units")
    if not np.issubdtype(t_base, np.floating):
        raise _bad(path, f"spikes/times must hold floats (seconds), got {t_base}")
    if not np.issubdtype(u_base, np.integer):
        raise _bad(path, f"spikes/units must hold integers, got {u_base}")
    lab = f.get("labels")
    if not isinstance(lab, h5py.Dataset):
        raise _bad(path, "missing dataset 'labels'")
    try:
        labels = np.asarray(lab[()])
    except OSError as exc:
        raise _bad(path, f"cannot read 'labels' ({exc})") from exc
    n = labels.shape[0] if labels.ndim == 1 else -1
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise _bad(path, f"'labels' must be a 1-D integer array, got {labels.shape} {labels.dtype}")
    for key in ("spikes/times", "spikes/units"):
        if f[key].shape[0] != n:
            raise _bad(path, f"'{key}' has {f[key].shape[0]} samples but 'labels' has {n}")
    if n and (labels.min() < 0 or labels.max() >= n_classes):
        raise _bad(
            path, f"labels must lie in [0, {n_classes}), found {int(labels.min())}..{int(labels.max())}"
        )
    return labels


def _bin_chunk(path: Path, a: int, tt, uu, dt: float, n_steps: int, n_channels: int,
               official: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, int] | None:
    """The events of samples a, a+1, … (their spike times ``tt`` and units ``uu``), checked and
    binned: ``(steps, chans, events per sample, spikes read)``; None if they hold no spike."""
    nb = len(tt)
    b = a + nb
    lens = np.fromiter((len(x) for x in tt), np.int64, count=nb)
    ulen = np.fromiter((len(x) for x in uu), np.int64, count=nb)
    if np.any(lens != ulen):
        k = a + int(np.flatnonzero(lens != ulen)[0])
        raise _bad(path, f"sample {k} has {lens[k - a]} spike times but {ulen[k - a]} units")
    if lens.sum() == 0:
        return None
    t = np.concatenate(tt)  # stored dtype (float16 in SHD)
    u = np.concatenate(uu)
    t64 = t.astype(np.float64)
    if not np.all(np.isfinite(t64)) or t64.min() < 0:
        raise _bad(path, f"samples {a}..{b - 1}: spike times must be finite and >= 0")
    if u.min() < 0 or u.max() >= n_channels:
        raise _bad(
            path,
            f"samples {a}..{b - 1}: units must lie in [0, {n_channels}), "
            f"found {int(u.min())}..{int(u.max())}",
        )
    sid = np.repeat(np.arange(nb, dtype=np.int64), lens)
    keep, s, c = bin_spikes(t, u, dt=dt, n_steps=n_steps, n_channels=n_channels, official=official)
    key = np.asarray(_sorted_unique((sid[keep] * n_steps + s) * n_channels + c))
    per = n_steps * n_channels
    sid_k = key // per
    rem = key - sid_k * per
    return ((rem // n_channels).astype(np.int16), (rem % n_channels).astype(np.int16),
            np.bincount(sid_k, minlength=nb), int(t.shape[0]))


def check_shd_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Validate an SHD-layout file completely; return a summary (raises :class:`DataError`)."""
    ev = read_shd(path)
    counts = np.bincount(ev.labels, minlength=N_CLASSES)
    return {
        "file": str(path),
        "format": "SHD HDF5",
        "samples": int(ev.labels.shape[0]),
        "spikes": ev.n_spikes,
        "mean_spikes_per_sample": ev.n_spikes / max(1, ev.labels.shape[0]),
        "classes": int(np.count_nonzero(counts)),
        "synthetic": ev.synthetic,
    }


# --------------------------------------------------------------------------------------------
# writing (used by the synthetic generator and by tests)
# --------------------------------------------------------------------------------------------
def write_shd_h5(
    path: str | os.PathLike[str],
    times: list[np.ndarray],
    units: list[np.ndarray],
    labels: np.ndarray,
    *,
    extra: dict[str, np.ndarray] | None = None,
    attrs: dict[str, Any] | None = None,
    time_dtype: Any = np.float16,
    unit_dtype: Any = np.uint16,
) -> Path:
    """Write samples in the SHD layout (atomically: a ``.part`` file renamed at the end)."""
    path = Path(path)
    n = len(labels)
    if len(times) != n or len(units) != n:
        raise ConfigError("times, units and labels must have the same number of samples")
    path.parent.mkdir(parents=True, exist_ok=True)
    # unique temporary name in the same folder: concurrent writers never clobber each other
    fd, tmp = new_temp_file(path, ".part")
    os.close(fd)
    try:
        with h5py.File(tmp, "w") as f:
            for key, data, dt_ in (("spikes/times", times, time_dtype), ("spikes/units", units, unit_dtype)):
                obj = np.empty(n, dtype=object)
                for i, x in enumerate(data):  # element-wise: equal lengths must not make a 2-D array
                    obj[i] = np.asarray(x, dtype=dt_)
                # (create_dataset(data=...) also handles equal lengths; `ds[...] = obj` does not)
                f.create_dataset(key, data=obj, dtype=h5py.vlen_dtype(np.dtype(dt_)))
            f.create_dataset("labels", data=np.asarray(labels, dtype=np.uint8))
            for name, v in (extra or {}).items():
                f.create_dataset(f"extra/{name}", data=v)
            for name, v in (attrs or {}).items():
                f.attrs[name] = v
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


# --------------------------------------------------------------------------------------------
# fetching
# --------------------------------------------------------------------------------------------
def shd_base_urls(base_url: str | list[str] | None = None) -> list[str]:
    """Download mirrors: argument > ``$RESONET_SHD_URL`` (space-separated) > :data:`SHD_MIRRORS`."""
    return base_urls(base_url, ENV_SHD_URL, SHD_MIRRORS)


def _checksums() -> dict[str, str]:
    """Every recorded SHD checksum (archives and unpacked files), read at call time."""
    return {**SHD_GZ_MD5, **SHD_ZIP_MD5, **SHD_H5_MD5}


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".md5")


def _record_md5(path: Path) -> None:
    """Write ``<file>.md5`` (md5sum format) for a file unpacked from a verified archive."""
    side = _sidecar(path)
    fd, tmp = new_temp_file(side, ".part")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(f"{file_hash(path, 'md5')}  {path.name}\n")
        os.replace(tmp, side)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def verify_shd_file(path: Path, checksums: dict[str, str] | None = None) -> None:
    """Check an unpacked SHD file: its MD5 must be the recorded one (see :data:`SHD_H5_MD5`)."""
    sums = _checksums() if checksums is None else checksums
    accepted = [sums[path.name]] if sums.get(path.name) else []
    side = _sidecar(path)
    if side.is_file():
        accepted += side.read_text().split()[:1]
    if not accepted:
        expected_checksum(sums, path.name)  # raises: no recorded checksum
    verify_file(path, accepted, f"delete it and run python -m resonet.data fetch shd --data-dir "
                f"{path.parent} again")


def _archive(folder: Path, name: str) -> Path | None:
    return next((folder / f"{name}{s}" for s in ARCHIVE_SUFFIXES if (folder / f"{name}{s}").is_file()), None)


def unpack_shd_archive(archive: Path, target: Path, checksums: dict[str, str] | None = None) -> Path:
    """Verify a ``.h5.gz``/``.h5.zip`` archive against its published MD5, then unpack it."""
    sums = _checksums() if checksums is None else checksums
    verify_file(archive, expected_checksum(sums, archive.name),
                "delete it and download it again (python -m resonet.data fetch shd), or unpack it "
                "yourself if you trust it")
    log.info("unpacking %s", archive)
    try:
        if archive.suffix == ".zip":
            unzip_member(archive, target.name, target)
        else:
            gunzip(archive, target)
        _record_md5(target)
    except OSError as exc:
        raise DataError(
            f"{target}: cannot unpack next to the archive ({exc}); unpack it yourself or copy the "
            "archive to a writable --data-dir"
        ) from exc
    return target


def _shd_folder(data_dir: Path) -> Path | None:
    """The first searched folder that holds both splits, each as .h5 or as an archive."""
    for d in [data_dir] + [data_dir / s for s in SEARCH_SUBDIRS]:
        if all((d / n).is_file() or _archive(d, n) is not None for n in SPLIT_FILES.values()):
            return d
    return None


def fetch_shd(
    data_dir: Path,
    *,
    base_url: str | list[str] | None = None,
    checksums: dict[str, str] | None = None,
    timeout: float = 60.0,
) -> dict[str, Path]:
    """Make sure ``shd_{train,test}.h5`` are in the data directory, downloading what is missing.

    Files already there (in any searched folder) are checked against their MD5; an archive there
    (``.h5.gz``, or tonic's ``.h5.zip``) is checked and unpacked. Missing files are downloaded as
    ``.h5.gz`` from the mirrors (:data:`SHD_MIRRORS`, or ``base_url``) into ``data_dir/shd``,
    checked and unpacked. ``checksums`` maps file name → MD5 (default: every recorded value);
    tests pass their own together with a local ``base_url``.
    """
    sums = _checksums() if checksums is None else checksums
    folder = _shd_folder(Path(data_dir)) or Path(data_dir) / "shd"
    out = {}
    for split, name in SPLIT_FILES.items():
        target = folder / name
        if target.is_file():
            verify_shd_file(target, sums)
        else:
            found = _archive(folder, name)
            if found is None:
                gz = f"{name}.gz"
                want = expected_checksum(sums, gz)
                urls = [f"{b}/{gz}" for b in shd_base_urls(base_url)]
                log.info("downloading %s -> %s", gz, folder)
                archive = download_first(urls, folder / gz, md5=want, timeout=timeout)
                unpack_shd_archive(archive, target, sums)
                archive.unlink(missing_ok=True)
            else:
                unpack_shd_archive(found, target, sums)
        out[split] = target
    return out


def find_shd_files(data_dir: Path) -> dict[str, Path] | None:
    """``{'train': …, 'test': …}`` if both SHD files are in one searched folder, else None.

    Searched: ``D``, ``D/shd``, ``D/SHD`` (tonic), ``D/hdspikes`` (keras). A split present only as
    an archive (``.h5.gz``, or tonic's ``.h5.zip``) is checked against the published MD5 and
    unpacked in place first.
    """
    folder = _shd_folder(data_dir)
    if folder is None:
        return None
    found = {}
    for split, name in SPLIT_FILES.items():
        p = folder / name
        archive = None if p.is_file() else _archive(folder, name)
        if archive is not None:
            unpack_shd_archive(archive, p)
        found[split] = p
    return found
