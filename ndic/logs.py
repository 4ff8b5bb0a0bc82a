"""The logs of a training run folder and the feedback of a long run, written while it trains.

``train_log.csv`` holds one row per ``log_every`` steps (:data:`STEP_COLUMNS`), ``val_log.csv`` one row
per validation (:data:`VAL_COLUMNS`). A resumed run drops the rows after its checkpoint's step, so the
logs of a resumed run equal those of an uninterrupted one. :class:`TensorBoardLog` writes the same
scalars as TensorBoard event files under ``tb/`` (``tensorboard --logdir runs``), a resumed run purging
the events after its step as well.

:class:`Progress` shows how far a run is wherever it runs: a bar in a terminal (tqdm), a widget bar in a
notebook open in JupyterLab (tqdm.auto with ipywidgets), and, when standard output is not a terminal
(papermill, the book's execution, a batch job's ``> log``), plain lines at intervals with step, loss, bpp,
PSNR, images/s and the time left, which a log file keeps readable where a bar's carriage returns would not.
"""

from __future__ import annotations

import csv
import io
import math
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

import pandas as pd

from .io import atomic_write_text

STEP_COLUMNS = ["step", "epoch", "loss", "bpp_loss", "bpp", "distortion", "mse", "psnr", "ms_ssim", "aux_loss",
                "lr", "images_per_s"]  # fmt: skip
VAL_COLUMNS = ["step", "epoch", "loss", "bpp_loss", "bpp", "distortion", "mse", "psnr", "ms_ssim", "lr", "images"]


class CsvLog:
    """A CSV file appended to row by row (on rank 0); rows after a resumed step are dropped."""

    def __init__(self, path: Path, columns: list[str], enabled: bool = True) -> None:
        self.path, self.columns, self.enabled = path, columns, enabled

    def reset(self) -> None:
        """Forget the rows of an earlier run in the same folder (a run that does not resume starts anew)."""
        if self.enabled:
            self.path.unlink(missing_ok=True)

    def truncate_after(self, step: int) -> None:
        if not self.enabled or not self.path.exists():
            return
        with open(self.path, newline="") as f:
            rows = [r for r in csv.DictReader(f) if int(r["step"]) <= step]
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=self.columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
        atomic_write_text(self.path, text.getvalue())

    def write(self, row: dict[str, Any]) -> None:
        if not self.enabled:
            return
        new = not self.path.exists()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=self.columns, extrasaction="ignore")
            if new:
                writer.writeheader()
            writer.writerow({k: _fmt(v) for k, v in row.items()})


def _fmt(value: Any) -> Any:
    return f"{value:.8g}" if isinstance(value, float) else value


def read_logs(out_dir: str | os.PathLike) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(step log, validation log) of a run folder (empty frames when absent)."""
    out_dir = Path(out_dir)
    logs = []
    for name in ("train_log.csv", "val_log.csv"):
        path = out_dir / name
        logs.append(pd.read_csv(path) if path.is_file() and path.stat().st_size else pd.DataFrame())
    return logs[0], logs[1]


# ---------------------------------------------------------------------------- TensorBoard
class TensorBoardLog:
    """The scalars of the CSV logs as TensorBoard event files in ``folder`` (rank 0; created on first write).

    ``torch.utils.tensorboard`` needs the ``tensorboard`` package (pinned with the project).
    """

    def __init__(self, folder: Path, enabled: bool = True) -> None:
        self.folder, self.enabled = folder, enabled
        self._writer = None
        self._purge_step: int | None = None

    def reset(self) -> None:
        """Remove the event files of an earlier run in the same folder (a run that does not resume starts anew)."""
        if self.enabled and self.folder.is_dir():
            for path in self.folder.glob("events.out.tfevents.*"):
                path.unlink(missing_ok=True)

    def truncate_after(self, step: int) -> None:
        """A resumed run: TensorBoard hides the earlier events after ``step`` (``purge_step``)."""
        self._purge_step = step + 1

    def write(self, group: str, row: dict[str, Any]) -> None:
        """Every finite number of ``row`` but its step and epoch, as ``<group>/<name>`` at ``row["step"]``."""
        if not self.enabled:
            return
        if self._writer is None:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(str(self.folder), purge_step=self._purge_step)
        for name, value in row.items():
            if name not in ("step", "epoch") and isinstance(value, (int, float)) and math.isfinite(value):
                self._writer.add_scalar(f"{group}/{name}", value, int(row["step"]))

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


# ---------------------------------------------------------------------------- progress
def live_notebook() -> bool:
    """Whether this runs in a notebook open in a Jupyter server (JupyterLab, Notebook), where a widget bar shows.

    A Jupyter kernel (tqdm.auto's test) that a server started (``JPY_SESSION_NAME``): papermill and the book's
    execution start kernels without a server, and keep a widget only as state that needs a CDN's JavaScript.
    """
    return "ipykernel.zmqshell" in sys.modules and bool(os.environ.get("JPY_SESSION_NAME"))


def is_terminal(stream: Any) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except (OSError, ValueError):  # a closed stream
        return False


def duration(seconds: float) -> str:
    """``"42 s"``, ``"3 min 05 s"``, ``"2 h 07 min"``."""
    if not math.isfinite(seconds):
        return "unknown"
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


class Progress:
    """How far a loop of ``total`` steps is: a bar where one can be redrawn, plain lines where it cannot.

    A bar (tqdm.auto: a widget in a notebook) when standard error is a terminal or in a live notebook
    (:func:`live_notebook`). Elsewhere, when ``stream`` is not a terminal (papermill, the book's execution, a
    batch job's ``> log``), plain lines: at the first step, after every ``every_fraction`` of the steps (but
    not within ``min_seconds`` of the last line), at least every ``every_seconds``, and at the last step.
    ``enabled=False`` shows nothing.
    """

    def __init__(
        self,
        total: int,
        initial: int = 0,
        description: str = "",
        enabled: bool = True,
        stream: TextIO | None = None,
        every_fraction: float = 0.1,
        every_seconds: float = 60.0,
        min_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total, self.step, self.description = total, initial, description
        self.stream = stream or sys.stdout
        self.every_steps = max(1, math.ceil(total * every_fraction))
        self.every_seconds, self.min_seconds, self.clock = every_seconds, min_seconds, clock
        live = live_notebook()
        self.plain = enabled and not live and not is_terminal(self.stream)
        self.bar = None
        if enabled and (live or is_terminal(sys.stderr)):
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, initial=initial, desc=description, unit="step", dynamic_ncols=True)
        self._start, self._first, self._images = clock(), initial, 0
        self._last_line: tuple[int, float] | None = None

    def update(self, metrics: dict[str, Any], images: int = 0) -> None:
        """One step done; ``metrics``: loss, bpp, psnr (and epoch) of the step; ``images``: how many it trained on."""
        self.step += 1
        self._images += images
        now = self.clock()
        if self.bar is not None:
            self.bar.update(1)
            shown = {"loss": f"{metrics['loss']:.4g}", "bpp": f"{metrics['bpp']:.3f}", "psnr": f"{metrics['psnr']:.2f}"}
            self.bar.set_postfix(shown, img_s=f"{self._rate(now, self._images):.1f}")
        if self.plain and self._line_due(now):
            self._last_line = (self.step, now)
            print(self.line(metrics, now), file=self.stream, flush=True)

    def _line_due(self, now: float) -> bool:
        if self._last_line is None or self.step >= self.total:
            return True
        step, at = self._last_line
        return now - at >= self.every_seconds or (self.step - step >= self.every_steps and now - at >= self.min_seconds)

    def _rate(self, now: float, count: float) -> float:
        elapsed = now - self._start
        return count / elapsed if elapsed > 0 else math.nan

    def line(self, metrics: dict[str, Any], now: float | None = None) -> str:
        """``<description>: step 30/100 (30%), epoch 0: loss 0.041, bpp 0.532, PSNR 24.31 dB, 5.1 images/s,
        ETA 1 min 12 s``."""
        now = self.clock() if now is None else now
        steps_per_s = self._rate(now, self.step - self._first)
        eta = (self.total - self.step) / steps_per_s if steps_per_s > 0 else math.nan
        where = f"step {self.step}/{self.total} ({100 * self.step / max(self.total, 1):.0f}%)"
        if "epoch" in metrics:
            where += f", epoch {metrics['epoch']}"
        return (
            f"{self.description + ': ' if self.description else ''}{where}: loss {metrics['loss']:.4g}, "
            f"bpp {metrics['bpp']:.3f}, PSNR {metrics['psnr']:.2f} dB, {self._rate(now, self._images):.1f} images/s, "
            f"ETA {duration(eta)}"
        )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
