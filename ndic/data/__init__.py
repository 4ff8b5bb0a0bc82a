"""Datasets of the two papers, their exact preprocessing, and an embedded default.

``load(name, split, root=None, size=None, **opts)`` returns a ``torch.utils.data.Dataset`` whose
items are float32 (3, H, W) tensors in [0, 1]: ``(x, y)`` pairs for stereo datasets (``x`` is
compressed, ``y`` is the side information only the decoder sees), single images otherwise. Every
dataset has ``.stereo`` and ``.ids`` (a name per item). ``make_loader`` wraps one in a DataLoader.

Where the data lives (``root``; ``None`` means ``default_root(name)``, i.e. ``$NDIC_DATA/<folder>``,
``$NDIC_DATA`` defaulting to ``data/`` in the project checkout, where ``data_prep`` writes):

========================  =============================================================  =======================
name                      ``root`` is                                                    data_prep
========================  =============================================================  =======================
``kitti_stereo``          the KITTI root: ``data_scene_flow_multiview/`` and              ``kitti``,
``kitti_general``         ``data_stereo_flow_multiview/`` plus the split lists            ``splits``
                          ``KITTI_<stereo|general>_<split>.txt`` (or ``lists=DIR``);
                          for kitti_stereo also a folder of rectified pairs
                          (``image_2``/``image_3``, ...)
``cityscape``             the folder holding ``leftImg8bit/`` and ``rightImg8bit/``       ``cityscape``
``middlebury``            a folder searched for scenes ``<scene>/im0.png, im1.png``       ``middlebury``
``kodak``                 the folder of the 24 PNGs (any images in it)                    ``kodak``
``clic_professional``     the folder of CLIC Professional's 41 validation PNGs            ``clic_professional``
``tecnick``               the folder of Tecnick's 100 SAMPLING RGB 1200x1200 PNGs         ``tecnick``
``images``                CompressAI's ImageFolder: images in ``root/<split>/``           ``images``
``photos``                photographs of Debian packages, ``manifest.csv`` (train/val)    ``photos``
``stereo_train``          the ``photos`` folder: synthetic pairs of known disparity       ``photos``,
                          (+ stereodemo's real pairs, ``stereodemo=DIR``; train only)     ``stereodemo``
``default``               nothing: embedded (``root`` must be None)                       --
========================  =============================================================  =======================

Preprocessing: NDIC-CAM's for the stereo sets (KITTI: centre crop 370x740, resize to ``size``,
default 128x256; Cityscapes: resize; training: joint horizontal flip p=0.5); Middlebury and the
embedded pairs: centre crop to the aspect of ``size``, then resize. Single images: full images for
evaluation; training takes random ``crop``x``crop`` crops (256, as STF/WACNN); ``size`` resizes
first. ``augment`` (default: ``split == "train"``) switches the random flip/crop on or off.
"""

from __future__ import annotations

import os
from pathlib import Path

from torch.utils.data import Dataset

from . import datasets, embedded, photos
from .datasets import DatasetNotFoundError, ImageDataset, PairDataset
from .decode import ImageReadError, read_rgb
from .loader import make_loader
from .transforms import NDIC_SIZE, STF_CROP, ImageTransform, PairTransform

__all__ = [
    "DatasetNotFoundError",
    "ImageDataset",
    "ImageReadError",
    "PairDataset",
    "data_home",
    "default_root",
    "load",
    "make_loader",
    "names",
    "read_rgb",
]

DATA_ENV = "NDIC_DATA"
# dataset -> its folder under the data home
FOLDERS = {
    "kitti_stereo": "kitti",
    "kitti_general": "kitti",
    "cityscape": "cityscape",
    "middlebury": "middlebury",
    "kodak": "kodak",
    "clic_professional": "clic_professional",
    "tecnick": "tecnick",
    "images": "images",
    "photos": "photos",
    "stereo_train": "photos",
}
# the stereo sets of files, resized to NDIC-CAM's size (stereo_train and default build their pairs themselves)
STEREO_SETS = frozenset({"kitti_stereo", "kitti_general", "cityscape", "middlebury"})
# evaluation sets of single images, one folder each (CLIC: its Professional validation set)
_EVALUATION_FOLDERS = {"kodak", "clic_professional", "tecnick"}
_OPTIONS = {
    "kitti_stereo": {"lists", "both_directions", "augment"},
    "kitti_general": {"lists", "augment"},
    "cityscape": {"augment"},
    "middlebury": {"both_directions"},
    "kodak": {"crop"},
    "clic_professional": {"crop"},
    "tecnick": {"crop"},
    "images": {"crop", "augment"},
    "photos": {"crop", "augment"},
    "stereo_train": {"seed", "pairs_per_photo", "stereodemo", "augment"},
    "default": {"stereo", "seed", "pairs_per_photo", "crop", "augment"},
}


def names() -> list[str]:
    """Names ``load`` accepts."""
    return sorted(_OPTIONS)


def data_home() -> Path:
    """``$NDIC_DATA``, or ``data/`` in the project checkout."""
    return Path(os.environ.get(DATA_ENV) or Path(__file__).resolve().parents[2] / "data")


def default_root(name: str) -> Path:
    """Where ``load(name, ...)`` looks when ``root`` is None, and where ``data_prep`` puts the dataset."""
    if name not in FOLDERS:
        raise ValueError(f"{name!r} has no folder on disk; datasets on disk are {sorted(FOLDERS)}")
    return data_home() / FOLDERS[name]


def _only_test(name: str, split: str) -> None:
    if split != "test":
        raise ValueError(f"{name} is an evaluation set: its only split is 'test', not {split!r}")


def _load_photos(name: str, split: str, root: Path, size, augment: bool, **opts) -> Dataset:
    """The training sets made of real photographs (:mod:`ndic.data.photos`)."""
    if name == "photos":
        crop = opts.get("crop", STF_CROP if augment else None)
        return photos.photos(split, root, ImageTransform(size, crop, train=augment))
    stereodemo = opts.pop("stereodemo", None)
    if stereodemo is None:
        stereodemo = data_home() / photos.STEREODEMO_FOLDER
    stereodemo = Path(stereodemo) if stereodemo is not False else None
    size = tuple(size) if size is not None else NDIC_SIZE
    return photos.StereoTrainPairs(split, root, size, stereodemo=stereodemo, train=augment, **opts)


def load(name: str, split: str, root: str | os.PathLike | None = None, size=None, **opts) -> Dataset:
    """The dataset ``name`` (see :func:`names`) for ``split`` ("train", "val" or "test").

    ``size``: output (H, W) of stereo sets (default 128x256, NDIC-CAM's) or a resize of single
    images (default: none). Options: ``augment`` (random flips/crops; default ``split == "train"``),
    ``crop`` (single images: training crop, default 256; for evaluation a centre crop, default
    none), ``lists`` (KITTI: folder of the split lists), ``both_directions`` (folders of pairs and
    Middlebury: add right -> left), ``stereo``/``seed``/``pairs_per_photo`` (default; see
    :mod:`ndic.data.embedded`). A missing dataset raises :class:`DatasetNotFoundError` naming the
    path and the ``data_prep`` command that fetches it.
    """
    if name not in _OPTIONS:
        raise ValueError(f"unknown dataset {name!r}; choose from {names()}")
    unknown = set(opts) - _OPTIONS[name]
    if unknown:
        raise TypeError(f"{name} takes the options {sorted(_OPTIONS[name])}, not {sorted(unknown)}")
    if split not in ("train", "val", "test") and name != "images":
        raise ValueError(f"split must be 'train', 'val' or 'test', not {split!r}")
    augment = opts.pop("augment", None)
    augment = split == "train" if augment is None else augment

    if name == "default":
        if root is not None:
            raise ValueError("the default dataset is embedded in the installed packages; pass root=None")
        if opts.pop("stereo", True):
            opts.pop("crop", None)
            return embedded.default_pairs(split, size, train=augment, **opts)
        opts.pop("seed", None), opts.pop("pairs_per_photo", None)
        return embedded.default_images(split, size, train=augment, **opts)

    root = Path(root) if root is not None else default_root(name)
    if name in ("photos", "stereo_train"):
        return _load_photos(name, split, root, size, augment, **opts)
    if name in STEREO_SETS:
        size = tuple(size) if size is not None else NDIC_SIZE
        if name == "middlebury":
            _only_test(name, split)
            return datasets.middlebury(root, PairTransform(size, crop="aspect"), **opts)
        if name == "cityscape":
            return datasets.cityscape(split, root, PairTransform(size, crop=None, train=augment))
        return datasets.kitti(name.split("_")[1], split, root, PairTransform(size, crop="kitti", train=augment), **opts)

    if name in _EVALUATION_FOLDERS:  # single images evaluated at full size (or a centre crop)
        _only_test(name, split)
        transform = ImageTransform(size, opts.get("crop"), train=False)
        return datasets.image_folder(name, root, transform, f"python -m data_prep.{name} --root {root}", split)
    crop = opts.get("crop", STF_CROP if augment else None)
    fix = f"python -m data_prep.images --from YOUR_IMAGE_FOLDER --root {root}"
    return datasets.image_folder(name, root / split, ImageTransform(size, crop, train=augment), fix, split)
