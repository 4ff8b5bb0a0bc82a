"""Still-image codecs through Pillow 13: JPEG, JPEG 2000, WebP and AVIF.

The rate counts the whole file each format stores (headers and container included: JFIF, the
JPEG 2000 codestream without a JP2 box, RIFF/WebP, HEIF/AVIF).

- JPEG: libjpeg-turbo, 4:4:4 (``subsampling=0``), optimised Huffman tables, baseline.
- JPEG 2000: OpenJPEG, irreversible 9/7 wavelet with the colour transform (``mct=1``; without it
  about 3 dB are lost), one quality layer at a fixed compression ratio (quality = ratio to 24 bpp).
- WebP: libwebp lossy, ``method=6`` (slowest, best); 4:2:0 by the format.
- AVIF: libavif with the aom encoder, 4:4:4, full range, speed 6 (Pillow's default).
"""

from __future__ import annotations

import io
from typing import ClassVar

import numpy as np
from PIL import Image, features

from .base import Codec, CodecUnavailable, as_rgb8, register


class PillowCodec(Codec):
    """A Pillow format: ``save`` with fixed ``options`` plus the quality, ``open`` to decode."""

    format: ClassVar[str]  # Pillow's format name
    feature: ClassVar[str]  # Pillow's feature that must be present
    library: ClassVar[str]  # Pillow's feature whose version names the encoder library
    options: ClassVar[dict]  # fixed save options
    quality_range: ClassVar[tuple[float, float]] = (0, 100)
    curve_label: ClassVar[str]

    def check(self) -> None:
        if not features.check(self.feature):
            raise CodecUnavailable(f"Pillow was built without {self.feature}: install the pinned pillow==13.0.0 wheel")

    @property
    def label(self) -> str:
        return self.curve_label

    @property
    def version(self) -> str:
        self.check()
        options = " ".join(f"{k}={v}" for k, v in sorted(self.options.items()))
        return f"Pillow {Image.__version__} {self.library} {features.version(self.library)} {options}"

    def quality_options(self, quality: float) -> dict:
        return {"quality": int(quality)}

    def encode(self, image: np.ndarray, quality: float) -> bytes:
        image = as_rgb8(image)
        self.check()
        self.check_quality(quality, *self.quality_range)
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, self.format, **self.options, **self.quality_options(quality))
        return buffer.getvalue()

    def decode(self, data: bytes) -> np.ndarray:
        with Image.open(io.BytesIO(data)) as decoded:
            return np.asarray(decoded.convert("RGB"))


@register
class JPEG(PillowCodec):
    name = "jpeg"
    format, feature, library = "JPEG", "jpg", "libjpeg_turbo"
    options = {"subsampling": 0, "optimize": True}
    quality_range = (1, 100)
    qualities = (5, 10, 15, 20, 30, 40, 50, 60, 70, 80, 90)
    curve_label = "JPEG (4:4:4)"


@register
class JPEG2000(PillowCodec):
    name = "jpeg2000"
    quality_name = "ratio"
    format, feature, library = "JPEG2000", "jpg_2000", "jpg_2000"
    options = {"quality_mode": "rates", "irreversible": True, "mct": 1, "no_jp2": True}
    quality_range = (1, 10_000)
    # compression ratios against 24 bpp: 0.05 to 2 bpp
    qualities = (480, 320, 240, 160, 120, 80, 48, 32, 24, 16, 12)
    curve_label = "JPEG 2000 (OpenJPEG)"

    def quality_options(self, quality: float) -> dict:
        return {"quality_layers": [float(quality)]}


@register
class WebP(PillowCodec):
    name = "webp"
    format, feature, library = "WEBP", "webp", "webp"
    options = {"method": 6, "lossless": False}
    qualities = (0, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90)
    curve_label = "WebP (4:2:0)"


@register
class AVIF(PillowCodec):
    name = "avif"
    format, feature, library = "AVIF", "avif", "avif"
    # one thread: the runner parallelises over images
    options = {"subsampling": "4:4:4", "speed": 6, "codec": "aom", "range": "full", "max_threads": 1}
    qualities = (0, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90)
    curve_label = "AVIF (aom, 4:4:4)"

    def check(self) -> None:
        super().check()
        from PIL import _avif

        if not _avif.encoder_codec_available("aom"):
            raise CodecUnavailable("Pillow's libavif has no aom encoder: install the pinned pillow==13.0.0 wheel")
