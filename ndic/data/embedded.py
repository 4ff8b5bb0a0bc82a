"""The embedded default dataset: real photographs that ship with scikit-image, nothing to download.

Single images (``stereo=False``) are scikit-image's colour photographs. Stereo pairs (``stereo=True``)
are the real Middlebury 2014 Motorcycle pair bundled with scikit-image (its left and right views at
500x741, with ground-truth disparity), plus pairs synthesised from single photographs with a known
horizontal disparity:

- a window of the photograph with the output's aspect ratio, widened by the largest disparity, is
  cut at a random place and scale and resized to the output height (PIL bilinear);
- the left view ``x`` is its first ``W`` columns; the right view ``y`` takes row ``r`` from column
  ``d(r)`` on, so that ``y(r, c) = x(r, c + d(r))``, the convention of rectified stereo (a point at
  column ``c`` of the left view is at ``c - d`` in the right one);
- ``d(r)`` is a slanted plane, small at the top and large at the bottom like a road seen from a car
  (at 128x256: 1..8 px at the top row, 16..48 px at the bottom row), rounded to whole pixels, so
  the disparity of every pixel is known exactly (:meth:`EmbeddedPairs.disparity`).

Every draw comes from ``numpy.random.default_rng((seed, photo, k))``: the same seed gives the same
pairs on every machine. The splits are fixed lists of photographs (:data:`SPLITS`); no photograph is
in two splits, and the Motorcycle pair is used only for testing (in both directions, as NDIC-CAM
uses KITTI's pairs).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image
from skimage import data as skdata

from .datasets import ImageDataset, PairDataset
from .transforms import NDIC_SIZE, STF_CROP, ImageTransform, PairTransform, aspect_crop_size, center_crop_offset

# name -> loader of the photograph (uint8 RGB)
PHOTOS: dict[str, Callable[[], np.ndarray]] = {
    "astronaut": skdata.astronaut,
    "coffee": skdata.coffee,
    "hubble_deep_field": skdata.hubble_deep_field,
    "immunohistochemistry": skdata.immunohistochemistry,
    "retina": skdata.retina,
    "rocket": skdata.rocket,
    "chelsea": skdata.chelsea,
    "motorcycle_left": lambda: skdata.stereo_motorcycle()[0],
}
SPLITS = {
    "train": ("astronaut", "coffee", "hubble_deep_field", "immunohistochemistry", "retina"),
    "val": ("rocket",),
    "test": ("chelsea", "motorcycle_left"),
}
# Disparity ranges of the synthetic plane at a width of 256 (scaled with the output width).
TOP_DISPARITY = (1.0, 8.0)
BOTTOM_DISPARITY = (16.0, 48.0)
MIN_WINDOW_SCALE = 0.6  # the window is 60..100 % of the largest one that fits


@functools.cache
def photo(name: str) -> np.ndarray:
    """A read-only uint8 (H, W, 3) photograph of :data:`PHOTOS`."""
    if name not in PHOTOS:
        raise KeyError(f"unknown embedded photograph {name!r}; there are {sorted(PHOTOS)}")
    array = np.ascontiguousarray(PHOTOS[name]()[..., :3])
    array.setflags(write=False)
    return array


@functools.cache
def motorcycle() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Middlebury Motorcycle as bundled by scikit-image: left, right (uint8) and left disparity (inf = none)."""
    left, right, disparity = skdata.stereo_motorcycle()
    for array in (left, right, disparity):
        array.setflags(write=False)
    return left, right, disparity


@functools.cache
def synthesize_pair(name: str, k: int, seed: int, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ``k``-th synthetic pair from photograph ``name``: left view, right view, per-row disparity (int)."""
    x, y, disparity = slanted_pair(photo(name), np.random.default_rng((seed, list(PHOTOS).index(name), k)), size)
    for array in (x, y, disparity):
        array.setflags(write=False)
    return x, y, disparity


def slanted_pair(
    source: np.ndarray, rng: np.random.Generator, size: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A pair of ``size`` cut from the uint8 photograph ``source`` with a slanted-plane disparity (see above).

    Returns the left view, the right view (``y[r, c] = x[r, c + d[r]]``) and ``d`` per row (int64).
    """
    height, width = size
    scale = width / NDIC_SIZE[1]
    top, bottom = rng.uniform(*TOP_DISPARITY) * scale, rng.uniform(*BOTTOM_DISPARITY) * scale
    disparity = np.rint(np.linspace(top, bottom, height)).astype(np.int64)
    wide = width + int(disparity.max())
    ratio = height / wide  # window height / width
    largest = min(source.shape[1], source.shape[0] / ratio)
    window_w = largest * rng.uniform(MIN_WINDOW_SCALE, 1.0)
    window_h = window_w * ratio
    left = rng.uniform(0, source.shape[1] - window_w)
    upper = rng.uniform(0, source.shape[0] - window_h)
    box = (left, upper, left + window_w, upper + window_h)
    region = np.asarray(Image.fromarray(source).resize((wide, height), Image.Resampling.BILINEAR, box=box))
    x = region[:, :width]
    y = np.stack([region[r, d : d + width] for r, d in enumerate(disparity)])
    return x, y, disparity


@dataclass(frozen=True)
class EmbeddedImage:
    """A picklable reference to one embedded image (DataLoader workers may be spawned, not forked).

    ``kind``: ``"photo"`` (``args = (name,)``), ``"motorcycle"`` (``(view,)``: 0 left, 1 right) or
    ``"synthetic"`` (``(name, k, seed, size, view)``).
    """

    kind: str
    args: tuple

    def __call__(self) -> np.ndarray:
        if self.kind == "photo":
            return photo(*self.args)
        if self.kind == "motorcycle":
            return motorcycle()[self.args[0]]
        return synthesize_pair(*self.args[:4])[self.args[4]]


class EmbeddedPairs(PairDataset):
    """The default stereo pairs; :meth:`disparity` gives each pair's true disparity at the output size."""

    def __init__(self, split: str, size: tuple[int, int], seed: int, pairs_per_photo: int, train: bool):
        self.size, self.seed = size, seed
        pairs, ids, self._truth = [], [], []
        if split == "test":
            left, right = EmbeddedImage("motorcycle", (0,)), EmbeddedImage("motorcycle", (1,))
            pairs += [(left, right), (right, left)]
            ids += ["motorcycle:left>right", "motorcycle:right>left"]
            self._truth += [("motorcycle",), None]  # Middlebury gives the left view's disparity only
        for name in SPLITS[split]:
            if name == "motorcycle_left":  # the real pair, above
                continue
            for k in range(pairs_per_photo):
                views = [EmbeddedImage("synthetic", (name, k, seed, size, view)) for view in (0, 1)]
                pairs.append(tuple(views))
                ids.append(f"{name}:synthetic{k}")
                self._truth.append(("synthetic", name, k))
        # Synthetic views already have the output size (the crop and resize leave them alone); the
        # real 500x741 pair is cropped to 370x740, as NDIC-CAM crops KITTI, then resized.
        super().__init__(pairs, ids, PairTransform(size, crop="aspect", train=train), name="default", split=split)

    def disparity(self, index: int) -> np.ndarray | None:
        """True disparity of pair ``index`` in output pixels: (H, W) float, NaN where unknown; None if none."""
        truth = self._truth[index]
        if truth is None:
            return None
        if truth[0] == "motorcycle":
            return motorcycle_disparity(self.size)
        rows = synthesize_pair(truth[1], truth[2], self.seed, self.size)[2].astype(np.float64)
        return np.repeat(rows[:, None], self.size[1], axis=1)


def motorcycle_disparity(size: Sequence[int]) -> np.ndarray:
    """Ground-truth disparity of the Motorcycle left view after the same crop and resize as the images.

    Nearest-neighbour sampling at the output pixel centres (disparities must not be blended across
    depth edges), values scaled by the horizontal resize factor; NaN where Middlebury has none.
    """
    disparity = motorcycle()[2]
    crop_h, crop_w = aspect_crop_size(disparity.shape[0], disparity.shape[1], size)
    top = center_crop_offset(disparity.shape[0], crop_h)
    left = center_crop_offset(disparity.shape[1], crop_w)
    rows = top + ((np.arange(size[0]) + 0.5) * crop_h / size[0]).astype(np.int64)
    cols = left + ((np.arange(size[1]) + 0.5) * crop_w / size[1]).astype(np.int64)
    sampled = disparity[np.ix_(rows, cols)].astype(np.float64) * size[1] / crop_w
    sampled[~np.isfinite(sampled)] = np.nan
    return sampled


def default_pairs(
    split: str, size: Sequence[int] | None = None, seed: int = 0, pairs_per_photo: int = 4, train: bool | None = None
) -> EmbeddedPairs:
    _check_split(split)
    size = tuple(size) if size is not None else NDIC_SIZE
    return EmbeddedPairs(split, size, seed, pairs_per_photo, split == "train" if train is None else train)


def default_images(
    split: str, size: Sequence[int] | None = None, crop: int | str | None = "auto", train: bool | None = None
) -> ImageDataset:
    """The photographs of ``split``; training takes random 256x256 crops unless ``crop`` says otherwise."""
    _check_split(split)
    train = split == "train" if train is None else train
    crop = (STF_CROP if train else None) if crop == "auto" else crop
    images = [EmbeddedImage("photo", (name,)) for name in SPLITS[split]]
    return ImageDataset(images, list(SPLITS[split]), ImageTransform(size, crop, train), name="default", split=split)


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"the default dataset has splits {sorted(SPLITS)}, not {split!r}")
