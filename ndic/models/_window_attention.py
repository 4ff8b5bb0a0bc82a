"""Window self-attention layers of STF and WACNN (Zou et al., CVPR 2022).

Both models attend inside non-overlapping ``window_size x window_size`` windows with a learned
relative position bias (Swin Transformer, Liu et al. 2021); alternate (STF) or all (WACNN) layers
cyclically shift the features by ``shift_size`` first and mask the token pairs that the shift
brought together from opposite image borders.

Features are channels-last (B, H, W, C) inside this module. The attention is computed as the
originals compute it, ``softmax(q * scale @ k^T + bias + mask) @ v`` with the same operation order
and memory layouts, so that outputs are bitwise identical to the original code: entropy coding
rounds latents, and a last-bit difference could flip a symbol and change the bitstream.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from compressai.layers import conv1x1, conv3x3
from timm.layers import DropPath, Mlp, trunc_normal_

# additive attention mask between tokens of different regions (the originals' value)
MASKED = -100.0


def window_partition(x: torch.Tensor, window_size: int) -> torch.Tensor:
    """(B, H, W, C) -> (B * windows, window_size**2, C), windows in raster order."""
    b, h, w, c = x.shape
    x = x.view(b, h // window_size, window_size, w // window_size, window_size, c)
    return x.permute(0, 1, 3, 2, 4, 5).contiguous().view(-1, window_size * window_size, c)


def window_merge(windows: torch.Tensor, window_size: int, height: int, width: int) -> torch.Tensor:
    """Inverse of :func:`window_partition`: -> (B, height, width, C)."""
    rows, cols = height // window_size, width // window_size
    x = windows.view(-1, rows, cols, window_size, window_size, windows.shape[-1])
    return x.permute(0, 1, 3, 2, 4, 5).contiguous().view(-1, height, width, windows.shape[-1])


def shifted_window_mask(
    height: int, width: int, window_size: int, shift_size: int, device: torch.device | None = None
) -> torch.Tensor:
    """Additive mask (windows, N, N) for attention on features rolled by ``-shift_size``.

    After the roll, the last window row/column holds tokens from up to three image regions: the
    bulk, the last ``window_size - shift_size`` rows/columns before the border and the
    ``shift_size`` rows/columns wrapped around from the opposite border. Tokens only attend to
    tokens of their own region.
    """

    def regions(n: int) -> torch.Tensor:
        idx = torch.arange(n, device=device)
        return (idx >= n - window_size).long() + (idx >= n - shift_size).long()

    labels = (regions(height)[:, None] * 3 + regions(width)[None, :]).float()
    windows = window_partition(labels[None, :, :, None], window_size).squeeze(-1)
    different = windows[:, None, :] != windows[:, :, None]
    return torch.zeros(different.shape, device=device).masked_fill(different, MASKED)


def relative_position_index(window_size: int) -> torch.Tensor:
    """(N, N) index into the (2 * window_size - 1)**2 relative offsets of two window positions."""
    coords = torch.stack(torch.meshgrid(torch.arange(window_size), torch.arange(window_size), indexing="ij"))
    coords = coords.flatten(1)
    offsets = coords[:, :, None] - coords[:, None, :] + window_size - 1
    return offsets[0] * (2 * window_size - 1) + offsets[1]


class WindowAttention(nn.Module):
    """Multi-head self-attention within windows, with a learned relative position bias.

    Input and output: (B * windows, window_size**2, dim) tokens.
    """

    def __init__(
        self,
        dim: int,
        window_size: int,
        num_heads: int,
        qkv_bias: bool = True,
        qk_scale: float | None = None,
        attn_drop: float = 0.0,
        proj_drop: float = 0.0,
    ):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim {dim} must be divisible by num_heads {num_heads}")
        self.window_size = window_size
        self.num_heads = num_heads
        self.scale = qk_scale or (dim // num_heads) ** -0.5
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * window_size - 1) ** 2, num_heads))
        trunc_normal_(self.relative_position_bias_table, std=0.02)
        # derived from window_size, so not saved (the originals saved it; from_reference checks it)
        self.register_buffer("relative_position_index", relative_position_index(window_size), persistent=False)
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.attn_drop = nn.Dropout(attn_drop)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        batch, n, c = x.shape
        qkv = self.qkv(x).reshape(batch, n, 3, self.num_heads, c // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).contiguous()
        attn = (q * self.scale) @ k.transpose(-2, -1)
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)].view(n, n, -1)
        attn = attn + bias.permute(2, 0, 1).contiguous().unsqueeze(0)
        if mask is not None:
            windows = mask.shape[0]
            attn = attn.view(batch // windows, windows, self.num_heads, n, n) + mask.unsqueeze(1).unsqueeze(0)
            attn = attn.view(-1, self.num_heads, n, n)
        attn = self.attn_drop(attn.softmax(dim=-1))
        x = (attn @ v).transpose(1, 2).reshape(batch, n, c)
        return self.proj_drop(self.proj(x))


def attend_in_windows(
    x: torch.Tensor, attn: WindowAttention, shift_size: int, mask: torch.Tensor | None
) -> torch.Tensor:
    """Roll (B, H, W, C) features by ``-shift_size``, attend within windows, roll back.

    H and W must be multiples of ``attn.window_size``.
    """
    height, width = x.shape[1:3]
    if shift_size:
        x = torch.roll(x, shifts=(-shift_size, -shift_size), dims=(1, 2))
    windows = attn(window_partition(x, attn.window_size), mask=mask)
    x = window_merge(windows, attn.window_size, height, width)
    if shift_size:
        x = torch.roll(x, shifts=(shift_size, shift_size), dims=(1, 2))
    return x


class ShiftedWindowResidual(nn.Module):
    """WACNN's window attention with a residual connection, on (B, C, H, W) features.

    ``x + W-MSA(x)`` with shifted windows and no normalisation or MLP (the original's
    ``WinBasedAttention``). H and W must be multiples of ``window_size``.
    """

    def __init__(self, dim: int, num_heads: int, window_size: int, shift_size: int):
        super().__init__()
        if not 0 <= shift_size < window_size:
            raise ValueError(f"shift_size {shift_size} must be in [0, window_size={window_size})")
        self.shift_size = shift_size
        self.attn = WindowAttention(dim, window_size, num_heads)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        mask = None
        if self.shift_size:
            mask = shifted_window_mask(height, width, self.attn.window_size, self.shift_size, x.device)
        out = attend_in_windows(x.permute(0, 2, 3, 1), self.attn, self.shift_size, mask)
        return x + out.permute(0, 3, 1, 2).contiguous()


class ResidualUnit(nn.Module):
    """GELU(x + conv1x1(GELU(conv3x3(GELU(conv1x1(x)))))) with a bottleneck of half the channels."""

    def __init__(self, channels: int):
        super().__init__()
        half = channels // 2
        self.conv = nn.Sequential(
            conv1x1(channels, half), nn.GELU(), conv3x3(half, half), nn.GELU(), conv1x1(half, channels)
        )
        self.relu = nn.GELU()  # the original's name for it

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.conv(x) + x)


class WindowAttentionBlock(nn.Module):
    """WACNN's attention module: Cheng et al.'s (2020) attention block with window attention.

    .. code-block:: none

        x ──┬── ResidualUnit x3 ─────────────────────────────────── a ──┐
            ├── ShiftedWindowResidual ── ResidualUnit x3 ── conv1x1 ── b ──┤ a * sigmoid(b)
            └──────────────────────────────────────────────────────────(+)── out

    Kept oddity: the original calls it ``Win_noShift_Attention`` but builds it with shifted
    windows (window 8 / shift 4 after the second layer, window 4 / shift 2 at the latent).
    """

    def __init__(self, dim: int, num_heads: int = 8, window_size: int = 8, shift_size: int = 0):
        super().__init__()
        self.conv_a = nn.Sequential(ResidualUnit(dim), ResidualUnit(dim), ResidualUnit(dim))
        self.conv_b = nn.Sequential(
            ShiftedWindowResidual(dim, num_heads, window_size, shift_size),
            ResidualUnit(dim),
            ResidualUnit(dim),
            ResidualUnit(dim),
            conv1x1(dim, dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_a(x) * torch.sigmoid(self.conv_b(x)) + x


class SwinBlock(nn.Module):
    """Swin Transformer block on (B, H, W, C): ``x + W-MSA(LN(x))``, then ``x + MLP(LN(x))``.

    The normalised features are zero-padded at the bottom/right to whole windows (padded tokens
    take part in the attention unmasked, as in the original) and cropped back.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        window_size: int,
        shift_size: int,
        mlp_ratio: float,
        qkv_bias: bool,
        qk_scale: float | None,
        drop: float,
        attn_drop: float,
        drop_path: float,
    ):
        super().__init__()
        self.shift_size = shift_size
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, window_size, num_heads, qkv_bias, qk_scale, attn_drop, drop)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), drop=drop)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        height, width = x.shape[1:3]
        size = self.attn.window_size
        padding = (0, 0, 0, (-width) % size, 0, (-height) % size)
        mask = mask if self.shift_size else None
        out = attend_in_windows(F.pad(self.norm1(x), padding), self.attn, self.shift_size, mask)
        x = x + self.drop_path(out[:, :height, :width, :])
        return x + self.drop_path(self.mlp(self.norm2(x)))


class PatchMerging(nn.Module):
    """2x downsampling: each 2x2 patch of C channels -> LayerNorm -> linear to 2C channels."""

    def __init__(self, dim: int):
        super().__init__()
        self.norm = nn.LayerNorm(4 * dim)
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] % 2 or x.shape[2] % 2:
            raise ValueError(f"PatchMerging needs even feature sizes, got {tuple(x.shape[1:3])}")
        x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], dim=-1)
        return self.reduction(self.norm(x))


class PatchSplit(nn.Module):
    """2x upsampling (STF's inverse of :class:`PatchMerging`): LayerNorm -> linear to 2C -> pixel shuffle."""

    def __init__(self, dim: int):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.reduction = nn.Linear(dim, 2 * dim, bias=False)  # the original's name
        self.shuffle = nn.PixelShuffle(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.reduction(self.norm(x)).permute(0, 3, 1, 2).contiguous()
        return self.shuffle(x).permute(0, 2, 3, 1).contiguous()


class SwinStage(nn.Module):
    """``depth`` Swin blocks (every second one with shifted windows), then optional resampling."""

    def __init__(
        self,
        dim: int,
        depth: int,
        num_heads: int,
        window_size: int,
        drop_path: list[float],
        resample: type[nn.Module] | None = None,
        **block_options,
    ):
        super().__init__()
        self.window_size = window_size
        self.shift_size = window_size // 2
        self.blocks = nn.ModuleList(
            SwinBlock(
                dim,
                num_heads,
                window_size,
                shift_size=0 if i % 2 == 0 else self.shift_size,
                drop_path=drop_path[i],
                **block_options,
            )
            for i in range(depth)
        )
        self.resample = resample(dim) if resample is not None else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = self.window_size
        padded = [math.ceil(n / size) * size for n in x.shape[1:3]]
        mask = shifted_window_mask(*padded, size, self.shift_size, x.device) if len(self.blocks) > 1 else None
        for block in self.blocks:
            x = block(x, mask)
        return self.resample(x) if self.resample is not None else x
