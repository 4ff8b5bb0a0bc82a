"""Classical image codecs run for real: encode to a bitstream, count its bytes, decode, measure.

``ndic.codecs.get(name)`` builds one (``names()`` lists them); ``ndic.codecs.runner`` sweeps a
dataset over a codec's qualities with a cache and parallel processes (``ndic baselines``).
"""

from . import bpg, jxl, pillow_codecs, vvc  # noqa: F401  (modules register their codecs)
from .base import Codec, CodecUnavailable, as_rgb8, get, names

__all__ = ["Codec", "CodecUnavailable", "as_rgb8", "get", "names", "available"]


def available() -> list[str]:
    """Names of the codecs that can run on this machine (aliases left out)."""
    from .base import _REGISTRY

    return [name for name, cls in sorted(_REGISTRY.items()) if cls().available()]
