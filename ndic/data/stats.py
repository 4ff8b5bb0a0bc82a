"""Statistics of a dataset: sizes, intensities and, for stereo pairs, how much the two views share.

For a rectified pair, a point at column ``c`` of the left view ``x`` appears at column ``c - d`` of
the right view ``y``; ``d`` is the disparity (larger for nearer points). :func:`disparity_map`
estimates it per pixel by block matching (sum of absolute differences of the luminance over a
square window, winner takes all), enough to describe a dataset, not a stereo benchmark. From it:

- row disparity: the median over the columns where every candidate disparity is inside ``y``;
- overlap: the share of ``x`` that ``y`` also sees, ``mean_r (W - |d_r|) / W`` (in row ``r`` the
  ``|d_r|`` columns at one edge fall outside the other camera's view);
- PSNR of ``y`` against ``x`` as it is, and after shifting each row by its disparity: the gap is
  what a decoder gains by aligning the side image, the job of NDIC-CAM's cross-attention.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
from scipy.ndimage import uniform_filter
from torch.utils.data import Dataset

LUMA = np.array([0.299, 0.587, 0.114])  # ITU-R BT.601


def _array(image: torch.Tensor | np.ndarray) -> np.ndarray:
    """(3, H, W) tensor or (H, W, 3) array in [0, 1] -> float64 (H, W, 3)."""
    if isinstance(image, torch.Tensor):
        return image.detach().cpu().double().permute(1, 2, 0).numpy()
    return np.asarray(image, dtype=np.float64)


def luminance(image: torch.Tensor | np.ndarray) -> np.ndarray:
    """BT.601 luma of an RGB image in [0, 1], (H, W)."""
    return _array(image) @ LUMA


def disparity_map(x, y, max_disparity: int = 64, block: int = 9) -> np.ndarray:
    """Disparity of each pixel of ``x`` in ``[-max_disparity, max_disparity]``, (H, W) float.

    Positive when ``x`` is the left view (the point moves left in ``y``), negative when it is the
    right view. Near the borders only the candidates that stay inside ``y`` are tried, so the
    outer ``max_disparity`` columns are unreliable: :func:`row_disparity` leaves them out.
    """
    left, right = luminance(x), luminance(y)
    width = left.shape[1]
    max_disparity = min(max_disparity, width - 1)
    candidates = np.arange(-max_disparity, max_disparity + 1)
    cost = np.full((len(candidates),) + left.shape, np.inf)
    for k, d in enumerate(candidates):
        columns = slice(d, width) if d >= 0 else slice(0, width + d)  # x columns whose match c - d is in y
        shifted = slice(0, width - d) if d >= 0 else slice(-d, width)
        cost[k][:, columns] = uniform_filter(np.abs(left[:, columns] - right[:, shifted]), size=block, mode="nearest")
    return candidates[np.argmin(cost, axis=0)].astype(np.float64)


def row_disparity(disparity: np.ndarray, max_disparity: int = 64) -> np.ndarray:
    """Median disparity of each row over the columns that could try every candidate, (H,)."""
    margin = min(max_disparity, (disparity.shape[1] - 1) // 2)
    return np.median(disparity[:, margin : disparity.shape[1] - margin], axis=1)


def overlap(rows: np.ndarray, width: int) -> float:
    """Share of ``x`` that ``y`` also sees, given each row's disparity."""
    return float(np.mean(np.clip(width - np.abs(rows), 0, width) / width))


PSNR_CAP_DB = 100.0  # identical images (an exact synthetic shift) are reported at this value, not infinity


def _psnr_of_mse(mse: float) -> float:
    return min(PSNR_CAP_DB, float(10 * np.log10(1 / mse))) if mse > 0 else PSNR_CAP_DB


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    return _psnr_of_mse(float(np.mean((a - b) ** 2)))


def aligned_psnr(x, y, rows: np.ndarray) -> float:
    """PSNR between ``x`` and ``y`` moved row by row by the (rounded) disparity, on the shared part."""
    a, b = _array(x), _array(y)
    width = a.shape[1]
    errors = []
    for r, d in enumerate(np.clip(np.rint(rows), 1 - width, width - 1).astype(int)):
        shared = (a[r, d:] - b[r, : width - d]) if d >= 0 else (a[r, : width + d] - b[r, -d:])
        errors.append((shared**2).ravel())
    return _psnr_of_mse(float(np.mean(np.concatenate(errors))))


def pair_stats(x, y, max_disparity: int = 64, block: int = 9) -> dict[str, float]:
    """Disparity, overlap and similarity of one pair (see the module docstring)."""
    disparity = disparity_map(x, y, max_disparity, block)
    rows = row_disparity(disparity, max_disparity)
    return {
        "disparity_median": float(np.median(rows)),
        "disparity_abs_p95": float(np.percentile(np.abs(rows), 95)),
        "overlap": overlap(rows, disparity.shape[1]),
        "psnr_views_db": _psnr(_array(x), _array(y)),
        "psnr_aligned_db": aligned_psnr(x, y, rows),
    }


def image_stats(image) -> dict[str, float]:
    """Size and colour statistics of one image."""
    array = _array(image)
    return {
        "height": array.shape[0],
        "width": array.shape[1],
        "mean": float(array.mean()),
        "std": float(array.std()),
        "saturated": float(np.mean((array <= 0) | (array >= 1))),
    }


def summarize(dataset: Dataset, indices: Sequence[int] | None = None, max_disparity: int = 64) -> pd.DataFrame:
    """One row per item: its id, image statistics of ``x`` and, for stereo sets, :func:`pair_stats`."""
    indices = range(len(dataset)) if indices is None else indices
    rows = []
    for i in indices:
        item = dataset[i]
        x = item[0] if dataset.stereo else item
        row = {"id": dataset.ids[i], **image_stats(x)}
        if dataset.stereo:
            row.update(pair_stats(x, item[1], max_disparity))
        rows.append(row)
    return pd.DataFrame(rows)


def split_sizes(name: str, root=None, **opts) -> dict[str, int | str]:
    """Number of items of each split of a dataset, or why a split cannot be loaded."""
    from . import load

    sizes: dict[str, int | str] = {}
    for split in ("train", "val", "test"):
        try:
            sizes[split] = len(load(name, split, root=root, **opts))
        except (FileNotFoundError, ValueError) as error:
            sizes[split] = f"unavailable ({type(error).__name__})"
    return sizes


def _image(ax, tensor: torch.Tensor, title: str) -> None:
    ax.imshow(_array(tensor).clip(0, 1))
    ax.set_title(title, fontsize=9)
    ax.axis("off")


def plot_items(dataset: Dataset, indices: Sequence[int]):
    """A figure of items: for stereo sets one row per pair (``x``, side image ``y``, ``|x - y|``)."""
    import matplotlib.pyplot as plt

    columns = 3 if dataset.stereo else 1
    fig, axes = plt.subplots(len(indices), columns, figsize=(4 * columns, 2.2 * len(indices)), squeeze=False)
    for row, i in zip(axes, indices, strict=True):
        item = dataset[i]
        if not dataset.stereo:
            _image(row[0], item, dataset.ids[i])
            continue
        x, y = item
        _image(row[0], x, f"x: {dataset.ids[i]}")
        _image(row[1], y, "y (decoder side information)")
        _image(row[2], (x - y).abs() * 2, "|x - y| (x2)")
    fig.tight_layout()
    return fig


def plot_disparity(x, y, truth: np.ndarray | None = None, max_disparity: int = 64):
    """``x``, its estimated disparity and, when given, the true one, on one colour scale."""
    import matplotlib.pyplot as plt

    estimate = disparity_map(x, y, max_disparity)
    panels = [("estimated disparity (px)", estimate)] + ([("true disparity (px)", truth)] if truth is not None else [])
    fig, axes = plt.subplots(1, 1 + len(panels), figsize=(4.2 * (1 + len(panels)), 2.4))
    _image(axes[0], x, "x")
    # one colour scale for both maps, set by the 1st..99th percentile (block matching has outliers)
    low, high = np.nanpercentile(truth if truth is not None else estimate, [1, 99])
    for ax, (title, values) in zip(axes[1:], panels, strict=True):
        shown = ax.imshow(values, cmap="magma", vmin=low, vmax=high)
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    fig.colorbar(shown, ax=axes[1:].tolist(), shrink=0.8)
    return fig
