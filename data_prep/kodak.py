"""The Kodak Lossless True Color Image Suite: kodim01.png ... kodim24.png (768x512 or 512x768 RGB).

``python -m data_prep.kodak [--root data/kodak] [--from DIR]`` downloads the 24 PNGs from
r0k.us, where Kodak's release is hosted (no checksums are published), or copies them from DIR.
Every file is decoded and its size checked before it counts as present.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the project's packages importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from data_prep import _common
from data_prep.download import download
from ndic.data import read_rgb

BASE_URL = "http://r0k.us/graphics/kodak/kodak"
NAMES = [f"kodim{i:02d}.png" for i in range(1, 25)]
SIZES = {(512, 768), (768, 512)}  # (H, W)


def check(path: Path) -> None:
    """Raise unless ``path`` decodes to a Kodak-sized RGB image."""
    shape = read_rgb(path).shape[:2]
    if shape not in SIZES:
        raise ValueError(f"{path}: {shape[0]}x{shape[1]} is not a Kodak image size (768x512 or 512x768)")


def main(argv: list[str] | None = None) -> int:
    args = _common.parser("kodak", "kodak", __doc__.splitlines()[0]).parse_args(argv)
    for name in NAMES:
        target = args.root / name
        if args.source is not None:
            if not (args.source / name).is_file():
                print(f"error: {args.source / name} is missing (--from needs all of {NAMES[0]}..{NAMES[-1]})")
                return 2
            _common.place(args.source / name, target, copy=True)
        else:
            download(f"{BASE_URL}/{name}", target, progress=not args.quiet)
        check(target)
    print(f"{args.root}: the {len(NAMES)} Kodak images")
    return 0


if __name__ == "__main__":
    sys.exit(_common.run_command(main, "kodak"))
