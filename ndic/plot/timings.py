"""Speed figures: seconds per image of models and codecs, on a log scale."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib import rc_context
from matplotlib.figure import Figure

from .style import FIGURE_STYLE as STYLE


def plot_timings(frame: pd.DataFrame, label: str, columns: Sequence[str], title: str = "", unit: str = "s") -> Figure:
    """Horizontal bars of ``columns`` per row label (log scale: models and codecs span decades)."""
    frame = frame.dropna(subset=list(columns), how="all")
    labels = frame[label].astype(str).tolist()
    height = 0.8 / len(columns)
    with rc_context(STYLE):
        figure = Figure(figsize=(7.5, 0.16 * len(labels) * len(columns) + 1.4), layout="constrained")
        ax = figure.subplots()
        positions = np.arange(len(labels))
        for i, column in enumerate(columns):
            ax.barh(positions + (i - (len(columns) - 1) / 2) * height, frame[column], height, label=column)
        ax.set_yticks(positions, labels)
        ax.invert_yaxis()
        ax.set_xscale("log")
        ax.set_xlabel(unit)
        ax.grid(alpha=0.3, axis="x")
        figure.legend(loc="outside upper center", ncols=len(columns), fontsize=8, frameon=False)
        if title:
            ax.set_title(title)
    return figure
