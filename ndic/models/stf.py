"""STF: the Symmetrical TransFormer of Zou, Song & Zhang, CVPR 2022 (Googolxx/STF ``stf``)."""

from __future__ import annotations

import re
from collections.abc import Sequence

import torch
import torch.nn as nn

from . import register
from ._channel_slices import ChannelSliceModel
from ._window_attention import PatchMerging, PatchSplit, SwinStage


class PatchEmbed(nn.Module):
    """Non-overlapping p x p patches -> ``embed_dim`` channels (conv p/p), LayerNorm; channels-last out."""

    def __init__(self, embed_dim: int, patch_size: int, patch_norm: bool):
        super().__init__()
        self.proj = nn.Conv2d(3, embed_dim, kernel_size=patch_size, stride=patch_size)
        self.norm = nn.LayerNorm(embed_dim) if patch_norm else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.proj(x).permute(0, 2, 3, 1))


def swin_stages(
    dims: list[int],
    depths: list[int],
    num_heads: list[int],
    resample: type[nn.Module],
    drop_path: list[float],
    **options,
) -> nn.ModuleList:
    """One :class:`SwinStage` per entry, each but the last ending with ``resample``.

    ``drop_path`` (one rate per block) is cut into consecutive runs of ``depths``.
    """
    bounds = [sum(depths[:i]) for i in range(len(depths) + 1)]
    last = len(depths) - 1
    return nn.ModuleList(
        SwinStage(
            dims[i],
            depths[i],
            num_heads[i],
            drop_path=drop_path[bounds[i] : bounds[i + 1]],
            resample=resample if i < last else None,
            **options,
        )
        for i in range(len(depths))
    )


class SwinAnalysis(nn.Module):
    """g_a: patch embedding, then Swin stages with patch merging between; channels-first y out."""

    def __init__(self, patch_embed: PatchEmbed, drop_rate: float, layers: nn.ModuleList):
        super().__init__()
        self.patch_embed = patch_embed
        self.pos_drop = nn.Dropout(drop_rate)
        self.layers = layers

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pos_drop(self.patch_embed(x))
        for layer in self.layers:
            x = layer(x)
        return x.permute(0, 3, 1, 2).contiguous()


class SwinSynthesis(nn.Module):
    """g_s: Swin stages with patch splitting between, then ``end_conv``.

    ``end_conv``: conv5 to ``embed_dim * p**2`` channels, pixel shuffle x p, conv3 to RGB.
    """

    def __init__(self, layers: nn.ModuleList, embed_dim: int, patch_size: int):
        super().__init__()
        self.layers = layers
        self.end_conv = nn.Sequential(
            nn.Conv2d(embed_dim, embed_dim * patch_size**2, kernel_size=5, padding=2),
            nn.PixelShuffle(patch_size),
            nn.Conv2d(embed_dim, 3, kernel_size=3, padding=1),
        )

    def forward(self, y_hat: torch.Tensor) -> torch.Tensor:
        x = y_hat.permute(0, 2, 3, 1).contiguous()
        for layer in self.layers:
            x = layer(x)
        return self.end_conv(x.permute(0, 3, 1, 2).contiguous())


@register("stf")
class STF(ChannelSliceModel):
    """Symmetrical TransFormer (Zou et al., CVPR 2022): Swin encoder/decoder, 12 slices.

    .. code-block:: none

        g_a: patch embed (conv 2/2, LN) ─ [Swin x2 ─ merge] (C) ─ [Swin x2 ─ merge] (2C)
             ─ [Swin x6 ─ merge] (4C) ─ [Swin x2] (8C) ── y (8C, /16)          C = embed_dim
        g_s: [Swin x2 ─ split] (8C) ─ [Swin x6 ─ split] (4C) ─ [Swin x2 ─ split] (2C)
             ─ [Swin x2] (C) ─ conv5 ─ pixel shuffle x2 ─ conv3 ── x_hat
        h_a: 3x3 convs 8C → 8C → 7C → 6C (/2) → 5C → 4C (/2), GELU between
        h_mean_s, h_scale_s: 4C → 5C → 6C (x2) → 7C → 8C (x2) → 8C
        entropy model: :class:`ChannelSliceModel` with ``num_slices`` slices, support num_slices // 2

    Swin blocks alternate plain and shifted (by window_size // 2) windows; stochastic depth rises
    linearly to ``drop_path_rate`` over the encoder's blocks.

    Args: the original constructor's names and defaults: ``embed_dim`` (48), ``depths``
    (2, 2, 6, 2), ``num_heads`` (3, 6, 12, 24), ``window_size`` (4), ``num_slices`` (12),
    ``mlp_ratio`` (4), ``qkv_bias``, ``qk_scale``, ``drop_rate``, ``attn_drop_rate``,
    ``drop_path_rate`` (0.2), ``patch_norm``, ``patch_size`` (2). The original's
    ``pretrain_img_size``, ``in_chans``, ``norm_layer``, ``frozen_stages`` and ``use_checkpoint``
    are not taken: unused or fixed (RGB, LayerNorm) there.

    Oddities of the original kept: PyTorch default initialisation (its ``init_weights()`` is
    never called), Swin blocks pad features to whole windows with zeros that take part in the
    attention unmasked, the decoder's drop-path rates are the encoder's schedule cut by the
    reversed depths. Its hyperprior widths are hard-coded for embed_dim 48 and 12 slices; here
    they follow ``embed_dim`` (the same at the defaults). Any image size works: the input is
    padded (centred) to a multiple of 64 (``patch_size * 2**(stages - 1) * 4``; the original's
    decoder assumes ``y`` is 4x ``z``) and the output cropped back.
    """

    quick_config = {"embed_dim": 24, "depths": [2, 2, 2, 2]}

    def __init__(
        self,
        embed_dim: int = 48,
        depths: Sequence[int] = (2, 2, 6, 2),
        num_heads: Sequence[int] = (3, 6, 12, 24),
        window_size: int = 4,
        num_slices: int = 12,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        qk_scale: float | None = None,
        drop_rate: float = 0.0,
        attn_drop_rate: float = 0.0,
        drop_path_rate: float = 0.2,
        patch_norm: bool = True,
        patch_size: int = 2,
    ):
        depths, num_heads = list(depths), list(num_heads)
        if len(depths) != len(num_heads):
            raise ValueError(f"depths {depths} and num_heads {num_heads} need one entry per stage")
        latent = embed_dim * 2 ** (len(depths) - 1)
        hyper = latent // 2
        step = hyper // 4
        super().__init__(
            hyper_analysis_widths=(latent, latent, latent - step, latent - 2 * step, latent - 3 * step, hyper),
            hyper_synthesis_widths=(hyper, hyper + step, hyper + 2 * step, hyper + 3 * step, latent, latent),
            num_slices=num_slices,
            max_support_slices=num_slices // 2,
        )
        self.stride = patch_size * 2 ** (len(depths) - 1) * 4
        self.config = {
            "embed_dim": embed_dim,
            "depths": depths,
            "num_heads": num_heads,
            "window_size": window_size,
            "num_slices": num_slices,
            "mlp_ratio": mlp_ratio,
            "qkv_bias": qkv_bias,
            "qk_scale": qk_scale,
            "drop_rate": drop_rate,
            "attn_drop_rate": attn_drop_rate,
            "drop_path_rate": drop_path_rate,
            "patch_norm": patch_norm,
            "patch_size": patch_size,
        }
        options = {
            "window_size": window_size,
            # stochastic depth rising linearly over the encoder's blocks; the decoder reuses
            # this schedule cut by its own (reversed) depths, as the original does
            "drop_path": [r.item() for r in torch.linspace(0, drop_path_rate, sum(depths))],
            "mlp_ratio": mlp_ratio,
            "qkv_bias": qkv_bias,
            "qk_scale": qk_scale,
            "drop": drop_rate,
            "attn_drop": attn_drop_rate,
        }
        dims = [embed_dim * 2**i for i in range(len(depths))]
        self.g_a = SwinAnalysis(
            PatchEmbed(embed_dim, patch_size, patch_norm),
            drop_rate,
            swin_stages(dims, depths, num_heads, PatchMerging, **options),
        )
        self.g_s = SwinSynthesis(
            swin_stages(dims[::-1], depths[::-1], num_heads[::-1], PatchSplit, **options), embed_dim, patch_size
        )

    @classmethod
    def _reference_key(cls, key: str) -> str:
        # patch_embed/layers -> g_a, syn_layers/end_conv -> g_s, each stage's downsample -> resample
        key = re.sub(r"^(patch_embed|layers)\.", r"g_a.\1.", key)
        key = re.sub(r"^syn_layers\.", "g_s.layers.", key)
        key = re.sub(r"^end_conv\.", "g_s.end_conv.", key)
        return re.sub(r"\.downsample\.", ".resample.", key)
