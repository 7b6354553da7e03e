"""Downloads against a local HTTP server on 127.0.0.1 (good, bad checksum, interrupted, 404)."""

from __future__ import annotations

import gzip
import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from resonet.data import load_task
from resonet.data.download import download, file_hash, gunzip
from resonet.data.mnist import FILES as MNIST_FILES
from resonet.data.mnist import fetch_mnist
from resonet.data.shd import fetch_shd, write_shd_h5
from resonet.errors import DataError

REPO = Path(__file__).resolve().parents[1]


class _Handler(BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}

    def do_GET(self):  # noqa: N802 - http.server API
        name = self.path.lstrip("/")
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
    files: dict[str, bytes] = {}
    handler = type("H", (_Handler,), {"files": files})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    th = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    th.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", files
    finally:
        httpd.shutdown()
        httpd.server_close()
        th.join(timeout=5)


def _leftovers(d: Path) -> list[str]:
    return sorted(p.name for p in d.rglob("*")) if d.exists() else []


def test_download_good_file(server, tmp_path):
    url, files = server
    files["a.bin"] = payload = np.random.default_rng(0).bytes(3_000_000)
    out = download(
        f"{url}/a.bin",
        tmp_path / "c" / "a.bin",
        md5=hashlib.md5(payload).hexdigest(),
        sha256=hashlib.sha256(payload).hexdigest(),
    )
    assert out.read_bytes() == payload
    assert _leftovers(tmp_path / "c") == ["a.bin"]
    assert file_hash(out, "md5") == hashlib.md5(payload).hexdigest()


def test_download_bad_checksum_leaves_nothing(server, tmp_path):
    url, files = server
    files["a.bin"] = b"x" * 1000
    with pytest.raises(DataError, match="checksum mismatch") as ei:
        download(f"{url}/a.bin", tmp_path / "c" / "a.bin", md5="0" * 32)
    assert "a.bin" in str(ei.value)
    assert _leftovers(tmp_path / "c") == []


def test_download_interrupted_transfer_leaves_nothing(server, tmp_path):
    url, files = server
    files["a.bin"] = b"y" * 200_000
    with pytest.raises(DataError, match="interrupted transfer"):
        download(f"{url}/trunc/a.bin", tmp_path / "c" / "a.bin")  # even without a checksum
    assert _leftovers(tmp_path / "c") == []


def test_download_http_error_and_unreachable(server, tmp_path):
    url, _ = server
    with pytest.raises(DataError, match="HTTP 404"):
        download(f"{url}/missing.bin", tmp_path / "c" / "m.bin")
    with pytest.raises(DataError, match="download failed"):
        download("http://127.0.0.1:9/x.bin", tmp_path / "c" / "x.bin", timeout=5)
    assert _leftovers(tmp_path / "c") == []


def test_gunzip_truncated_archive_leaves_nothing(tmp_path):
    gz = tmp_path / "f.gz"
    gz.write_bytes(gzip.compress(np.random.default_rng(0).bytes(100_000))[:5000])
    with pytest.raises(DataError, match="cannot decompress"):
        gunzip(gz, tmp_path / "out" / "f")
    assert _leftovers(tmp_path / "out") == []


def _serve_shd(files: dict[str, bytes], tmp_path: Path) -> dict[str, str]:
    sums = {}
    rng = np.random.default_rng(0)
    for split, n in (("train", 20), ("test", 6)):
        t = [np.sort(rng.random(50)) for _ in range(n)]
        u = [rng.integers(0, 700, 50) for _ in range(n)]
        p = write_shd_h5(tmp_path / "src" / f"shd_{split}.h5", t, u, rng.integers(0, 20, n))
        body = gzip.compress(p.read_bytes())
        files[f"shd_{split}.h5.gz"] = body
        sums[f"shd_{split}.h5.gz"] = hashlib.md5(body).hexdigest()
    return sums


def test_fetch_shd_and_load(server, tmp_path):
    url, files = server
    sums = _serve_shd(files, tmp_path)
    d = tmp_path / "data"
    out = fetch_shd(d, base_url=url, checksums=sums)
    assert out["train"] == d / "shd" / "shd_train.h5"
    assert _leftovers(d / "shd") == ["shd_test.h5", "shd_train.h5"]  # archives removed
    td = load_task("shd", d, synthetic=False)
    assert len(td.test) == 6 and not td.info["synthetic"]


def test_load_task_download_uses_env_base_url(server, tmp_path, monkeypatch):
    url, files = server
    sums = _serve_shd(files, tmp_path)
    monkeypatch.setenv("RESONET_SHD_URL", url)
    monkeypatch.setattr("resonet.data.shd.SHD_GZ_MD5", sums)
    td = load_task("shd", tmp_path / "d", download=True, synthetic=False)
    assert len(td.train) + len(td.val) == 20


def test_fetch_shd_bad_checksum_leaves_no_partial_files(server, tmp_path):
    url, files = server
    sums = _serve_shd(files, tmp_path)
    sums["shd_train.h5.gz"] = "f" * 32
    with pytest.raises(DataError, match="checksum mismatch"):
        fetch_shd(tmp_path / "d", base_url=url, checksums=sums)
    assert _leftovers(tmp_path / "d" / "shd") == []


def test_fetch_shd_interrupted_leaves_no_partial_files(server, tmp_path):
    url, files = server
    sums = _serve_shd(files, tmp_path)
    with pytest.raises(DataError, match="interrupted"):
        fetch_shd(tmp_path / "d", base_url=f"{url}/trunc", checksums=sums)
    assert _leftovers(tmp_path / "d" / "shd") == []


def test_fetch_mnist(server, tmp_path):
    url, files = server
    rng = np.random.default_rng(1)
    sums = {}
    for key, name in MNIST_FILES.items():
        n = 30 if key.startswith("train") else 10
        if key.endswith("images"):
            raw = bytes([0, 0, 8, 3]) + np.array([n, 28, 28], ">u4").tobytes() + rng.bytes(n * 784)
        else:
            raw = (
                bytes([0, 0, 8, 1])
                + np.array([n], ">u4").tobytes()
                + bytes(rng.integers(0, 10, n).astype(np.uint8))
            )
        body = gzip.compress(raw)
        files[f"{name}.gz"] = body
        sums[f"{name}.gz"] = hashlib.md5(body).hexdigest()
    out = fetch_mnist(tmp_path / "d", base_url=url, checksums=sums)
    assert all(p.is_file() for p in out.values())
    td = load_task("smnist", tmp_path / "d")
    assert (len(td.train), len(td.val), len(td.test)) == (27, 3, 10)
    bad = dict(sums, **{"t10k-labels-idx1-ubyte.gz": "0" * 32})
    with pytest.raises(DataError, match="checksum"):
        fetch_mnist(tmp_path / "e", base_url=url, checksums=bad)
    assert "t10k-labels-idx1-ubyte.gz" not in _leftovers(tmp_path / "e")


def test_no_tls_verification_is_ever_disabled():
    src = "\n".join(p.read_text() for p in (REPO / "resonet" / "data").glob("*.py"))
    for bad in ("_create_unverified_context", "CERT_NONE", "check_hostname = False", "verify=False"):
        assert bad not in src
