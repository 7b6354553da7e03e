"""ECG wave segmentation on the QT database (QTDB), as in Yin et al. (2021) and the BRF paper.

**Preprocessed files** (``QTDB_train.mat`` 618 segments, ``QTDB_test.mat`` 141; MATLAB 5):

| key     | shape        | dtype  | content                                                       |
|---------|--------------|--------|---------------------------------------------------------------|
| ``x``   | (N, 1301, 4) | int16  | level-crossing spikes {0, 1}; ``x[:, 1300, 0] = −1`` marks the end |
| ``y``   | (N, 1301, 6) | uint8  | one-hot wave class per step, or an all-zero row (unlabelled)  |
| ``t``   | (N, 1301)    | uint16 | 0 … 1300                                                      |
| ``max_i`` | (N, 1)     | uint16 | 1301                                                          |

Loading drops the terminator step (T = 1300, like the official ``convert_data_format``) and gives
per-step labels in {0..5} (P, PQ, QR, RS, ST, TP) with **−1 for unlabelled steps**. The official
code takes ``argmax`` of the row, which makes unlabelled steps class 0 in loss and accuracy;
:func:`official_labels` applies that rule (the paper's numbers use it). Train: 65,697 of 803,400
steps unlabelled (8.18 %); test: 19,034 of 183,300 (10.38 %).

**Raw PhysioNet QTDB** (read with ``wfdb``; records at 250 Hz, two leads, waveform annotations such
as ``q1c`` (manual) or ``pu0`` (automatic): ``(`` onset, peak symbol ``p``/beat symbol/``t``,
``)`` offset). The exact Yin et al. segmentation is not published; resonet's pipeline is:

1. *Labels per sample*, from each annotated QRS complex (onset, R peak, offset), the P wave before
   it and the T wave after it, half-open intervals:
   P = [P_on, P_off), PQ = [P_off, QRS_on), QR = [QRS_on, R), RS = [R, QRS_off),
   ST = [QRS_off, T_off), TP = [T_off, next P_on). An interval is labelled only when both of its
   ends are annotated (and TP only up to the next beat's P onset, at most 2 s later); all other
   samples are −1 (unlabelled).
2. *Resampling* to 250 Hz if a record has another rate (``scipy.signal.resample_poly``).
3. *Segments*: non-overlapping windows of 1,300 samples (5.2 s) starting at the first labelled
   sample; a window is kept if it lies inside the record and at least ``min_labelled`` (0.5) of
   its steps are labelled.
4. *Normalisation* per segment and lead: z = (s − mean) / std.
5. *Level-crossing encoding* with L = 0.3 per lead (:func:`level_crossing`): reference r₀ = z₀;
   at each step, if z_t − r ≥ L an "up" spike and r ← r + L, else if z_t − r ≤ −L a "down" spike
   and r ← r − L (at most one spike per step and lead, so steep slopes give spike trains, as in the
   official files, where the two channels of a lead are never active together).
   Channels: [lead 0 up, lead 0 down, lead 1 up, lead 1 down].
6. *Split* by record (no record in both sets), seeded; :func:`write_qtdb_mat` writes the result in
   the official layout above (terminator step included) so it loads through the same reader.
"""

from __future__ import annotations

import logging
import os
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from ..checkpoint import new_temp_file
from ..errors import ConfigError, DataError
from .download import base_urls, download_first, expected_checksum, verify_file

log = logging.getLogger("resonet.data")

CLASS_NAMES = ("P", "PQ", "QR", "RS", "ST", "TP")
N_CLASSES = 6
N_CHANNELS = 4
T_SEG = 1300  # steps per segment after dropping the terminator
FS = 250  # Hz, QTDB's sampling rate
LEVEL = 0.3
MAT_FILES = {"train": "QTDB_train.mat", "test": "QTDB_test.mat"}
SEARCH_SUBDIRS = ("ecg", "qtdb")
ENV_ECG_URL = "RESONET_ECG_URL"
# The preprocessed files as published with the official BRF code (pinned commit), and the same
# files in Yin et al.'s repository, tried in this order.
ECG_MIRRORS = (
    "https://raw.githubusercontent.com/AdaptiveAILab/brf-neurons/"
    "5d45b0e7d545f09b79d029bb40573200fde57fd7/experiments/ecg/data",
    "https://raw.githubusercontent.com/byin-cwi/Efficient-spiking-networks/"
    "1331f6c052e73d48eb71a1dc62239948e874ecb2/data",
)
MAT_MD5 = {
    "QTDB_train.mat": "39790ebc28587c94a2245fae7475e6f2",
    "QTDB_test.mat": "4deb6d02f9dae171ad99f2b372926cc0",
}
# beat (QRS) symbols of the WFDB annotation standard
QRS_SYMBOLS = frozenset("NLRBAaJSVrFejnE/fQ?")

_FIX_MAT = (
    "use the published QTDB_{train,test}.mat files (python -m resonet.data fetch ecg) or make "
    "them from raw QTDB records (python -m resonet.data ecg-raw)"
)


def official_labels(y: np.ndarray) -> np.ndarray:
    """Labels as the official code scores them: unlabelled (−1) → class 0 (argmax of a zero row).

    The paper's ECG accuracies (and the exact 23.55 % of an untrained network on the test set)
    use this rule; report accuracy over labelled steps (``y >= 0``) beside it.
    """
    y = np.asarray(y)
    return np.where(y < 0, 0, y).astype(y.dtype, copy=False)


# --------------------------------------------------------------------------------------------
# the preprocessed .mat files
# --------------------------------------------------------------------------------------------
def read_qtdb_mat(path: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray]:
    """Read and validate one QTDB .mat file.

    Returns ``x`` int8 (N, 1300, 4) in {0, 1} and ``labels`` int8 (N, 1300) in {−1, 0..5}.
    """
    import scipy.io

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file; {_FIX_MAT}")
    try:
        d = scipy.io.loadmat(path, variable_names=["x", "y"])
    except Exception as exc:  # scipy raises ValueError/TypeError/OSError/… on broken files
        raise DataError(f"{path}: not a readable MATLAB file ({exc}); {_FIX_MAT}") from exc
    for k in ("x", "y"):
        if k not in d:
            raise DataError(f"{path}: missing variable '{k}' (expected x and y); {_FIX_MAT}")
    x, y = np.asarray(d["x"]), np.asarray(d["y"])
    if x.ndim != 3 or x.shape[2] != N_CHANNELS:
        raise DataError(f"{path}: 'x' has shape {x.shape}, expected (N, {T_SEG + 1}, 4); {_FIX_MAT}")
    if y.shape != x.shape[:2] + (N_CLASSES,):
        raise DataError(
            f"{path}: 'y' has shape {y.shape}, expected {x.shape[:2] + (N_CLASSES,)} to match "
            f"'x' {x.shape}; {_FIX_MAT}"
        )
    if x.shape[1] != T_SEG + 1:
        raise DataError(
            f"{path}: segments have {x.shape[1]} steps, expected {T_SEG + 1} "
            f"(1300 + the −1 terminator); {_FIX_MAT}"
        )
    if x.shape[0] and not np.all(x[:, -1, 0] == -1):
        raise DataError(
            f"{path}: the last step of every segment must hold the −1 terminator in x[:, -1, 0]; {_FIX_MAT}"
        )
    x, y = x[:, :-1], y[:, :-1]  # drop the terminator step (official convert_data_format)
    if x.size and not np.all((x == 0) | (x == 1)):
        raise DataError(f"{path}: 'x' must hold 0/1 spikes before the terminator; {_FIX_MAT}")
    if y.size and not (np.all((y == 0) | (y == 1)) and y.sum(-1).max() <= 1):
        raise DataError(f"{path}: 'y' rows must be one-hot or all zero; {_FIX_MAT}")
    labels = np.where(y.sum(-1) > 0, y.argmax(-1), -1).astype(np.int8)
    return x.astype(np.int8), labels


def write_qtdb_mat(path: str | os.PathLike[str], x: np.ndarray, labels: np.ndarray) -> Path:
    """Write segments in the official layout (adds the terminator step, one-hot ``y``)."""
    import scipy.io

    path = Path(path)
    x = np.asarray(x)
    labels = np.asarray(labels)
    n = x.shape[0]
    if x.shape[1:] != (T_SEG, N_CHANNELS) or labels.shape != (n, T_SEG):
        raise ConfigError(
            f"expected x (N, {T_SEG}, 4) and labels (N, {T_SEG}), got {x.shape}, {labels.shape}"
        )
    xo = np.zeros((n, T_SEG + 1, N_CHANNELS), np.int16)
    xo[:, :T_SEG] = x
    xo[:, T_SEG, 0] = -1
    yo = np.zeros((n, T_SEG + 1, N_CLASSES), np.uint8)
    nn, tt = np.nonzero(labels >= 0)
    yo[nn, tt, labels[nn, tt]] = 1
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = new_temp_file(path, ".part")
    try:
        with os.fdopen(fd, "wb") as f:
            scipy.io.savemat(
                f,
                {
                    "x": xo,
                    "y": yo,
                    "t": np.tile(np.arange(T_SEG + 1, dtype=np.uint16), (n, 1)),
                    "max_i": np.full((n, 1), T_SEG + 1, np.uint16),
                },
            )
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return path


def find_mat_files(data_dir: Path) -> dict[str, Path] | None:
    """Both QTDB .mat files in ``D``, ``D/ecg`` or ``D/qtdb``, else None."""
    for d in [data_dir] + [data_dir / s for s in SEARCH_SUBDIRS]:
        found = {k: d / n for k, n in MAT_FILES.items() if (d / n).is_file()}
        if len(found) == 2:
            return found
    return None


# --------------------------------------------------------------------------------------------
# raw QTDB
# --------------------------------------------------------------------------------------------
def level_crossing(z: np.ndarray, level: float = LEVEL) -> tuple[np.ndarray, np.ndarray]:
    """Level-crossing encoding of one signal: ``(up, down)`` int8 arrays of its length.

    r₀ = z₀; for t ≥ 0: up_t = [z_t − r ≥ L] (then r += L), else down_t = [z_t − r ≤ −L]
    (then r −= L). Invariant: after step t, |z_t − r_t| < L whenever no spike fired at t, and
    r_t = z₀ + L·(Σ up − Σ down).
    """
    if level <= 0:
        raise ConfigError(f"level must be positive, got {level}")
    z = np.asarray(z, dtype=np.float64)
    up = np.zeros(z.shape[0], np.int8)
    down = np.zeros(z.shape[0], np.int8)
    if z.shape[0] == 0:
        return up, down
    r = float(z[0])
    for t, v in enumerate(z.tolist()):  # sequential by nature; ~1 µs per step
        if v - r >= level:
            up[t] = 1
            r += level
        elif v - r <= -level:
            down[t] = 1
            r -= level
    return up, down


def encode_segment(seg: np.ndarray, level: float = LEVEL) -> np.ndarray:
    """(T, L) signal → (T, 2L) int8 spikes: per lead z-score, then [up, down] per lead."""
    seg = np.asarray(seg, dtype=np.float64)
    out = np.zeros((seg.shape[0], 2 * seg.shape[1]), np.int8)
    for lead in range(seg.shape[1]):
        s = seg[:, lead]
        sd = s.std()
        z = (s - s.mean()) / sd if sd > 0 else np.zeros_like(s)
        out[:, 2 * lead], out[:, 2 * lead + 1] = level_crossing(z, level)
    return out


def wave_labels(n_samples: int, samples: np.ndarray, symbols: list[str], *, fs: float = FS) -> np.ndarray:
    """Per-sample wave class (int8, −1 = unlabelled) from WFDB waveform annotations.

    Waves are read as ``'(' peak ')'`` triples (onset/offset optional); see the module docstring
    for the six intervals.
    """
    samples = np.asarray(samples, dtype=np.int64)
    waves: list[tuple[str, int | None, int, int | None]] = []  # kind, onset, peak, offset
    for i, sym in enumerate(symbols):
        kind = "P" if sym == "p" else "T" if sym == "t" else "Q" if sym in QRS_SYMBOLS else None
        if kind is None:
            continue
        on = int(samples[i - 1]) if i > 0 and symbols[i - 1] == "(" else None
        off = int(samples[i + 1]) if i + 1 < len(symbols) and symbols[i + 1] == ")" else None
        waves.append((kind, on, int(samples[i]), off))
    waves.sort(key=lambda w: w[2])
    lab = np.full(n_samples, -1, np.int8)

    def put(a: int | None, b: int | None, c: int) -> None:
        if a is not None and b is not None and 0 <= a < b <= n_samples:
            lab[a:b] = c

    qrs = [k for k, w in enumerate(waves) if w[0] == "Q"]
    max_gap = int(2.0 * fs)
    for n_q, k in enumerate(qrs):
        _, q_on, r, q_off = waves[k]
        prev_k = qrs[n_q - 1] if n_q > 0 else -1
        next_k = qrs[n_q + 1] if n_q + 1 < len(qrs) else len(waves)
        p_waves = [w for w in waves[prev_k + 1 : k] if w[0] == "P"]
        t_waves = [w for w in waves[k + 1 : next_k] if w[0] == "T"]
        if p_waves:
            _, p_on, _, p_off = p_waves[-1]
            put(p_on, p_off, 0)
            put(p_off, q_on, 1)
        put(q_on, r, 2)
        put(r, q_off, 3)
        if t_waves:
            _, _, t_peak, t_off = t_waves[0]
            put(q_off, t_off, 4)
            # TP ends at the onset of the P wave of the next beat (the last P before its QRS)
            nxt_p = [w for w in waves[k + 1 : next_k] if w[0] == "P" and w[2] > t_peak]
            if t_off is not None and nxt_p:
                p_on_next = nxt_p[-1][1]
                if p_on_next is not None and p_on_next - t_off <= max_gap:
                    put(t_off, p_on_next, 5)
    return lab


def record_segments(
    record: str | os.PathLike[str],
    *,
    annotation: str = "q1c",
    level: float = LEVEL,
    seg_len: int = T_SEG,
    min_labelled: float = 0.5,
) -> tuple[np.ndarray, np.ndarray]:
    """Segments of one WFDB record: ``x`` int8 (n, seg_len, 2·leads), ``labels`` int8 (n, seg_len).

    ``record`` is the record path without extension (``dir/sel100``).
    """
    import wfdb
    from scipy.signal import resample_poly

    record = str(record)
    try:
        rec = wfdb.rdrecord(record)
        ann = wfdb.rdann(record, annotation)
    except FileNotFoundError as exc:
        raise DataError(
            f"{record}: missing WFDB file ({exc.filename or exc}); download the QT "
            "database (python -m resonet.data fetch ecg-raw) or check the name"
        ) from exc
    except Exception as exc:  # wfdb raises ValueError/struct errors on corrupt headers/data
        raise DataError(
            f"{record}: cannot read the WFDB record or its '{annotation}' "
            f"annotations ({exc}); re-download the record"
        ) from exc
    sig = np.asarray(rec.p_signal, dtype=np.float64)  # (n, leads)
    if sig.ndim != 2 or sig.shape[1] < 1:
        raise DataError(f"{record}: no signal channels")
    sig = np.nan_to_num(sig)  # WFDB marks invalid samples as NaN
    samples = np.asarray(ann.sample, dtype=np.int64)
    fs = float(rec.fs)
    if fs != FS:
        ratio = Fraction(FS / fs).limit_denominator(1000)
        sig = resample_poly(sig, ratio.numerator, ratio.denominator, axis=0)
        samples = np.rint(samples * FS / fs).astype(np.int64)
    lab = wave_labels(sig.shape[0], samples, list(ann.symbol))
    labelled = np.flatnonzero(lab >= 0)
    xs, ys = [], []
    if labelled.size:
        for a in range(int(labelled[0]), int(labelled[-1]) + 1, seg_len):
            b = a + seg_len
            if b > sig.shape[0]:
                break
            seg_lab = lab[a:b]
            if np.mean(seg_lab >= 0) < min_labelled:
                continue
            xs.append(encode_segment(sig[a:b], level))
            ys.append(seg_lab)
    n_ch = 2 * sig.shape[1]
    if not xs:
        return np.zeros((0, seg_len, n_ch), np.int8), np.zeros((0, seg_len), np.int8)
    return np.stack(xs), np.stack(ys)


def list_records(raw_dir: Path, annotation: str = "q1c") -> list[str]:
    """Record names in ``raw_dir`` that have a header and the given annotation file."""
    raw_dir = Path(raw_dir)
    return sorted(p.stem for p in raw_dir.glob("*.hea") if (raw_dir / f"{p.stem}.{annotation}").is_file())


def qtdb_from_raw(
    raw_dir: str | os.PathLike[str],
    *,
    records: list[str] | None = None,
    annotation: str = "q1c",
    test_fraction: float = 0.2,
    seed: int = 0,
    level: float = LEVEL,
    min_labelled: float = 0.5,
) -> dict[str, Any]:
    """Segment, encode and split (by record) raw QTDB records.

    Returns ``{"train": (x, labels), "test": (x, labels), "records": {"train": [...],
    "test": [...]}}`` with x int8 (N, 1300, 4) and labels int8 (N, 1300).
    """
    raw_dir = Path(raw_dir)
    if not 0.0 <= test_fraction < 1.0:
        raise ConfigError(f"test_fraction must lie in [0, 1), got {test_fraction}")
    names = list_records(raw_dir, annotation) if records is None else list(records)
    if not names:
        raise DataError(
            f"{raw_dir}: no WFDB records with '.{annotation}' annotations found; "
            "download the QT database (python -m resonet.data fetch ecg-raw)"
        )
    order = np.random.default_rng(seed).permutation(len(names))
    n_test = int(round(test_fraction * len(names))) if len(names) > 1 else 0
    split_names = {
        "test": sorted(names[i] for i in order[:n_test]),
        "train": sorted(names[i] for i in order[n_test:]),
    }
    out: dict[str, Any] = {"records": split_names}
    for split, recs in split_names.items():
        xs, ys = [], []
        for r in recs:
            x, y = record_segments(raw_dir / r, annotation=annotation, level=level, min_labelled=min_labelled)
            if x.shape[2] != N_CHANNELS:
                raise DataError(f"{raw_dir / r}: {x.shape[2] // 2} leads, expected 2")
            xs.append(x)
            ys.append(y)
        x = np.concatenate(xs) if xs else np.zeros((0, T_SEG, N_CHANNELS), np.int8)
        y = np.concatenate(ys) if ys else np.zeros((0, T_SEG), np.int8)
        out[split] = (x, y)
    return out


def ecg_base_urls(base_url: str | list[str] | None = None) -> list[str]:
    """Download mirrors: argument > ``$RESONET_ECG_URL`` (space-separated) > :data:`ECG_MIRRORS`."""
    return base_urls(base_url, ENV_ECG_URL, ECG_MIRRORS)


def fetch_qtdb_mat(
    data_dir: Path,
    *,
    base_url: str | list[str] | None = None,
    checksums: dict[str, str] | None = None,
    timeout: float = 60.0,
) -> dict[str, Path]:
    """Make sure ``QTDB_{train,test}.mat`` are in the data directory, downloading what is missing.

    Files already present (both in one searched folder, else each in ``data_dir/ecg``) are checked
    against their MD5 (:data:`MAT_MD5`); missing ones are downloaded from the first mirror that
    works (:data:`ECG_MIRRORS`, or ``base_url``) into ``data_dir/ecg``, MD5-checked before they
    are kept.
    """
    sums = MAT_MD5 if checksums is None else checksums
    found = find_mat_files(Path(data_dir))
    dest = Path(data_dir) / "ecg"
    wants = {name: expected_checksum(sums, name) for name in MAT_FILES.values()}  # before any download
    out = {}
    for split, name in MAT_FILES.items():
        want = wants[name]
        p = found[split] if found else dest / name
        if p.is_file():
            verify_file(p, want, f"delete it and run python -m resonet.data fetch ecg --data-dir "
                        f"{data_dir} again")
        else:
            log.info("downloading %s -> %s", name, dest)
            download_first([f"{b}/{name}" for b in ecg_base_urls(base_url)], p, md5=want,
                           timeout=timeout)
        out[split] = p
    return out


def fetch_qtdb_raw(data_dir: Path) -> Path:
    """Download the PhysioNet QT database with wfdb into ``data_dir/qtdb`` (needs internet)."""
    import wfdb

    dest = Path(data_dir) / "qtdb"
    try:
        wfdb.dl_database("qtdb", dl_dir=str(dest))
    except Exception as exc:  # requests/HTTP errors
        raise DataError(
            f"physionet.org/qtdb: download failed ({exc}); check your connection or "
            f"put the QTDB records in {dest}"
        ) from exc
    return dest


def label_statistics(labels: np.ndarray) -> dict[str, Any]:
    """Unlabelled steps and class shares (true and with the official argmax rule)."""
    labels = np.asarray(labels)
    total = labels.size
    unl = int(np.count_nonzero(labels < 0))
    true_share = np.bincount(labels[labels >= 0].ravel(), minlength=N_CLASSES) / max(total, 1)
    off_share = np.bincount(official_labels(labels).ravel(), minlength=N_CLASSES) / max(total, 1)
    return {
        "segments": int(labels.shape[0]),
        "steps": int(total),
        "unlabelled_steps": unl,
        "unlabelled_fraction": unl / max(total, 1),
        "class_share": dict(zip(CLASS_NAMES, true_share.round(6).tolist(), strict=True)),
        "class_share_official_argmax": dict(zip(CLASS_NAMES, off_share.round(6).tolist(), strict=True)),
    }
