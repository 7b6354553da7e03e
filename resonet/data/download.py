"""Downloading published data files into the cache, safely.

Rules every download follows:

- ``urllib.request.urlopen`` with the **default TLS context** (certificate and host-name
  verification on). Nothing in resonet creates an unverified context. (The official BRF code
  disables verification globally; we do not copy that.)
- The body is streamed into a temporary file *in the destination folder*
  (``<name>.<random>.part``), so the final ``os.replace`` is an atomic rename on the same file
  system: the destination either does not exist or holds a complete, verified file.
- The byte count is compared with ``Content-Length`` (an interrupted transfer is reported as such)
  and the hash with the expected checksum; on any failure the partial file is removed.
- ``gunzip`` follows the same pattern (decompress to ``.part``, then rename).
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import os
import tempfile
import urllib.error
import urllib.request
import zlib
from pathlib import Path

from ..errors import DataError

_CHUNK = 1 << 20


def file_hash(path: str | os.PathLike[str], algo: str = "md5") -> str:
    """Hex digest of a file, read in 1 MiB chunks."""
    h = hashlib.new(algo)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def _tmp_in(dest: Path) -> tuple[int, Path]:
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=dest.name + ".", suffix=".part", dir=dest.parent)
    return fd, Path(name)


def _unlink_quietly(p: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        p.unlink()


def download(
    url: str,
    dest: str | os.PathLike[str],
    *,
    md5: str | None = None,
    sha256: str | None = None,
    timeout: float = 60.0,
) -> Path:
    """Download ``url`` to ``dest`` atomically, verifying length and checksum.

    Returns ``dest``. Raises :class:`DataError` naming the URL (network failure, HTTP error,
    interrupted transfer) or the destination (checksum mismatch); no partial file is left behind.
    """
    dest = Path(dest)
    fd, tmp = _tmp_in(dest)
    try:
        h_md5 = hashlib.md5() if md5 else None
        h_sha = hashlib.sha256() if sha256 else None
        got = 0
        try:
            # default context: TLS certificates and host names are verified
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
                expected_len = resp.headers.get("Content-Length")
                while True:
                    block = resp.read(_CHUNK)
                    if not block:
                        break
                    out.write(block)
                    got += len(block)
                    if h_md5 is not None:
                        h_md5.update(block)
                    if h_sha is not None:
                        h_sha.update(block)
        except urllib.error.HTTPError as exc:
            raise DataError(
                f"{url}: download failed (HTTP {exc.code} {exc.reason}); check the URL or the "
                f"base-URL setting, or put the file at {dest} by hand"
            ) from exc
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise DataError(
                f"{url}: download failed ({reason}); check your internet connection, or put the "
                f"file at {dest} by hand"
            ) from exc
        # http.client does not raise when the server closes early; compare the length ourselves
        if expected_len is not None and expected_len.isdigit() and got != int(expected_len):
            raise DataError(
                f"{url}: interrupted transfer (got {got} of {expected_len} bytes); nothing was "
                "saved, run the download again"
            )
        for name, h, want in (("md5", h_md5, md5), ("sha256", h_sha, sha256)):
            if h is not None and want is not None and h.hexdigest() != want.lower():
                raise DataError(
                    f"{dest.name} from {url}: checksum mismatch ({name} {h.hexdigest()}, expected "
                    f"{want.lower()}); the download is corrupt or the server's file changed; "
                    "nothing was saved, retry or check the published checksum"
                )
        os.replace(tmp, dest)
    except BaseException:
        _unlink_quietly(tmp)
        raise
    return dest


def gunzip(src: str | os.PathLike[str], dest: str | os.PathLike[str], *, remove_src: bool = False) -> Path:
    """Decompress ``src`` (gzip) to ``dest`` atomically; optionally delete ``src`` afterwards."""
    src, dest = Path(src), Path(dest)
    fd, tmp = _tmp_in(dest)
    try:
        try:
            with os.fdopen(fd, "wb") as out, gzip.open(src, "rb") as f:
                for block in iter(lambda: f.read(_CHUNK), b""):
                    out.write(block)
        except (OSError, EOFError, zlib.error) as exc:
            raise DataError(
                f"{src}: cannot decompress ({exc}); the archive is truncated or not gzip, delete "
                "it and download again"
            ) from exc
        os.replace(tmp, dest)
    except BaseException:
        _unlink_quietly(tmp)
        raise
    if remove_src:
        _unlink_quietly(src)
    return dest
