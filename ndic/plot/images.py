"""Pictures of what a codec does: images side by side, error maps, cross-attention maps.

Every figure is a :class:`matplotlib.figure.Figure` (not pyplot's), so nothing is drawn twice in a
notebook.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from matplotlib import rc_context
from matplotlib.figure import Figure

from .. import metrics
from .style import FIGURE_STYLE as STYLE


def _batch(image: torch.Tensor) -> torch.Tensor:
    return (image.unsqueeze(0) if image.dim() == 3 else image).float()


def _array(image: torch.Tensor | np.ndarray) -> np.ndarray:
    """(3, H, W) / (1, 3, H, W) tensor or (H, W, 3) array -> (H, W, 3) float in [0, 1]."""
    if isinstance(image, torch.Tensor):
        image = image.detach().cpu().float()
        image = image[0] if image.dim() == 4 else image
        return image.permute(1, 2, 0).clamp(0, 1).numpy()
    array = np.asarray(image, dtype=np.float64)
    return array / 255.0 if array.max() > 1 else array


def show_images(images: Mapping[str, torch.Tensor], title: str = "", columns: int | None = None) -> Figure:
    """Images side by side, each under its caption (``{caption: image}``), at their own aspect."""
    items = list(images.items())
    if not items:
        raise ValueError("no images to show")
    columns = columns or len(items)
    rows = math.ceil(len(items) / columns)
    height, width = _array(items[0][1]).shape[:2]
    panel = 3.4
    with rc_context(STYLE):
        figure = Figure(figsize=(panel * columns, panel * rows * height / width + 0.5), layout="constrained")
        axes = figure.subplots(rows, columns, squeeze=False).ravel()
        for ax, (caption, image) in zip(axes, items, strict=False):
            ax.imshow(_array(image), interpolation="nearest")
            ax.set_title(caption)
        for ax in axes:
            ax.axis("off")
        if title:
            figure.suptitle(title)
    return figure


def error_map(x: torch.Tensor, x_hat: torch.Tensor) -> np.ndarray:
    """Mean absolute error over the colour channels, in 8-bit levels, (H, W)."""
    a = metrics.to_uint8(_batch(x).cpu())[0]
    b = metrics.to_uint8(_batch(x_hat).cpu())[0]
    return (a - b).abs().mean(0).numpy()


def plot_error_maps(x: torch.Tensor, reconstructions: Mapping[str, torch.Tensor], title: str = "") -> Figure:
    """The original, then ``|x - x_hat|`` of each reconstruction on one shared colour scale."""
    maps = {name: error_map(x, x_hat) for name, x_hat in reconstructions.items()}
    top = max(float(np.percentile(m, 99.5)) for m in maps.values()) or 1.0
    height, width = maps[next(iter(maps))].shape
    columns = 1 + len(maps)
    with rc_context(STYLE):
        figure = Figure(figsize=(3.0 * columns, 3.0 * height / width + 0.9), layout="constrained")
        axes = figure.subplots(1, columns, squeeze=False)[0]
        axes[0].imshow(_array(x))
        axes[0].set_title("x (original)")
        for ax, (name, values) in zip(axes[1:], maps.items(), strict=True):
            shown = ax.imshow(values, cmap="magma", vmin=0, vmax=top)
            ax.set_title(name)
        for ax in axes:
            ax.axis("off")
        figure.colorbar(shown, ax=axes[1:].tolist(), shrink=0.8, label="|x - x_hat| (8-bit levels)")
        if title:
            figure.suptitle(title)
    return figure


def plot_attention(
    x: torch.Tensor,
    y: torch.Tensor,
    maps: Sequence[torch.Tensor],
    query: tuple[int, int] = (2, 1),
    title: str = "",
    disparity: np.ndarray | None = None,
) -> Figure:
    """Per module: x with the query patch outlined, y shaded by where that patch attends, and the
    full patch-to-patch matrix (rows: x's patches, columns: y's, in row-major grid order).

    With ``disparity`` (x's true disparity in pixels, x the left view, NaN where unknown), y also shows
    where the query patch truly lies: the patch moved left by its median disparity (dashed red).
    """
    from matplotlib.patches import Rectangle

    x_img, y_img = _array(x), _array(y)
    height, width = x_img.shape[:2]
    with rc_context(STYLE):
        figure = Figure(figsize=(10.5, 2.3 * len(maps) + 0.4), layout="constrained")
        axes = figure.subplots(len(maps), 3, squeeze=False, width_ratios=[2, 2, 1])
        for row, m in zip(axes, maps, strict=True):
            grid = int(round(math.sqrt(m.shape[0])))
            ph, pw = height / grid, width / grid
            qr, qc = query
            weights = m[qr * grid + qc].reshape(grid, grid).numpy()
            row[0].imshow(x_img)
            row[0].add_patch(Rectangle((qc * pw, qr * ph), pw, ph, fill=False, ec="cyan", lw=2))
            row[0].set_title(f"x, query patch (row {qr}, column {qc})")
            row[1].imshow(y_img)
            shade = row[1].imshow(weights, cmap="viridis", alpha=0.55, extent=(0, width, height, 0), vmin=0)
            row[1].set_title("y, attention of that patch")
            shift = _median_disparity(disparity, (qr * ph, (qr + 1) * ph), (qc * pw, (qc + 1) * pw))
            if shift is not None:
                true_box = Rectangle((qc * pw - shift, qr * ph), pw, ph, fill=False, ec="red", lw=2, ls="--")
                row[1].add_patch(true_box)
                row[1].set_title(f"y, attention of that patch\n(red: true match, disparity {shift:.0f} px)")
            figure.colorbar(shade, ax=row[1], shrink=0.8)
            matrix = row[2].imshow(m.numpy(), cmap="viridis", vmin=0)
            row[2].set_title("patch -> patch")
            row[2].set_xlabel("y patch")
            row[2].set_ylabel("x patch")
            figure.colorbar(matrix, ax=row[2], shrink=0.8)
            for ax in row[:2]:
                ax.axis("off")
        for i, row in enumerate(axes):
            row[0].text(-0.03, 0.5, f"align[{i}]", rotation=90, va="center", ha="right", transform=row[0].transAxes)
        if title:
            figure.suptitle(title)
    return figure


def _median_disparity(
    disparity: np.ndarray | None, rows: tuple[float, float], cols: tuple[float, float]
) -> float | None:
    """Median known disparity inside a rectangle of pixels (None without a disparity map or a known value)."""
    if disparity is None:
        return None
    window = np.asarray(disparity, dtype=np.float64)[int(rows[0]) : int(rows[1]), int(cols[0]) : int(cols[1])]
    known = window[np.isfinite(window)]
    return float(np.median(known)) if known.size else None
