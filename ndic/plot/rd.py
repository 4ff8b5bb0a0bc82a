"""Rate-distortion curves: from result rows and published points to a figure saved as PNG and SVG.

``rd`` draws PSNR and/or MS-SSIM (dB) against bpp; :func:`rd_figure` draws every method of a dataset
with that dataset's published curves, titled with where the rows came from.

Two rates exist (:data:`RATES`): ``bpp``, the real bitstream's bytes, which every curve of this book
uses unless it says otherwise, and ``bpp_estimated``, ``-sum(log2 p)`` of the latents' likelihoods,
which NDIC-CAM's paper plots (its code has no entropy coder). A curve on the estimate says so in its
label ("estimated bpp") and is drawn dashed with hollow markers; published points whose ``note``
says their rate is estimated (the NDIC-CAM transcriptions) become such curves.
:func:`rate_comparison_figure` draws both rates of the same evaluated points: the real one sits to
the right of the estimate by the coder's overhead (each rANS stream's final flush), which weighs most
at the lowest rates.

Curves from result rows say when they average part of the dataset's images (``--limit``, images a codec
cannot code): "BPG (2 of 24 images)" (:func:`curve_coverage`); a curve whose points average different
images is refused.
"""

from __future__ import annotations

import io
import math
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import rc_context
from matplotlib.figure import Figure

from ..io import atomic_write_bytes
from ..results import COLUMNS, DATASET_IMAGES
from .style import KINDS, LINE, METRIC_LABELS, STYLE, color, describe_curves, restyle

# the two rates a curve can be drawn on: the column of the result rows -> the words for it
RATES = {"bpp": "bits per pixel (bpp)", "bpp_estimated": "estimated bpp (from the likelihoods)"}
ESTIMATED = "estimated bpp"  # what the label of a curve on the estimated rate says


@dataclass
class Curve:
    """One RD curve: mean bpp and quality per operating point.

    ``rate`` says what ``bpp`` is: ``"bpp"`` (real bytes) or ``"bpp_estimated"`` (from likelihoods).
    ``coverage`` says on how many of the dataset's images the curve was measured when not on all of them
    (the label says it too).
    """

    label: str
    bpp: Sequence[float]
    psnr: Sequence[float] | None = None
    ms_ssim_db: Sequence[float] | None = None
    kind: str = "learned"
    method: str = ""
    rate: str = "bpp"
    coverage: str = ""  # "2 of 24 images" when the curve averages part of the images the others do ("": all)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"curve {self.label!r}: kind must be one of {KINDS}, got {self.kind!r}")
        if self.rate not in RATES:
            raise ValueError(f"curve {self.label!r}: rate must be one of {list(RATES)}, got {self.rate!r}")
        order = np.argsort(np.asarray(self.bpp, dtype=float))
        self.bpp = np.asarray(self.bpp, dtype=float)[order]
        for metric in METRIC_LABELS:
            values = getattr(self, metric)
            if values is not None:
                values = np.asarray(values, dtype=float)
                if values.shape != self.bpp.shape:
                    raise ValueError(f"curve {self.label!r}: {metric} has {values.shape} values, bpp {self.bpp.shape}")
                setattr(self, metric, values[order])
        self.method = self.method or self.label

    def values(self, metric: str) -> np.ndarray | None:
        if metric not in METRIC_LABELS:
            raise ValueError(f"unknown metric {metric!r}; use one of {list(METRIC_LABELS)}")
        values = getattr(self, metric)
        return None if values is None or np.all(np.isnan(values)) else values


def _labelled(label: str, rate: str) -> str:
    """``label``, marked when its rate is the likelihood estimate (once)."""
    return label if rate == "bpp" or ESTIMATED in label else f"{label} ({ESTIMATED})"


def curves_from_results(frame: pd.DataFrame, kind: str | None = None, rate: str = "bpp") -> list[Curve]:
    """Curves from result rows (``ndic.results``, per image or summarised): one per (method, label).

    ``kind`` defaults to "classical" for codec names (``ndic.codecs``) and "learned" otherwise.
    ``rate``: ``"bpp"`` (the real bitstream) or ``"bpp_estimated"`` (the likelihood estimate; labels
    then say "estimated bpp", and methods without an estimate, such as classical codecs, are left out).
    """
    from .. import codecs
    from ..results import summarize

    if rate not in RATES:
        raise ValueError(f"rate must be one of {list(RATES)}, got {rate!r}")
    if rate not in frame.columns:
        raise ValueError(f"the result rows have no {rate!r} column (columns: {', '.join(map(str, frame.columns))})")
    coverage = curve_coverage(frame)
    if "image" in frame.columns:
        frame = summarize(frame)
    classical = set(codecs.names()) | {"vtm", "vvenc"}
    curves = []
    for (method, label), group in frame.groupby(["method", "label"], sort=False):
        group = group[np.isfinite(group[rate].to_numpy(dtype=float))]
        if group.empty:  # no estimate for this method (a classical codec)
            continue
        curve_kind = kind or ("classical" if method in classical else "learned")
        ms = group["ms_ssim_db"] if "ms_ssim_db" in group else None
        covers = coverage[method, label]
        name = _labelled(label + (f" ({covers})" if covers else ""), rate)
        curves.append(Curve(name, group[rate], group["psnr"], ms, curve_kind, method, rate, covers))
    return curves


def result_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """The result columns of ``load_results`` rows (provenance left out), with the dataset's image count."""
    return frame[[*COLUMNS, *([DATASET_IMAGES] if DATASET_IMAGES in frame.columns else [])]]


def curve_coverage(frame: pd.DataFrame) -> dict[tuple[str, str], str]:
    """Per (method, label) of result rows: "" when its curve averages every image, else "n of N images".

    ``N`` is the dataset's image count where the rows carry it (``dataset_images``, from the result sets'
    meta), and at least the number of distinct images of all the rows: a curve measured on a subset
    (``--limit``, or images a codec left out) is not comparable point for point with one on all of them.
    A curve whose points average different images is no curve: ValueError naming it.
    """
    per_image = "image" in frame.columns
    counts: dict[tuple[str, str], int] = {}
    every: set[str] = set()
    for (method, label), group in frame.groupby(["method", "label"], sort=False):
        if per_image:
            sets = {frozenset(points["image"].astype(str)) for _, points in group.groupby("quality", dropna=False)}
            sizes = sorted(len(images) for images in sets)
            every.update(*sets)
        else:
            sizes = sorted(set(group["images"].astype(int))) if "images" in group else [0]
        if len(sets if per_image else sizes) > 1:
            raise ValueError(
                f"curve {label!r} averages different images at different qualities ({min(sizes)} to "
                f"{max(sizes)} images): measure every quality on the same images, or plot the sets apart"
            )
        counts[method, label] = sizes[0]
    known = pd.to_numeric(frame[DATASET_IMAGES], errors="coerce").max() if DATASET_IMAGES in frame else math.nan
    total = max([len(every), *counts.values(), *([int(known)] if math.isfinite(known) else [])])
    return {key: f"{n} of {total} images" if 0 < n < total else "" for key, n in counts.items()}


def published_rate(note: str) -> str:
    """The rate of published points from their ``note``: "bpp_estimated" where it says the rate is estimated."""
    return "bpp_estimated" if re.search(r"\bbpp estimated\b|\bestimated bpp\b", str(note)) else "bpp"


def curves_from_published(frame: pd.DataFrame) -> list[Curve]:
    """Curves from ``ndic.published.load()`` rows (or a subset of them), drawn as hollow markers.

    Points whose ``note`` says the rate is estimated from likelihoods (NDIC-CAM's, as transcribed by
    acnagle/neural-dsc) become ``rate="bpp_estimated"`` curves whose label says "estimated bpp".
    """
    curves = []
    for label, group in frame.groupby("label", sort=False):
        rate = published_rate(group["note"].iloc[0]) if "note" in group else "bpp"
        method = group["method"].iloc[0]
        curves.append(
            Curve(_labelled(label, rate), group["bpp"], group["psnr"], group["ms_ssim_db"], "published", method, rate)
        )
    return curves


def _line_style(curve: Curve) -> dict:
    style = dict(LINE[curve.kind])
    if curve.rate == "bpp_estimated" and curve.kind != "published":  # published: hollow and dotted already
        style.update(linestyle="--", markerfacecolor="none")
    return style


def _rate_axis_label(curves: Sequence[Curve]) -> str:
    rates = {curve.rate for curve in curves}
    if len(rates) == 1:
        return RATES[rates.pop()]
    return f"bits per pixel (real bytes; {ESTIMATED} where the legend says)"


def rd(
    curves: Iterable[Curve],
    metrics: Sequence[str] = ("psnr", "ms_ssim_db"),
    path: str | os.PathLike | None = None,
    title: str | None = None,
    xlim: tuple[float, float] | None = None,
) -> Figure:
    """Quality against bpp, one panel per metric; saved as ``path``.png and ``path``.svg when given."""
    curves = list(curves)
    if not curves:
        raise ValueError("no curves to plot")
    metrics = [metrics] if isinstance(metrics, str) else list(metrics)
    with rc_context(STYLE):
        figure = Figure(figsize=(5.2 * len(metrics), 4.0), layout="constrained")
        axes = figure.subplots(1, len(metrics), squeeze=False)[0]
        for ax, metric in zip(axes, metrics, strict=True):
            visible = []  # quality values inside xlim, to fit the y axis to what is shown
            for curve in curves:
                values = curve.values(metric)
                if values is None:
                    continue
                ax.plot(curve.bpp, values, color=color(curve.method), label=curve.label, **_line_style(curve))
                inside = (curve.bpp >= xlim[0]) & (curve.bpp <= xlim[1]) if xlim else np.isfinite(values)
                visible.extend(values[inside & np.isfinite(values)])
            if not visible:
                ax.text(0.5, 0.5, f"no {METRIC_LABELS[metric]} values", ha="center", transform=ax.transAxes)
            ax.set_xlabel(_rate_axis_label(curves))
            ax.set_ylabel(METRIC_LABELS[metric])
            if xlim:
                ax.set_xlim(*xlim)
                if visible:
                    margin = 0.04 * (max(visible) - min(visible)) + 0.1
                    ax.set_ylim(min(visible) - margin, max(visible) + margin)
            ax.legend(loc="lower right")
        if title:
            figure.suptitle(title)
        if path is not None:
            save(figure, path)
    return figure


def save(figure: Figure, path: str | os.PathLike) -> tuple[Path, Path]:
    """Write ``path``.png (150 dpi) and ``path``.svg atomically; returns both paths."""
    stem = Path(path)
    stem = stem.with_suffix("") if stem.suffix.lower() in (".png", ".svg") else stem
    written = []
    for suffix, options in ((".png", {"dpi": 150}), (".svg", {"metadata": {"Date": None}})):
        buffer = io.BytesIO()
        with rc_context(STYLE):
            figure.savefig(buffer, format=suffix[1:], **options)
        written.append(atomic_write_bytes(stem.with_suffix(suffix), buffer.getvalue()))
    return written[0], written[1]


def published_curves(dataset: str, methods: Sequence[str] | None = None) -> list:
    """The published curves of ``dataset`` (``ndic.published``) as plot curves; [] when none exist."""
    from .. import published

    try:
        points = published.load(dataset)
    except ValueError:
        return []
    if methods is not None:
        points = points[points["method"].isin(methods)]
    return curves_from_published(points)


def rd_figure(
    frame: pd.DataFrame,
    dataset: str,
    published: Sequence[str] | None = None,
    max_bpp: float | None = None,
    path: str | os.PathLike | None = None,
) -> Figure:
    """RD curves (PSNR and MS-SSIM dB) of every method in ``frame`` on ``dataset``, with the published
    curves of that dataset (``published``: method names to keep; None: all), titled with the origin of
    the rows, one legend for both panels. ``max_bpp`` limits the rate axis (the quality axes follow);
    ``path``: also saved as PNG and SVG."""

    rows = frame[frame["dataset"] == dataset]
    if rows.empty:
        present = sorted(frame["dataset"].astype(str).unique())
        raise ValueError(f"no result rows for dataset {dataset!r}; datasets present: {present}")
    curves = curves_from_results(result_columns(rows)) + published_curves(dataset, published)
    xlim = (0.0, float(max_bpp)) if max_bpp else None
    figure = restyle(rd(curves, title=f"{dataset}: {describe_curves(curves, rows['profile'])}", xlim=xlim), curves)
    handles: dict[str, Any] = {}
    for ax in figure.axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, handle)
        if ax.get_legend() is not None:
            ax.get_legend().remove()
    columns = 3
    figure.set_size_inches(figure.get_figwidth(), figure.get_figheight() + 0.2 * math.ceil(len(handles) / columns))
    figure.legend(
        handles.values(), handles.keys(), loc="outside lower center", ncols=columns, fontsize=8, frameon=False
    )
    if path is not None:
        save(figure, path)
    return figure


def rate_comparison_figure(
    frame: pd.DataFrame,
    metrics: Sequence[str] = ("psnr", "ms_ssim_db"),
    path: str | os.PathLike | None = None,
    title: str | None = None,
) -> Figure:
    """Real and estimated bpp of the same evaluated points, side by side, for every learned model in ``frame``.

    ``frame``: result rows (``ndic.evaluate``, per image or summarised) with ``bpp`` and ``bpp_estimated``.
    Each model is drawn twice in its colour: solid on the real bitstream's bytes, dashed and hollow on
    the likelihood estimate that NDIC-CAM's paper plots. The quality of a point is the same on both, so
    the horizontal gap is the coder's overhead. Rows without an estimate (classical codecs) are left out.
    """
    estimated = curves_from_results(frame, rate="bpp_estimated")
    if not estimated:
        raise ValueError("no row has a bpp_estimated value: only learned models' evaluations carry the estimate")
    methods = {(curve.method, curve.label.removesuffix(f" ({ESTIMATED})")) for curve in estimated}
    real = [c for c in curves_from_results(frame) if (c.method, c.label) in methods]
    curves = [curve for pair in zip(real, estimated, strict=True) for curve in pair]
    return rd(curves, metrics, path, title or "real bitstream vs likelihood estimate (same points)")
