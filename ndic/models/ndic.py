"""NDIC (Mital et al. 2022): distributed image compression with common information from the side image.

``ndic_bls17`` and ``ndic_bmshj18``, rebuilt on CompressAI as NDIC-CAM's code builds them
(``models/distributed_models/distributed_model.py``). The image x is compressed alone; the decoder also
has the correlated side image y (the other view of a stereo pair) and extracts from it the common
information w that x's decoder uses beside x's transmitted latent. The side image has its own
auto-encoder (its latent hy and reconstruction ``side_hat``), trained jointly through the alpha/beta terms
of NDIC-CAM's loss; nothing of y is ever transmitted.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from compressai.entropy_models import GaussianConditional
from torch import Tensor

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
    continuous_gaussian_likelihood,
    decode_factorized,
    decode_gaussian,
    hyper_analysis,
    hyper_synthesis,
    layer_names,
    merge,
    sequence_map,
    synthesis_transform,
)
from .base import DistributedCodec, check_image, crop_padding

COMMON_NOISE_STD = math.sqrt(1e-3)  # the original's training noise on w ("improves stability")


class DistributedModel(NdicFamilyModel, DistributedCodec):
    """What the NDIC models share: three encoders, two decoders and the common information w.

    ``g_a``: x -> hx (transmitted); ``g_a_side``: y -> hy (never transmitted); ``g_common``: y -> w (the
    common information, computed at the decoder); ``g_s``: [hx_hat, w] -> x_hat; ``g_s_side``:
    [hy, w] -> side_hat. All are 4x conv5/2 (GDN) / 4x deconv5/2 (IGDN), whatever the model's name says.
    """

    distributed = True

    def __init__(self, num_filters: int = 192, image_size: Sequence[int] = DEFAULT_IMAGE_SIZE, bound: float = 0.11):
        super().__init__(num_filters, image_size, bound)
        n = self.num_filters
        self.g_a = analysis_transform(n)
        self.g_a_side = analysis_transform(n)
        self.g_common = analysis_transform(n)
        self.common_entropy_bottleneck = OriginalEntropyBottleneck(n, discrete=False)
        self.g_s = self._synthesis()
        self.g_s_side = synthesis_transform(n, 2 * n)

    def _synthesis(self):
        return synthesis_transform(self.num_filters, 2 * self.num_filters)

    def reference_modules(self) -> dict[str, str]:
        return merge(
            sequence_map("g_a", ANALYSIS_NAMES),
            sequence_map("g_a_side", layer_names(*ANALYSIS_NAMES, suffix="_cor")),
            sequence_map("g_common", layer_names(*ANALYSIS_NAMES, suffix="_w")),
            sequence_map("g_s", SYNTHESIS_NAMES),
            sequence_map("g_s_side", layer_names(*SYNTHESIS_NAMES, suffix="_cor")),
        )

    def _common(self, y_padded: Tensor) -> Tensor:
        w = self.g_common(y_padded)
        if self.training:
            w = w + COMMON_NOISE_STD * torch.randn_like(w)
        return w

    def _decode(self, hx_hat: Tensor, hy: Tensor, w: Tensor) -> tuple[Tensor, Tensor]:
        """(x_hat, side_hat) at the padded size."""
        return self.g_s(torch.cat((hx_hat, w), 1)), self.g_s_side(torch.cat((hy, w), 1))

    def _decode_x(self, hx_hat: Tensor, y_padded: Tensor) -> Tensor:
        """x_hat at the padded size, at the decoder (no side reconstruction needed)."""
        return self.g_s(torch.cat((hx_hat, self._common(y_padded)), 1))

    def _check_pair(self, x: Tensor, y: Tensor) -> None:
        check_image(x, "x")
        self._check_side(x.shape, y)

    def _side_for(self, side: Tensor | None, strings_batch: int, shape: tuple[int, int]) -> Tensor:
        self._check_side((strings_batch, 3, *shape), side)
        return self._pad(side)[0]


@register("ndic_bls17")
class NDICBls17(DistributedModel):
    r"""NDIC with the factorized-prior baseline (the original's ``DistributedAutoEncoder``).

    .. code-block:: none

        encoder:   x ──► g_a ──► hx ──► Q ──► EB ──► rANS ──► strings
        decoder:   strings ──► hx_hat ─┐
                   y ──► g_common ──► w ┴► cat ──► g_s ──► x_hat
        side branch (training / forward only):
                   y ──► g_a_side ──► hy ─┐   (hy not quantized)
                                        w ┴► cat ──► g_s_side ──► side_hat

    ``forward(x, y)`` returns ``likelihoods = {"hx"}`` (the rate) and ``side_likelihoods = {"hy", "w"}``
    (the original's alpha/beta loss terms). Kept from the original: despite the "bls17" name the
    transforms are 4x conv5/2 with 3 GDNs and no hyperprior; ``hx`` is rounded without a median and
    uses :class:`OriginalEntropyBottleneck`; ``hy`` and ``w`` are never quantized, their likelihoods are
    densities of the continuous values; ``w`` gets N(0, 1e-3) noise in training only; the forward's
    ``x_hat`` is unclamped (``decompress`` clamps it). The original's ``main.py`` cannot build this model
    (it passes ``image_size``, which its constructor rejects); this one accepts it. ``bound`` is accepted
    (the original's signature) and unused. Beyond the original: any image size (x and y padded alike to a
    multiple of 16) and a real bitstream.
    """

    stride = 16

    def __init__(self, num_filters: int = 192, image_size: Sequence[int] = DEFAULT_IMAGE_SIZE, bound: float = 0.11):
        super().__init__(num_filters, image_size, bound)
        self.entropy_bottleneck = OriginalEntropyBottleneck(self.num_filters)
        self.side_entropy_bottleneck = OriginalEntropyBottleneck(self.num_filters, discrete=False)

    def reference_modules(self) -> dict[str, str]:
        return merge(
            super().reference_modules(),
            {
                "entropy_bottleneck_hx": "entropy_bottleneck",
                "entropy_bottleneck_hy": "side_entropy_bottleneck",
                "entropy_bottleneck": "common_entropy_bottleneck",
            },
        )

    def forward(self, x: Tensor, y: Tensor) -> dict:
        self._check_pair(x, y)
        (x_padded, padding), y_padded = self._pad(x), self._pad(y)[0]
        w = self._common(y_padded)
        hy = self.g_a_side(y_padded)
        hx_hat, hx_likelihoods = self.entropy_bottleneck(self.g_a(x_padded))
        _, hy_likelihoods = self.side_entropy_bottleneck(hy)
        _, w_likelihoods = self.common_entropy_bottleneck(w)
        x_hat, side_hat = self._decode(hx_hat, hy, w)
        return {
            "x_hat": crop_padding(x_hat, padding),
            "side_hat": crop_padding(side_hat, padding),
            "likelihoods": {"hx": hx_likelihoods},
            "side_likelihoods": {"hy": hy_likelihoods, "w": w_likelihoods},
        }

    @torch.no_grad()
    def compress(self, x: Tensor) -> dict:
        """``strings[0][b]``: the rANS stream of ``round(hx)``; ``shape``: the image's (H, W). Never sees y."""
        check_image(x)
        hx = self.g_a(self._pad(x)[0])
        return {"strings": [self.entropy_bottleneck.compress(hx)], "shape": tuple(x.shape[-2:])}

    @torch.no_grad()
    def decompress(self, strings: list[list[bytes]], shape: Sequence[int], side: Tensor | None = None) -> dict:
        batch = self._check_strings(strings, 1)
        shape = self._check_shape(shape)
        y_padded = self._side_for(side, batch, shape)
        hx_hat = decode_factorized(self.entropy_bottleneck, strings[0], self._latent_size(shape, 16), "hx")
        return {"x_hat": self._crop_to(self._decode_x(hx_hat, y_padded), shape).clamp_(0, 1)}


@register("ndic_bmshj18")
class NDICBmshj18(DistributedModel):
    r"""NDIC with the scale-hyperprior baseline (the original's ``HyperPriorDistributedAutoEncoder``).

    .. code-block:: none

        encoder:   x ──► g_a ──► hx ──► |.| ──► h_a ──► zx ──► Q ──► EB ──► rANS (zx)
                                  │                          zx_hat ──► h_s ──► sigma = max(., bound)
                                  └──► Q ──► GC N(0, sigma) ──► rANS (hx)
        decoder:   zx_hat ──► h_s ──► sigma;  hx_hat;  y ──► g_common ──► w;  cat(hx_hat, w) ──► g_s ──► x_hat
        side branch (training / forward only): y ──► g_a_side ──► hy ──► h_a_side ──► zy ──► h_s_side
                   ──► sigma_y (nothing quantized);  cat(hy, w) ──► g_s_side ──► side_hat

    ``likelihoods = {"hx", "zx"}`` (the rate), ``side_likelihoods = {"hy", "zy", "w"}``. Kept from the
    original: the hyper-transforms' oddities of bmshj18 (see :class:`~ndic.models.balle.BMSHJ18`); ``hx``
    and ``zx`` rounded without means or medians; the side branch is never quantized (its likelihoods
    are of continuous values); ``w`` gets N(0, 1e-3) noise in training only; ``h_s`` outputs
    ``num_filters`` channels (the original: always 192, so it only runs at 192). Beyond the original: any
    image size (padded to a multiple of 64) and a real bitstream, ``strings = [hx, zx]``.
    """

    stride = 64

    def __init__(self, num_filters: int = 192, image_size: Sequence[int] = DEFAULT_IMAGE_SIZE, bound: float = 0.11):
        super().__init__(num_filters, image_size, bound)
        n = self.num_filters
        self.h_a = hyper_analysis(n)
        self.h_s = hyper_synthesis(n)
        self.h_a_side = hyper_analysis(n)
        self.h_s_side = hyper_synthesis(n)
        self.entropy_bottleneck = OriginalEntropyBottleneck(n)
        self.side_entropy_bottleneck = OriginalEntropyBottleneck(n, discrete=False)
        self.gaussian_conditional = GaussianConditional(None, scale_bound=self.bound)

    def reference_modules(self) -> dict[str, str]:
        return merge(
            super().reference_modules(),
            sequence_map("h_a", HYPER_ANALYSIS_NAMES, "ha_primary_image."),
            sequence_map("h_s", HYPER_SYNTHESIS_NAMES, "hs_primary_image."),
            sequence_map("h_a_side", HYPER_ANALYSIS_NAMES, "ha_cor_image."),
            sequence_map("h_s_side", HYPER_SYNTHESIS_NAMES, "hs_cor_image."),
            {
                "entropy_bottleneck_sigma_x": "entropy_bottleneck",
                "entropy_bottleneck_sigma_y": "side_entropy_bottleneck",
                "entropy_bottleneck_common_info": "common_entropy_bottleneck",
            },
        )

    def _scales(self, hyper_synthesis, z_hat: Tensor) -> Tensor:
        return self.gaussian_conditional.lower_bound_scale(hyper_synthesis(z_hat))

    def forward(self, x: Tensor, y: Tensor) -> dict:
        self._check_pair(x, y)
        (x_padded, padding), y_padded = self._pad(x), self._pad(y)[0]
        hx = self.g_a(x_padded)
        hy = self.g_a_side(y_padded)
        zx_hat, zx_likelihoods = self.entropy_bottleneck(self.h_a(torch.abs(hx)))
        zy, zy_likelihoods = self.side_entropy_bottleneck(self.h_a_side(torch.abs(hy)))
        hx_hat, hx_likelihoods = self.gaussian_conditional(hx, self._scales(self.h_s, zx_hat))
        hy_likelihoods = continuous_gaussian_likelihood(self.gaussian_conditional, hy, self._scales(self.h_s_side, zy))
        w = self._common(y_padded)
        _, w_likelihoods = self.common_entropy_bottleneck(w)
        x_hat, side_hat = self._decode(hx_hat, hy, w)
        return {
            "x_hat": crop_padding(x_hat, padding),
            "side_hat": crop_padding(side_hat, padding),
            "likelihoods": {"hx": hx_likelihoods, "zx": zx_likelihoods},
            "side_likelihoods": {"hy": hy_likelihoods, "zy": zy_likelihoods, "w": w_likelihoods},
        }

    @torch.no_grad()
    def compress(self, x: Tensor) -> dict:
        """``strings = [hx, zx]`` (per image each); ``shape``: the image's (H, W). Never sees y."""
        check_image(x)
        hx = self.g_a(self._pad(x)[0])
        zx = self.h_a(torch.abs(hx))
        zx_strings = self.entropy_bottleneck.compress(zx)
        indexes = self.gaussian_conditional.build_indexes(self._scales(self.h_s, torch.round(zx)))
        check_codable(hx, "hx")
        hx_strings = self.gaussian_conditional.compress(hx, indexes)
        return {"strings": [hx_strings, zx_strings], "shape": tuple(x.shape[-2:])}

    @torch.no_grad()
    def decompress(self, strings: list[list[bytes]], shape: Sequence[int], side: Tensor | None = None) -> dict:
        batch = self._check_strings(strings, 2)
        shape = self._check_shape(shape)
        y_padded = self._side_for(side, batch, shape)
        zx_hat = decode_factorized(self.entropy_bottleneck, strings[1], self._latent_size(shape, 64), "zx")
        indexes = self.gaussian_conditional.build_indexes(self._scales(self.h_s, zx_hat))
        hx_hat = decode_gaussian(self.gaussian_conditional, strings[0], indexes, "hx")
        return {"x_hat": self._crop_to(self._decode_x(hx_hat, y_padded), shape).clamp_(0, 1)}
