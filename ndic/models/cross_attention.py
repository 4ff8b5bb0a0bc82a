"""NDIC-CAM (Mital et al., WACV 2023): NDIC with cross-attention feature alignment in the decoder.

Rebuilt on CompressAI as ``models/distributed_models/attention_distributed_model.py`` and
``attention_block.py`` of ipc-lab/NDIC-CAM build it. Speed, with the same outputs and gradients up to
float rounding, in training as in evaluation: attention runs in PyTorch's fused
``scaled_dot_product_attention``; the weight products are folded so that all heads share y's tokens as
keys and values (no key/value projections); the two modules whose patches have fewer pixels than the
model width attend in the low-rank space their normalised tokens span
(:meth:`CrossAttentionAlignment._low_rank_operands`). ``module.fast = False`` runs the original's order of
operations instead. Unlike the original module, importing this one does not call ``torch.set_num_threads(4)``.

The attention weights are public: ``CrossAttentionAlignment.forward(x, y, return_attention=True)``,
:meth:`CrossAttentionAlignment.attention`, and per image pair :meth:`CrossAttentionNDIC.attention_maps`
(patch to patch, :func:`patch_attention`), summarised by :func:`attention_summary` and compared with where
the true disparity puts each patch (:func:`true_match_patches`).

Why this module is long: the alignment's three computations (the original's order, the exact fast path
and the attention weights) stay side by side, so that their equality can be read and tested in one place.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import register
from ._ndic_layers import DEFAULT_IMAGE_SIZE, synthesis_transform
from .ndic import NDICBls17

if TYPE_CHECKING:
    import pandas as pd


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
    the original).

    Two computations of the same function (up to float rounding, in training as in evaluation):

    - ``fast = True`` (default, :meth:`_attend_fast`): the weight products are folded so that every head
      attends with the same keys and values, y's normalised tokens or, for patches of fewer pixels than
      ``dim`` - 1, their low-rank factor (:meth:`_low_rank_operands`); the heads' outputs are mapped
      straight to ``proj``'s output, then dropout and ``unembed`` (in evaluation folded in as well);
    - ``fast = False`` (:meth:`_attend`): the original's order of operations.

    ``forward(x, y, return_attention=True)`` and :meth:`attention` return the attention weights.
    """

    fast = True  # set ``module.fast = False`` to compute in the original's order (comparisons, benchmarks)

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

    def forward(self, x: Tensor, y: Tensor, return_attention: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        """cat(x, aligned y) (N, 2C, H, W); with ``return_attention`` also the weights (:meth:`attention`).

        The weights are materialised then ((N, heads, tokens, tokens) floats, 300 MB per image at width
        192) and the output is computed from them, so it equals the plain output up to float rounding.
        """
        x_tokens, y_tokens = self._tokens(x), self._tokens(y)
        if return_attention:
            aligned, weights = self._attend_explicit(x_tokens, y_tokens)
        else:
            aligned = self._attend_fast(x_tokens, y_tokens) if self.fast else self._attend(x_tokens, y_tokens)
        out = torch.cat((x, self._image(aligned, x.size(1))), dim=1)
        return (out, weights) if return_attention else out

    def attention(self, x: Tensor, y: Tensor) -> Tensor:
        """softmax(q k^T / sqrt(dim)) for features x, y (N, C, H, W): (N, heads, tokens, tokens), rows sum to 1.

        Token ``c * grid**2 + p`` is channel ``c``'s patch ``p`` (patches in row-major grid order);
        queries come from x, keys from y.
        """
        x_tokens, y_tokens = self._tokens(x), self._tokens(y)
        if self.fast:
            q, kv = self._fast_operands(x_tokens, y_tokens)[:2]
            return self._weights(self._split_heads(q), kv.unsqueeze(1), 1.0)
        return self._weights(*self._plain_operands(x_tokens, y_tokens)[:2], self.dim**-0.5)

    # --- tokens -----------------------------------------------------------------------------------------
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

    # --- the original's order of operations -----------------------------------------------------------------
    def _attend(self, x_tokens: Tensor, y_tokens: Tensor) -> Tensor:
        """The original's computation, with fused attention: tokens (N, n, patch) -> aligned tokens."""
        q, k, v = self._plain_operands(x_tokens, y_tokens)
        return self._plain_output(F.scaled_dot_product_attention(q, k, v))

    def _plain_operands(self, x_tokens: Tensor, y_tokens: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Queries, keys and values per head (N, heads, n, dim), as the original projects them."""
        inner = self.heads * self.dim
        q = F.linear(self.norm(self.embed_x(x_tokens)), self.to_qkv_x.weight[:inner])
        k, v = F.linear(self.norm(self.embed_y(y_tokens)), self.to_qkv_y.weight[inner:]).chunk(2, dim=-1)
        return self._heads(q), self._heads(k), self._heads(v)

    def _plain_output(self, attended: Tensor) -> Tensor:
        """(N, heads, n, dim) -> proj -> dropout -> unembed (N, n, patch)."""
        return self.unembed(self.dropout(self.proj(attended.transpose(1, 2).flatten(2))))

    # --- the same function with folded weights ------------------------------------------------------------
    def _attend_fast(self, x_tokens: Tensor, y_tokens: Tensor) -> Tensor:
        """:meth:`_attend` with the weight products folded (:meth:`_fast_operands`)."""
        q, kv, value_map, bias = self._fast_operands(x_tokens, y_tokens)
        return self._fast_output(self._shared_attention(q, kv), value_map, bias)

    def _attend_low_rank(self, x_tokens: Tensor, y_tokens: Tensor) -> Tensor:
        """:meth:`_attend_fast` with the low-rank operands whatever the patch size."""
        q, kv, value_map, bias = self._low_rank_operands(x_tokens, y_tokens)
        return self._fast_output(self._shared_attention(q, kv), value_map, bias)

    @staticmethod
    def _shared_attention(q: Tensor, kv: Tensor) -> Tensor:
        """``softmax(q_h kv^T) kv`` for every head h: (N, n, heads * w), (N, n, w) -> (N, n, heads * w).

        The heads share their keys and values, so the n x heads queries form one sequence (the heads
        are already adjacent in memory): a single fused attention call, without any transpose, whose key
        gradient needs no sum over heads.
        """
        n, tokens, width = kv.shape
        kv = kv.unsqueeze(1)
        attended = F.scaled_dot_product_attention(q.reshape(n, 1, -1, width), kv, kv, scale=1.0)
        return attended.reshape(n, tokens, -1)

    def _fast_operands(self, x_tokens: Tensor, y_tokens: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """``(q, kv, value_map, bias)``: with ``a_h = softmax(q_h kv^T) kv`` for the heads' queries
        ``q_h = q[..., h*w:(h+1)*w]``, ``proj`` of the original's attended heads equals
        ``[a_1 ... a_heads] @ value_map + bias`` (N, n, dim), exactly in real arithmetic.

        q (N, n, heads * w) includes the 1/sqrt(dim) scale; kv (N, n, w) is shared by the heads;
        value_map (heads * w, dim). ``w`` is ``patch pixels + 1`` for patches smaller than the width
        (:meth:`_low_rank_operands`), otherwise ``dim`` (:meth:`_shared_key_operands`).
        """
        if self.patch[0] * self.patch[1] + 1 < self.dim:
            return self._low_rank_operands(x_tokens, y_tokens)
        return self._shared_key_operands(x_tokens, y_tokens)

    def _head_weights(self) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Per head (heads, dim out, dim in): x's queries, y's keys and values, and proj's slice."""
        heads, dim = self.heads, self.dim
        w_q = self.to_qkv_x.weight[: heads * dim].view(heads, dim, dim)
        _, w_k, w_v = self.to_qkv_y.weight.view(3, heads, dim, dim)
        w_out = self.proj.weight.view(dim, heads, dim).transpose(0, 1)
        return w_q, w_k, w_v, w_out

    @staticmethod
    def _side_by_side(maps: Tensor) -> Tensor:
        """(heads, a, b) -> (a, heads * b): ``t @ result`` holds ``t @ maps[h]`` for every head, side by side."""
        return maps.transpose(0, 1).flatten(1)

    def _shared_key_operands(self, x_tokens: Tensor, y_tokens: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Per head ``q_h k_h^T = x Wq_h^T Wk_h y^T`` and ``proj(v) = sum_h v_h Wout_h^T``: with
        ``Wq_h^T Wk_h`` folded into the queries and ``Wv_h^T Wout_h^T`` into the value map, the keys and
        values of every head are y's normalised tokens themselves (no key/value projections)."""
        w_q, w_k, w_v, w_out = self._head_weights()
        x_normed = self.norm(self.embed_x(x_tokens))
        y_normed = self.norm(self.embed_y(y_tokens))
        q = x_normed @ self._side_by_side(w_q.transpose(1, 2) @ w_k * self.dim**-0.5)
        value_map = (w_v.transpose(1, 2) @ w_out.transpose(1, 2)).flatten(0, 1)
        return q, y_normed, value_map, self.proj.bias

    def _normed_factors(self, tokens: Tensor, embed: nn.Linear) -> tuple[Tensor, Tensor]:
        """``norm(embed(tokens)) = u @ h + norm.bias`` with ``u`` (N, n, patch + 1) and ``h`` (patch + 1, dim).

        LayerNorm centres and rescales each token: with ``s`` the token's 1/std, it maps
        ``t W^T + b`` to ``s (t W^T + b) C diag(gamma) + beta`` (C removes the mean over the width), so
        ``u = [s t, s]`` and ``h = [W^T; b] C diag(gamma)``.
        """
        embedded = embed(tokens)
        # at least float32, as LayerNorm computes it under autocast (float64 stays float64)
        embedded = embedded.to(torch.promote_types(embedded.dtype, torch.float32))
        s = torch.rsqrt(torch.var(embedded, dim=-1, keepdim=True, correction=0) + self.norm.eps)
        u = torch.cat((s * tokens, s), dim=-1)
        affine = torch.cat((embed.weight.t(), embed.bias[None]), dim=0)
        return u, (affine - affine.mean(-1, keepdim=True)) * self.norm.weight

    def _low_rank_operands(self, x_tokens: Tensor, y_tokens: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """:meth:`_fast_operands` in the (patch + 1)-dimensional space y's normalised tokens span.

        With ``norm(embed(.)) = u h + beta`` (:meth:`_normed_factors`): the scores are
        ``[u_x, 1] [h_x; beta] Wq_h^T Wk_h (u_y h_y + beta)^T``, where beta's term adds the same amount
        to every key of a query, which softmax ignores: the keys are ``u_y``. The values
        ``u_y h_y + beta`` give ``(softmax u_y) h_y + beta`` since each row of softmax sums to one,
        so ``u_y`` is also the value and ``beta`` goes to the bias. When a patch has fewer pixels than
        the width (the first two modules: 32 and 128 pixels at 128x256 against 256) every head attends
        with width patch + 1: the same outputs for a fraction of the multiplications.
        """
        w_q, w_k, w_v, w_out = self._head_weights()
        u_x, h_x = self._normed_factors(x_tokens, self.embed_x)
        u_y, h_y = self._normed_factors(y_tokens, self.embed_y)
        beta = self.norm.bias[None]
        query_basis = torch.cat((h_x, beta), dim=0) @ w_q.transpose(1, 2)  # (heads, patch + 2, dim)
        key_basis = h_y @ w_k.transpose(1, 2)  # (heads, patch + 1, dim)
        scores = self._side_by_side(query_basis @ key_basis.transpose(1, 2) * self.dim**-0.5)
        q = torch.addmm(scores[-1], u_x.flatten(0, 1), scores[:-1]).unflatten(0, u_x.shape[:2])
        value_basis = torch.cat((h_y, beta), dim=0) @ w_v.transpose(1, 2) @ w_out.transpose(1, 2)
        return q, u_y, value_basis[:, :-1].flatten(0, 1), self.proj.bias + value_basis[:, -1].sum(0)

    def _fast_output(self, attended: Tensor, value_map: Tensor, bias: Tensor) -> Tensor:
        """(N, n, heads * w) -> ``attended @ value_map + bias`` -> dropout -> unembed (N, n, patch).

        Without dropout (evaluation) and with patches of fewer pixels than the width, the un-embedding is
        folded into the value map, so the product has the patch's width instead of ``dim``.
        """
        if self.unembed.out_features < self.dim and not (self.training and self.dropout.p > 0):
            return attended @ (value_map @ self.unembed.weight.t()) + self.unembed(bias)
        return self.unembed(self.dropout(attended @ value_map + bias))

    # --- explicit weights -----------------------------------------------------------------------------------
    def _split_heads(self, q: Tensor) -> Tensor:
        """(N, n, heads * w) -> (N, heads, n, w)."""
        return q.unflatten(-1, (self.heads, -1)).transpose(1, 2)

    @staticmethod
    def _weights(q: Tensor, k: Tensor, scale: float) -> Tensor:
        scores = q @ k.transpose(-1, -2)
        return torch.softmax(scores * scale if scale != 1 else scores, dim=-1)

    def _attend_explicit(self, x_tokens: Tensor, y_tokens: Tensor) -> tuple[Tensor, Tensor]:
        """Aligned tokens computed from materialised attention weights (the path ``fast`` selects), and the weights."""
        if self.fast:
            q, kv, value_map, bias = self._fast_operands(x_tokens, y_tokens)
            weights = self._weights(self._split_heads(q), kv.unsqueeze(1), 1.0)
            attended = (weights @ kv.unsqueeze(1)).transpose(1, 2).flatten(2)
            return self._fast_output(attended, value_map, bias), weights
        q, k, v = self._plain_operands(x_tokens, y_tokens)
        weights = self._weights(q, k, self.dim**-0.5)
        return self._plain_output(weights @ v), weights


def patch_attention(weights: Tensor, grid: int) -> Tensor:
    """Token attention (N, heads, C*g*g, C*g*g) of :meth:`CrossAttentionAlignment.attention` -> (N, g*g, g*g).

    Entry [p, r]: the share of attention that queries at patch position ``p`` of x (averaged over
    channels and heads) give to keys at patch position ``r`` of the side image (summed over channels).
    Rows sum to one; a uniform map is 1 / g**2 everywhere.
    """
    n, heads, tokens, _ = weights.shape
    patches = grid * grid
    if tokens % patches or weights.size(-1) != tokens:
        raise ValueError(f"weights of shape {tuple(weights.shape)} are not token attention over a {grid}x{grid} grid")
    channels = tokens // patches
    # token index = channel * g*g + patch: split both axes, sum the keys over channels, average the rest
    split = weights.reshape(n, heads, channels, patches, channels, patches)
    return split.sum(dim=4).mean(dim=(1, 2))


def true_match_patches(disparity: np.ndarray | Tensor, grid: int) -> Tensor:
    """Where each patch of x truly lies in y: (g*g, g*g), entry [p, r] the share of patch ``p``'s pixels whose
    match, x being the left view (column ``u`` of x shows what column ``u - d`` of y shows), falls in patch ``r``.

    ``disparity``: (H, W) of x in pixels, NaN where unknown (e.g. ``EmbeddedPairs.disparity``). Pixels
    without a disparity or whose match leaves the image count nowhere, so a row sums to the share of its
    pixels that have a match inside y (0 for a patch with none).
    """
    d = torch.as_tensor(disparity, dtype=torch.float64)
    if d.dim() != 2 or d.size(0) % grid or d.size(1) % grid:
        raise ValueError(
            f"disparity of shape {tuple(d.shape)} is not an (H, W) map divisible into a {grid}x{grid} grid"
        )
    height, width = d.shape
    rows = torch.arange(height)[:, None].expand(height, width)
    cols = torch.arange(width)[None, :].expand(height, width)
    matched = torch.round(cols - d)  # NaN stays NaN
    inside = torch.isfinite(matched) & (matched >= 0) & (matched < width)
    source = (rows // (height // grid)) * grid + cols // (width // grid)
    target = (rows // (height // grid)) * grid + matched.nan_to_num(0).long().clamp(0, width - 1) // (width // grid)
    counts = torch.zeros(grid * grid, grid * grid, dtype=torch.float64)
    counts.index_put_(
        (source[inside], target[inside]), torch.ones(int(inside.sum()), dtype=torch.float64), accumulate=True
    )
    return counts / (height * width / grid**2)


def attention_summary(maps: Sequence[Tensor], match: Tensor | None = None) -> pd.DataFrame:
    """Per module of :meth:`CrossAttentionNDIC.attention_maps`: attention kept on the query's own patch and
    on its patch row (means over patches and images), beside the uniform baselines 1/g**2 and 1/g.

    ``maps``: one (g*g, g*g) or (N, g*g, g*g) tensor per module. With ``match`` (one image pair's
    :func:`true_match_patches` at the maps' grid), also ``true match``: the attention on the patches that
    hold each query's true match, weighted by the share of its pixels there (mean over the queries with a
    match). Uniform attention scores 1/g**2; ``ideal`` is the most any attention can score (all of it on
    the patch holding most of each query's match). Where the disparity is small against a patch, that patch
    is the query's own and ``true match`` cannot tell alignment from staying in place: shift the side image
    by a patch (and the disparity with it) to tell them apart.
    """
    import pandas as pd

    rows = []
    for i, m in enumerate(maps):
        m = m.reshape(-1, *m.shape[-2:]).double()
        patches = m.size(-1)
        grid = round(math.sqrt(patches))
        if grid * grid != patches or m.size(-2) != patches:
            raise ValueError(f"map {i} of shape {tuple(m.shape)} is not a (g*g, g*g) patch attention map")
        rows_of = torch.arange(patches) // grid
        same_row = (rows_of[:, None] == rows_of[None, :]).to(m)
        row = {
            "module": f"align[{i}]",
            "same patch": float(m.diagonal(dim1=-2, dim2=-1).mean()),
            "same patch row": float((m * same_row).sum(-1).mean()),
            "uniform: same patch": 1 / grid**2,
            "uniform: same row": 1 / grid,
        }
        if match is not None:
            if match.shape != (patches, patches):
                raise ValueError(f"match of shape {tuple(match.shape)} does not fit map {i} of {patches} patches")
            share = match.double() / match.double().sum(-1, keepdim=True).clamp_min(1e-12)  # per query, sums to 1
            known = match.sum(-1) > 0
            row["true match"] = float((m * share).sum(-1)[:, known].mean())
            row["ideal: true match"] = float(share.max(-1).values[known].mean())
        rows.append(row)
    return pd.DataFrame(rows).set_index("module")


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

    ``attention_dim``/``attention_heads``: the width and heads of the attention (the original's 256 and 8;
    narrower in the cpu profile). :meth:`attention_maps` returns where each module's queries attend (patch
    to patch) for image pairs;
    ``align[i].fast = False`` computes a module in the original's order of operations (same function).
    """

    stride = 32  # image_size must divide into the attention grid at 1/8 of the resolution
    # the cpu profile also narrows the attention (the original's width and heads are fixed at 256 and 8)
    cpu_config = {"attention_dim": 64, "attention_heads": 4}

    def __init__(
        self,
        num_filters: int = 192,
        image_size: Sequence[int] = DEFAULT_IMAGE_SIZE,
        bound: float = 0.11,
        attention_dim: int = 256,
        attention_heads: int = 8,
    ):
        super().__init__(num_filters, image_size, bound)
        height, width = self.image_size
        if height % self.stride or width % self.stride:
            raise ValueError(f"cross_attention needs image_size in multiples of 32, got {height}x{width}")
        if (attention_dim, attention_heads) != (256, 8):  # the original's; recorded only when narrowed
            self.config.update(attention_dim=int(attention_dim), attention_heads=int(attention_heads))
        self.align = nn.ModuleList(
            CrossAttentionAlignment((height // s, width // s), dim=attention_dim, heads=attention_heads)
            for s in (8, 4, 2)
        )

    @torch.no_grad()
    def attention_maps(self, x: Tensor, y: Tensor) -> list[Tensor]:
        """Patch attention (N, g*g, g*g) (:func:`patch_attention`) of ``align[0]``, ``align[1]``, ``align[2]``
        (coarse to fine) for image pairs x, y (N, 3, H, W), from an eval-mode forward without autograd.

        Each module's weights are computed from its inputs as the forward reaches it and reduced at
        once, so only one module's (N, heads, tokens, tokens) weights exist at a time. The model's
        training mode is restored afterwards.
        """
        maps: list[Tensor] = []

        def record(module, args, output):
            maps.append(patch_attention(module.attention(args[0], args[1]), module.grid))

        hooks = [align.register_forward_hook(record) for align in self.align]
        was_training = self.training
        self.eval()
        try:
            self(x, y)
        finally:
            for hook in hooks:
                hook.remove()
            self.train(was_training)
        return maps

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
