"""NDIC-CAM (Mital et al., WACV 2023): NDIC with cross-attention feature alignment in the decoder.

Rebuilt on CompressAI as ``models/distributed_models/attention_distributed_model.py`` and
``attention_block.py`` of ipc-lab/NDIC-CAM build it. Speed, with the same outputs up to float rounding:
attention runs in PyTorch's fused ``scaled_dot_product_attention``, only the projections that are used
are computed, and the two modules whose patches have fewer pixels than the model width attend in the
low-rank space their normalised tokens span (:meth:`CrossAttentionAlignment._attend_low_rank`).
Unlike the original module, importing this one does not call ``torch.set_num_threads(4)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import register
from ._ndic_layers import DEFAULT_IMAGE_SIZE, synthesis_transform
from .ndic import NDICBls17


class CrossAttentionAlignment(nn.Module):
    r"""NDIC-CAM's ``CrossAttention``: features of x attend to the side decoder's features of y.

    .. code-block:: none

        x (N, C, H, W) ──► 4x4 grid of (H/4 x W/4) patches per channel ──► C*16 tokens ──► embed_x ─► norm ─► q
        y (N, C, H, W) ──► same tokens ──► embed_y ──► norm (the same LayerNorm) ──► k, v
        softmax(q k^T / sqrt(256)) v, 8 heads of width 256 ──► proj (+ dropout) ──► unembed ──► patches
        ──► aligned y (N, C, H, W) ──► cat(x, aligned y) (N, 2C, H, W)

    Kept from the original: tokens are per-channel patches (one token = one channel's patch, so each
    module attends over ``16 * num_filters`` tokens); one LayerNorm is shared by x's and y's tokens; the
    head width equals the model width (8 x 256 = 2048 inner channels); dropout 0.1 after the output
    projection, active in training only. ``to_qkv_x``/``to_qkv_y`` keep the original's full q/k/v
    weights for state-dict compatibility, but only x's queries and y's keys and values are used (as in
    the original), so only those rows are computed here. When a patch has fewer pixels than ``dim`` - 2
    and dropout is inactive, :meth:`_attend_low_rank` computes the same attention with fewer
    multiplications; otherwise :meth:`_attend` follows the original's order of operations.
    """

    def __init__(
        self, feature_size: Sequence[int], dim: int = 256, heads: int = 8, grid: int = 4, dropout: float = 0.1
    ):
        super().__init__()
        height, width = feature_size
        if height % grid or width % grid:
            raise ValueError(f"feature size {height}x{width} is not divisible into a {grid}x{grid} grid of patches")
        self.grid, self.heads, self.dim = grid, heads, dim
        self.patch = (height // grid, width // grid)
        patch_dim = self.patch[0] * self.patch[1]
        inner = heads * dim  # the original's dim_head defaults to dim
        self.embed_x = nn.Linear(patch_dim, dim)
        self.embed_y = nn.Linear(patch_dim, dim)
        self.norm = nn.LayerNorm(dim)
        self.to_qkv_x = nn.Linear(dim, 3 * inner, bias=False)
        self.to_qkv_y = nn.Linear(dim, 3 * inner, bias=False)
        self.proj = nn.Linear(inner, dim)
        self.dropout = nn.Dropout(dropout)
        self.unembed = nn.Linear(dim, patch_dim)

    def _tokens(self, x: Tensor) -> Tensor:
        """(N, C, H, W) -> (N, C * grid * grid, patch pixels), tokens in (channel, row, column) order."""
        n, c = x.shape[:2]
        (ph, pw), g = self.patch, self.grid
        return x.reshape(n, c, g, ph, g, pw).transpose(3, 4).reshape(n, c * g * g, ph * pw)

    def _image(self, tokens: Tensor, channels: int) -> Tensor:
        """Inverse of :meth:`_tokens`."""
        (ph, pw), g = self.patch, self.grid
        n = tokens.size(0)
        return tokens.reshape(n, channels, g, g, ph, pw).transpose(3, 4).reshape(n, channels, g * ph, g * pw)

    def _heads(self, t: Tensor) -> Tensor:
        return t.unflatten(-1, (self.heads, self.dim)).transpose(1, 2)  # (N, heads, tokens, dim)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        x_tokens, y_tokens = self._tokens(x), self._tokens(y)
        patch_dim = x_tokens.size(-1)
        dropout_active = self.training and self.dropout.p > 0
        if patch_dim + 2 < self.dim and not dropout_active:
            aligned = self._attend_low_rank(x_tokens, y_tokens)
        else:
            aligned = self._attend(x_tokens, y_tokens)
        return torch.cat((x, self._image(aligned, x.size(1))), dim=1)

    def _attend(self, x_tokens: Tensor, y_tokens: Tensor) -> Tensor:
        """The original's computation, with fused attention."""
        inner = self.heads * self.dim
        x_tokens = self.norm(self.embed_x(x_tokens))
        y_tokens = self.norm(self.embed_y(y_tokens))
        q = F.linear(x_tokens, self.to_qkv_x.weight[:inner])
        k, v = F.linear(y_tokens, self.to_qkv_y.weight[inner:]).chunk(2, dim=-1)
        attended = F.scaled_dot_product_attention(self._heads(q), self._heads(k), self._heads(v))
        return self.unembed(self.dropout(self.proj(attended.transpose(1, 2).flatten(2))))

    def _normed_factors(self, tokens: Tensor, embed: nn.Linear) -> tuple[Tensor, Tensor]:
        """``norm(embed(tokens)) = u @ h`` with ``u`` (N, n, patch_dim + 2) and ``h`` (patch_dim + 2, dim).

        LayerNorm centres and rescales each token: with ``s`` the token's 1/std, it maps
        ``t W^T + b`` to ``s (t W^T + b) C diag(gamma) + beta`` (C removes the mean over the width), so
        ``u = [s t, s, 1]`` and ``h = [W^T C diag(gamma); b C diag(gamma); beta]``.
        """
        embedded = embed(tokens)
        var = torch.var(embedded, dim=-1, keepdim=True, correction=0)
        s = torch.rsqrt(var + self.norm.eps)
        u = torch.cat((s * tokens, s, torch.ones_like(s)), dim=-1)
        affine = torch.cat((embed.weight.t(), embed.bias[None]), dim=0)
        h = torch.cat(((affine - affine.mean(-1, keepdim=True)) * self.norm.weight, self.norm.bias[None]), dim=0)
        return u, h

    def _attend_low_rank(self, x_tokens: Tensor, y_tokens: Tensor) -> Tensor:
        """:meth:`_attend` computed in the (patch_dim + 2)-dimensional space the normalised tokens span.

        When a patch has fewer pixels than the model width (the first two modules: 32 and 128 pixels at
        128x256 against 256), the normalised tokens have rank ``patch_dim + 2`` (:meth:`_normed_factors`),
        so per head ``q k^T = u_x (h_x Wq^T Wk h_y^T) u_y^T`` and the values, output projection and
        un-embedding fold into one (patch_dim + 2) x patch_dim map. Fused attention then runs with that
        small head width: the same outputs (up to float rounding) for a fraction of the multiplications.
        Used when dropout is inactive (it sits between the output projection and the un-embedding).
        """
        heads, dim = self.heads, self.dim
        u_x, h_x = self._normed_factors(x_tokens, self.embed_x)
        u_y, h_y = self._normed_factors(y_tokens, self.embed_y)
        w_q = self.to_qkv_x.weight[: heads * dim].view(heads, dim, dim)  # per head (out, in)
        _, w_k, w_v = self.to_qkv_y.weight.view(3, heads, dim, dim)
        w_out = self.proj.weight.view(dim, heads, dim).transpose(0, 1)  # per head (out, in)
        scores = (h_x @ w_q.transpose(1, 2)) @ (h_y @ w_k.transpose(1, 2)).transpose(1, 2)  # (heads, r, r)
        values = h_y @ w_v.transpose(1, 2) @ w_out.transpose(1, 2) @ self.unembed.weight.t()  # (heads, r, patch)
        keys = u_y.unsqueeze(1).expand(-1, heads, -1, -1)
        attended = F.scaled_dot_product_attention(u_x.unsqueeze(1) @ scores, keys, keys, scale=dim**-0.5)
        return attended.transpose(1, 2).flatten(2) @ values.flatten(0, 1) + self.unembed(self.proj.bias)


@register("cross_attention")
class CrossAttentionNDIC(NDICBls17):
    r"""NDIC-CAM: :class:`~ndic.models.ndic.NDICBls17` plus cross-attention alignment in x's decoder.

    .. code-block:: none

        encoder:   x ──► g_a ──► hx ──► Q ──► EB ──► rANS ──► strings        (as ndic_bls17)
        decoder:   y ──► g_common ──► w;   y ──► g_a_side ──► hy
                   x-path: cat(hx_hat, w) ─► deconv/IGDN ─► align[0] ─► deconv/IGDN ─► align[1]
                           ─► deconv/IGDN ─► align[2] ─► deconv ──► x_hat
                   y-path: cat(hy, w) ─► deconv/IGDN ──┘ (keys/values of each align) ... ─► deconv ─► side_hat

    Each ``align[i]`` (:class:`CrossAttentionAlignment`) concatenates to x's features (C channels) the
    side features re-assembled by attention (C more), so the 2nd..4th deconvolutions of ``g_s`` take 2C
    channels. The model is tied to ``image_size`` (default 128x256, the size ``main.py`` passes; the
    original constructor's default is 256x256): the attention modules' patch sizes are fixed fractions of
    it, and another input size raises ValueError. The side decoder has no attention; everything else,
    outputs and oddities are those of ``ndic_bls17``. The original's ``attention_block`` module calls
    ``torch.set_num_threads(4)`` when imported; this one does not touch the thread count.
    """

    stride = 32  # image_size must divide into the attention grid at 1/8 of the resolution

    def __init__(self, num_filters: int = 192, image_size: Sequence[int] = DEFAULT_IMAGE_SIZE, bound: float = 0.11):
        super().__init__(num_filters, image_size, bound)
        height, width = self.image_size
        if height % self.stride or width % self.stride:
            raise ValueError(f"cross_attention needs image_size in multiples of 32, got {height}x{width}")
        self.align = nn.ModuleList(CrossAttentionAlignment((height // s, width // s)) for s in (8, 4, 2))

    def _synthesis(self):
        n = self.num_filters
        return synthesis_transform(n, 2 * n, extra=(n, n, n))

    def reference_modules(self) -> dict[str, str]:
        modules = super().reference_modules()
        parts = {
            "to_patch_embedding_x.1": "embed_x",
            "to_patch_embedding_y.1": "embed_y",
            "unpack_embedding_y.0": "unembed",
            "norm": "norm",
            "attn.to_qkv_x": "to_qkv_x",
            "attn.to_qkv_y": "to_qkv_y",
            "attn.to_out.0": "proj",
        }
        for i in range(3):
            modules.update({f"ca{i + 1}.{theirs}": f"align.{i}.{ours}" for theirs, ours in parts.items()})
        return modules

    def _pad(self, x: Tensor) -> tuple[Tensor, tuple[int, int, int, int]]:
        if tuple(x.shape[-2:]) != self.image_size:
            h, w = self.image_size
            raise ValueError(
                f"cross_attention was built for {h}x{w} images (image_size={self.image_size}); got "
                f"{x.shape[-2]}x{x.shape[-1]}. Resize the images to {h}x{w} or build the model with "
                f"image_size=({x.shape[-2]}, {x.shape[-1]}) (multiples of 32; a new size means new weights)"
            )
        return x, (0, 0, 0, 0)

    def _decode(self, hx_hat: Tensor, hy: Tensor, w: Tensor, side_output: bool = True) -> tuple[Tensor, Tensor | None]:
        x, y = torch.cat((hx_hat, w), 1), torch.cat((hy, w), 1)
        for i, align in enumerate(self.align):
            x = self.g_s[2 * i + 1](self.g_s[2 * i](x))
            y = self.g_s_side[2 * i + 1](self.g_s_side[2 * i](y))
            x = align(x, y)
        side_hat = self.g_s_side[-1](y) if side_output else None
        return self.g_s[-1](x), side_hat

    def _decode_x(self, hx_hat: Tensor, y_padded: Tensor) -> Tensor:
        # the side image's features are the attention's keys and values: its private latent hy is needed
        return self._decode(hx_hat, self.g_a_side(y_padded), self._common(y_padded), side_output=False)[0]
