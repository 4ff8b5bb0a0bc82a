"""The CSV logs of a training run folder: written row by row while training, read back for plots.

``train_log.csv`` holds one row per ``log_every`` steps (:data:`STEP_COLUMNS`), ``val_log.csv`` one row
per validation (:data:`VAL_COLUMNS`). A resumed run drops the rows after its checkpoint's step, so the
logs of a resumed run equal those of an uninterrupted one.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Any

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
