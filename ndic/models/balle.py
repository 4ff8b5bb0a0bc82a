"""NDIC-CAM's single-image baselines: ``bls17`` (Ballé et al. 2017) and ``bmshj18`` (Ballé et al. 2018).

Both are rebuilt on CompressAI as NDIC-CAM's code builds them (ipc-lab/NDIC-CAM, ``models/balle2017``,
``models/balle2018``), so that its weights give its numbers; see :mod:`ndic.models._ndic_layers` for the
entropy models and GDN.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from compressai.entropy_models import GaussianConditional
from compressai.layers import GDN
from compressai.models.utils import conv, deconv
from torch import Tensor, nn

from . import register
from ._ndic_layers import (
    ANALYSIS_NAMES,
    DEFAULT_IMAGE_SIZE,
    HYPER_ANALYSIS_NAMES,
    HYPER_SYNTHESIS_NAMES,
    SYNTHESIS_NAMES,
    NdicFamilyModel,
    OriginalEntropyBottleneck,
    analysis_transform,
    check_codable,
    decode_factorized,
    decode_gaussian,
    hyper_analysis,
    hyper_synthesis,
    merge,
    sequence_map,
    synthesis_transform,
)
from .base import check_image, crop_padding


@register("bls17")
class BLS17(NdicFamilyModel):
    r"""Factorized-prior model of Ballé et al. 2017, as NDIC-CAM builds it (``BLS2017Model``).

    .. code-block:: none

                  ┌──────────────────────┐           ┌───┐  y_hat  ┌──────────────────────┐
            x ──► │ g_a: conv9/4, GDN,   │ ──► y ──► │ Q │ ──┬───► │ g_s: deconv5/2, IGDN,│ ──► x_hat
                  │ conv5/2, GDN, conv5/2│           └───┘   │     │ deconv5/2, IGDN,     │
                  └──────────────────────┘                 ┌─┴──┐  │ deconv9/4            │
                                                           │ EB │  └──────────────────────┘
                                                           └────┘

    Kept from the original: the first/last layers are 9x9 with stride 4 (16x down-sampling with only two
    GDNs, unlike the 4x conv5/2 of the papers' and of the distributed "bls17" models); the entropy
    bottleneck rounds ``y`` itself and uses the original's likelihood (:class:`OriginalEntropyBottleneck`);
    the forward's ``x_hat`` is not clamped (``decompress`` clamps it). Beyond it: any image size (padded
    to a multiple of 16, cropped back) and a real rANS bitstream. ``image_size`` is accepted, as by the
    original, and unused.
    """

    stride = 16

    def __init__(self, num_filters: int = 192, image_size: Sequence[int] = DEFAULT_IMAGE_SIZE):
        super().__init__(num_filters, image_size)
        n = self.num_filters
        self.g_a = nn.Sequential(conv(3, n, 9, 4), GDN(n), conv(n, n), GDN(n), conv(n, n))
        self.entropy_bottleneck = OriginalEntropyBottleneck(n)
        self.g_s = nn.Sequential(
            deconv(n, n), GDN(n, inverse=True), deconv(n, n), GDN(n, inverse=True), deconv(n, 3, 9, 4)
        )

    def reference_modules(self) -> dict[str, str]:
        return merge(
            sequence_map("g_a", ("conv1", "gdn1", "conv2", "gdn2", "conv3")),
            {"entropy_bottleneck": "entropy_bottleneck"},
            sequence_map("g_s", ("deconv1", "igdn2", "deconv2", "igdn3", "deconv3")),
        )

    def forward(self, x: Tensor) -> dict:
        check_image(x)
        x_padded, padding = self._pad(x)
        y_hat, y_likelihoods = self.entropy_bottleneck(self.g_a(x_padded))
        x_hat = crop_padding(self.g_s(y_hat), padding)
        return {"x_hat": x_hat, "likelihoods": {"y": y_likelihoods}}

    @torch.no_grad()
    def compress(self, x: Tensor) -> dict:
        """``strings[0][b]``: the rANS stream of ``round(y)``; ``shape``: the image's (H, W)."""
        check_image(x)
        y = self.g_a(self._pad(x)[0])
        return {"strings": [self.entropy_bottleneck.compress(y)], "shape": tuple(x.shape[-2:])}

    @torch.no_grad()
    def decompress(self, strings: list[list[bytes]], shape: Sequence[int]) -> dict:
        self._check_strings(strings, 1)
        shape = self._check_shape(shape)
        y_hat = decode_factorized(self.entropy_bottleneck, strings[0], self._latent_size(shape, 16), "y")
        return {"x_hat": self._crop_to(self.g_s(y_hat), shape).clamp_(0, 1)}


@register("bmshj18")
class BMSHJ18(NdicFamilyModel):
    r"""Scale-hyperprior model of Ballé et al. 2018, as NDIC-CAM builds it (``BMSHJ2018Model``).

    .. code-block:: none

                  ┌─────────┐          ┌───┐ y_hat  ┌─────────┐
            x ──► │   g_a   │ ──► y ─┬►│ Q │ ──────►│   g_s   │ ──► x_hat
                  └─────────┘        │ └───┘   ▲    └─────────┘
                                     │       ┌─┴──┐
                                    |y|      │ GC │ N(0, sigma)
                                     ▼       └─┬──┘
                                  ┌──────┐     │ sigma = max(h_s(z_hat), bound)
                                  │ h_a  │ z ┌───┐ z_hat ┌─────┐
                                  └──────┘──►│ Q │──────►│ h_s │
                                             └─┬─┘       └─────┘
                                             ┌─┴──┐
                                             │ EB │
                                             └────┘

    ``g_a``/``g_s``: 4x conv5/2 with GDN, 4x deconv5/2 with IGDN. Kept from the original: ``h_a`` has no
    ReLU between its first two convolutions (its leading ReLU on ``|y|`` is a no-op and left out) and a
    bias-free last convolution; ``h_s`` ends without a non-linearity and its output is only lower-bounded
    (``bound`` = 0.11, no exp); ``y`` and ``z`` are rounded without means or medians; the Gaussian is
    zero-mean; the bottleneck for ``z`` is :class:`OriginalEntropyBottleneck`. The original's ``h_s``
    always outputs 192 channels (so it only runs with ``num_filters=192``); here it outputs
    ``num_filters``, identical at 192. Beyond it: any image size (padded to a multiple of 64) and a real
    rANS bitstream (``strings = [y, z]``; the Gaussian's scale table starts at ``bound``).
    """

    stride = 64

    def __init__(self, num_filters: int = 192, image_size: Sequence[int] = DEFAULT_IMAGE_SIZE, bound: float = 0.11):
        super().__init__(num_filters, image_size, bound)
        n = self.num_filters
        self.g_a = analysis_transform(n)
        self.h_a = hyper_analysis(n)
        self.entropy_bottleneck = OriginalEntropyBottleneck(n)
        self.h_s = hyper_synthesis(n)
        self.gaussian_conditional = GaussianConditional(None, scale_bound=self.bound)
        self.g_s = synthesis_transform(n, n)

    def reference_modules(self) -> dict[str, str]:
        return merge(
            sequence_map("g_a", ANALYSIS_NAMES),
            sequence_map("h_a", HYPER_ANALYSIS_NAMES, "ha."),
            sequence_map("h_s", HYPER_SYNTHESIS_NAMES, "hs."),
            {"entropy_bottleneck": "entropy_bottleneck"},
            sequence_map("g_s", SYNTHESIS_NAMES),
        )

    def _bounded(self, z_hat: Tensor) -> Tensor:
        return self.gaussian_conditional.lower_bound_scale(self.h_s(z_hat))

    def forward(self, x: Tensor) -> dict:
        check_image(x)
        x_padded, padding = self._pad(x)
        y = self.g_a(x_padded)
        z_hat, z_likelihoods = self.entropy_bottleneck(self.h_a(torch.abs(y)))
        y_hat, y_likelihoods = self.gaussian_conditional(y, self._bounded(z_hat))
        x_hat = crop_padding(self.g_s(y_hat), padding)
        return {"x_hat": x_hat, "likelihoods": {"y": y_likelihoods, "z": z_likelihoods}}

    @torch.no_grad()
    def compress(self, x: Tensor) -> dict:
        """``strings = [y, z]`` (per image each); ``shape``: the image's (H, W)."""
        check_image(x)
        y = self.g_a(self._pad(x)[0])
        z = self.h_a(torch.abs(y))
        z_strings = self.entropy_bottleneck.compress(z)
        z_hat = torch.round(z)  # what the decoder gets back
        indexes = self.gaussian_conditional.build_indexes(self._bounded(z_hat))
        check_codable(y, "y")
        y_strings = self.gaussian_conditional.compress(y, indexes)
        return {"strings": [y_strings, z_strings], "shape": tuple(x.shape[-2:])}

    @torch.no_grad()
    def decompress(self, strings: list[list[bytes]], shape: Sequence[int]) -> dict:
        self._check_strings(strings, 2)
        shape = self._check_shape(shape)
        z_hat = decode_factorized(self.entropy_bottleneck, strings[1], self._latent_size(shape, 64), "z")
        indexes = self.gaussian_conditional.build_indexes(self._bounded(z_hat))
        y_hat = decode_gaussian(self.gaussian_conditional, strings[0], indexes, "y")
        return {"x_hat": self._crop_to(self.g_s(y_hat), shape).clamp_(0, 1)}
