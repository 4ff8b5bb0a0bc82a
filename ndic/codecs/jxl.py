"""JPEG XL through ``imagecodecs`` (libjxl): lossy VarDCT, quality = Butteraugli distance.

The rate counts the bare codestream (``usecontainer=False``), effort 7 (libjxl's default).
"""

from __future__ import annotations

import numpy as np

from .base import Codec, CodecUnavailable, as_rgb8, register


def _imagecodecs():
    try:
        import imagecodecs
    except ImportError as err:
        raise CodecUnavailable("JPEG XL needs imagecodecs: pip install imagecodecs==2026.1.14") from err
    if not imagecodecs.JPEGXL.available:
        raise CodecUnavailable("this imagecodecs build has no libjxl: install the pinned imagecodecs==2026.1.14 wheel")
    return imagecodecs


@register
class JPEGXL(Codec):
    """JPEG XL (libjxl), distance 25 (lowest rate) to 0.8."""

    name = "jpegxl"
    quality_name = "distance"
    qualities = (25.0, 15.0, 10.0, 7.0, 5.0, 3.5, 2.5, 1.8, 1.2, 0.8)

    def __init__(self, effort: int = 7):
        self.effort = effort

    def check(self) -> None:
        _imagecodecs()

    @property
    def label(self) -> str:
        return "JPEG XL (libjxl)"

    @property
    def version(self) -> str:
        return f"{_imagecodecs().jpegxl_version()} effort={self.effort} codestream"

    def encode(self, image: np.ndarray, quality: float) -> bytes:
        image = as_rgb8(image)
        self.check_quality(quality, 0.01, 25)
        codecs = _imagecodecs()
        return codecs.jpegxl_encode(
            image, effort=self.effort, distance=float(quality), usecontainer=False, numthreads=1
        )

    def decode(self, data: bytes) -> np.ndarray:
        return np.asarray(_imagecodecs().jpegxl_decode(data))
