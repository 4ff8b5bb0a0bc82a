"""Resumable downloads with a progress bar and checksums, and safe archive extraction.

``download(url, dest)`` writes to ``dest.part`` and renames it to ``dest`` only once it is complete
(and matches its checksum, when one is given). A second call after an interruption asks the server
for the remaining bytes (HTTP ``Range``; ``file://`` URLs seek), and starts over if the server
ignores the range. Network errors are retried, each retry resuming.

Also a command: ``python -m data_prep.download URL DEST [--sha256 HEX | --md5 HEX | --git-blob HEX]``.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import os
import shutil
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable
from pathlib import Path

from tqdm import tqdm

CHUNK = 1 << 20
USER_AGENT = "ndic-book-data-prep/0.1"


class ChecksumError(ValueError):
    """A downloaded or imported file does not match its published checksum."""


def file_digest(path: str | os.PathLike, algorithm: str = "sha256") -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def git_blob_id(path: str | os.PathLike) -> str:
    """Git's id of the file's content (``git hash-object``): SHA-1 of ``b"blob <size>\\0"`` followed by the content.

    A repository pins its files by this id, so a file fetched from a commit can be checked against it.
    """
    digest = hashlib.sha1(b"blob %d\0" % os.path.getsize(path))
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(
    path: str | os.PathLike, sha256: str | None = None, md5: str | None = None, git_blob: str | None = None
) -> None:
    """Raise :class:`ChecksumError` unless ``path`` has the given digests (None: not checked)."""
    for algorithm, expected in (("sha256", sha256), ("md5", md5), ("git blob id", git_blob)):
        if expected is not None:
            got = git_blob_id(path) if algorithm == "git blob id" else file_digest(path, algorithm)
            if got.lower() != expected.lower():
                raise ChecksumError(f"{path}: {algorithm} is {got}, expected {expected}")


def _open(url: str, start: int, opener: urllib.request.OpenerDirector | None, timeout: float):
    """(stream, bytes skipped by the source: 0 or start, total size or None)."""
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme == "file":
        path = Path(urllib.request.url2pathname(parsed.path))
        stream = open(path, "rb")  # closed by the caller
        total = path.stat().st_size
        stream.seek(min(start, total))
        return stream, min(start, total), total
    headers = {"User-Agent": USER_AGENT}
    if start:
        headers["Range"] = f"bytes={start}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        response = (opener or urllib.request.build_opener()).open(request, timeout=timeout)
    except urllib.error.HTTPError as error:
        if error.code == 416 and start:  # nothing left to send: the partial file is complete
            return None, start, start
        raise
    length = response.headers.get("Content-Length")
    if start and response.status == 206:
        return response, start, int(length) + start if length else None
    return response, 0, int(length) if length else None


def download(
    url: str,
    dest: str | os.PathLike,
    sha256: str | None = None,
    md5: str | None = None,
    git_blob: str | None = None,
    opener: urllib.request.OpenerDirector | None = None,
    retries: int = 5,
    timeout: float = 60.0,
    progress: bool = True,
    retry_wait: float = 1.0,
) -> Path:
    """Fetch ``url`` into ``dest`` (resuming ``dest.part``); return ``dest``.

    An existing ``dest`` is kept when it matches the checksum (or when none is given). A checksum
    mismatch (SHA-256, MD5, or ``git_blob``: :func:`git_blob_id`) deletes the download and raises
    :class:`ChecksumError`. Failed attempts are retried
    ``retries`` times, waiting ``retry_wait * 2**attempt`` seconds (at most 30) in between.
    """
    dest = Path(dest)
    if dest.exists():
        verify(dest, sha256, md5, git_blob)
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    for attempt in range(retries + 1):
        start = part.stat().st_size if part.exists() else 0
        try:
            stream, kept, total = _open(url, start, opener, timeout)
            if stream is not None:
                with stream, open(part, "ab" if kept else "wb") as out:
                    with tqdm(
                        total=total, initial=kept, unit="B", unit_scale=True, desc=dest.name, disable=not progress
                    ) as bar:
                        while block := stream.read(CHUNK):
                            out.write(block)
                            bar.update(len(block))
            size = part.stat().st_size
            if total is not None and size < total:
                raise http.client.IncompleteRead(b"", total - size)
            break
        except (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError) as error:
            if isinstance(error, urllib.error.HTTPError) and error.code < 500:
                raise RuntimeError(f"cannot download {url}: HTTP {error.code} {error.reason}") from error
            if attempt == retries:
                raise RuntimeError(f"cannot download {url} after {retries + 1} attempts: {error}") from error
            print(f"{dest.name}: {error}; resuming ({attempt + 1}/{retries})", file=sys.stderr)
            time.sleep(min(retry_wait * 2**attempt, 30))
    try:
        verify(part, sha256, md5, git_blob)
    except ChecksumError as error:
        part.unlink()
        raise ChecksumError(f"download of {url} is corrupt and was deleted: {error}") from None
    os.replace(part, dest)
    return dest


def extract_zip(
    archive: str | os.PathLike,
    dest: str | os.PathLike,
    select: Callable[[str], str | None] = lambda name: name,
    progress: bool = True,
) -> list[Path]:
    """Extract the members ``select`` maps to a relative path (None: skip) under ``dest``.

    Members whose target would leave ``dest`` (absolute paths, ``..``) are refused. Files already
    present with the member's size are left alone, so an interrupted extraction can be rerun.
    """
    dest = Path(dest).resolve()
    written = []
    with zipfile.ZipFile(archive) as zf:
        members = [(m, select(m.filename)) for m in zf.infolist() if not m.is_dir()]
        members = [(m, target) for m, target in members if target]
        for member, target in tqdm(members, desc=f"extract {Path(archive).name}", unit="file", disable=not progress):
            path = (dest / target).resolve()
            if dest not in path.parents:
                raise ValueError(f"{archive}: member {member.filename!r} would be written outside {dest}")
            if not (path.exists() and path.stat().st_size == member.file_size):
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_name(path.name + ".part")
                with zf.open(member) as source, open(tmp, "wb") as out:
                    shutil.copyfileobj(source, out, CHUNK)
                os.replace(tmp, path)
            written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="resumable download with a progress bar and checksum")
    parser.add_argument("url")
    parser.add_argument("dest", type=Path)
    parser.add_argument("--sha256")
    parser.add_argument("--md5")
    parser.add_argument("--git-blob", help="git's blob id of the file (git hash-object)")
    args = parser.parse_args(argv)
    path = download(args.url, args.dest, sha256=args.sha256, md5=args.md5, git_blob=args.git_blob)
    print(f"{path} ({path.stat().st_size} bytes, sha256 {file_digest(path)})")
    return 0


if __name__ == "__main__":
    from data_prep._common import run_command

    sys.exit(run_command(main, "download"))
