"""S-MNIST / PS-MNIST: IDX files (gzipped or not), splits, permutation, errors."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from resonet.cli import run_main
from resonet.data import load_task
from resonet.data.__main__ import main as data_main
from resonet.data.mnist import FILES, fetch_mnist, permutation, read_idx
from resonet.errors import DataError
from tests.conftest import MNIST_DIR, needs_mnist


def idx_bytes(arr: np.ndarray) -> bytes:
    arr = np.asarray(arr, np.uint8)
    return bytes([0, 0, 8, arr.ndim]) + np.array(arr.shape, ">u4").tobytes() + arr.tobytes()


def write_mnist(d: Path, n_train=50, n_test=12, gz=True, seed=0):
    rng = np.random.default_rng(seed)
    data = {
        "train_images": rng.integers(0, 256, (n_train, 28, 28)),
        "train_labels": rng.integers(0, 10, n_train),
        "test_images": rng.integers(0, 256, (n_test, 28, 28)),
        "test_labels": rng.integers(0, 10, n_test),
    }
    d.mkdir(parents=True, exist_ok=True)
    for key, name in FILES.items():
        raw = idx_bytes(data[key])
        if gz:
            (d / f"{name}.gz").write_bytes(gzip.compress(raw))
        else:
            (d / name).write_bytes(raw)
    return data


@pytest.mark.parametrize("gz", [True, False])
def test_read_idx_raw_and_gz(tmp_path, gz):
    arr = np.random.default_rng(0).integers(0, 256, (5, 28, 28)).astype(np.uint8)
    p = tmp_path / ("a.gz" if gz else "a")
    p.write_bytes(gzip.compress(idx_bytes(arr)) if gz else idx_bytes(arr))
    np.testing.assert_array_equal(read_idx(p), arr)


@pytest.mark.parametrize("gz", [True, False])
def test_smnist_load_and_batches(tmp_path, gz):
    data = write_mnist(tmp_path / "MNIST" / "raw", gz=gz)  # torchvision's layout
    td = load_task("smnist", tmp_path, split_seed=2)
    assert (len(td.train), len(td.val), len(td.test)) == (45, 5, 12)
    assert (td.train.n_in, td.train.n_out, td.train.T) == (1, 10, 784)
    assert "permutation" not in td.info
    x, y = td.test.batch([3, 0])
    assert (
        x.shape == (784, 2, 1)
        and x.dtype == np.float32
        and y.tolist() == [data["test_labels"][3], data["test_labels"][0]]
    )
    want = data["test_images"][3].reshape(784).astype(np.float32) / np.float32(255)
    np.testing.assert_array_equal(x[:, 0, 0], want)  # row-major pixel order, /255
    assert x.max() <= 1.0 and x.min() >= 0.0
    assert td.train.x.dtype == np.uint8  # stored as uint8, converted per batch


def test_psmnist_fixed_permutation_from_seed(tmp_path):
    data = write_mnist(tmp_path / "mnist")
    td = load_task("psmnist", tmp_path, split_seed=0, perm_seed=5)
    perm = np.array(td.info["permutation"])
    assert td.info["perm_seed"] == 5 and sorted(perm.tolist()) == list(range(784))
    np.testing.assert_array_equal(perm, permutation(5))
    assert not np.array_equal(perm, permutation(6))
    x, _ = td.test.batch([1])
    img = data["test_images"][1].reshape(784).astype(np.float32) / np.float32(255)
    np.testing.assert_array_equal(x[:, 0, 0], img[perm])  # x̃_t = x_{perm[t]}
    # the same permutation for every split, and saved with the run
    xt, _ = td.train.batch([0])
    row = td.split["train"][0]
    np.testing.assert_array_equal(
        xt[:, 0, 0], data["train_images"][row].reshape(784)[perm].astype(np.float32) / 255
    )
    saved = np.load(td.save(tmp_path / "run"))
    np.testing.assert_array_equal(saved["permutation"], perm)
    # default perm_seed = split_seed
    assert load_task("psmnist", tmp_path, split_seed=3).info["perm_seed"] == 3


def test_missing_files_say_where_to_put_them(tmp_path, capsys):
    with pytest.raises(DataError) as ei:
        load_task("smnist", tmp_path)
    msg = str(ei.value)
    assert str(tmp_path / "mnist") in msg and "train-images-idx3-ubyte" in msg
    assert "fetch mnist" in msg
    rc = run_main(data_main, ["info", "smnist", "--data-dir", str(tmp_path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith("error: ")


def _corrupt(d: Path, kind: str) -> Path:
    write_mnist(d, gz=False)
    p = d / FILES["train_images"]
    raw = p.read_bytes()
    if kind == "magic":
        p.write_bytes(b"\x12\x34" + raw[2:])
    elif kind == "type":
        p.write_bytes(raw[:2] + b"\x0d" + raw[3:])
    elif kind == "truncated":
        p.write_bytes(raw[:-100])
    elif kind == "gz_truncated":
        p.unlink()
        p = d / f"{FILES['train_images']}.gz"
        p.write_bytes(gzip.compress(raw)[:-50])
    elif kind == "count":
        p = d / FILES["train_labels"]
        p.write_bytes(idx_bytes(np.zeros(49)))
    elif kind == "label_range":
        p = d / FILES["train_labels"]
        p.write_bytes(idx_bytes(np.full(50, 10)))
    elif kind == "shape":
        p.write_bytes(idx_bytes(np.zeros((50, 28, 27))))
    return p


BAD = {
    "magic": "bad magic number",
    "type": "type code 0x0d",
    "truncated": "truncated: header says (50, 28, 28)",
    "gz_truncated": "cannot read",
    "count": "49 labels for 50 images",
    "label_range": "labels must lie in 0..9",
    "shape": "expected (N, 28, 28)",
}


@pytest.mark.parametrize("kind", sorted(BAD))
def test_malformed_idx_files(tmp_path, kind, capsys):
    p = _corrupt(tmp_path / "mnist", kind)
    with pytest.raises(DataError) as ei:
        load_task("smnist", tmp_path)
    assert str(ei.value).startswith(f"{p}: ") and BAD[kind] in str(ei.value)
    rc = run_main(data_main, ["info", "smnist", "--data-dir", str(tmp_path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith(f"error: {p}: ")


def test_dotted_file_names_are_found(tmp_path):
    """Some archives unpack to ``train-images.idx3-ubyte`` (a dot before idx)."""
    data = write_mnist(tmp_path / "mnist", gz=False)
    for name in FILES.values():
        (tmp_path / "mnist" / name).rename(tmp_path / "mnist" / name.replace("-idx", ".idx"))
    td = load_task("smnist", tmp_path)
    assert td.info["files"]["test_labels"] == str(tmp_path / "mnist" / "t10k-labels.idx1-ubyte")
    assert td.test.labels.tolist() == data["test_labels"].tolist()


# ----------------------------------------------------------------------------- real MNIST
@needs_mnist
def test_real_mnist_sizes_and_class_counts():
    td = load_task("psmnist", MNIST_DIR, split_seed=0)
    assert (len(td.train), len(td.val), len(td.test)) == (54_000, 6_000, 10_000)
    full = np.concatenate([td.train.labels, td.val.labels])
    assert np.bincount(full).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert np.bincount(td.test.labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    x, _ = td.test.batch(np.arange(4))
    assert x.shape == (784, 4, 1) and 0.0 <= x.min() and x.max() == 1.0


@needs_mnist
def test_fetch_mnist_accepts_the_real_files_offline(tmp_path):
    """Files already present pass `fetch` on their content MD5 (whatever their gzip bytes), so
    nothing is downloaded; a changed byte is refused."""
    import shutil

    from resonet.data.mnist import find_mnist

    d = tmp_path / "mnist"
    d.mkdir()
    for p in find_mnist(MNIST_DIR).values():
        shutil.copy(p, d / p.name)
    out = fetch_mnist(tmp_path, base_url="http://127.0.0.1:9")  # a download would fail
    assert sorted(p.name.split(".")[0] for p in out.values()) == sorted(FILES.values())
    p = out["test_labels"]
    raw = read_idx(p).copy()
    raw[0] = (raw[0] + 1) % 10
    p.unlink()
    (d / FILES["test_labels"]).write_bytes(bytes([0, 0, 8, 1]) + np.array([raw.size], ">u4").tobytes()
                                           + raw.tobytes())
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte: checksum mismatch"):
        fetch_mnist(tmp_path, base_url="http://127.0.0.1:9")
