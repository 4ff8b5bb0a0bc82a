"""WACNN: the CNN with window-based attention of Zou, Song & Zhang, CVPR 2022 (Googolxx/STF ``cnn``)."""

from __future__ import annotations

import torch.nn as nn
from compressai.layers import GDN
from compressai.models.utils import conv, deconv

from . import register
from ._channel_slices import ChannelSliceModel
from ._window_attention import WindowAttentionBlock


@register("wacnn", "cnn")
class WACNN(ChannelSliceModel):
    """WACNN (Zou et al., CVPR 2022): Ballé-style CNN with window attention blocks, 10 slices.

    .. code-block:: none

        g_a: conv5/2 ─ GDN ─ conv5/2 ─ GDN ─ WA(w8,s4) ─ conv5/2 ─ GDN ─ conv5/2 ─ WA(w4,s2) ── y (M, /16)
        g_s: WA(w4,s2) ─ deconv5/2 ─ IGDN ─ deconv5/2 ─ IGDN ─ WA(w8,s4) ─ deconv5/2 ─ IGDN ─ deconv5/2 ── x_hat
        h_a: 3x3 convs M → M → M-d → M-2d (/2) → M-3d → N (/2), d = (M - N) / 4, GELU between
        h_mean_s, h_scale_s: N → N → N+d (x2) → N+2d → N+3d (x2) → M
        entropy model: :class:`ChannelSliceModel` with 10 slices of M/10 channels, support 5

    WA is :class:`WindowAttentionBlock` (8 heads): ``x + conv_a(x) * sigmoid(conv_b(x))`` with
    shifted-window attention in ``conv_b``.

    Args:
        N: channels of the transforms and of z (paper: 192).
        M: channels of y (paper: 320).

    Oddities of the original kept so that released weights reproduce its numbers:

    - its weight initialisation is a no-op (``_initialize_weights()`` runs before any layer
      exists), so every layer has PyTorch's default initialisation, as here;
    - its attention module is named ``Win_noShift_Attention`` but uses shifted windows
      (shift 4 with window 8, shift 2 with window 4);
    - it needs H and W to be multiples of 64 (windows at /4 and /16, z at /64) and its decoder
      assumes ``y`` is 4x ``z``; here any size works: the input is padded (centred) to a multiple
      of 64 and the output cropped back;
    - its hyperprior widths are hard-coded for N=192, M=320 (``from_state_dict`` even ignores the
      weights' sizes); here they follow N and M (the same at the defaults), so smaller widths can
      be built for tests.
    """

    quick_config = {"N": 64, "M": 160}  # 10 slices of 16 channels; 8 attention heads divide both widths

    def __init__(self, N: int = 192, M: int = 320):
        step = (M - N) // 4
        super().__init__(
            hyper_analysis_widths=(M, M, M - step, M - 2 * step, M - 3 * step, N),
            hyper_synthesis_widths=(N, N, N + step, N + 2 * step, N + 3 * step, M),
            num_slices=10,
            max_support_slices=5,
        )
        self.config = {"N": N, "M": M}
        self.g_a = nn.Sequential(
            conv(3, N, kernel_size=5, stride=2),
            GDN(N),
            conv(N, N, kernel_size=5, stride=2),
            GDN(N),
            WindowAttentionBlock(N, num_heads=8, window_size=8, shift_size=4),
            conv(N, N, kernel_size=5, stride=2),
            GDN(N),
            conv(N, M, kernel_size=5, stride=2),
            WindowAttentionBlock(M, num_heads=8, window_size=4, shift_size=2),
        )
        self.g_s = nn.Sequential(
            WindowAttentionBlock(M, num_heads=8, window_size=4, shift_size=2),
            deconv(M, N, kernel_size=5, stride=2),
            GDN(N, inverse=True),
            deconv(N, N, kernel_size=5, stride=2),
            GDN(N, inverse=True),
            WindowAttentionBlock(N, num_heads=8, window_size=8, shift_size=4),
            deconv(N, N, kernel_size=5, stride=2),
            GDN(N, inverse=True),
            deconv(N, 3, kernel_size=5, stride=2),
        )
