"""ndic: learned image compression with decoder side information, reproduced.

Models of NDIC-CAM (Mital et al., WACV 2023) and STF/WACNN (Zou et al., CVPR 2022) on
CompressAI's building blocks, with real rANS bitstreams, data loaders, training, evaluation,
classical codecs and the plots of the companion book.
"""

from . import _compat  # noqa: F401  (must run before anything imports compressai/torchvision)

__version__ = "0.1.0"
