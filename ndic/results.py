"""Result files shared by learned-model evaluation and classical codecs.

One tidy CSV row per (method, quality point, dataset, image); the same numbers aggregated into
CompressAI's JSON layout so that curves from here and from CompressAI's published files plot
together. Every file carries its provenance (command, profile, git commit, hardware) beside it.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pandas as pd

from .io import atomic_write_text

# columns of a per-image result row, in file order
COLUMNS = [
    "method",  # registry name of a model, or codec name
    "label",  # the curve's label in plots (truthful: "VVC (vvenc 1.x, 4:2:0)", not "VTM")
    "quality",  # lambda of a learned model or the codec's quality parameter
    "dataset",
    "image",
    "height",
    "width",
    "bytes",
    "bpp",  # from the real bitstream's byte count
    "bpp_estimated",  # from likelihoods (learned models only; NaN for classical codecs)
    "psnr",  # RGB, 8-bit rounded, peak 255
    "ms_ssim",
    "ms_ssim_db",
    "encoding_time",  # seconds
    "decoding_time",
    "profile",  # "quick" or "paper"
]


def provenance(profile: str, command: str | None = None) -> dict:
    """Where a result came from: command line, profile, git commit and machine."""
    import torch

    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10
        ).stdout.strip()
        dirty = bool(
            subprocess.run(["git", "status", "--porcelain"], capture_output=True, text=True, timeout=10).stdout
        )
    except (OSError, subprocess.SubprocessError):
        commit, dirty = "", False
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    return {
        "command": command or " ".join([os.path.basename(sys.argv[0]), *sys.argv[1:]]),
        "profile": profile,
        "git_commit": commit + ("-dirty" if dirty else ""),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, {device}",
        "torch": torch.__version__,
        "python": platform.python_version(),
    }


def write_rows(rows: list[dict], path: str | os.PathLike, meta: dict | None = None) -> Path:
    """Write per-image rows as CSV (atomically) and their provenance as ``<path>.meta.json``."""
    path = Path(path)
    frame = pd.DataFrame(rows)
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"result rows lack columns {missing}")
    extra = [c for c in frame.columns if c not in COLUMNS]
    atomic_write_text(path, frame[COLUMNS + extra].to_csv(index=False))
    if meta is not None:
        atomic_write_text(path.with_suffix(".meta.json"), json.dumps(meta, indent=2) + "\n")
    return path


def read_rows(*paths: str | os.PathLike) -> pd.DataFrame:
    """Concatenate result CSVs written by :func:`write_rows`."""
    if not paths:
        raise ValueError("no result files given")
    return pd.concat([pd.read_csv(p) for p in paths], ignore_index=True)


def summarize(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean over images of every metric, one row per (method, label, dataset, quality)."""
    keys = ["method", "label", "dataset", "quality"]
    metrics = ["bpp", "bpp_estimated", "psnr", "ms_ssim", "ms_ssim_db", "encoding_time", "decoding_time"]
    # dropna=False: a quality of NaN (e.g. evaluate(quality=None)) is still a curve point
    out = frame.groupby(keys, sort=False, dropna=False)[metrics].mean().reset_index()
    out["images"] = frame.groupby(keys, sort=False, dropna=False).size().to_numpy()
    return out.sort_values(["method", "bpp"]).reset_index(drop=True)


def to_compressai_json(frame: pd.DataFrame, name: str, description: str = "") -> dict:
    """CompressAI's results layout: one list entry per quality point, ordered by rate."""
    summary = summarize(frame)
    if summary["method"].nunique() != 1 or summary["dataset"].nunique() != 1:
        raise ValueError("a CompressAI JSON file holds one method on one dataset")
    return {
        "name": name,
        "description": description,
        "results": {
            "bpp": summary["bpp"].tolist(),
            "psnr-rgb": summary["psnr"].tolist(),
            "ms-ssim-rgb": summary["ms_ssim"].tolist(),
            "encoding_time": summary["encoding_time"].tolist(),
            "decoding_time": summary["decoding_time"].tolist(),
        },
    }


def write_compressai_json(frame: pd.DataFrame, path: str | os.PathLike, name: str, description: str = "") -> Path:
    return atomic_write_text(path, json.dumps(to_compressai_json(frame, name, description), indent=2) + "\n")
