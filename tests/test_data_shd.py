"""SHD: binning rules, reading/validation of generated files, load_task, CLI errors."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from resonet.cli import run_main
from resonet.data import SYNTHETIC_SOURCE, load_task
from resonet.data.__main__ import main as data_main
from resonet.data.shd import bin_spikes, read_shd, write_shd_h5
from resonet.errors import DataError

REPO = Path(__file__).resolve().parents[1]


def official_binary_image_readout(times, units, dt=4e-3):
    """Literal transcription of the official ``binary_image_readout`` (docs/official-code.md §7)."""
    img = []
    N = int(1 / dt)
    for i in range(N):
        idxs = np.argwhere(times <= i * dt).flatten()
        vals = units[idxs]
        vals = vals[vals > 0]
        vector = np.zeros(700)
        vector[700 - vals] = 1
        times = np.delete(times, idxs)
        units = np.delete(units, idxs)
        img.append(vector)
    return np.array(img)


def random_samples(n, seed=0, n_spikes=(50, 400), t_max=1.2):
    rng = np.random.default_rng(seed)
    times, units = [], []
    for _ in range(n):
        k = int(rng.integers(*n_spikes))
        times.append(np.sort(rng.random(k) * t_max))
        units.append(rng.integers(0, 700, k))
    return times, units, rng.integers(0, 20, n)


def write_file(path, n=7, seed=0, **kw):
    t, u, y = random_samples(n, seed)
    return write_shd_h5(path, t, u, y, **kw), t, u, y


# ---------------------------------------------------------------------------------- binning
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_official_binning_matches_the_literal_official_loop(dtype):
    rng = np.random.default_rng(5)
    edges = np.arange(260) * 4e-3
    t = np.concatenate(
        [rng.random(2000) * 1.1, edges, edges + 1e-4, edges - 1e-4, [0.0, 0.996, 0.9961, 1.0]]
    ).clip(0)
    t = t.astype(dtype)
    u = rng.integers(0, 700, t.size).astype(np.uint16)
    u[:20] = 0  # unit 0 is dropped by the official rule
    ref = official_binary_image_readout(t.copy(), u.copy())
    keep, s, c = bin_spikes(t, u, official=True)
    x = np.zeros((250, 700))
    x[s, c] = 1
    np.testing.assert_array_equal(x, ref)
    assert ref[:, 0].sum() == 0  # channel 0 always empty


def test_official_binning_drops_late_spikes_and_reverses_channels():
    t = np.array([0.0, 0.001, 0.995, 0.997], np.float64)
    u = np.array([5, 1, 699, 3])
    keep, s, c = bin_spikes(t, u, official=True)
    assert keep.tolist() == [True, True, True, False]  # > 249·dt = 0.996 s dropped
    assert s.tolist() == [0, 1, 249] and c.tolist() == [695, 699, 1]


def test_default_binning_is_half_open_natural_order():
    dt = 4e-3
    t = np.array([0.0, 0.0039, 0.004, 0.008, 0.9999, 1.0, 1.3])
    u = np.array([0, 1, 2, 699, 7, 8, 9])
    keep, s, c = bin_spikes(t, u, dt=dt)
    assert keep.tolist() == [True] * 5 + [False, False]  # t >= 250·dt dropped
    assert s.tolist() == [0, 0, 1, 2, 249]  # bin i holds [i·dt, (i+1)·dt)
    assert c.tolist() == [0, 1, 2, 699, 7]  # unit 0 kept, channel = unit


# ---------------------------------------------------------------------------------- reading
def test_read_generated_file_bins_and_merges(tmp_path):
    path, t, u, y = write_file(tmp_path / "shd_train.h5", n=9)
    ev = read_shd(path)
    assert ev.labels.tolist() == y.tolist() and not ev.synthetic
    assert ev.n_spikes == sum(len(x) for x in t)
    for k in range(9):
        tk = t[k].astype(np.float16)  # the file stores float16, like SHD
        dense = np.zeros((250, 700), bool)
        s = np.floor(tk.astype(np.float64) / 4e-3).astype(int)
        ok = s < 250
        dense[s[ok], u[k][ok]] = True
        a, b = ev.offsets[k], ev.offsets[k + 1]
        got = np.zeros((250, 700), bool)
        got[ev.steps[a:b], ev.chans[a:b]] = True
        np.testing.assert_array_equal(got, dense)
        assert b - a == dense.sum()  # duplicates merged
        key = ev.steps[a:b].astype(int) * 700 + ev.chans[a:b]
        assert np.all(np.diff(key) > 0)  # sorted by (step, channel)


def test_read_with_official_rule_equals_official_loop(tmp_path):
    path, t, u, _ = write_file(tmp_path / "s.h5", n=3, seed=2)
    ev = read_shd(path, official_binning=True)
    for k in range(3):
        ref = official_binary_image_readout(t[k].astype(np.float16), u[k].astype(np.uint16))
        a, b = ev.offsets[k], ev.offsets[k + 1]
        got = np.zeros((250, 700))
        got[ev.steps[a:b], ev.chans[a:b]] = 1
        np.testing.assert_array_equal(got, ref)


def _malformed(tmp_path, kind):
    p = tmp_path / f"{kind}.h5"
    if kind == "not_hdf5":
        p.write_bytes(b"this is not an HDF5 file at all" * 10)
        return p
    if kind == "truncated":
        good, *_ = write_file(tmp_path / "good.h5", n=50)
        data = good.read_bytes()
        p.write_bytes(data[: len(data) // 2])
        return p
    with h5py.File(p, "w") as f:
        vt, vu = h5py.vlen_dtype(np.float16), h5py.vlen_dtype(np.uint16)
        n = 3
        times = np.empty(n, object)
        times[:] = [np.array([0.1, 0.2], np.float16)] * n
        units = np.empty(n, object)
        units[:] = [np.array([1, 2], np.uint16)] * n
        labels = np.array([0, 1, 2])
        if kind == "units_missing":
            f.create_dataset("spikes/times", data=times, dtype=vt)
        elif kind == "not_vlen":
            f.create_dataset("spikes/times", data=np.zeros((n, 2), np.float32))
            f.create_dataset("spikes/units", data=units, dtype=vu)
        else:
            if kind == "length_mismatch":
                units[1] = np.array([1], np.uint16)
            if kind == "bad_unit":
                units[2] = np.array([1, 700], np.uint16)
            if kind == "negative_time":
                times[0] = np.array([-0.1, 0.2], np.float16)
            if kind == "bad_label":
                labels = np.array([0, 1, 20])
            if kind == "count_mismatch":
                labels = np.array([0, 1])
            f.create_dataset("spikes/times", data=times, dtype=vt)
            f.create_dataset("spikes/units", data=units, dtype=vu)
        if kind != "no_labels":
            f.create_dataset("labels", data=labels)
    return p


MALFORMED = {
    "not_hdf5": "not a readable HDF5 file",
    "truncated": "HDF5",
    "units_missing": "missing dataset 'spikes/units'",
    "not_vlen": "variable-length",
    "no_labels": "missing dataset 'labels'",
    "length_mismatch": "sample 1 has 2 spike times but 1 units",
    "bad_unit": "units must lie in [0, 700)",
    "negative_time": "finite and >= 0",
    "bad_label": "labels must lie in [0, 20)",
    "count_mismatch": "has 3 samples but 'labels' has 2",
}


@pytest.mark.parametrize("kind", sorted(MALFORMED))
def test_malformed_files_give_one_line_errors(tmp_path, kind, capsys):
    p = _malformed(tmp_path, kind)
    with pytest.raises(DataError) as ei:
        read_shd(p)
    msg = str(ei.value)
    assert msg.startswith(f"{p}: ") and MALFORMED[kind] in msg and ";" in msg  # file, what, fix
    # the CLI turns it into one line and exit code 2
    rc = run_main(data_main, ["check", str(p)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith(f"error: {p}: ")


def test_truncated_file_fails_even_if_header_is_intact(tmp_path):
    # cut only the tail: the superblock survives, the vlen heap does not
    good, *_ = write_file(tmp_path / "good.h5", n=40)
    data = good.read_bytes()
    p = tmp_path / "tail_cut.h5"
    p.write_bytes(data[: len(data) - 2000])
    with pytest.raises(DataError, match=str(p)):
        read_shd(p)


def test_cli_check_subprocess_no_traceback(tmp_path):
    p = _malformed(tmp_path, "not_hdf5")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("RESONET_DEBUG", None)
    r = subprocess.run(
        [sys.executable, "-m", "resonet.data", "check", str(p)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and r.stderr.startswith(f"error: {p}: ")
    assert "Traceback" not in r.stderr
    good, *_ = write_file(tmp_path / "ok.h5")
    r = subprocess.run(
        [sys.executable, "-m", "resonet.data", "check", str(good)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )
    assert r.returncode == 0 and '"samples": 7' in r.stdout


# ---------------------------------------------------------------------------------- load_task
def test_load_task_prefers_real_files(tmp_path):
    d = tmp_path / "data"
    write_file(d / "shd" / "shd_train.h5", n=30, seed=1)
    write_file(d / "shd" / "shd_test.h5", n=8, seed=2)
    td = load_task("shd", d, split_seed=4)
    assert not td.info["synthetic"] and not td.train.synthetic
    assert (len(td.train), len(td.val), len(td.test)) == (27, 3, 8)
    assert td.train.source.endswith("shd_train.h5") and td.info["binning"]["rule"] == "resonet"
    assert (td.train.n_in, td.train.n_out, td.train.T) == (700, 20, 250)
    # the two views partition the training file
    both = np.sort(np.concatenate([td.split["train"], td.split["val"]]))
    assert both.tolist() == list(range(30))
    x, y = td.val.batch(np.arange(3))
    assert x.shape == (250, 3, 700) and y.shape == (3,)
    saved = np.load(td.save(tmp_path / "run"))
    assert saved["val"].tolist() == td.split["val"].tolist()


def test_load_task_shd_falls_back_to_synthetic_loudly(tmp_path, caplog, monkeypatch):
    """Without real files, the default data directory gets the stand-in (and says so loudly)."""
    caplog.set_level(logging.WARNING, logger="resonet.data")
    monkeypatch.setenv("RESONET_DATA", str(tmp_path))
    td = load_task("shd", synthetic_n_train=40, synthetic_n_test=20)
    assert td.info["synthetic"] is True and "NOT the real" in td.info["warning"]
    assert td.train.synthetic and td.test.synthetic and td.val.synthetic
    assert td.train.source == SYNTHETIC_SOURCE
    assert any("NOT the real Spiking Heidelberg Digits" in r.getMessage() for r in caplog.records)
    assert (len(td.train), len(td.val), len(td.test)) == (36, 4, 20)


def test_load_task_shd_synthetic_false_without_files_is_an_error(tmp_path):
    with pytest.raises(DataError, match="SHD files not found.*fetch shd"):
        load_task("shd", tmp_path, synthetic=False)


def test_synthetic_file_in_real_place_is_still_flagged(tmp_path):
    d = tmp_path / "d"
    write_file(d / "shd_train.h5", n=10, attrs={"synthetic": True})
    write_file(d / "shd_test.h5", n=5)
    td = load_task("shd", d)
    assert td.info["synthetic"] and td.test.synthetic and td.test.source == SYNTHETIC_SOURCE


def test_gz_archives_in_data_dir_are_unpacked(tmp_path, monkeypatch):
    import gzip
    import hashlib

    d = tmp_path / "d"
    sums = {}
    for split, n in (("train", 10), ("test", 4)):
        p, *_ = write_file(tmp_path / f"shd_{split}.h5", n=n)
        (d / "hdspikes").mkdir(parents=True, exist_ok=True)
        body = gzip.compress(p.read_bytes())
        (d / "hdspikes" / f"shd_{split}.h5.gz").write_bytes(body)
        sums[f"shd_{split}.h5.gz"] = hashlib.md5(body).hexdigest()
    monkeypatch.setattr("resonet.data.shd.SHD_GZ_MD5", sums)  # the archives' published checksums
    td = load_task("shd", d, synthetic=False)
    assert len(td.test) == 4 and (d / "hdspikes" / "shd_test.h5").is_file()


def test_archive_with_a_wrong_checksum_is_not_unpacked(tmp_path):
    import gzip

    d = tmp_path / "d"
    d.mkdir()
    for split, n in (("train", 10), ("test", 4)):
        p, *_ = write_file(tmp_path / f"shd_{split}.h5", n=n)
        (d / f"shd_{split}.h5.gz").write_bytes(gzip.compress(p.read_bytes()))
    with pytest.raises(DataError, match=r"shd_train\.h5\.gz: checksum mismatch"):
        load_task("shd", d, synthetic=False)
    assert sorted(x.name for x in d.iterdir()) == ["shd_test.h5.gz", "shd_train.h5.gz"]


def test_unknown_task_and_option_are_config_errors(tmp_path):
    from resonet.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown task"):
        load_task("mnist-3d", tmp_path)
    with pytest.raises(ConfigError, match="unknown option"):
        load_task("shd", tmp_path, n_stepz=3)
    with pytest.raises(ConfigError, match="no synthetic"):
        load_task("ecg", tmp_path, synthetic=True)
