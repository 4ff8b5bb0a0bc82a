"""Datasets on disk: KITTI (NDIC-CAM's lists or a folder of pairs), Cityscapes, Middlebury, Kodak, image folders.

Every dataset is a ``torch.utils.data.Dataset`` with ``stereo`` (items are ``(x, y)`` pairs, ``x`` to
compress and ``y`` the decoder's side image, or single images), ``ids`` (a name per item, for result
rows) and ``sources`` (the files behind each item). Items are float32 (3, H, W) tensors in [0, 1].
Images are decoded when an item is read; a file that cannot be decoded raises
:class:`~ndic.data.decode.ImageReadError` with its path.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from . import splits as kitti_splits
from .decode import read_rgb
from .transforms import ImageTransform, PairTransform

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".ppm", ".bmp", ".tif", ".tiff", ".webp"}
# Camera folder pairs of a folder of rectified stereo pairs: (left, right), KITTI's names first.
STEREO_FOLDERS = (("image_2", "image_3"), ("colored_0", "colored_1"), ("image_0", "image_1"), ("left", "right"))

Source = Path | Callable[[], np.ndarray]


class DatasetNotFoundError(FileNotFoundError):
    """A dataset (or part of it) is not where it was looked for; the message says how to get it."""

    def __init__(self, name: str, missing: str | os.PathLike, fix: str, detail: str = ""):
        self.name, self.missing, self.fix = name, str(missing), fix
        detail = f" ({detail})" if detail else ""
        super().__init__(f"{name}: {missing} not found{detail}. To get it: {fix}")


def _read(source: Source) -> np.ndarray:
    return read_rgb(source) if isinstance(source, Path) else source()


def _describe(source: Source) -> str:
    return str(source) if isinstance(source, Path) else repr(source)


class _FileDataset(Dataset):
    """Items read from ``sources`` (files, or callables for embedded images) through ``transform``."""

    stereo: bool
    unit: str

    def __init__(self, sources: Sequence, ids: Sequence[str], transform, name: str, split: str | None, **info):
        if len(sources) != len(ids):
            raise ValueError(f"{len(sources)} {self.unit} but {len(ids)} ids")
        self.sources, self.ids, self.transform = list(sources), list(ids), transform
        self.name, self.split, self.info = name, split, info

    def __len__(self) -> int:
        return len(self.sources)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, split={self.split!r}, {len(self)} {self.unit}, {self.transform})"


class PairDataset(_FileDataset):
    """Stereo pairs ``(x, y)``: ``x`` is compressed, ``y`` is the side information at the decoder."""

    stereo, unit = True, "pairs"

    def __init__(
        self, pairs: Sequence[tuple[Source, Source]], ids: Sequence[str], transform: PairTransform, **info
    ) -> None:
        super().__init__(pairs, ids, transform, info.pop("name", "pairs"), info.pop("split", None), **info)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        x_source, y_source = self.sources[index]
        x, y = _read(x_source), _read(y_source)
        try:
            return self.transform(x, y)
        except ValueError as error:
            raise ValueError(f"{_describe(x_source)}: {error}") from error


class ImageDataset(_FileDataset):
    """Single images."""

    stereo, unit = False, "images"

    def __init__(self, images: Sequence[Source], ids: Sequence[str], transform: ImageTransform, **info) -> None:
        super().__init__(images, ids, transform, info.pop("name", "images"), info.pop("split", None), **info)

    def __getitem__(self, index: int) -> torch.Tensor:
        source = self.sources[index]
        try:
            return self.transform(_read(source))
        except ValueError as error:
            raise ValueError(f"{_describe(source)}: {error}") from error


def _stem(path: str) -> str:
    return path.rsplit(".", 1)[0]


def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _require_dir(name: str, path: Path, fix: str) -> None:
    if not path.is_dir():
        raise DatasetNotFoundError(name, path, fix)


def stereo_folder_cameras(root: Path) -> tuple[Path, Path] | None:
    """(left, right) camera folders of a folder of rectified pairs, or None."""
    for left, right in STEREO_FOLDERS:
        if (root / left).is_dir() and (root / right).is_dir():
            return root / left, root / right
    return None


def folder_pairs(root: Path, both_directions: bool = False) -> tuple[list[tuple[Path, Path]], list[str]]:
    """Pairs of same-named files in the left and right camera folders of ``root``."""
    left, right = stereo_folder_cameras(root)
    names = sorted({p.name for p in _image_files(left)} & {p.name for p in _image_files(right)})
    pairs = [(left / n, right / n) for n in names]
    ids = [f"{_stem(n)}:{left.name}>{right.name}" for n in names]
    if both_directions:
        pairs += [(right / n, left / n) for n in names]
        ids += [f"{_stem(n)}:{right.name}>{left.name}" for n in names]
    return pairs, ids


def kitti(
    kind: str,
    split: str,
    root: Path,
    transform: PairTransform,
    lists: str | os.PathLike | None = None,
    both_directions: bool = False,
) -> PairDataset:
    """KITTI Stereo / General from NDIC-CAM's split lists, or a plain folder of rectified pairs.

    ``root`` is the KITTI root (``data_scene_flow_multiview/``, ``data_stereo_flow_multiview/``, as
    the NDIC-CAM README unpacks them); the lists ``KITTI_<kind>_<split>.txt`` are read from
    ``lists`` (default: ``root``, NDIC-CAM's ``dataset_path`` convention). Alternatively ``root``
    may be a folder of rectified pairs (``image_2``/``image_3``, ``colored_0``/``colored_1``,
    ``image_0``/``image_1`` or ``left``/``right`` subfolders with the same file names; KITTI Stereo
    only): then every pair is used left -> right (and right -> left with ``both_directions``)
    whatever the split. Item ids are ``"<x path>|<y path>"`` (list entries without ``.png``), as an
    image is compressed in several KITTI General pairs. ``info["substitute"]`` is True when the list
    is ``data_prep``'s labelled stand-in (a ``.README`` beside it), not the published one.
    """
    name = f"kitti_{kind}"
    fetch = f"python -m data_prep.kitti --root {root}"
    if kind == "stereo" and lists is None and stereo_folder_cameras(root) is not None:
        pairs, ids = folder_pairs(root, both_directions)
        return PairDataset(pairs, ids, transform, name=name, split=split, root=root, layout="folder")
    list_dir = Path(lists) if lists is not None else root
    list_file = list_dir / kitti_splits.list_name(kind, split)
    if not list_file.is_file():
        if not any((root / archive).is_dir() for archive in kitti_splits.ARCHIVES):
            fix = f"{fetch} (downloads both archives, about 26 GB; --from DIR uses archives you already have)"
            raise DatasetNotFoundError(name, root / kitti_splits.ARCHIVES[0], fix)
        fix = f"python -m data_prep.splits --root {root} (fetches the published lists; offline: --lists-from DIR)"
        raise DatasetNotFoundError(name, list_file, fix, "split list")
    relative = kitti_splits.read_list(list_file)
    missing = kitti_splits.missing_files(root, relative)
    if missing:
        raise DatasetNotFoundError(name, root / missing[0], fetch, f"and {len(missing) - 1} more files of {list_file}")
    pairs = [(kitti_splits.resolve(root, x), kitti_splits.resolve(root, y)) for x, y in relative]
    ids = [f"{_stem(x)}|{_stem(y)}" for x, y in relative]
    # data_prep's substitute KITTI General train list sits beside its README: the dataset says so in .info
    substitute = list_file.with_suffix(".README").is_file()
    return PairDataset(
        pairs, ids, transform, name=name, split=split, root=root, layout="lists", lists=list_file, substitute=substitute
    )


def cityscape(split: str, root: Path, transform: PairTransform) -> PairDataset:
    """Cityscapes: ``root/leftImg8bit/<split>/<city>/*_leftImg8bit.png`` with its ``rightImg8bit`` twin.

    The left image is compressed, the right one is the side information (NDIC-CAM). Cities and files
    are sorted (the original lists them in directory order, which depends on the file system).
    """
    fix = f"python -m data_prep.cityscape --root {root} (needs a Cityscapes account, or --from DIR with the zips)"
    left_dir, right_dir = root / "leftImg8bit" / split, root / "rightImg8bit" / split
    _require_dir("cityscape", left_dir, fix)
    _require_dir("cityscape", right_dir, fix)
    pairs, ids = [], []
    for city in sorted(p.name for p in left_dir.iterdir() if p.is_dir()):
        for left in sorted((left_dir / city).glob("*_leftImg8bit.png")):
            frame = left.name[: -len("_leftImg8bit.png")]
            right = right_dir / city / f"{frame}_rightImg8bit.png"
            if not right.is_file():
                raise DatasetNotFoundError("cityscape", right, fix, f"the right view of {left}")
            pairs.append((left, right))
            ids.append(f"{city}/{frame}")
    if not pairs:
        raise DatasetNotFoundError("cityscape", left_dir / "<city>/*_leftImg8bit.png", fix)
    return PairDataset(pairs, ids, transform, name="cityscape", split=split, root=root)


def middlebury(root: Path, transform: PairTransform, both_directions: bool = False) -> PairDataset:
    """Middlebury scenes: every folder under ``root`` holding ``im0.png`` (left) and ``im1.png`` (right)."""
    fix = f"python -m data_prep.middlebury --root {root}"
    _require_dir("middlebury", root, fix)
    # os.walk, unlike Path.rglob, follows the scene links data_prep makes with --from
    scenes = sorted(Path(d) for d, _, files in os.walk(root, followlinks=True) if {"im0.png", "im1.png"} <= set(files))
    if not scenes:
        raise DatasetNotFoundError("middlebury", root / "<scene>/im0.png", fix)
    pairs = [(s / "im0.png", s / "im1.png") for s in scenes]
    ids = [f"{s.relative_to(root).as_posix()}:im0>im1" for s in scenes]
    if both_directions:
        pairs += [(s / "im1.png", s / "im0.png") for s in scenes]
        ids += [f"{s.relative_to(root).as_posix()}:im1>im0" for s in scenes]
    return PairDataset(pairs, ids, transform, name="middlebury", split="test", root=root)


def image_folder(name: str, folder: Path, transform: ImageTransform, fix: str, split: str) -> ImageDataset:
    """Every image file directly in ``folder`` (CompressAI's ``ImageFolder`` reads ``root/<split>`` so)."""
    _require_dir(name, folder, fix)
    files = _image_files(folder)
    if not files:
        raise DatasetNotFoundError(name, folder / "*.png", fix, "no image files in the folder")
    ids = [_stem(p.name) for p in files]
    return ImageDataset(files, ids, transform, name=name, split=split, root=folder)
