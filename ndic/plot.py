"""Rate-distortion figures and BD tables in one style for the whole book.

- learned models (trained or evaluated here): solid lines with filled markers;
- classical codecs run here: dashed lines with small markers;
- published points (``ndic.published``): hollow markers on a thin dotted line.

A method keeps its colour in every figure (``STF`` here and ``STF, published`` share it, told apart
by the marker fill). ``rd`` draws PSNR and/or MS-SSIM (dB) against bpp and saves PNG + SVG;
``bd_table`` gives the BD-rate / BD-quality of each curve against a reference as a DataFrame.
"""

from __future__ import annotations

import io
import math
import os
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import rc_context
from matplotlib.figure import Figure

from .bd import bd_quality, bd_rate
from .io import atomic_write_bytes

KINDS = ("learned", "classical", "published")
METRIC_LABELS = {"psnr": "PSNR (dB)", "ms_ssim_db": "MS-SSIM (dB)"}

# colour-blind-safe colours (Okabe-Ito, Tol), fixed per method across the book
COLORS = {
    "stf": "#0072B2",
    "wacnn": "#009E73",
    "cnn": "#009E73",
    "bls17": "#56B4E9",
    "bmshj2018-factorized": "#56B4E9",
    "bmshj18": "#E69F00",
    "bmshj2018-hyperprior": "#E69F00",
    "ndic_bls17": "#CC79A7",
    "ndic_bmshj18": "#D55E00",
    "cross_attention": "#000000",
    "mbt2018": "#999933",
    "cheng2020-anchor": "#882255",
    "bpg": "#6E6E6E",
    "vtm": "#332288",
    "vvenc": "#5D4FB3",
    "vvc": "#5D4FB3",
    "jpeg": "#AA4499",
    "jpeg2000": "#44AA99",
    "webp": "#DDAA33",
    "avif": "#117733",
    "jpegxl": "#88CCEE",
}
_FALLBACK = ["#1B9E77", "#D95F02", "#7570B3", "#E7298A", "#66A61E", "#E6AB02", "#A6761D", "#666666"]

STYLE = {
    "font.size": 10,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linestyle": "-",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.fontsize": 8,
    "legend.frameon": False,
    "svg.hashsalt": "ndic",  # reproducible SVG ids
    "svg.fonttype": "none",
}
LINE = {
    "learned": {"linestyle": "-", "marker": "o", "markersize": 4, "linewidth": 1.8},
    "classical": {"linestyle": "--", "marker": "s", "markersize": 3, "linewidth": 1.4},
    "published": {"linestyle": ":", "marker": "o", "markersize": 5, "linewidth": 1.0, "markerfacecolor": "none"},
}


@dataclass
class Curve:
    """One RD curve: mean bpp and quality per operating point."""

    label: str
    bpp: Sequence[float]
    psnr: Sequence[float] | None = None
    ms_ssim_db: Sequence[float] | None = None
    kind: str = "learned"
    method: str = ""

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"curve {self.label!r}: kind must be one of {KINDS}, got {self.kind!r}")
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


def color(method: str) -> str:
    """The method's colour in every figure (a stable fallback for methods not listed)."""
    return COLORS.get(method.lower(), _FALLBACK[zlib.crc32(method.encode()) % len(_FALLBACK)])


def curves_from_results(frame: pd.DataFrame, kind: str | None = None) -> list[Curve]:
    """Curves from result rows (``ndic.results``, per image or summarised): one per (method, label).

    ``kind`` defaults to "classical" for codec names (``ndic.codecs``) and "learned" otherwise.
    """
    from . import codecs
    from .results import summarize

    if "image" in frame.columns:
        frame = summarize(frame)
    classical = set(codecs.names()) | {"vtm", "vvenc"}
    curves = []
    for (method, label), group in frame.groupby(["method", "label"], sort=False):
        curve_kind = kind or ("classical" if method in classical else "learned")
        ms = group["ms_ssim_db"] if "ms_ssim_db" in group else None
        curves.append(Curve(label, group["bpp"], group["psnr"], ms, curve_kind, method))
    return curves


def curves_from_published(frame: pd.DataFrame) -> list[Curve]:
    """Curves from ``ndic.published.load()`` rows (or a subset of them), drawn as hollow markers."""
    curves = []
    for label, group in frame.groupby("label", sort=False):
        curves.append(
            Curve(label, group["bpp"], group["psnr"], group["ms_ssim_db"], "published", group["method"].iloc[0])
        )
    return curves


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
                ax.plot(curve.bpp, values, color=color(curve.method), label=curve.label, **LINE[curve.kind])
                inside = (curve.bpp >= xlim[0]) & (curve.bpp <= xlim[1]) if xlim else np.isfinite(values)
                visible.extend(values[inside & np.isfinite(values)])
            if not visible:
                ax.text(0.5, 0.5, f"no {METRIC_LABELS[metric]} values", ha="center", transform=ax.transAxes)
            ax.set_xlabel("bits per pixel (bpp)")
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


def bd_table(
    curves: Iterable[Curve],
    reference: Curve | str,
    metric: str = "psnr",
    methods: Sequence[str] = ("cubic", "pchip"),
) -> pd.DataFrame:
    """BD-rate (%) and BD-quality (dB) of every curve against ``reference`` (a curve or a label).

    Curves that cannot be compared (too few points, no overlap, no ``metric`` values) get NaN and a
    ``note`` saying why.
    """
    curves = list(curves)
    if isinstance(reference, str):
        matches = [c for c in curves if c.label == reference]
        if not matches:
            raise ValueError(f"reference {reference!r} is not among the curves: {[c.label for c in curves]}")
        reference = matches[0]
    ref_values = reference.values(metric)
    if ref_values is None:
        raise ValueError(f"reference {reference.label!r} has no {metric} values")
    quality = "PSNR" if metric == "psnr" else "MS-SSIM"
    rows = []
    for curve in curves:
        if curve is reference or curve.label == reference.label:
            continue
        row, notes = {"curve": curve.label, "kind": curve.kind}, []
        for method in methods:
            rate_key, quality_key = f"BD-rate {method} (%)", f"BD-{quality} {method} (dB)"
            try:
                values = curve.values(metric)
                if values is None:
                    raise ValueError(f"no {metric} values")
                args = (reference.bpp, ref_values, curve.bpp, values)
                row[rate_key], row[quality_key] = bd_rate(*args, method=method), bd_quality(*args, method=method)
            except ValueError as reason:
                row[rate_key] = row[quality_key] = math.nan
                notes.append(f"{method}: {reason}")
        row["note"] = "; ".join(dict.fromkeys(notes))
        rows.append(row)
    table = pd.DataFrame(rows).set_index("curve") if rows else pd.DataFrame()
    table.attrs.update({"reference": reference.label, "metric": metric})
    return table
