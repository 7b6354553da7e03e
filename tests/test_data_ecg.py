"""ECG (QTDB): the published .mat files, malformed files, level crossing, raw records via wfdb."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from resonet.cli import run_main
from resonet.data import load_task, official_labels
from resonet.data.__main__ import main as data_main
from resonet.data.ecg import (
    level_crossing,
    qtdb_from_raw,
    read_qtdb_mat,
    record_segments,
    wave_labels,
    write_qtdb_mat,
)
from resonet.errors import DataError
from tests.conftest import ECG_DIR, needs_ecg

# wfdb 4.3 uses a pandas keyword that pandas 3 deprecates; not ours to fix
pytestmark = pytest.mark.filterwarnings("ignore:The inplace keyword")



# ----------------------------------------------------------- the published files (real data)
@needs_ecg
def test_real_files_shapes_and_label_statistics():
    """Numbers from docs/official-code.md §7 (computed there from the same files)."""
    td = load_task("ecg", ECG_DIR, split_seed=0)
    assert (len(td.train), len(td.val), len(td.test)) == (557, 61, 141)
    assert (td.train.n_in, td.train.n_out, td.train.T) == (4, 6, 1300)
    assert td.train.per_step_labels and not td.info["synthetic"]
    full = np.concatenate([td.train.labels, td.val.labels])
    assert full.shape == (618, 1300) and td.test.labels.shape == (141, 1300)
    for lab, steps, unl, share0_off, share_true in (
        (full, 803_400, 65_697, 0.2068, [0.1251, 0.0616, 0.0579, 0.0445, 0.3020, 0.3273]),
        (td.test.labels, 183_300, 19_034, 0.2355, [0.1317, 0.0553, 0.0537, 0.0494, 0.3047, 0.3014]),
    ):
        assert lab.size == steps and int(np.sum(lab < 0)) == unl
        true = np.bincount(lab[lab >= 0], minlength=6) / lab.size
        np.testing.assert_allclose(true, share_true, atol=6e-5)
        off = np.bincount(official_labels(lab).ravel(), minlength=6) / lab.size
        assert abs(off[0] - share0_off) < 6e-5
    # an all-silent network predicts class 0 everywhere: exactly 23.554 % on the test set
    acc = np.mean(official_labels(td.test.labels) == 0) * 100
    assert round(acc, 3) == 23.554


@needs_ecg
def test_real_files_spike_rates():
    """docs/data.md: each input channel fires in 6.8–8.7 % of the steps (train and test)."""
    for name in ("QTDB_train.mat", "QTDB_test.mat"):
        x, _ = read_qtdb_mat(ECG_DIR / name)
        rate = x.mean(axis=(0, 1)) * 100
        assert np.all((rate >= 6.75) & (rate <= 8.75)), (name, rate)


@needs_ecg
def test_real_batches_and_terminator_dropped():
    x, lab = read_qtdb_mat(ECG_DIR / "QTDB_test.mat")
    assert x.shape == (141, 1300, 4) and x.dtype == np.int8 and set(np.unique(x)) == {0, 1}
    raw = scipy.io.loadmat(ECG_DIR / "QTDB_test.mat")["x"]
    np.testing.assert_array_equal(x, raw[:, :1300])
    # the two channels of one lead are never active together (up/down level crossing)
    assert not np.any(x[..., 0] & x[..., 1]) and not np.any(x[..., 2] & x[..., 3])
    td = load_task("ecg", ECG_DIR)
    xb, yb = td.test.batch(np.arange(5))
    assert xb.shape == (1300, 5, 4) and xb.dtype == np.float32
    assert yb.shape == (1300, 5) and yb.dtype == np.int64 and yb.min() == -1
    np.testing.assert_array_equal(xb[:, 2], x[2].astype(np.float32))


def test_official_labels():
    y = np.array([[-1, 0, 5], [2, -1, -1]])
    np.testing.assert_array_equal(official_labels(y), [[0, 0, 5], [2, 0, 0]])


# ------------------------------------------------------------------------- .mat round trip
def test_write_then_read_roundtrip(tmp_path):
    rng = np.random.default_rng(0)
    x = (rng.random((3, 1300, 4)) < 0.1).astype(np.int8)
    lab = rng.integers(-1, 6, (3, 1300)).astype(np.int8)
    p = write_qtdb_mat(tmp_path / "QTDB_train.mat", x, lab)
    raw = scipy.io.loadmat(p)
    assert raw["x"].shape == (3, 1301, 4) and raw["x"].dtype == np.int16
    assert np.all(raw["x"][:, 1300, 0] == -1) and raw["y"].shape == (3, 1301, 6)
    assert raw["max_i"].ravel().tolist() == [1301] * 3
    x2, lab2 = read_qtdb_mat(p)
    np.testing.assert_array_equal(x2, x)
    np.testing.assert_array_equal(lab2, lab)


def _bad_mat(tmp_path: Path, kind: str) -> Path:
    p = tmp_path / f"{kind}.mat"
    x = np.zeros((2, 1301, 4), np.int16)
    x[:, 1300, 0] = -1
    y = np.zeros((2, 1301, 6), np.uint8)
    if kind == "garbage":
        p.write_bytes(b"\x00garbage" * 50)
        return p
    if kind == "truncated":
        good = tmp_path / "good.mat"
        scipy.io.savemat(good, {"x": x, "y": y})
        p.write_bytes(good.read_bytes()[:300])
        return p
    d = {"x": x, "y": y}
    if kind == "no_y":
        del d["y"]
    elif kind == "y_shape":
        d["y"] = np.zeros((2, 1301, 5), np.uint8)
    elif kind == "no_terminator":
        x[1, 1300, 0] = 0
    elif kind == "x_values":
        x[0, 10, 2] = 3
    elif kind == "y_two_hot":
        y[0, 5, 1] = y[0, 5, 2] = 1
    elif kind == "length":
        d = {"x": x[:, :1000], "y": y[:, :1000]}
    scipy.io.savemat(p, d)
    return p


BAD_MAT = {
    "garbage": "not a readable MATLAB file",
    "truncated": "not a readable MATLAB file",
    "no_y": "missing variable 'y'",
    "y_shape": "'y' has shape (2, 1301, 5)",
    "no_terminator": "terminator",
    "x_values": "0/1 spikes",
    "y_two_hot": "one-hot",
    "length": "1000 steps, expected 1301",
}


@pytest.mark.parametrize("kind", sorted(BAD_MAT))
def test_malformed_mat_files(tmp_path, kind, capsys):
    p = _bad_mat(tmp_path, kind)
    with pytest.raises(DataError) as ei:
        read_qtdb_mat(p)
    assert str(ei.value).startswith(f"{p}: ") and BAD_MAT[kind] in str(ei.value)
    rc = run_main(data_main, ["check", str(p)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith(f"error: {p}: ")


def test_missing_ecg_data_error(tmp_path):
    with pytest.raises(DataError, match="no ECG data found"):
        load_task("ecg", tmp_path)
    with pytest.raises(DataError, match="not found"):
        load_task("ecg", tmp_path, source="mat")


# ------------------------------------------------------------------------- level crossing
def test_level_crossing_invariants():
    rng = np.random.default_rng(3)
    z = np.cumsum(rng.standard_normal(3000)) * 0.2 + 3 * np.sin(np.arange(3000) / 40)
    L = 0.3
    up, down = level_crossing(z, L)
    assert not np.any(up & down)
    r = z[0] + L * (np.cumsum(up) - np.cumsum(down))  # reference after each step
    quiet = (up == 0) & (down == 0)
    assert np.all(np.abs(z - r)[quiet] < L + 1e-12)  # no spike ⇒ within one level
    # where it fires, it fires toward the signal
    assert np.all((z - (r - L))[up == 1] >= -1e-12)
    assert np.all((z - (r + L))[down == 1] <= 1e-12)
    # a slow ramp of height 3 gives exactly 10 up spikes
    up2, down2 = level_crossing(np.linspace(0, 3.0, 1000), 0.3)
    assert up2.sum() == 10 and down2.sum() == 0


def test_wave_labels_intervals():
    # one beat + the next P: ( p ) ( N ) t ) ( p )
    s = [10, 20, 30, 50, 60, 70, 120, 150, 190, 200, 210]
    sym = ["(", "p", ")", "(", "N", ")", "t", ")", "(", "p", ")"]
    lab = wave_labels(260, np.array(s), sym)
    want = np.full(260, -1)
    want[10:30] = 0  # P
    want[30:50] = 1  # PQ
    want[50:60] = 2  # QR
    want[60:70] = 3  # RS
    want[70:150] = 4  # ST
    want[150:190] = 5  # TP
    np.testing.assert_array_equal(lab, want)


# ------------------------------------------------------------------------- raw QTDB (wfdb)
def _write_record(
    d: Path, name: str, *, fs: int = 250, seconds: float = 16.0, ext: str = "q1c", period: int = 200
):
    """A two-lead synthetic ECG and its waveform annotations, with wfdb's own writers."""
    import wfdb

    scale = fs / 250
    n = int(seconds * fs)
    t = np.arange(n)
    sig = np.zeros((n, 2))
    samp, sym = [], []
    expect = {}
    for b0 in range(int(100 * scale), n - int(250 * scale), int(period * scale)):
        for c, w, a in ((30, 8, 0.15), (80, 4, 1.2), (140, 15, 0.3)):
            bump = a * np.exp(-0.5 * ((t - b0 - c * scale) / (w * scale)) ** 2)
            sig[:, 0] += bump
            sig[:, 1] -= 0.6 * bump
        for off, y in (
            (15, "("),
            (30, "p"),
            (45, ")"),
            (70, "("),
            (80, "N"),
            (90, ")"),
            (140, "t"),
            (165, ")"),
        ):
            samp.append(b0 + int(round(off * scale)))
            sym.append(y)
        expect[b0] = True
    wfdb.wrsamp(
        name,
        fs=fs,
        units=["mV", "mV"],
        sig_name=["MLII", "V1"],
        p_signal=sig,
        fmt=["16", "16"],
        write_dir=str(d),
    )
    # wfdb's writer accepts letters-only extensions; QTDB's 'q1c' is written then renamed
    wfdb.wrann(name, "tmpann", np.array(samp), symbol=sym, write_dir=str(d), fs=fs)
    os.replace(d / f"{name}.tmpann", d / f"{name}.{ext}")
    return sorted(expect)


def test_raw_record_segments_and_labels(tmp_path):
    beats = _write_record(tmp_path, "rec1")
    x, lab = record_segments(tmp_path / "rec1")
    assert x.shape == (2, 1300, 4) and lab.shape == (2, 1300) and x.dtype == np.int8
    start = beats[0] + 15  # segments start at the first labelled sample (P onset)
    for b0 in beats[1:4]:  # beats inside the first segment
        rel = b0 - start
        for off, cls in ((20, 0), (50, 1), (75, 2), (85, 3), (120, 4), (180, 5)):
            assert lab[0, rel + off] == cls, (b0, off)
    assert lab[0, 0] == 0
    assert not np.any(x[..., 0] & x[..., 1]) and not np.any(x[..., 2] & x[..., 3])
    # lead 1 is an inverted, scaled copy of lead 0: after the per-lead z-score its up/down
    # channels swap roles (up to the ADC quantisation of the written record)
    assert x[..., 0].sum() > 100
    assert np.mean(x[..., 0] == x[..., 3]) > 0.99 and np.mean(x[..., 1] == x[..., 2]) > 0.99


def test_raw_record_other_sampling_rate_is_resampled(tmp_path):
    _write_record(tmp_path, "r500", fs=500)
    x, lab = record_segments(tmp_path / "r500")
    assert x.shape[1:] == (1300, 4) and x.shape[0] == 2
    counts = np.bincount(lab[0][lab[0] >= 0], minlength=6)
    # the same beat geometry at 250 Hz: per beat P 30, PQ 25, QR 10, RS 10, ST 75, TP 50 steps
    ratios = counts / counts.sum()
    np.testing.assert_allclose(ratios, np.array([30, 25, 10, 10, 75, 50]) / 200, atol=0.02)


def test_raw_split_by_record_and_load_task(tmp_path):
    raw = tmp_path / "qtdb"
    raw.mkdir()
    for k in range(5):
        _write_record(raw, f"sel{k}", period=190 + 5 * k)
    out = qtdb_from_raw(raw, test_fraction=0.4, seed=1)
    assert len(out["records"]["test"]) == 2 and len(out["records"]["train"]) == 3
    assert not set(out["records"]["test"]) & set(out["records"]["train"])
    assert out["train"][0].shape == (6, 1300, 4) and out["test"][1].shape == (4, 1300)
    td = load_task("ecg", tmp_path, test_fraction=0.4, record_seed=1)
    assert "raw QTDB" in td.train.source and len(td.test) == 4
    assert td.info["raw_records"] == out["records"]
    # CLI: raw records -> official-layout .mat files -> the .mat reader
    rc = run_main(
        data_main,
        ["ecg-raw", str(raw), "--out", str(tmp_path / "mat"), "--test-fraction", "0.4", "--seed", "1"],
    )
    assert rc == 0
    x, lab = read_qtdb_mat(tmp_path / "mat" / "QTDB_test.mat")
    np.testing.assert_array_equal(x, out["test"][0])
    np.testing.assert_array_equal(lab, out["test"][1])


def test_raw_missing_annotation_file_is_a_data_error(tmp_path):
    _write_record(tmp_path, "rec1", ext="pu0")
    with pytest.raises(DataError, match="rec1"):
        record_segments(tmp_path / "rec1", annotation="q1c")
    with pytest.raises(DataError, match="no WFDB records"):
        qtdb_from_raw(tmp_path, annotation="q1c")
    x, _ = record_segments(tmp_path / "rec1", annotation="pu0")
    assert x.shape[0] == 2
