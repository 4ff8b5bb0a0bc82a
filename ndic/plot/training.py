"""Training curves of a run folder (loss, estimated bpp and PSNR against the step), and the validation curves
of several runs side by side."""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np
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


def plot_validation(runs: Mapping[str, str | os.PathLike], title: str = "") -> Figure:
    """Validation curves of several runs on shared axes (one line per run, its label the key of ``runs``):
    estimated bpp, MS-SSIM in dB and PSNR against the step. A run without a validation log is left out."""
    panels = [("bpp", "estimated bpp (likelihoods)"), ("ms_ssim_db", "MS-SSIM (dB)"), ("psnr", "PSNR (dB)")]
    with rc_context(STYLE):
        figure = Figure(figsize=(10, 2.8), layout="constrained")
        axes = figure.subplots(1, 3)
        for label, folder in runs.items():
            val_log = read_logs(folder)[1]
            if val_log.empty:
                continue
            val_log = val_log.assign(ms_ssim_db=-10 * np.log10(1 - val_log["ms_ssim"].clip(upper=1 - 1e-12)))
            for ax, (column, _) in zip(axes, panels, strict=True):
                ax.plot(val_log["step"], val_log[column], "o-", ms=3, lw=1.2, label=label)
        for ax, (_, name) in zip(axes, panels, strict=True):
            ax.set_xlabel("step")
            ax.set_ylabel(name)
            ax.grid(alpha=0.3)
        if axes[0].lines:
            axes[0].legend(fontsize=8, frameon=False)
        if title:
            figure.suptitle(title)
    return figure
