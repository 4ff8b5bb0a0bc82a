"""Preprocessing of the two papers, on PIL images like the originals.

NDIC-CAM (``dataset/PairKitti.py``, ``PairCityscape.py``) uses torchvision's functional transforms on
PIL images: KITTI is centre-cropped to 370x740 and then resized to 128x256; Cityscapes is resized
straight to 128x256; in training both images of a pair are flipped horizontally together with
probability 0.5. Reproduced exactly here without torchvision:

- centre crop offset per axis ``round((size - crop) / 2)`` with Python's round-half-to-even, as
  ``torchvision.transforms.functional.center_crop``: a 375-row KITTI image is cropped from row 2
  (not 3); an axis shorter than the crop is zero-padded by ``(crop - size) // 2`` before it;
- resize with PIL's bilinear filter (PIL filters with antialiasing when it shrinks), which is what
  torchvision's ``resize`` calls for PIL images;
- ``to_tensor`` divides uint8 by 255 in float32, as ``ToTensor``.

STF/WACNN train on random 256x256 crops (no flips) and evaluate on full images.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image

NDIC_SIZE = (128, 256)  # (H, W) of every NDIC-CAM image
KITTI_CROP = (370, 740)  # (H, W) centre crop applied to KITTI before the resize
STF_CROP = 256  # training crop of STF/WACNN


def center_crop_offset(size: int, crop: int) -> int:
    """Offset of torchvision's centre crop along one axis; negative means zero padding before it."""
    if crop > size:
        return -((crop - size) // 2)
    return int(round((size - crop) / 2.0))


def center_crop(image: Image.Image, crop: Sequence[int]) -> Image.Image:
    """Centre crop to ``crop = (h, w)``; PIL fills the part outside the image with zeros, as torchvision pads."""
    height, width = crop
    top = center_crop_offset(image.height, height)
    left = center_crop_offset(image.width, width)
    return image.crop((left, top, left + width, top + height))


def aspect_crop_size(height: int, width: int, aspect: Sequence[int]) -> tuple[int, int]:
    """The largest (h, w) inside ``height x width`` with the ratio ``aspect = (h, w)``, rounded down.

    A 500x741 image at 1:2 gives 370x740, the very crop NDIC-CAM applies to KITTI.
    """
    ah, aw = aspect
    h = min(height, width * ah // aw)
    return h, min(width, h * aw // ah)


def aspect_crop(image: Image.Image, aspect: Sequence[int]) -> Image.Image:
    """Centre crop to the largest box of ``aspect`` (same rounding as :func:`center_crop`)."""
    return center_crop(image, aspect_crop_size(image.height, image.width, aspect))


def resize(image: Image.Image, size: Sequence[int]) -> Image.Image:
    """Resize to ``size = (h, w)`` with PIL's bilinear filter (NDIC-CAM's ``TF.resize`` on PIL images)."""
    height, width = size
    return image.resize((width, height), Image.Resampling.BILINEAR)


def to_tensor(image: Image.Image | np.ndarray) -> torch.Tensor:
    """uint8 (H, W, 3) -> float32 (3, H, W) in [0, 1], bitwise like torchvision's ``ToTensor``."""
    array = np.asarray(image, dtype=np.uint8)
    return torch.from_numpy(array.copy()).permute(2, 0, 1).contiguous().to(torch.float32).div(255)


def random_crop(image: torch.Tensor, crop: int | Sequence[int]) -> torch.Tensor:
    """Random ``crop`` of a (C, H, W) tensor, offsets drawn from torch's RNG (seeded per loader worker)."""
    height, width = (crop, crop) if isinstance(crop, int) else crop
    if image.shape[-2] < height or image.shape[-1] < width:
        raise ValueError(
            f"image of {image.shape[-2]}x{image.shape[-1]} is smaller than the {height}x{width} training crop; "
            "pass a smaller crop= or remove the image"
        )
    top = int(torch.randint(0, image.shape[-2] - height + 1, (1,)))
    left = int(torch.randint(0, image.shape[-1] - width + 1, (1,)))
    return image[..., top : top + height, left : left + width]


class PairTransform:
    """Stereo pair preprocessing: optional crop, resize to ``size``, joint random flip in training.

    ``crop``: ``"kitti"`` (centre crop 370x740, NDIC-CAM's KITTI), ``"aspect"`` (centre crop to the
    largest box with the aspect of ``size``; used for Middlebury and the embedded pairs) or ``None``
    (resize straight, NDIC-CAM's Cityscapes).
    """

    def __init__(self, size: Sequence[int] = NDIC_SIZE, crop: str | None = "kitti", train: bool = False):
        if crop not in ("kitti", "aspect", None):
            raise ValueError(f"crop must be 'kitti', 'aspect' or None, not {crop!r}")
        self.size, self.crop, self.train = tuple(size), crop, train

    def image(self, array: np.ndarray) -> torch.Tensor:
        image = Image.fromarray(array)
        if self.crop == "kitti":
            image = center_crop(image, KITTI_CROP)
        elif self.crop == "aspect":
            image = aspect_crop(image, self.size)
        return to_tensor(resize(image, self.size))

    def __call__(self, x: np.ndarray, y: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = self.image(x), self.image(y)
        if self.train and torch.rand(1).item() > 0.5:  # one draw for both views, as the original
            x, y = x.flip(-1), y.flip(-1)
        return x, y

    def __repr__(self) -> str:
        return f"PairTransform(size={self.size}, crop={self.crop!r}, train={self.train})"


class ImageTransform:
    """Single-image preprocessing: optional resize to ``size``, then a random (train) or centre crop."""

    def __init__(self, size: Sequence[int] | None = None, crop: int | Sequence[int] | None = None, train: bool = False):
        self.size = tuple(size) if size is not None else None
        self.crop, self.train = crop, train

    def __call__(self, array: np.ndarray) -> torch.Tensor:
        image = Image.fromarray(array)
        if self.size is not None:
            image = resize(image, self.size)
        if self.crop is not None and not self.train:
            image = center_crop(image, (self.crop, self.crop) if isinstance(self.crop, int) else self.crop)
        tensor = to_tensor(image)
        if self.crop is not None and self.train:
            tensor = random_crop(tensor, self.crop)
        return tensor

    def __repr__(self) -> str:
        return f"ImageTransform(size={self.size}, crop={self.crop}, train={self.train})"
