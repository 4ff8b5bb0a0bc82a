"""Middlebury stereo (MiddEval3 training and test scenes), for stereo checks beyond the embedded pair.

``python -m data_prep.middlebury [--root data/middlebury] [--resolution H] [--from DIR]`` downloads
``MiddEval3-data-<Q|H|F>.zip`` from vision.middlebury.edu (quarter, half or full resolution; no
checksums are published) and extracts every scene's ``im0.png`` (left) and ``im1.png`` (right) as
``<root>/training<R>/<Scene>/`` and ``<root>/test<R>/<Scene>/``. ``--from DIR``: DIR holds that zip
or scene folders (linked, or copied with ``--copy``). Cite Scharstein et al., GCPR 2014.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the project's packages importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from data_prep import _common
from data_prep.download import download, extract_zip

URL = "https://vision.middlebury.edu/stereo/submit3/zip/MiddEval3-data-{}.zip"
_MEMBER = re.compile(r"(?:^|/)((?:training|test)[QHF]/[^/]+/(?:im0|im1)\.png)$")


def select(name: str) -> str | None:
    match = _MEMBER.search(name)
    return match.group(1) if match else None


def main(argv: list[str] | None = None) -> int:
    p = _common.parser("middlebury", "middlebury", __doc__.splitlines()[0])
    p.add_argument("--resolution", choices=("Q", "H", "F"), default="H", help="quarter, half or full (default H)")
    p.add_argument("--keep-archives", action="store_true", help="keep the downloaded zip in <root>/downloads")
    args = p.parse_args(argv)
    zip_name = f"MiddEval3-data-{args.resolution}.zip"
    if args.source is not None and not (args.source / zip_name).is_file():
        scenes = sorted(im0.parent for im0 in args.source.rglob("im0.png") if (im0.parent / "im1.png").is_file())
        if not scenes:
            print(f"error: --from {args.source} holds neither {zip_name} nor scene folders with im0.png and im1.png")
            return 2
        for scene in scenes:
            _common.place(scene, args.root / scene.relative_to(args.source), args.copy)
        print(f"{args.root}: {len(scenes)} scenes from {args.source}")
        return 0
    if args.source is not None:
        zip_path = args.source / zip_name
    else:
        zip_path = download(URL.format(args.resolution), args.root / "downloads" / zip_name, progress=not args.quiet)
    files = extract_zip(zip_path, args.root, select, not args.quiet)
    if args.source is None and not args.keep_archives:
        zip_path.unlink()
    print(f"{args.root}: {len(files) // 2} scenes at resolution {args.resolution}")
    return 0


if __name__ == "__main__":
    sys.exit(_common.run_command(main, "middlebury"))
