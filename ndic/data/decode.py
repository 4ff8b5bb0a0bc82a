"""Reading any image file as 8-bit RGB, explicitly and loudly.

The models take three 8-bit channels. Files in the wild are also grayscale, gray + alpha, RGBA,
palette and 16-bit PNGs. Pillow would turn a 16-bit RGB PNG into 8 bits by silently dropping the
low byte and a 16-bit grayscale PNG into clipped garbage, so PNGs are decoded with imagecodecs,
which returns the stored bit depth, and converted here by rule:

- 16 bit -> 8 bit: ``round(v * 255 / 65535)`` (the exact rescale, 65535 -> 255);
- gray -> RGB: the gray value in all three channels;
- alpha is dropped (the colour channels are compressed, as by every codec in this project).

- EXIF orientation is applied (as Pillow's ``ImageOps.exif_transpose``): the array is the image as
  viewers show it, so that a reconstruction, written as a PNG without EXIF, looks like its original
  (camera JPEGs store portrait shots as landscape pixels plus an orientation tag; the evaluation
  datasets carry no tag, so their pixels are unchanged).

Untrusted files stay bounded: the size in the file's header is checked before any pixel is decoded.
An image of more than :func:`pixel_limit` pixels (default 89,478,485, Pillow's ``MAX_IMAGE_PIXELS``:
256 MiB as 8-bit RGB) raises :class:`ImageTooLarge`; ``NDIC_MAX_PIXELS`` or ``max_pixels=`` raise
the limit. (A 873 KB PNG can declare 30000x30000 pixels, 2.7 GB as RGB; imagecodecs has no guard of
its own, and Pillow's applies to the formats it decodes only.)

A file that cannot be decoded raises :class:`ImageReadError` naming the path; nothing is skipped.
"""

from __future__ import annotations

import contextlib
import io
import os
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path

import imagecodecs
import numpy as np
from PIL import Image

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_PIXELS_ENV = "NDIC_MAX_PIXELS"
DEFAULT_MAX_PIXELS = 89_478_485  # Pillow's default Image.MAX_IMAGE_PIXELS (1024**3 // 4 // 3)
EXIF_ORIENTATION = 0x0112


class ImageReadError(OSError):
    """An image file exists but cannot be decoded (corrupt, truncated, unknown format)."""


class ImageTooLarge(ImageReadError, ValueError):
    """An image (or a bitstream header) declares more pixels than the reader accepts."""


def pixel_limit(override: int | None = None) -> int:
    """The pixel limit: ``override``, else ``$NDIC_MAX_PIXELS``, else :data:`DEFAULT_MAX_PIXELS`."""
    if override is not None:
        value, source = override, "max_pixels"
    else:
        text = os.environ.get(MAX_PIXELS_ENV, "").strip()
        if not text:
            return DEFAULT_MAX_PIXELS
        try:
            value, source = int(text.replace("_", "")), MAX_PIXELS_ENV
        except ValueError:
            raise ValueError(f"{MAX_PIXELS_ENV}={text!r} is not a whole number of pixels, e.g. 200000000") from None
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{source} must be a positive whole number of pixels, got {value!r}")
    return int(value)


def check_pixels(height: int, width: int, limit: int, what: str) -> None:
    """Raise :class:`ImageTooLarge` when ``height`` x ``width`` exceeds ``limit`` (one line, naming the fix)."""
    if height * width > limit:
        raise ImageTooLarge(
            f"{what} is {height}x{width} = {height * width:,} pixels, over the limit of {limit:,} pixels "
            f"(a guard against decompression bombs); if it is genuine, raise the limit: "
            f"{MAX_PIXELS_ENV}={height * width} in the environment, or max_pixels={height * width}"
        )


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


_PILLOW_GUARD = threading.Lock()


@contextlib.contextmanager
def _without_pillow_guard() -> Iterator[None]:
    """Pillow's own bomb guard (a warning over ``Image.MAX_IMAGE_PIXELS``, an error over twice that, raised
    as it opens a file) stands aside while a header is read: :func:`check_pixels` applies ours instead,
    which ``NDIC_MAX_PIXELS`` can raise past Pillow's."""
    with _PILLOW_GUARD, warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS = saved


def _orientation(image: Image.Image) -> int:
    # Image.getexif of the base class: PngImageFile's own decodes the whole image to look for an eXIf
    # chunk after the pixels; the one before them (where writers put it) is already in image.info
    value = Image.Image.getexif(image).get(EXIF_ORIENTATION, 1)
    return value if value in range(1, 9) else 1


def orient(array: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation (1-8) to an (H, W, ...) array, as ``ImageOps.exif_transpose`` does."""
    if orientation in (5, 6, 7, 8):  # the stored rows are the displayed columns
        array = np.swapaxes(array, 0, 1)
    if orientation in (2, 3, 6, 7):  # mirror left-right (after the swap)
        array = array[:, ::-1]
    if orientation in (3, 4, 7, 8):  # mirror top-bottom
        array = array[::-1]
    return np.ascontiguousarray(array)


def _pillow_pixels(image: Image.Image, path: Path) -> np.ndarray:
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


def read_rgb(path: str | os.PathLike, max_pixels: int | None = None) -> np.ndarray:
    """Decode ``path`` to a uint8 (H, W, 3) array, as displayed (EXIF orientation applied).

    The header's size is checked against the pixel limit (``max_pixels``, else ``$NDIC_MAX_PIXELS``,
    else 89,478,485) before decoding: :class:`ImageTooLarge`. :class:`ImageReadError` names the file
    on any other failure.
    """
    path = Path(path)
    limit = pixel_limit(max_pixels)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise
    except OSError as error:
        raise ImageReadError(f"cannot read image {path}: {error}") from error
    try:
        with _without_pillow_guard():
            image = Image.open(io.BytesIO(data))  # parses the header only
        with image:
            width, height = image.size
            check_pixels(height, width, limit, str(path))
            orientation = _orientation(image)
            # PNG: imagecodecs keeps 16-bit samples that Pillow would truncate
            array = imagecodecs.png_decode(data) if data.startswith(PNG_SIGNATURE) else _pillow_pixels(image, path)
    except ImageReadError:
        raise
    except Exception as error:  # decoders raise many types; each means the file is corrupt
        raise ImageReadError(f"cannot decode image {path}: {type(error).__name__}: {error}") from error
    return to_rgb8(orient(array, orientation), path)
