"""Reading any image file as 8-bit RGB, explicitly and loudly.

The models take three 8-bit channels. Files in the wild are also grayscale, gray + alpha, RGBA,
palette and 16-bit PNGs. Pillow would turn a 16-bit RGB PNG into 8 bits by silently dropping the
low byte and a 16-bit grayscale PNG into clipped garbage, so PNGs are decoded with imagecodecs,
which returns the stored bit depth, and converted here by rule:

- 16 bit -> 8 bit: ``round(v * 255 / 65535)`` (the exact rescale, 65535 -> 255);
- gray -> RGB: the gray value in all three channels;
- alpha is dropped (the colour channels are compressed, as by every codec in this project).

A file that cannot be decoded raises :class:`ImageReadError` naming the path; nothing is skipped.
"""

from __future__ import annotations

import os
from pathlib import Path

import imagecodecs
import numpy as np
from PIL import Image

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class ImageReadError(OSError):
    """An image file exists but cannot be decoded (corrupt, truncated, unknown format)."""


def to_rgb8(array: np.ndarray, source: str | os.PathLike = "<array>") -> np.ndarray:
    """Convert a decoded image (H, W), (H, W, 1..4) of uint8/uint16/bool to uint8 (H, W, 3)."""
    if array.dtype == np.uint16:
        array = ((array.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    elif array.dtype == bool:
        array = array.astype(np.uint8) * 255
    elif array.dtype != np.uint8:
        raise ImageReadError(f"{source}: unsupported sample type {array.dtype} (expected 8 or 16 bit integers)")
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[2] not in (1, 2, 3, 4):
        raise ImageReadError(f"{source}: unsupported image shape {array.shape}")
    channels = array.shape[2]
    if channels in (1, 2):  # gray, gray + alpha
        array = np.repeat(array[:, :, :1], 3, axis=2)
    elif channels == 4:  # RGBA
        array = array[:, :, :3]
    return np.ascontiguousarray(array)


def _decode_with_pillow(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        image.load()  # Pillow decodes lazily; force it so a truncated file fails here
        if image.mode in ("I;16", "I;16B", "I;16L"):
            return np.asarray(image, dtype=np.uint16)
        if image.mode in ("1", "L", "LA", "RGB", "RGBA"):
            return np.asarray(image)
        if image.mode == "I":  # 32-bit integer gray, e.g. some TIFFs: only 16-bit content is accepted
            values = np.asarray(image)
            if values.min() < 0 or values.max() > 65535:
                raise ImageReadError(f"{path}: 32-bit samples outside the 16-bit range")
            return values.astype(np.uint16)
        if image.mode in ("P", "PA", "CMYK", "YCbCr", "LAB", "HSV"):
            return np.asarray(image.convert("RGBA" if "transparency" in image.info else "RGB"))
        raise ImageReadError(f"{path}: unsupported image mode {image.mode!r}")


def read_rgb(path: str | os.PathLike) -> np.ndarray:
    """Decode ``path`` to a uint8 (H, W, 3) array; :class:`ImageReadError` names the file on failure."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise
    except OSError as error:
        raise ImageReadError(f"cannot read image {path}: {error}") from error
    try:
        if data.startswith(PNG_SIGNATURE):
            array = imagecodecs.png_decode(data)
        else:
            array = _decode_with_pillow(path)
    except ImageReadError:
        raise
    except Exception as error:  # decoders raise many types; each means the file is corrupt
        raise ImageReadError(f"cannot decode image {path}: {type(error).__name__}: {error}") from error
    return to_rgb8(array, path)
