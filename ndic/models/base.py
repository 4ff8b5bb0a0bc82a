"""Conventions shared by every model of the registry.

- ``self.config``: the constructor's keyword arguments with defaults filled in, JSON-serialisable
  (bitstream headers hash it).
- Padding: CNN/transformer models accept any image size; they pad to their total stride with
  :func:`pad_to_multiple` and crop the reconstruction back with :func:`crop_padding`. Padding is
  split evenly between the sides, as CompressAI's and STF's evaluation scripts pad.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def pad_to_multiple(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple[int, int, int, int]]:
    """Zero-pad ``x`` (N, C, H, W) to multiples of ``multiple``, centred.

    Returns the padded tensor and the padding (left, right, top, bottom) to undo.
    """
    h, w = x.shape[-2:]
    pad_h, pad_w = (-h) % multiple, (-w) % multiple
    padding = (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2)
    if pad_h or pad_w:
        x = F.pad(x, padding, mode="constant", value=0.0)
    return x, padding


def crop_padding(x: torch.Tensor, padding: tuple[int, int, int, int]) -> torch.Tensor:
    """Remove the padding added by :func:`pad_to_multiple`."""
    left, right, top, bottom = padding
    h, w = x.shape[-2:]
    return x[..., top : h - bottom, left : w - right]


def check_image(x: torch.Tensor, name: str = "x") -> None:
    """A clear error for inputs that are not a batch of RGB images."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape (N, 3, H, W), got {type(x).__name__}")
    if x.dim() != 4 or x.shape[1] != 3:
        raise ValueError(f"{name} must have shape (N, 3, H, W), got {tuple(x.shape)}")
