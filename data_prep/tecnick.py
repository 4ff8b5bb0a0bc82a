"""Tecnick TESTIMAGES, SAMPLING set: the 100 RGB 1200x1200 PNGs learned codecs are evaluated on.

``python -m data_prep.tecnick [--root data/tecnick] [--from DIR] [--url URL]`` downloads
``testimages.zip`` (about 511 MB) from the TESTIMAGES project on SourceForge, the link
tensorflow/compression gives (no checksums are published; ``--url`` takes a mirror), and keeps the
100 PNGs of its ``RGB/RGB_OR_1200x1200/`` folder flat in the root. ``--from DIR``: DIR holds that
zip, or the images (a tree with ``RGB_OR_1200x1200/``, or the PNGs directly; linked, or copied with
``--copy``). Every image is decoded and its size checked. Cite Asuni and Giachetti, TESTIMAGES,
STAG 2014.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the project's packages importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from data_prep import _image_set

# the original-resolution RGB folder; the zip also holds downsampled and gray versions, which are skipped
_MEMBER = re.compile(r"(?:^|/)RGB_OR_1200x1200/([^/]+\.png)$", re.IGNORECASE)


def select(member: str) -> str | None:
    match = _MEMBER.search(member)
    return match.group(1) if match and not match.group(1).startswith("._") else None


TECNICK = _image_set.ImageSet(
    dataset="tecnick",
    title="Tecnick SAMPLING RGB",
    url="https://sourceforge.net/projects/testimages/files/OLD/OLD_SAMPLING/testimages.zip/download",
    zip_name="testimages.zip",
    select=select,
    count=100,
    size=(1200, 1200),
)


def main(argv: list[str] | None = None) -> int:
    return _image_set.main(TECNICK, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    from data_prep._common import run_command

    sys.exit(run_command(main, "tecnick"))
