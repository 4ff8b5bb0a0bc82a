"""Figures and BD tables in one style for the whole book.

==================  ===============================================================================
module              what it draws
==================  ===============================================================================
:mod:`.style`       colours per method, line styles per kind of curve (learned, classical, published)
:mod:`.rd`          rate-distortion curves (:func:`rd`, :func:`rd_figure`), saved as PNG and SVG; real
                    against estimated bpp of the same points (:func:`rate_comparison_figure`)
:mod:`.tables`      BD-rate / BD-quality tables (:func:`bd_table`, :func:`bd_tables`, :func:`describe_bd`;
                    learned curves against classical codecs run here: :func:`bd_against_codecs`; the
                    curves left out for too few points: :func:`describe_short_curves`)
:mod:`.images`      images side by side, error maps, cross-attention maps
:mod:`.training`    training curves of a run folder; validation curves of several runs side by side
:mod:`.timings`     speed bars of models and codecs
==================  ===============================================================================
"""

from .images import error_map, plot_attention, plot_error_maps, show_images
from .rd import (
    RATES,
    Curve,
    curves_from_published,
    curves_from_results,
    published_curves,
    rate_comparison_figure,
    rd,
    rd_figure,
    save,
)
from .style import COLORS, KINDS, LINE, METRIC_LABELS, STYLE, color
from .tables import bd_against_codecs, bd_table, bd_tables, describe_bd, describe_short_curves, write_bd_rates
from .timings import plot_timings
from .training import plot_training, plot_validation

__all__ = [
    "COLORS",
    "KINDS",
    "LINE",
    "METRIC_LABELS",
    "RATES",
    "STYLE",
    "Curve",
    "bd_against_codecs",
    "bd_table",
    "bd_tables",
    "color",
    "curves_from_published",
    "curves_from_results",
    "describe_bd",
    "describe_short_curves",
    "error_map",
    "plot_attention",
    "plot_error_maps",
    "plot_timings",
    "plot_training",
    "plot_validation",
    "published_curves",
    "rate_comparison_figure",
    "rd",
    "rd_figure",
    "save",
    "show_images",
    "write_bd_rates",
]
