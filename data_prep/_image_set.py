"""What the commands of single-image evaluation sets share: fetch one zip, keep its images flat, check them.

A set is described by an :class:`ImageSet`: where its zip is published, which members are its
images (``select`` maps a member or file path to the file name it gets, or None), how many there
are, and the (H, W) every image must have (None: any). :func:`prepare` then

- downloads the zip (resumable; ``--url`` for a mirror) or takes it, or a folder of the images,
  from ``--from DIR``;
- extracts the selected members as ``<root>/<name>`` (members that would leave the root are refused);
- decodes every image and checks the count and the size before the set counts as present (a
  folder that already holds the set is left as it is).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from data_prep import _common
from data_prep.download import download, extract_zip
from ndic.data import read_rgb


@dataclass(frozen=True)
class ImageSet:
    """One evaluation set of single images, as its publisher ships it (see the module docstring)."""

    dataset: str  # the name ndic.data.load knows it by, and the command's name
    title: str
    url: str
    zip_name: str
    select: Callable[[str], str | None]
    count: int
    size: tuple[int, int] | None = None  # (H, W)


def parser(image_set: ImageSet, description: str) -> argparse.ArgumentParser:
    p = _common.parser(image_set.dataset, image_set.dataset, description)
    p.add_argument("--url", default=image_set.url, help="where to download the zip (default: %(default)s)")
    p.add_argument("--keep-archives", action="store_true", help="keep the downloaded zip in <root>/downloads")
    return p


def check(image_set: ImageSet, files: list[Path]) -> None:
    """Raise ValueError unless ``files`` are the set: its number of images, each decodable and of its size."""
    if len(files) != image_set.count:
        raise ValueError(f"{image_set.title}: {len(files)} images found, {image_set.count} expected")
    for path in files:
        shape = read_rgb(path).shape[:2]
        if image_set.size is not None and shape != image_set.size:
            want = "x".join(map(str, image_set.size))
            raise ValueError(f"{path}: {shape[0]}x{shape[1]} is not a {image_set.title} image size ({want})")


def _from_folder(image_set: ImageSet, source: Path, root: Path, copy: bool) -> list[Path]:
    """Place the set's images found under ``source`` (by ``select``, or else the PNGs directly in it)."""
    chosen = {}
    for path in sorted(source.rglob("*.png")):
        name = image_set.select(path.relative_to(source).as_posix())
        if name:
            chosen[name] = path
    if not chosen:
        chosen = {path.name: path for path in sorted(source.glob("*.png"))}
    for name, path in chosen.items():
        _common.place(path, root / name, copy)
    return [root / name for name in sorted(chosen)]


def prepare(image_set: ImageSet, args: argparse.Namespace) -> int:
    """Run the command with parsed ``args``; returns the exit status."""
    progress = not args.quiet
    source: Path | None = args.source
    present = sorted(args.root.glob("*.png")) if args.root.is_dir() else []
    if len(present) == image_set.count:
        try:
            check(image_set, present)
            print(f"{args.root}: the {len(present)} {image_set.title} images, already present")
            return 0
        except ValueError:
            pass  # fetch again: extraction rewrites what differs from the archive
    if source is not None and not (source / image_set.zip_name).is_file():
        if not source.is_dir():
            print(f"error: --from {source} is not a folder")
            return 2
        files = _from_folder(image_set, source, args.root, args.copy)
        origin = f"images from {source}"
    else:
        if source is not None:
            zip_path = source / image_set.zip_name
        else:
            zip_path = download(args.url, args.root / "downloads" / image_set.zip_name, progress=progress)
        files = sorted(extract_zip(zip_path, args.root, image_set.select, progress))
        if source is None and not args.keep_archives:
            zip_path.unlink()
            if not any(zip_path.parent.iterdir()):
                zip_path.parent.rmdir()
        origin = f"extracted from {zip_path}"
    try:
        check(image_set, files)
    except ValueError as error:
        print(f"error: {error}")
        return 2
    print(f"{args.root}: the {len(files)} {image_set.title} images, {origin}")
    return 0


def main(image_set: ImageSet, description: str, argv: list[str] | None = None) -> int:
    return prepare(image_set, parser(image_set, description).parse_args(argv))
