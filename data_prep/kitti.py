"""KITTI Stereo / General for NDIC-CAM: the KITTI 2012 and 2015 multi-view archives, plus split lists.

``python -m data_prep.kitti [--root data/kitti] [--from DIR]`` downloads
``data_stereo_flow_multiview.zip`` (KITTI 2012) and ``data_scene_flow_multiview.zip`` (KITTI 2015)
from KITTI's server (about 11 and 15 GB; KITTI publishes no checksums; by downloading you accept
the KITTI terms, CC BY-NC-SA 3.0), extracts the colour cameras as the NDIC-CAM README lays them out
(``<root>/data_*_multiview/{training,testing}/<camera>/``; KITTI 2012's ``colored_0/1`` keep their
names, the loader reads them as ``image_2/3``) and writes the split lists (:mod:`data_prep.splits`).

``--from DIR``: DIR holds the two zip files, or the two folders already unpacked in that layout
(linked into the root, or copied with ``--copy``).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the project's packages importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from data_prep import _common, splits
from data_prep.download import download, extract_zip
from ndic.data.splits import ARCHIVES, scan_frames

URLS = {archive: f"https://s3.eu-central-1.amazonaws.com/avg-kitti/{archive}.zip" for archive in ARCHIVES}
# members kept from the archives: the colour cameras, wherever the zip roots them
_MEMBER = re.compile(r"(?:^|/)((?:training|testing)/(?:image_2|image_3|colored_0|colored_1)/\d{6}_\d{2}\.png)$")


def select_member(archive: str):
    def select(name: str) -> str | None:
        match = _MEMBER.search(name)
        return f"{archive}/{match.group(1)}" if match else None

    return select


def present(root: Path, archive: str) -> bool:
    return all(scan_frames(root, archive, part) for part in ("training", "testing"))


def prepare_archive(root: Path, archive: str, source: Path | None, copy: bool, keep: bool, progress: bool) -> str:
    """Put one archive's colour images under ``root``; returns what was done."""
    if present(root, archive):
        return "already present"
    if source is not None:
        if (source / f"{archive}.zip").is_file():
            extract_zip(source / f"{archive}.zip", root, select_member(archive), progress)
            return f"extracted from {source / f'{archive}.zip'}"
        if (source / archive).is_dir() and present(source, archive):
            _common.place(source / archive, root / archive, copy)
            return f"{'copied' if copy else 'linked'} from {source / archive}"
        raise FileNotFoundError(f"--from {source}: neither {archive}.zip nor an unpacked {archive}/ with images")
    zip_path = download(URLS[archive], root / "downloads" / f"{archive}.zip", progress=progress)
    extract_zip(zip_path, root, select_member(archive), progress)
    if not keep:
        zip_path.unlink()
    return f"downloaded from {URLS[archive]} and extracted"


def main(argv: list[str] | None = None) -> int:
    p = _common.parser("kitti", "kitti_stereo", __doc__.splitlines()[0])
    p.add_argument("--keep-archives", action="store_true", help="keep the downloaded zips in <root>/downloads")
    splits.add_arguments(p)
    args = p.parse_args(argv)
    args.root.mkdir(parents=True, exist_ok=True)
    for archive in ARCHIVES:
        done = prepare_archive(args.root, archive, args.source, args.copy, args.keep_archives, not args.quiet)
        print(f"{args.root / archive}: {done}")
    return splits.run(args)


if __name__ == "__main__":
    sys.exit(_common.run_command(main, "kitti"))
