"""CLIC Professional validation set: the 41 PNGs STF and WACNN were evaluated on besides Kodak.

``python -m data_prep.clic_professional [--root data/clic_professional] [--from DIR] [--url URL]``
downloads ``professional_valid_2020.zip`` from the CLIC challenge's server at ETH Zurich (no
checksums are published; ``--url`` takes a mirror) and keeps its PNGs flat in the root. ``--from
DIR``: DIR holds that zip, or the PNGs (linked, or copied with ``--copy``). Every image is decoded
and the count checked. The images come from Unsplash (Unsplash licence); cite the CLIC challenge
(Toderici et al., Workshop and Challenge on Learned Image Compression, CVPR 2020).
"""

from __future__ import annotations

import sys
from pathlib import Path, PurePosixPath

if __package__ in (None, ""):  # run as a file: make the project's packages importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from data_prep import _image_set


def select(member: str) -> str | None:
    """Every PNG of the zip, by file name (the zip roots them in ``valid/``; macOS metadata is skipped)."""
    path = PurePosixPath(member)
    if path.suffix.lower() != ".png" or path.name.startswith("._") or "__MACOSX" in path.parts:
        return None
    return path.name


CLIC_PROFESSIONAL = _image_set.ImageSet(
    dataset="clic_professional",
    title="CLIC Professional validation",
    url="https://data.vision.ee.ethz.ch/cvl/clic/professional_valid_2020.zip",
    zip_name="professional_valid_2020.zip",
    select=select,
    count=41,
)


def main(argv: list[str] | None = None) -> int:
    return _image_set.main(CLIC_PROFESSIONAL, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    from data_prep._common import run_command

    sys.exit(run_command(main, "clic_professional"))
