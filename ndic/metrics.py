"""Image quality and rate metrics, computed the way the papers report them.

- PSNR on RGB images, peak 1 on [0, 1] images. The default (``psnr``, convention ``"8bit"``) measures
  what a receiver gets: the decoded image clamped and rounded to 8 bits, as a PNG stores it (CompressAI's
  codec evaluation of classical codecs works on 8-bit images too). The papers' own scripts differ:
  NDIC-CAM's test loop measures the unclamped float output (``"float"``), STF's ``eval.py`` the clamped
  float output (``"clamped"``); :func:`psnr` takes either by name. The differences are small (hundredths
  of a dB at the papers' rates) but named, so a comparison never mixes them silently.
- MS-SSIM with pytorch-msssim on [0, 1] images; ``win_size`` 11 (STF/WACNN, CompressAI) unless the
  image is too small for five scales, where NDIC-CAM's 7 is used (its 128x256 images need it).
- bpp from a real byte count, or estimated from likelihoods (never mixed up: both are named).
"""

from __future__ import annotations

import math

import torch
from pytorch_msssim import ms_ssim as _ms_ssim


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """[0, 1] float image -> 8-bit values (as float), rounding like a PNG writer."""
    return (x.detach().clamp(0, 1) * 255).round()


PSNR_CONVENTIONS = ("8bit", "clamped", "float")


def psnr(x: torch.Tensor, x_hat: torch.Tensor, convention: str = "8bit") -> float:
    """PSNR in dB of RGB images in [0, 1]; ``inf`` for identical images.

    ``convention``: ``"8bit"`` (default: both images clamped and rounded to 8 bits, peak 255),
    ``"clamped"`` (STF's eval.py: ``x_hat`` clamped to [0, 1], float, peak 1) or ``"float"``
    (NDIC-CAM's test loop: the unclamped float output, peak 1).
    """
    _check_pair(x, x_hat)
    if convention == "8bit":
        mse = torch.mean((to_uint8(x).double() - to_uint8(x_hat).double()) ** 2).item() / 255.0**2
    elif convention in ("clamped", "float"):
        x_hat = x_hat.clamp(0, 1) if convention == "clamped" else x_hat
        mse = torch.mean((x.detach().double() - x_hat.detach().double()) ** 2).item()
    else:
        raise ValueError(f"PSNR convention must be one of {PSNR_CONVENTIONS}, got {convention!r}")
    return math.inf if mse == 0 else 10 * math.log10(1.0 / mse)


def default_win_size(height: int, width: int) -> int:
    """11 where five MS-SSIM scales fit, else 7 (NDIC-CAM's choice for 128x256)."""
    side = min(height, width)
    for win in (11, 7):
        if side > (win - 1) * 2**4:
            return win
    raise ValueError(
        f"MS-SSIM needs images larger than 96 pixels on the short side; got {height}x{width}. "
        "Evaluate on larger images or report PSNR only."
    )


def ms_ssim(x: torch.Tensor, x_hat: torch.Tensor, win_size: int | None = None) -> float:
    """MS-SSIM of 8-bit-rounded images in [0, 1] (mean over the batch)."""
    _check_pair(x, x_hat)
    win = win_size or default_win_size(*x.shape[-2:])
    a, b = to_uint8(x) / 255, to_uint8(x_hat) / 255
    return float(_ms_ssim(a.float(), b.float(), data_range=1.0, win_size=win))


def ms_ssim_db(value: float) -> float:
    """MS-SSIM on a dB scale, -10 log10(1 - m), as plotted by the papers.

    A curve point is the dB of the *mean* MS-SSIM over the images (CompressAI's and STF's published
    points), not the mean of per-image dB values: :func:`ndic.results.summarize` applies it that way.
    """
    return math.inf if value >= 1 else -10 * math.log10(1 - value)


def bpp_from_bytes(num_bytes: int, height: int, width: int) -> float:
    """Real bits per pixel of a bitstream for an image of ``height`` x ``width`` pixels."""
    return 8.0 * num_bytes / (height * width)


def bpp_from_likelihoods(likelihoods, height: int, width: int) -> float:
    """Estimated bits per pixel: -sum(log2 p) over every transmitted likelihood tensor."""
    tensors = likelihoods.values() if isinstance(likelihoods, dict) else likelihoods
    bits = sum(float(-torch.log2(t.double()).sum()) for t in tensors)
    return bits / (height * width)


def _check_pair(x: torch.Tensor, x_hat: torch.Tensor) -> None:
    if x.shape != x_hat.shape:
        raise ValueError(f"images differ in shape: {tuple(x.shape)} vs {tuple(x_hat.shape)}")
