"""Rate-distortion losses of both papers.

``loss = lmbda * 255**2 * MSE + bpp`` (CompressAI, STF/WACNN and NDIC-CAM with ``distortion_loss: MSE``)

``loss = lmbda * s * (1 - MS-SSIM) + bpp`` where the scale ``s`` differs between the papers' code:

- NDIC-CAM (ipc-lab/NDIC-CAM ``main.py``): ``loss = lmbda * distortion * (255 ** 2) + bpp`` for both
  distortions, so ``s = 255**2`` and its lambdas (3e-5 ... 6.2e-4) are small. MS-SSIM is
  pytorch-msssim's with ``data_range=1`` and ``win_size=7`` on the unclamped reconstruction (its
  128x256 images are too small for the default 11). The recorded loss of the original
  (``../shared/reference/small/*.pt``, ``loss_msssim_lambda3e-5``) confirms the 255**2 factor.
- CompressAI / STF (``s = 1``): ``lmbda * (1 - MS-SSIM) + bpp`` with lambdas 2.40 ... 60.5, window 11.

bpp is ``sum(log p) / (-ln 2 * N * H * W)`` over the transmitted likelihoods. For distributed models
(NDIC, NDIC-CAM), ``alpha`` weighs the side image's reconstruction and rate (``hy`` and its
hyperprior ``zy``) and ``beta`` the rate of the common information ``w``; neither is transmitted,
so the transmitted estimate ``bpp`` leaves them out, as the original's ``transmitted_bpp`` does.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from pytorch_msssim import ms_ssim
from torch import nn

# keys of ``side_likelihoods`` that hold the common information (weighted by beta, not alpha)
COMMON_INFORMATION_KEYS = ("w",)


def rate_bpp(likelihoods, num_pixels: int) -> torch.Tensor:
    """Estimated bits per pixel of a dict (or iterable) of likelihood tensors, differentiable."""
    tensors = likelihoods.values() if isinstance(likelihoods, dict) else likelihoods
    return sum(torch.log(t.float()).sum() for t in tensors) / (-math.log(2) * num_pixels)


def msssim_distortion(x: torch.Tensor, x_hat: torch.Tensor, win_size: int) -> torch.Tensor:
    """``1 - MS-SSIM`` (pytorch-msssim, data range 1), differentiable, with a clear size error."""
    h, w = x.shape[-2:]
    if min(h, w) <= (win_size - 1) * 2**4:
        raise ValueError(
            f"MS-SSIM with win_size {win_size} needs images larger than {(win_size - 1) * 16} pixels on the "
            f"short side, got {h}x{w}; train on larger images/crops, use a smaller msssim_win_size "
            "(NDIC-CAM uses 7) or distortion_loss MSE"
        )
    return 1 - ms_ssim(x.float(), x_hat.float(), data_range=1.0, size_average=True, win_size=win_size)


class RateDistortionLoss(nn.Module):
    """``lmbda * scale * D(x, x_hat) + bpp``, plus the side terms of distributed models.

    Args:
        lmbda: the Lagrange multiplier.
        distortion: ``"MSE"`` or ``"MS-SSIM"``.
        alpha: weight of the side image's distortion and rate (distributed models).
        beta: weight of the common information's rate (distributed models).
        msssim_scale: factor of ``lmbda * (1 - MS-SSIM)``: ``255**2`` as NDIC-CAM, ``1`` as CompressAI.
        msssim_win_size: MS-SSIM Gaussian window (NDIC-CAM 7, CompressAI/STF 11).

    ``forward(output, x, side=None)`` takes a model's output dict and returns a dict of tensors:
    ``loss``; ``bpp_loss`` (the rate term actually optimised, with the alpha/beta terms); ``bpp``
    (estimated transmitted rate); ``distortion`` (``D`` including ``alpha * D_side``); ``mse`` and,
    for MS-SSIM, ``ms_ssim`` of the main image (unclamped reconstruction, as the originals).
    """

    def __init__(
        self,
        lmbda: float,
        distortion: str = "MSE",
        alpha: float = 0.0,
        beta: float = 0.0,
        msssim_scale: float = 255.0**2,
        msssim_win_size: int = 7,
    ) -> None:
        super().__init__()
        if distortion not in ("MSE", "MS-SSIM"):
            raise ValueError(f"distortion must be 'MSE' or 'MS-SSIM', got {distortion!r}")
        self.lmbda, self.distortion, self.alpha, self.beta = lmbda, distortion, alpha, beta
        self.msssim_scale, self.msssim_win_size = msssim_scale, msssim_win_size

    def _distortion(self, x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
        if self.distortion == "MSE":
            return F.mse_loss(x_hat.float(), x.float())
        return msssim_distortion(x, x_hat, self.msssim_win_size)

    def forward(self, output: dict, x: torch.Tensor, side: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        n, _, h, w = x.shape
        num_pixels = n * h * w
        bpp = rate_bpp(output["likelihoods"], num_pixels)
        bpp_loss = bpp
        distortion = self._distortion(x, output["x_hat"])
        if self.alpha or self.beta:
            side_likelihoods = output.get("side_likelihoods") or {}
            common = {k: v for k, v in side_likelihoods.items() if k in COMMON_INFORMATION_KEYS}
            own = {k: v for k, v in side_likelihoods.items() if k not in COMMON_INFORMATION_KEYS}
            if self.alpha:
                if side is None or "side_hat" not in output:
                    raise ValueError("alpha > 0 needs the side image and a model output with 'side_hat'")
                distortion = distortion + self.alpha * self._distortion(side, output["side_hat"])
                if own:
                    bpp_loss = bpp_loss + self.alpha * rate_bpp(own, num_pixels)
            if self.beta and common:
                bpp_loss = bpp_loss + self.beta * rate_bpp(common, num_pixels)
        scale = 255.0**2 if self.distortion == "MSE" else self.msssim_scale
        out = {
            "loss": self.lmbda * scale * distortion + bpp_loss,
            "bpp_loss": bpp_loss,
            "bpp": bpp.detach(),
            "distortion": distortion,
            "mse": F.mse_loss(output["x_hat"].detach().float(), x.float()),
        }
        if self.distortion == "MS-SSIM":
            main = self._distortion(x, output["x_hat"]) if self.alpha else distortion
            out["ms_ssim"] = 1 - main.detach()
        return out

    @classmethod
    def from_config(cls, config) -> RateDistortionLoss:
        """The loss of a resolved :class:`ndic.config.Config`."""
        return cls(
            lmbda=config.lmbda,
            distortion=config.distortion_loss,
            alpha=config.alpha,
            beta=config.beta,
            msssim_scale=config.msssim_scale,
            msssim_win_size=config.msssim_win_size,
        )
