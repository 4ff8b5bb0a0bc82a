"""Training curves of a run folder: loss, estimated bpp and PSNR against the step."""

from __future__ import annotations

import os

from matplotlib import rc_context
from matplotlib.figure import Figure

from ..logs import read_logs
from .style import FIGURE_STYLE as STYLE


def plot_training(out_dir: str | os.PathLike, title: str = "") -> Figure:
    """Loss, estimated bpp and PSNR against the step, from a run's CSV logs (validation as markers)."""
    train_log, val_log = read_logs(out_dir)
    panels = [("loss", "loss"), ("bpp", "estimated bpp (likelihoods)"), ("psnr", "PSNR (dB, float images)")]
    with rc_context(STYLE):
        figure = Figure(figsize=(10, 2.8), layout="constrained")
        for ax, (column, label) in zip(figure.subplots(1, 3), panels, strict=True):
            if not train_log.empty:
                ax.plot(train_log["step"], train_log[column], lw=1, alpha=0.6, label="training batches")
            if not val_log.empty:
                ax.plot(val_log["step"], val_log[column], "o-", ms=4, label="validation")
            ax.set_xlabel("step")
            ax.set_ylabel(label)
            ax.grid(alpha=0.3)
        if figure.axes[0].lines:
            figure.axes[0].legend(fontsize=8, frameon=False)
        if title:
            figure.suptitle(title)
    return figure
