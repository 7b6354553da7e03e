"""Downloads against a local HTTP server on 127.0.0.1: good file, bad checksum, interrupted
transfer, 404/403, mirrors tried in order, files already present checked, never trusted."""

from __future__ import annotations

import gzip
import hashlib
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from resonet.cli import run_main
from resonet.data import ecg, load_task, mnist, shd
from resonet.data.__main__ import main as data_main
from resonet.data.download import (
    base_urls,
    download,
    download_first,
    expected_checksum,
    file_hash,
    gunzip,
    unzip_member,
)
from resonet.data.ecg import fetch_qtdb_mat, write_qtdb_mat
from resonet.data.mnist import FILES as MNIST_FILES
from resonet.data.mnist import fetch_mnist
from resonet.data.shd import fetch_shd, write_shd_h5
from resonet.errors import DataError
from tests.conftest import ECG_DIR, needs_ecg

REPO = Path(__file__).resolve().parents[1]


class _Handler(BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}
    log: list[str] = []

    def do_GET(self):  # http.server API
        name = self.path.lstrip("/")
        self.log.append(name)
        if name.startswith("forbidden/"):  # a host that refuses every download
            self.send_error(403, "Forbidden")
            return
        truncate = name.startswith("trunc/")
        name = name.removeprefix("trunc/")
        body = self.files.get(name)
        if body is None:
            self.send_error(404, "not found")
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        # an interrupted transfer: promise the full length, send half, close the connection
        self.wfile.write(body[: len(body) // 2] if truncate else body)
        if truncate:
            self.close_connection = True

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    """``(base_url, files, requests)``: serve ``files[path]`` at ``base_url/path``."""
    files: dict[str, bytes] = {}
    requests: list[str] = []
    handler = type("H", (_Handler,), {"files": files, "log": requests})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    th = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    th.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", files, requests
    finally:
        httpd.shutdown()
        httpd.server_close()
        th.join(timeout=5)


def _leftovers(d: Path) -> list[str]:
    return sorted(p.name for p in d.rglob("*")) if d.exists() else []


def _md5(b: bytes) -> str:
    return hashlib.md5(b).hexdigest()


# ------------------------------------------------------------------------- the machinery
def test_download_good_file(server, tmp_path):
    url, files, _ = server
    files["a.bin"] = payload = np.random.default_rng(0).bytes(3_000_000)
    out = download(
        f"{url}/a.bin",
        tmp_path / "c" / "a.bin",
        md5=_md5(payload),
        sha256=hashlib.sha256(payload).hexdigest(),
    )
    assert out.read_bytes() == payload
    assert _leftovers(tmp_path / "c") == ["a.bin"]
    assert file_hash(out, "md5") == _md5(payload)


def test_download_bad_checksum_leaves_nothing(server, tmp_path):
    url, files, _ = server
    files["a.bin"] = b"x" * 1000
    with pytest.raises(DataError, match="checksum mismatch") as ei:
        download(f"{url}/a.bin", tmp_path / "c" / "a.bin", md5="0" * 32)
    assert "a.bin" in str(ei.value)
    assert _leftovers(tmp_path / "c") == []


def test_download_interrupted_transfer_leaves_nothing(server, tmp_path):
    url, files, _ = server
    files["a.bin"] = b"y" * 200_000
    with pytest.raises(DataError, match="interrupted transfer"):
        download(f"{url}/trunc/a.bin", tmp_path / "c" / "a.bin")  # even without a checksum
    assert _leftovers(tmp_path / "c") == []


def test_download_http_error_and_unreachable(server, tmp_path):
    url, _, _ = server
    with pytest.raises(DataError, match="HTTP 404"):
        download(f"{url}/missing.bin", tmp_path / "c" / "m.bin")
    with pytest.raises(DataError, match="HTTP 403"):
        download(f"{url}/forbidden/m.bin", tmp_path / "c" / "m.bin")
    with pytest.raises(DataError, match="download failed"):
        download("http://127.0.0.1:9/x.bin", tmp_path / "c" / "x.bin", timeout=5)
    assert _leftovers(tmp_path / "c") == []


def test_download_first_falls_back_to_the_next_mirror(server, tmp_path, caplog):
    url, files, requests = server
    payload = b"z" * 5000
    files["good/a.bin"] = payload
    files["stale/a.bin"] = b"an old version"  # a mirror serving another file: wrong checksum
    urls = [f"{url}/forbidden/a.bin", f"{url}/stale/a.bin", f"{url}/good/a.bin"]
    out = download_first(urls, tmp_path / "a.bin", md5=_md5(payload))
    assert out.read_bytes() == payload and _leftovers(tmp_path) == ["a.bin"]
    assert requests == ["forbidden/a.bin", "stale/a.bin", "good/a.bin"]
    assert "HTTP 403" in caplog.text and "checksum mismatch" in caplog.text


def test_download_first_all_mirrors_failing_is_one_error(server, tmp_path):
    url, files, _ = server
    files["m2/a.bin"] = b"wrong"
    urls = [f"{url}/m1/a.bin", f"{url}/m2/a.bin"]
    with pytest.raises(DataError) as ei:
        download_first(urls, tmp_path / "a.bin", md5="0" * 32)
    msg = str(ei.value)
    assert msg.startswith("a.bin: every source failed") and "\n" not in msg
    assert f"{url}/m1/a.bin: HTTP 404" in msg and f"{url}/m2/a.bin: checksum mismatch" in msg
    assert _leftovers(tmp_path) == []


def test_missing_checksum_entry_is_an_error():
    assert expected_checksum({"a": "ABC"}, "a") == "abc"
    with pytest.raises(DataError, match="no checksum recorded"):
        expected_checksum({"a": "abc"}, "b")


def test_base_urls_argument_env_default(monkeypatch):
    monkeypatch.delenv("X_URL", raising=False)
    assert base_urls(None, "X_URL", ("https://a/", "https://b")) == ["https://a", "https://b"]
    monkeypatch.setenv("X_URL", "http://e1/ http://e2")
    assert base_urls(None, "X_URL", ("https://a",)) == ["http://e1", "http://e2"]
    assert base_urls("http://g/", "X_URL", ("https://a",)) == ["http://g"]
    assert base_urls(["http://g", "http://h"], "X_URL", ()) == ["http://g", "http://h"]


def test_gunzip_truncated_archive_leaves_nothing(tmp_path):
    gz = tmp_path / "f.gz"
    gz.write_bytes(gzip.compress(np.random.default_rng(0).bytes(100_000))[:5000])
    with pytest.raises(DataError, match="cannot decompress"):
        gunzip(gz, tmp_path / "out" / "f")
    assert _leftovers(tmp_path / "out") == []


def test_unzip_member_and_bad_zip(tmp_path):
    z = tmp_path / "a.zip"
    with zipfile.ZipFile(z, "w") as f:
        f.writestr("folder/inner.h5", b"payload")
    assert unzip_member(z, "inner.h5", tmp_path / "out" / "inner.h5").read_bytes() == b"payload"
    with pytest.raises(DataError, match="holds no other.h5"):
        unzip_member(z, "other.h5", tmp_path / "out" / "other.h5")
    z.write_bytes(z.read_bytes()[:30])
    with pytest.raises(DataError, match="cannot unpack"):
        unzip_member(z, "inner.h5", tmp_path / "out2" / "inner.h5")
    assert _leftovers(tmp_path / "out") == ["inner.h5"] and _leftovers(tmp_path / "out2") == []


def test_no_tls_verification_is_ever_disabled():
    src = "\n".join(p.read_text() for p in (REPO / "resonet" / "data").glob("*.py"))
    for bad in ("_create_unverified_context", "CERT_NONE", "check_hostname = False", "verify=False"):
        assert bad not in src


def test_docs_list_every_mirror_and_checksum():
    """docs/data.md names each download source and checksum the code uses."""
    doc = (REPO / "docs" / "data.md").read_text()
    urls = [*shd.SHD_MIRRORS, *mnist.MNIST_MIRRORS, *ecg.ECG_MIRRORS]
    sums = [*shd.SHD_GZ_MD5.values(), *shd.SHD_ZIP_MD5.values(), *shd.SHD_H5_MD5.values(),
            *mnist.MNIST_MD5.values(), *ecg.MAT_MD5.values()]
    assert [u for u in urls if u not in doc] == []
    assert [s for s in sums if s not in doc] == []
    assert shd.SHD_MIRRORS[0].startswith("https://zenkelab.org") and len(mnist.MNIST_MIRRORS) >= 2
    assert len(ecg.ECG_MIRRORS) == 2


# --------------------------------------------------------------------------------------- SHD
def _shd_h5(tmp_path: Path) -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    out = {}
    for split, n in (("train", 20), ("test", 6)):
        t = [np.sort(rng.random(50)) for _ in range(n)]
        u = [rng.integers(0, 700, 50) for _ in range(n)]
        p = write_shd_h5(tmp_path / "src" / f"shd_{split}.h5", t, u, rng.integers(0, 20, n))
        out[f"shd_{split}.h5"] = p.read_bytes()
    return out


def _serve_shd(files: dict[str, bytes], tmp_path: Path, prefix: str = "") -> dict[str, str]:
    sums = {}
    for name, raw in _shd_h5(tmp_path).items():
        body = gzip.compress(raw)
        files[f"{prefix}{name}.gz"] = body
        sums[f"{name}.gz"] = _md5(body)
    return sums


def test_fetch_shd_and_load(server, tmp_path):
    url, files, requests = server
    sums = _serve_shd(files, tmp_path)
    d = tmp_path / "data"
    out = fetch_shd(d, base_url=url, checksums=sums)
    assert out["train"] == d / "shd" / "shd_train.h5"
    # archives removed; the MD5 of each unpacked file recorded beside it
    assert _leftovers(d / "shd") == ["shd_test.h5", "shd_test.h5.md5", "shd_train.h5", "shd_train.h5.md5"]
    td = load_task("shd", d, synthetic=False)
    assert len(td.test) == 6 and not td.info["synthetic"]
    # a second fetch checks the files that are there and downloads nothing
    n = len(requests)
    assert fetch_shd(d, base_url=url, checksums=sums) == out
    assert len(requests) == n


def test_fetch_shd_first_mirror_failing_uses_the_second(server, tmp_path):
    url, files, requests = server
    sums = _serve_shd(files, tmp_path, prefix="mirror2/")
    out = fetch_shd(tmp_path / "d", base_url=[f"{url}/forbidden", f"{url}/mirror2"], checksums=sums)
    assert out["test"].is_file()
    assert requests[:2] == ["forbidden/shd_train.h5.gz", "mirror2/shd_train.h5.gz"]


def test_fetch_shd_checks_existing_files(server, tmp_path):
    url, files, requests = server
    h5 = _shd_h5(tmp_path)
    d = tmp_path / "d" / "hdspikes"  # a keras cache folder
    d.mkdir(parents=True)
    for name, raw in h5.items():
        (d / name).write_bytes(raw)
    sums = {name: _md5(raw) for name, raw in h5.items()}
    out = fetch_shd(tmp_path / "d", base_url=url, checksums=sums)
    assert out["train"] == d / "shd_train.h5" and requests == []
    # a damaged file is refused (and left alone), not trusted because it exists
    (d / "shd_test.h5").write_bytes(h5["shd_test.h5"][:-10] + b"0123456789")
    with pytest.raises(DataError, match=r"shd_test\.h5: checksum mismatch.*fetch shd"):
        fetch_shd(tmp_path / "d", base_url=url, checksums=sums)
    assert (d / "shd_test.h5").read_bytes().endswith(b"0123456789") and requests == []
    # no recorded checksum for a file: an error, not a skipped check
    with pytest.raises(DataError, match="shd_train.h5: no checksum recorded"):
        fetch_shd(tmp_path / "d", base_url=url, checksums={})


def test_fetch_shd_without_a_checksum_downloads_nothing(server, tmp_path):
    url, files, requests = server
    sums = _serve_shd(files, tmp_path)
    del sums["shd_test.h5.gz"]
    with pytest.raises(DataError, match="shd_test.h5.gz: no checksum recorded"):
        fetch_shd(tmp_path / "d", base_url=url, checksums=sums)
    assert "shd_test.h5.gz" not in requests


def _tonic_zip(path: Path, member: str, raw: bytes) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr(member, raw)
    return path.read_bytes()


def test_tonic_zip_archives_are_found_checked_and_unpacked(tmp_path, monkeypatch):
    d = tmp_path / "data"
    sums = {}
    for name, raw in _shd_h5(tmp_path).items():
        sums[f"{name}.zip"] = _md5(_tonic_zip(d / "SHD" / f"{name}.zip", name, raw))
    monkeypatch.setattr("resonet.data.shd.SHD_ZIP_MD5", sums)
    td = load_task("shd", d, synthetic=False)
    assert len(td.test) == 6 and td.info["files"]["test"] == str(d / "SHD" / "shd_test.h5")
    assert fetch_shd(d, base_url="http://127.0.0.1:9")["train"] == d / "SHD" / "shd_train.h5"


def test_tonic_zip_with_the_wrong_checksum_is_refused(tmp_path):
    d = tmp_path / "data"
    for name, raw in _shd_h5(tmp_path).items():
        _tonic_zip(d / "SHD" / f"{name}.zip", name, raw)
    with pytest.raises(DataError, match=r"shd_train\.h5\.zip: checksum mismatch.*expected "
                                        + shd.SHD_ZIP_MD5["shd_train.h5.zip"]):
        load_task("shd", d, synthetic=False)
    assert not (d / "SHD" / "shd_train.h5").exists()


def test_load_task_download_uses_env_base_url(server, tmp_path, monkeypatch):
    url, files, _ = server
    sums = _serve_shd(files, tmp_path)
    monkeypatch.setenv("RESONET_SHD_URL", url)
    monkeypatch.setattr("resonet.data.shd.SHD_GZ_MD5", sums)
    td = load_task("shd", tmp_path / "d", download=True, synthetic=False)  # creates the folder
    assert len(td.train) + len(td.val) == 20


def test_fetch_shd_bad_checksum_leaves_no_partial_files(server, tmp_path):
    url, files, _ = server
    sums = _serve_shd(files, tmp_path)
    sums["shd_train.h5.gz"] = "f" * 32
    with pytest.raises(DataError, match="checksum mismatch"):
        fetch_shd(tmp_path / "d", base_url=url, checksums=sums)
    assert _leftovers(tmp_path / "d" / "shd") == []


def test_fetch_shd_interrupted_leaves_no_partial_files(server, tmp_path):
    url, files, _ = server
    sums = _serve_shd(files, tmp_path)
    with pytest.raises(DataError, match="interrupted"):
        fetch_shd(tmp_path / "d", base_url=f"{url}/trunc", checksums=sums)
    assert _leftovers(tmp_path / "d" / "shd") == []


# ------------------------------------------------------------------------------------- MNIST
def _mnist_raw(seed: int = 1) -> dict[str, bytes]:
    rng = np.random.default_rng(seed)
    out = {}
    for key, name in MNIST_FILES.items():
        n = 30 if key.startswith("train") else 10
        if key.endswith("images"):
            out[name] = bytes([0, 0, 8, 3]) + np.array([n, 28, 28], ">u4").tobytes() + rng.bytes(n * 784)
        else:
            out[name] = (bytes([0, 0, 8, 1]) + np.array([n], ">u4").tobytes()
                         + bytes(rng.integers(0, 10, n).astype(np.uint8)))
    return out


def test_fetch_mnist(server, tmp_path):
    url, files, _ = server
    raw = _mnist_raw()
    sums = {name: _md5(b) for name, b in raw.items()}  # MD5 of the uncompressed content
    for name, b in raw.items():
        files[f"{name}.gz"] = gzip.compress(b)
    out = fetch_mnist(tmp_path / "d", base_url=url, checksums=sums)
    assert all(p.is_file() for p in out.values())
    td = load_task("smnist", tmp_path / "d")
    assert (len(td.train), len(td.val), len(td.test)) == (27, 3, 10)
    bad = dict(sums, **{"t10k-labels-idx1-ubyte": "0" * 32})
    with pytest.raises(DataError, match="checksum"):
        fetch_mnist(tmp_path / "e", base_url=url, checksums=bad)
    assert "t10k-labels-idx1-ubyte.gz" not in _leftovers(tmp_path / "e")


def test_fetch_mnist_mirrors_403_then_other_gzip_bytes(server, tmp_path):
    """The first host answers 403; the second gzips with other header bytes (another mtime), so
    its .gz differ from the first's while the content is the same: accepted on the content MD5."""
    url, files, requests = server
    raw = _mnist_raw()
    sums = {name: _md5(b) for name, b in raw.items()}
    for name, b in raw.items():
        files[f"m2/{name}.gz"] = gzip.compress(b, mtime=12345)
    out = fetch_mnist(tmp_path / "d", base_url=[f"{url}/forbidden", f"{url}/m2"], checksums=sums)
    assert out["train_images"] == tmp_path / "d" / "mnist" / "train-images-idx3-ubyte.gz"
    assert requests[:2] == ["forbidden/train-images-idx3-ubyte.gz", "m2/train-images-idx3-ubyte.gz"]


def test_fetch_mnist_checks_existing_files_of_any_name(server, tmp_path):
    url, _, requests = server
    raw = _mnist_raw()
    sums = {name: _md5(b) for name, b in raw.items()}
    d = tmp_path / "d" / "MNIST" / "raw"  # torchvision's layout, dotted names, raw and gzipped
    d.mkdir(parents=True)
    for i, (name, b) in enumerate(raw.items()):
        dotted = name.replace("-idx", ".idx")
        if i % 2:
            (d / dotted).write_bytes(b)
        else:
            (d / f"{dotted}.gz").write_bytes(gzip.compress(b))
    out = fetch_mnist(tmp_path / "d", base_url=url, checksums=sums)
    assert out["train_images"] == d / "train-images.idx3-ubyte.gz" and requests == []
    assert out["train_labels"] == d / "train-labels.idx1-ubyte"
    labels = out["train_labels"]
    labels.write_bytes(raw["train-labels-idx1-ubyte"][:-1] + b"\x09")
    with pytest.raises(DataError, match=r"train-labels\.idx1-ubyte: checksum mismatch"):
        fetch_mnist(tmp_path / "d", base_url=url, checksums=sums)
    assert requests == []


# --------------------------------------------------------------------------------------- ECG
def _ecg_mats(tmp_path: Path) -> dict[str, bytes]:
    rng = np.random.default_rng(3)
    out = {}
    for split, n in (("train", 12), ("test", 4)):
        x = (rng.random((n, 1300, 4)) < 0.08).astype(np.int8)
        lab = rng.integers(-1, 6, (n, 1300)).astype(np.int8)
        p = write_qtdb_mat(tmp_path / "src" / f"QTDB_{split}.mat", x, lab)
        out[p.name] = p.read_bytes()
    return out


def test_fetch_ecg_second_mirror_and_load(server, tmp_path):
    url, files, requests = server
    mats = _ecg_mats(tmp_path)
    sums = {name: _md5(b) for name, b in mats.items()}
    for name, b in mats.items():
        files[f"mirror2/{name}"] = b
    d = tmp_path / "data"
    out = fetch_qtdb_mat(d, base_url=[f"{url}/mirror1", f"{url}/mirror2"], checksums=sums)
    assert out == {"train": d / "ecg" / "QTDB_train.mat", "test": d / "ecg" / "QTDB_test.mat"}
    assert requests == ["mirror1/QTDB_train.mat", "mirror2/QTDB_train.mat",
                        "mirror1/QTDB_test.mat", "mirror2/QTDB_test.mat"]
    td = load_task("ecg", d)
    assert len(td.test) == 4 and td.info["files"]["train"] == str(out["train"])
    # present files are checked, not downloaded again; a damaged one is refused
    assert fetch_qtdb_mat(d, base_url=url, checksums=sums) == out and len(requests) == 4
    out["test"].write_bytes(mats["QTDB_test.mat"][:-1] + b"\x00")
    with pytest.raises(DataError, match=r"QTDB_test\.mat: checksum mismatch.*fetch ecg"):
        fetch_qtdb_mat(d, base_url=url, checksums=sums)


def test_fetch_ecg_wrong_checksum_is_refused(server, tmp_path):
    url, files, _ = server
    mats = _ecg_mats(tmp_path)
    for name, b in mats.items():
        files[name] = b
    sums = {name: "0" * 32 for name in mats}
    with pytest.raises(DataError, match="QTDB_train.mat from .*checksum mismatch"):
        fetch_qtdb_mat(tmp_path / "d", base_url=url, checksums=sums)
    assert _leftovers(tmp_path / "d") == ["ecg"]  # the folder, no file


def test_fetch_ecg_cli_and_train_download(server, tmp_path, monkeypatch, capsys):
    url, files, _ = server
    mats = _ecg_mats(tmp_path)
    for name, b in mats.items():
        files[name] = b
    monkeypatch.setattr("resonet.data.ecg.MAT_MD5", {name: _md5(b) for name, b in mats.items()})
    d = tmp_path / "new"
    assert run_main(data_main, ["fetch", "ecg", "--data-dir", str(d), "--base-url", url]) == 0
    assert (d / "ecg" / "QTDB_train.mat").read_bytes() == mats["QTDB_train.mat"]
    # load_task(download=True), what `python -m resonet.train ecg --download` calls
    monkeypatch.setenv("RESONET_ECG_URL", url)
    td = load_task("ecg", tmp_path / "other", download=True)
    assert len(td.train) + len(td.val) == 12
    monkeypatch.setattr("resonet.data.ecg.MAT_MD5", {"QTDB_train.mat": _md5(mats["QTDB_train.mat"])})
    assert run_main(data_main, ["fetch", "ecg", "--data-dir", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == ("error: QTDB_test.mat: no checksum recorded for this file, so it cannot be "
                       "verified; refusing to use it (pass the checksum with the file name, or use "
                       "a published file)")


def test_ecg_sources_are_the_pinned_official_files():
    assert ecg.ECG_MIRRORS[0] == ("https://raw.githubusercontent.com/AdaptiveAILab/brf-neurons/"
                                  "5d45b0e7d545f09b79d029bb40573200fde57fd7/experiments/ecg/data")
    assert ecg.MAT_MD5 == {"QTDB_train.mat": "39790ebc28587c94a2245fae7475e6f2",
                           "QTDB_test.mat": "4deb6d02f9dae171ad99f2b372926cc0"}


@needs_ecg
def test_real_ecg_files_through_fetch_and_train_download(server, tmp_path):
    """The published files, served locally: `fetch ecg` with the built-in checksums skips a
    failing mirror, and `train ecg --download` fills a new data directory and trains."""
    import os
    import subprocess
    import sys

    url, files, requests = server
    for name in ecg.MAT_FILES.values():
        files[f"good/{name}"] = (ECG_DIR / name).read_bytes()
    env = {**os.environ, "RESONET_ECG_URL": f"{url}/forbidden {url}/good"}
    d = tmp_path / "data"
    r = subprocess.run([sys.executable, "-m", "resonet.data", "fetch", "ecg", "--data-dir", str(d)],
                       cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "HTTP 403" in r.stderr and "trying the next mirror" in r.stderr
    assert file_hash(d / "ecg" / "QTDB_test.mat") == ecg.MAT_MD5["QTDB_test.mat"]
    new, run = tmp_path / "new", tmp_path / "run"
    r = subprocess.run([sys.executable, "-m", "resonet.train", "ecg", "--download", "--data-dir", str(new),
                        "--subset", "8", "--epochs", "1", "--hidden", "4", "--backend", "reference",
                        "--out", str(run), "--quiet"],
                       cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (new / "ecg" / "QTDB_train.mat").read_bytes() == (ECG_DIR / "QTDB_train.mat").read_bytes()
    assert (run / "last.npz").is_file()
