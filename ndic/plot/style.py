"""One look for every figure of the book: a colour and a marker per method, line styles per kind of
curve and per training objective, fonts, resolution.

- learned models (trained or evaluated here): solid lines with filled markers;
- classical codecs run here: dashed lines with small markers;
- published points (``ndic.published``): hollow markers on a thin dotted line;
- curves of models trained for MS-SSIM (label naming MS-SSIM): dash-dotted, half-filled markers, so an
  MS-SSIM variant never looks like the MSE curve of the same method.

A method keeps its colour and marker in every figure (``STF`` here and ``STF, published`` share them,
told apart by the marker fill and the line). :func:`line_style` gives a curve's whole style;
:func:`restyle` applies it to the lines of a drawn figure; :func:`describe_curves` says in a title
what a figure plots.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from typing import Any

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
    # high-DPI PNGs (the book scales them to its column; the SVG is the exact version)
    "figure.dpi": 200,
    "savefig.dpi": 200,
}
# smaller fonts for the pictures of the notebooks (images, maps, training curves, timings)
FIGURE_STYLE = {"font.size": 9, "axes.titlesize": 9, "figure.titlesize": 10}
LINE = {
    "learned": {"linestyle": "-", "marker": "o", "markersize": 4, "linewidth": 1.8},
    "classical": {"linestyle": "--", "marker": "s", "markersize": 4, "linewidth": 1.4},
    "published": {"linestyle": ":", "marker": "o", "markersize": 5, "linewidth": 1.0, "markerfacecolor": "none"},
}


def color(method: str) -> str:
    """The method's colour in every figure (a stable fallback for methods not listed)."""
    return COLORS.get(method.lower(), _FALLBACK[zlib.crc32(method.encode()) % len(_FALLBACK)])


# one marker per method (a method and its published points share it; colour alone is not enough in
# print or for colour-blind readers)
MARKERS = {
    "stf": "^",
    "wacnn": "D",
    "cnn": "D",
    "bls17": "o",
    "bmshj2018-factorized": "o",
    "bmshj18": "s",
    "bmshj2018-hyperprior": "s",
    "balle2018": "s",
    "ndic_bls17": "P",
    "ndic_bmshj18": "X",
    "cross_attention": "*",
    "mbt2018": "p",
    "cheng2020-anchor": "h",
    "bpg": "v",
    "vtm": "<",
    "vvenc": ">",
    "vvc": ">",
    "jpeg": "x",
    "jpeg2000": "*",
    "webp": "s",
    "avif": "d",
    "jpegxl": "P",
}
_FALLBACK_MARKERS = ["o", "s", "^", "v", "D", "P", "X", "*", "h", "<", ">"]
# line style per training objective; MSE keeps the style of its kind (LINE)
OBJECTIVE_LINESTYLES = {"ms-ssim": "-."}


def marker(method: str) -> str:
    """The method's marker in every figure (a stable fallback for methods not listed)."""
    return MARKERS.get(method.lower(), _FALLBACK_MARKERS[zlib.crc32(method.encode()) % len(_FALLBACK_MARKERS)])


def objective(label: str) -> str:
    """The training objective a curve's label names: "ms-ssim" or "mse" (the default)."""
    text = label.lower().replace("_", "-")
    return "ms-ssim" if "ms-ssim" in text or "msssim" in text else "mse"


def line_style(curve: Any) -> dict[str, Any]:
    """Keyword arguments of ``Axes.plot`` for a curve (anything with ``kind``, ``method`` and ``label``)."""
    style = dict(LINE[curve.kind], color=color(curve.method), marker=marker(curve.method))
    if objective(curve.label) in OBJECTIVE_LINESTYLES:
        style["linestyle"] = OBJECTIVE_LINESTYLES[objective(curve.label)]
        style.update(fillstyle="bottom", markerfacecolor=style["color"], markerfacecoloralt="white")
    return style


def restyle(figure: Any, curves: Iterable[Any]) -> Any:
    """Give every line of ``figure`` labelled like one of ``curves`` that curve's :func:`line_style`, and
    redraw the axes' legends with the new styles; returns ``figure``."""
    styles = {curve.label: line_style(curve) for curve in curves}
    for ax in figure.axes:
        for line in ax.get_lines():
            if line.get_label() in styles:
                line.set(**styles[line.get_label()])
        legend = ax.get_legend()
        if legend is not None:
            ax.legend(loc=legend._loc)
    return figure


def describe_curves(curves: Iterable[Any], profiles: Iterable[str] = ()) -> str:
    """What a figure of ``curves`` plots, for its title: "classical codecs run here + published points"."""
    kinds = {curve.kind for curve in curves}
    parts = [text for kind, text in _KIND_TEXT.items() if kind in kinds]
    text = " + ".join(parts) or "no curve"
    shown = {str(profile) for profile in profiles}
    if "quick" in shown:
        text += " (quick profile: not a paper reproduction)"
    elif "cpu" in shown:
        text += " (CPU-scale models: not a paper reproduction)"
    return text


_KIND_TEXT = {
    "learned": "learned models evaluated here",
    "classical": "classical codecs run here",
    "published": "published points",
}
