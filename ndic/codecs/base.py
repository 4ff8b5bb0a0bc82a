"""The interface every classical codec implements, and the codec registry.

A codec turns an 8-bit RGB image into the bytes it would store (``encode``) and those bytes back
into an 8-bit RGB image (``decode``). Nothing else travels between the two: the decoder learns the
image size from the bitstream, as a real decoder does. Each codec also names

- ``name``: a short identifier (file names, the ``method`` column of result rows);
- ``label``: the curve's label in plots, truthful about encoder and chroma format;
- ``version``: the encoder's version plus every setting that changes the bitstream (the cache key);
- ``qualities``: its default sweep, lowest rate first, spanning roughly 0.05-2 bpp on Kodak.

A codec whose program or library is missing raises :class:`CodecUnavailable` with the command that
installs it; callers skip it with that message instead of crashing.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import ClassVar

import numpy as np

_REGISTRY: dict[str, type[Codec]] = {}
_ALIASES: dict[str, Callable[..., Codec]] = {}


class CodecUnavailable(RuntimeError):
    """A codec's encoder or decoder is not installed; the message says how to install it."""


def register(cls: type[Codec]) -> type[Codec]:
    """Class decorator: make a codec available as ``ndic.codecs.get(cls.name)``."""
    if cls.name in _REGISTRY:
        raise ValueError(f"codec name {cls.name!r} is registered twice")
    _REGISTRY[cls.name] = cls
    return cls


def alias(name: str, resolve: Callable[..., Codec]) -> None:
    """A registry name that picks a codec when built (``vvc``: VTM when configured, else vvenc)."""
    _ALIASES[name] = resolve


def names() -> list[str]:
    """Every registered codec name (aliases included)."""
    return sorted([*_REGISTRY, *_ALIASES])


def get(name: str, **options) -> Codec:
    """Build the codec registered as ``name`` (it may still be unavailable: see ``Codec.check``)."""
    if name in _ALIASES:
        return _ALIASES[name](**options)
    if name not in _REGISTRY:
        raise KeyError(f"unknown codec {name!r}; known codecs: {', '.join(names())}")
    return _REGISTRY[name](**options)


class Codec(abc.ABC):
    """An image codec run for real: ``encode(image, quality) -> bytes``, ``decode(bytes) -> image``.

    Images are ``(H, W, 3)`` uint8 RGB numpy arrays (``as_rgb8`` converts PIL images).
    """

    name: ClassVar[str]
    quality_name: ClassVar[str] = "quality"  # what the quality parameter is: "qp", "distance", ...
    qualities: ClassVar[tuple[float, ...]] = ()  # default sweep, lowest rate first

    @property
    @abc.abstractmethod
    def label(self) -> str:
        """Legend label, e.g. "VVC (vvenc 1.15.0, 4:2:0)"."""

    @property
    @abc.abstractmethod
    def version(self) -> str:
        """Encoder version and bitstream-relevant settings; changing either invalidates cached results."""

    def check(self) -> None:
        """Raise :class:`CodecUnavailable` (with the install command) if the codec cannot run here."""
        return None  # codecs built on pinned Python packages are always there

    def available(self) -> bool:
        try:
            self.check()
        except CodecUnavailable:
            return False
        return True

    @abc.abstractmethod
    def encode(self, image: np.ndarray, quality: float) -> bytes:
        """Compress an RGB uint8 image at ``quality`` to the bytes the codec stores."""

    @abc.abstractmethod
    def decode(self, data: bytes) -> np.ndarray:
        """Reconstruct the RGB uint8 image from the bytes of :meth:`encode`."""

    def describe(self) -> dict:
        """Everything a result file needs to say about how the codec ran."""
        return {
            "codec": self.name,
            "label": self.label,
            "version": self.version,
            "quality_name": self.quality_name,
            "qualities": list(self.qualities),
        }

    def check_quality(self, quality: float, low: float, high: float) -> None:
        if not low <= quality <= high:
            raise ValueError(f"{self.name}: {self.quality_name} must lie in [{low}, {high}], got {quality}")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(label={self.label!r})"


def as_rgb8(image) -> np.ndarray:
    """A contiguous ``(H, W, 3)`` uint8 array from a numpy RGB image or a PIL image."""
    if hasattr(image, "convert") and hasattr(image, "mode"):  # PIL.Image without importing PIL here
        image = np.asarray(image.convert("RGB"))
    if not isinstance(image, np.ndarray):
        raise TypeError(f"expected an (H, W, 3) uint8 numpy array or a PIL image, got {type(image).__name__}")
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(
            f"expected an (H, W, 3) uint8 RGB image, got shape {image.shape} and dtype {image.dtype}; "
            "convert float images with (x * 255).round().astype(np.uint8)"
        )
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"empty image of shape {image.shape}")
    return np.ascontiguousarray(image)
