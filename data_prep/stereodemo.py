"""Real rectified stereo pairs from the ``stereodemo`` wheel on PyPI (12 indoor scenes, OAK-D camera).

``python -m data_prep.stereodemo [--root data/stereodemo] [--from WHEEL_OR_FOLDER]``

The wheel ``stereodemo==0.7`` (MIT, Nicolas Burrus) ships 12 pairs captured with an OAK-D camera,
640x480 grayscale, rectified, with the camera's calibration. The wheel is fetched with
``pip download --no-deps`` (never installed) or taken from ``--from`` (the wheel or a folder
holding it), checked against its published sha256, and only its data files are taken, each
checked against the wheel's RECORD: ``ROOT/left/<scene>.png``, ``ROOT/right/<scene>.png`` (the
layout of :func:`ndic.data.datasets.folder_pairs`), ``ROOT/calibration.json`` and
``ROOT/manifest.csv``. Reruns keep files that are already complete.
"""

from __future__ import annotations

import argparse
import base64
import csv
import hashlib
import io
import subprocess
import sys
import zipfile
from pathlib import Path, PurePosixPath

if __package__ in (None, ""):  # run as a file: make the project's packages importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from data_prep.download import ChecksumError, verify
from ndic.data import data_home
from ndic.data.photos import STEREODEMO_CALIBRATION, STEREODEMO_FOLDER
from ndic.io import atomic_write_bytes, atomic_write_text

PACKAGE, VERSION = "stereodemo", "0.7"
WHEEL = f"{PACKAGE}-{VERSION}-py3-none-any.whl"
WHEEL_SHA256 = "effd07da657295e834aa1b0c89cc962e953d66b506a75365ad32a1114f2389ec"
DATA_DIR = "stereodemo/datasets/oak-d/"
LICENCE, AUTHOR = "MIT", "Nicolas Burrus"
FIELDS = ("file", "package", "version", "source_path", "licence", "author", "sha256", "bytes")


def fetch_wheel(cache: Path, source: Path | None = None) -> Path:
    """The checked wheel: from ``source`` (file or folder), already in ``cache``, or ``pip download``."""
    if source is not None:
        wheel = source / WHEEL if source.is_dir() else source
        if not wheel.is_file():
            raise FileNotFoundError(f"{wheel} not found; get it with 'pip download --no-deps {PACKAGE}=={VERSION}'")
    else:
        wheel = cache / WHEEL
        if not wheel.is_file():
            command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(cache)]
            result = subprocess.run([*command, f"{PACKAGE}=={VERSION}"], capture_output=True, text=True, check=False)
            if result.returncode != 0 or not wheel.is_file():
                last = (result.stderr.strip().splitlines() or ["no wheel written"])[-1]
                raise FileNotFoundError(f"pip download {PACKAGE}=={VERSION} failed ({last}); or pass --from WHEEL")
    verify(wheel, sha256=WHEEL_SHA256)
    return wheel


def _record(archive: zipfile.ZipFile) -> dict[str, str]:
    """path -> urlsafe-base64 sha256 from the wheel's RECORD."""
    record = next(n for n in archive.namelist() if n.endswith(".dist-info/RECORD"))
    rows = csv.reader(io.StringIO(archive.read(record).decode()))
    return {row[0]: row[1].removeprefix("sha256=") for row in rows if len(row) >= 2 and row[1]}


def target_of(member: str) -> str | None:
    """Where a wheel member goes under the root: ``left/x.png``, ``right/x.png``, the calibration, or None."""
    if not member.startswith(DATA_DIR):
        return None
    name = PurePosixPath(member).name
    if name == "stereodemo_calibration.json":
        return STEREODEMO_CALIBRATION
    for side in ("left", "right"):
        if name.endswith(f"_{side}.png"):
            return f"{side}/{name[: -len(f'_{side}.png')]}.png"
    return None


def extract(wheel: Path, root: Path) -> list[dict]:
    rows = []
    with zipfile.ZipFile(wheel) as archive:
        hashes = _record(archive)
        for member in sorted(archive.namelist()):
            target = target_of(member)
            if target is None:
                continue
            data = archive.read(member)
            digest = hashlib.sha256(data)
            if base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode() != hashes.get(member):
                raise ChecksumError(f"{wheel}: {member} does not match the wheel's RECORD")
            path = root / target
            if not (path.is_file() and path.read_bytes() == data):
                atomic_write_bytes(path, data)
            values = (target, PACKAGE, VERSION, member, LICENCE, AUTHOR, digest.hexdigest(), len(data))
            rows.append(dict(zip(FIELDS, values, strict=True)))
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m data_prep.stereodemo", description=__doc__.splitlines()[0])
    p.add_argument(
        "--root", type=Path, default=data_home() / STEREODEMO_FOLDER, help="destination (default: %(default)s)"
    )
    p.add_argument("--from", dest="source", type=Path, default=None, help="the wheel, or a folder holding it")
    p.add_argument("--quiet", action="store_true", help="less output")
    args = p.parse_args(argv)
    try:
        wheel = fetch_wheel(args.root / ".cache", args.source)
        rows = extract(wheel, args.root)
    except (FileNotFoundError, ChecksumError) as error:
        print(f"error: {error}")
        return 2
    pairs = sum(r["file"].startswith("left/") for r in rows)
    if pairs == 0 or pairs != sum(r["file"].startswith("right/") for r in rows):
        print(f"error: {wheel} holds {pairs} left views and a different number of right views")
        return 2
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(args.root / "manifest.csv", buffer.getvalue())
    print(f"{args.root}: {pairs} stereo pairs of {PACKAGE} {VERSION} ({LICENCE}, {AUTHOR})")
    return 0


if __name__ == "__main__":
    from data_prep._common import run_command

    sys.exit(run_command(main, "stereodemo"))
