"""A folder of images for STF/WACNN training, in CompressAI's ImageFolder layout (``train/``, ``test/``).

``python -m data_prep.images --from DIR [--root data/images] [--test-fraction 0.05] [--seed 0]``:

- DIR already has ``train/`` and ``test/``: they are linked (or copied with ``--copy``);
- otherwise every image under DIR (recursively) goes to ``train/`` or ``test/`` by a seeded shuffle,
  as links named after its path inside DIR.

STF trained on 300k OpenImages images and CompressAI users train on Vimeo90K: both are far too
large to fetch here, so this command only imports a folder you already have.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the project's packages importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from data_prep import _common
from ndic.data.datasets import IMAGE_SUFFIXES


def assign(files: list[Path], test_fraction: float, seed: int) -> dict[str, list[Path]]:
    """Split ``files`` into train/test by a seeded shuffle (at least one test image when there are two)."""
    order = sorted(files)
    random.Random(seed).shuffle(order)
    n_test = min(len(order) - 1, max(1, round(len(order) * test_fraction))) if len(order) > 1 else 0
    return {"test": sorted(order[:n_test]), "train": sorted(order[n_test:])}


def main(argv: list[str] | None = None) -> int:
    p = _common.parser("images", "images", __doc__.splitlines()[0])
    p.add_argument("--test-fraction", type=float, default=0.05, help="share of images for test/ (default 0.05)")
    p.add_argument("--seed", type=int, default=0, help="seed of the train/test assignment (default 0)")
    args = p.parse_args(argv)
    if args.source is None:
        print("error: give --from DIR (a folder of images); see python -m data_prep.images --help")
        return 2
    if (args.source / "train").is_dir() and (args.source / "test").is_dir():
        for split in ("train", "test"):
            _common.place(args.source / split, args.root / split, args.copy)
        print(f"{args.root}: train/ and test/ from {args.source}")
        return 0
    files = [f for f in args.source.rglob("*") if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES]
    if not files:
        print(f"error: no image files under {args.source}")
        return 2
    for split, members in assign(files, args.test_fraction, args.seed).items():
        for f in members:
            _common.place(f, args.root / split / "__".join(f.relative_to(args.source).parts), args.copy)
        print(f"{args.root / split}: {len(members)} images")
    return 0


if __name__ == "__main__":
    sys.exit(_common.run_command(main, "images"))
