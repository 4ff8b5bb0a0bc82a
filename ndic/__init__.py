"""ndic: learned image compression with decoder side information, reproduced.

Models of NDIC-CAM (Mital et al., WACV 2023) and STF/WACNN (Zou et al., CVPR 2022) on
CompressAI's building blocks, with real rANS bitstreams, data loaders, training, evaluation,
classical codecs and the plots of the companion book.
"""

# Import hooks for torchvision/CompressAI (cheap: no torch import). The environment's .pth file
# installs them at interpreter start; this covers environments without it.
from . import _compat  # noqa: F401

__version__ = "0.1.0"

# Public functions of submodules, imported on first use so that `import ndic` stays light.
_LAZY = {
    "compress_file": "ndic.bitstream",
    "decompress_file": "ndic.bitstream",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'ndic' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
