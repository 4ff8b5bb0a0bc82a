"""Files of Debian packages without installing them, and the licences their copyright files state.

``unpack(package, cache)`` gives a folder holding the package's files at their installed paths:
``/`` when the package is installed, else the ``.deb`` is fetched with ``apt-get download`` (or
taken from a folder of ``.deb`` files) and unpacked with ``dpkg-deb -x`` into ``cache``. Nothing is
installed, so a package's dependencies (KDE for kphotoalbum, Qt for puzzle-jigsaw) are never
pulled in and no root rights are needed, except for ``apt-get update`` when the package lists lack
a package.

``Copyright`` reads ``/usr/share/doc/<package>/copyright``: the machine-readable format (DEP-5),
where the last ``Files:`` stanza whose pattern matches a file gives its licence and copyright, or
an old free-form file, whose ``License``/``Copyright`` paragraphs are kept as text.
"""

from __future__ import annotations

import fnmatch
import os
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path


class AptError(RuntimeError):
    """apt/dpkg is missing or could not fetch a package; the message says what to do."""


def has_apt() -> bool:
    return shutil.which("apt-get") is not None and shutil.which("dpkg-deb") is not None


def _run(command: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, check=False)


def installed_version(package: str) -> str | None:
    """The installed version of ``package``, or None (not installed, or no dpkg)."""
    if shutil.which("dpkg-query") is None:
        return None
    result = _run(["dpkg-query", "-W", "-f", "${db:Status-Status} ${Version}", package])
    status, _, version = result.stdout.partition(" ")
    return version if result.returncode == 0 and status == "installed" else None


def deb_field(deb: Path, field: str) -> str:
    result = _run(["dpkg-deb", "-f", str(deb), field])
    if result.returncode != 0:
        raise AptError(f"{deb} is not a Debian package: {result.stderr.strip()}")
    return result.stdout.strip()


def download(package: str, folder: Path, source: Path | None = None) -> Path:
    """The ``.deb`` of ``package``: from ``source`` (a folder of .deb files; the last by name), else downloaded."""
    if source is not None:
        found = sorted(source.glob(f"{package}_*.deb"))
        if not found:
            raise AptError(f"no {package}_*.deb in {source}; download it with 'apt-get download {package}'")
        return found[-1]
    folder.mkdir(parents=True, exist_ok=True)
    for candidate in sorted(folder.glob(f"{package}_*.deb")):
        return candidate  # from an interrupted run (unpack deletes it if it is damaged)
    if not has_apt():
        raise AptError(f"{package} is needed but apt-get/dpkg-deb are not available (not a Debian-based system)")
    result = _apt_download(package, folder)
    if result.returncode != 0 and os.geteuid() == 0:  # stale or missing package lists: refresh once
        _run(["apt-get", "update", "-qq"])
        result = _apt_download(package, folder)
    if result.returncode != 0:
        hint = "" if os.geteuid() == 0 else " (if the package lists are stale, run 'sudo apt-get update')"
        last = (result.stderr.strip().splitlines() or ["no message"])[-1]
        raise AptError(f"apt-get download {package} failed: {last}{hint}")
    found = sorted(folder.glob(f"{package}_*.deb"))
    if not found:
        raise AptError(f"apt-get download {package} wrote no .deb into {folder}")
    return found[-1]


def _apt_download(package: str, folder: Path) -> subprocess.CompletedProcess:
    # as root, apt drops to the _apt user, who may not be allowed to write here: keep root for the download
    command = ["apt-get", "download", "-q", package]
    if os.geteuid() == 0:
        command[1:1] = ["-o", "APT::Sandbox::User=root"]
    return subprocess.run(command, capture_output=True, text=True, check=False, cwd=folder)


def unpack(package: str, cache: Path, source: Path | None = None) -> tuple[Path, str, str]:
    """(folder holding the package's files at their installed paths, version, how it was obtained)."""
    version = installed_version(package) if source is None else None
    if version is not None:
        return Path("/"), version, "installed"
    deb = download(package, cache / "debs", source)
    tree = cache / "trees" / package
    if tree.exists():
        shutil.rmtree(tree)
    tree.mkdir(parents=True)
    result = _run(["dpkg-deb", "-x", str(deb), str(tree)])
    if result.returncode != 0:
        if source is None:
            deb.unlink()  # an interrupted download: fetch it again next time
        raise AptError(f"dpkg-deb -x {deb} failed ({result.stderr.strip()}); run the command again")
    return tree, deb_field(deb, "Version"), f"unpacked from {deb.name}"


@dataclass(frozen=True)
class Stanza:
    patterns: tuple[str, ...]
    copyright: str
    licence: str
    comment: str = ""


def _paragraphs(text: str) -> Iterable[dict[str, str]]:
    """RFC 822-style paragraphs: {field: value}, continuation lines joined with newlines."""
    for block in text.replace("\r\n", "\n").split("\n\n"):
        fields, key = {}, None
        for line in block.split("\n"):
            if line[:1] in (" ", "\t") and key is not None:
                fields[key] += "\n" + line.strip()
            elif ":" in line and not line.startswith("#"):
                key, _, value = line.partition(":")
                key = key.strip().lower()
                fields[key] = value.strip()
        if fields:
            yield fields


class Copyright:
    """A package's copyright file; ``lookup(path)`` gives (licence, copyright, comment) for one file."""

    def __init__(self, text: str):
        paragraphs = list(_paragraphs(text))
        self.machine_readable = bool(paragraphs) and "format" in paragraphs[0]
        self.stanzas = [
            Stanza(
                tuple(p["files"].split()),
                _one_line(p.get("copyright", "")),
                _first_line(p.get("license", "")),
                _one_line(p.get("comment", "")),
            )
            for p in paragraphs
            if "files" in p
        ]
        self.text = text

    @classmethod
    def of(cls, tree: Path, package: str) -> Copyright:
        path = tree / "usr/share/doc" / package / "copyright"
        return cls(path.read_text(encoding="utf-8", errors="replace") if path.is_file() else "")

    def lookup(self, candidates: Iterable[str]) -> Stanza | None:
        """The last stanza matching one of ``candidates`` (paths in the source tree), as DEP-5 says.

        The copyright file names files by their path in the upstream source, which differs from the
        installed path; callers pass the installed path's tails (``a/b/c.jpg``, ``b/c.jpg``, ``c.jpg``).
        A bare ``*`` matches everything (``*`` crosses ``/`` in DEP-5, as in ``fnmatch``).
        """
        candidates = list(candidates)
        found = None
        for stanza in self.stanzas:
            if any(fnmatch.fnmatchcase(c, p) for p in stanza.patterns for c in candidates):
                found = stanza
        return found


def tails(path: str) -> list[str]:
    """``"usr/share/x/y.jpg"`` -> ``["usr/share/x/y.jpg", "share/x/y.jpg", "x/y.jpg", "y.jpg"]``."""
    parts = path.strip("/").split("/")
    return ["/".join(parts[i:]) for i in range(len(parts))]


def _first_line(value: str) -> str:
    return value.split("\n", 1)[0].strip()


def _one_line(value: str) -> str:
    return " ".join(value.split())
