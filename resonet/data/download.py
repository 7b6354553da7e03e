"""Downloading published data files into the cache, safely.

Rules every download follows:

- ``urllib.request.urlopen`` with the **default TLS context** (certificate and host-name
  verification on). Nothing in resonet creates an unverified context. (The official BRF code
  disables verification globally; we do not copy that.)
- The body is streamed into a temporary file *in the destination folder*
  (``.<name>.<pid>.<random>.part``, mode 0644 as any new file), so the final ``os.replace``
  is an atomic rename on the same file system: the destination either does not exist or holds
  a complete, verified file.
- The byte count is compared with ``Content-Length`` (an interrupted transfer is reported as such)
  and the hash with the expected checksum; on any failure the partial file is removed.
- Every published file has a recorded checksum; a file without one is never fetched or accepted
  (:func:`expected_checksum` raises). A file that is already there is checked against its
  checksum (:func:`verify_file`), never trusted because it exists.
- A file is tried from each mirror in turn (:func:`download_first`); a mirror that fails (network,
  HTTP error, interrupted transfer, wrong checksum) is reported and the next one tried.
- ``gunzip`` and ``unzip_member`` follow the same pattern (unpack to ``.part``, then rename).
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import logging
import os
import urllib.error
import urllib.request
import zipfile
import zlib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from ..checkpoint import new_temp_file
from ..errors import DataError

log = logging.getLogger("resonet.data")

_CHUNK = 1 << 20


class DownloadError(DataError):
    """One source failed; ``reason`` is the short cause (for the message listing every mirror)."""

    def __init__(self, message: str, url: str, reason: str) -> None:
        super().__init__(message)
        self.url = url
        self.reason = reason


def file_hash(path: str | os.PathLike[str], algo: str = "md5") -> str:
    """Hex digest of a file, read in 1 MiB chunks."""
    h = hashlib.new(algo)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def expected_checksum(table: Mapping[str, str], name: str) -> str:
    """The recorded checksum of ``name``; a missing entry is an error, never a skipped check."""
    want = table.get(name)
    if not want:
        raise DataError(
            f"{name}: no checksum recorded for this file, so it cannot be verified; refusing to "
            "use it (pass the checksum with the file name, or use a published file)"
        )
    return want.lower()


def base_urls(given: str | Sequence[str] | None, env: str, default: Sequence[str]) -> list[str]:
    """Mirror list: the argument (one URL or several) > ``$env`` (URLs separated by spaces) >
    ``default``; trailing slashes removed. An explicit choice replaces the default mirrors."""
    if isinstance(given, str):
        given = given.split()
    urls = list(given or []) or os.environ.get(env, "").split() or list(default)
    return [u.rstrip("/") for u in urls]


def _tmp_in(dest: Path) -> tuple[int, Path]:
    dest.parent.mkdir(parents=True, exist_ok=True)
    return new_temp_file(dest, ".part")


def _unlink_quietly(p: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        p.unlink()


def _fetch_to(fd: int, url: str, dest: Path, timeout: float, hashes: list) -> tuple[int, str | None]:
    """Stream ``url`` into the open file ``fd`` (closed at the end), updating ``hashes``:
    ``(bytes read, the Content-Length header)``; DownloadError for a network or HTTP failure."""
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
                for h in hashes:
                    h.update(block)
    except urllib.error.HTTPError as exc:
        reason = f"HTTP {exc.code} {exc.reason}"
        raise DownloadError(
            f"{url}: download failed ({reason}); check the URL or the base-URL setting, or put "
            f"the file at {dest} by hand",
            url,
            reason,
        ) from exc
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = str(getattr(exc, "reason", exc))
        raise DownloadError(
            f"{url}: download failed ({reason}); check your internet connection, or put the "
            f"file at {dest} by hand",
            url,
            reason,
        ) from exc
    return got, expected_len


def download(
    url: str,
    dest: str | os.PathLike[str],
    *,
    md5: str | None = None,
    sha256: str | None = None,
    check: Callable[[Path], None] | None = None,
    timeout: float = 60.0,
) -> Path:
    """Download ``url`` to ``dest`` atomically, verifying length and checksum.

    ``check(tmp_path)`` may verify the complete temporary file further (it raises
    :class:`DataError` to reject it). Returns ``dest``. Raises :class:`DownloadError` naming the
    URL (network failure, HTTP error, interrupted transfer) or the destination (checksum
    mismatch); no partial file is left behind.
    """
    dest = Path(dest)
    fd, tmp = _tmp_in(dest)
    try:
        h_md5 = hashlib.md5() if md5 else None
        h_sha = hashlib.sha256() if sha256 else None
        got, expected_len = _fetch_to(fd, url, dest, timeout, [h for h in (h_md5, h_sha) if h])
        # http.client does not raise when the server closes early; compare the length ourselves
        if expected_len is not None and expected_len.isdigit() and got != int(expected_len):
            reason = f"interrupted transfer, got {got} of {expected_len} bytes"
            raise DownloadError(
                f"{url}: {reason}; nothing was saved, run the download again", url, reason
            )
        for name, h, want in (("md5", h_md5, md5), ("sha256", h_sha, sha256)):
            if h is not None and want is not None and h.hexdigest() != want.lower():
                reason = f"checksum mismatch, {name} {h.hexdigest()}, expected {want.lower()}"
                raise DownloadError(
                    f"{dest.name} from {url}: {reason}; the download is corrupt or the server's file "
                    "changed; nothing was saved, retry or check the published checksum",
                    url,
                    reason,
                )
        if check is not None:
            try:
                check(tmp)
            except DataError as exc:
                raise DownloadError(f"{dest.name} from {url}: {exc}", url, str(exc)) from exc
        os.replace(tmp, dest)
    except BaseException:
        _unlink_quietly(tmp)
        raise
    return dest


def download_first(
    urls: Sequence[str],
    dest: str | os.PathLike[str],
    *,
    md5: str | None = None,
    check: Callable[[Path], None] | None = None,
    timeout: float = 60.0,
) -> Path:
    """Download ``dest`` from the first of ``urls`` that delivers a complete, verified file.

    A failing source is logged and the next one tried; if all fail, one :class:`DataError` lists
    each URL with its cause.
    """
    dest = Path(dest)
    if not urls:
        raise DataError(f"{dest.name}: no download source given")
    failures: list[DownloadError] = []
    for i, url in enumerate(urls):
        try:
            return download(url, dest, md5=md5, check=check, timeout=timeout)
        except DownloadError as exc:
            failures.append(exc)
            if i + 1 < len(urls):
                log.warning("%s: %s; trying the next mirror", url, exc.reason)
    if len(failures) == 1:
        raise failures[0]
    causes = "; ".join(f"{f.url}: {f.reason}" for f in failures)
    raise DataError(
        f"{dest.name}: every source failed ({causes}); nothing was saved; check your internet "
        f"connection, or put the file at {dest} by hand"
    )


def verify_file(path: Path, md5: str | Sequence[str], fix: str) -> None:
    """Raise :class:`DataError` unless the MD5 of ``path`` is ``md5`` (or one of several)."""
    wants = [md5] if isinstance(md5, str) else list(md5)
    got = file_hash(path, "md5")
    if got not in [w.lower() for w in wants]:
        raise DataError(
            f"{path}: checksum mismatch (md5 {got}, expected {wants[0].lower()}): the file is "
            f"corrupt or not the published version; {fix}"
        )


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


def unzip_member(src: str | os.PathLike[str], member: str, dest: str | os.PathLike[str]) -> Path:
    """Extract the zip member whose base name is ``member`` from ``src`` to ``dest`` atomically."""
    src, dest = Path(src), Path(dest)
    fd, tmp = _tmp_in(dest)
    try:
        try:
            with os.fdopen(fd, "wb") as out, zipfile.ZipFile(src) as z:
                names = [n for n in z.namelist() if Path(n).name == member and not n.endswith("/")]
                if not names:
                    raise DataError(
                        f"{src}: the archive holds no {member} (it has: "
                        f"{', '.join(z.namelist()[:5]) or 'nothing'}); use the published archive"
                    )
                with z.open(names[0]) as f:
                    for block in iter(lambda: f.read(_CHUNK), b""):
                        out.write(block)
        except (OSError, EOFError, zlib.error, zipfile.BadZipFile) as exc:
            raise DataError(
                f"{src}: cannot unpack ({exc}); the archive is truncated or not a zip file, delete "
                "it and download again"
            ) from exc
        os.replace(tmp, dest)
    except BaseException:
        _unlink_quietly(tmp)
        raise
    return dest
