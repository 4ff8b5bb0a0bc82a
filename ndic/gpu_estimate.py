"""A GPU-hour estimate from counted operations, for sweeps planned before any GPU step was timed.

``benchmarks/bench_flops.py`` counts the floating-point operations of one training image of every model
(``benchmarks/results/flops.csv``); a training step costs about three forward passes times the batch. At
an assumed sustained rate (:data:`ASSUMED_TFLOPS`, of the order a current data-centre GPU sustains on
convolutional training with mixed precision) that gives hours. It is an estimate, labelled as one: a step
time measured on your GPU (``bench_train.py --device cuda`` or ``sweep --seconds-per-step``) replaces it,
and at small batches (NDIC-CAM trains with batch 1) a GPU runs far below that rate, so the figure is then
a lower bound.
"""

from __future__ import annotations

import csv
from pathlib import Path

ASSUMED_TFLOPS = 20.0  # sustained, per GPU; an assumption, printed with every estimate
FLOPS_FILE = Path("benchmarks") / "results" / "flops.csv"
SMALL_BATCH = 8  # below this, the estimate is a lower bound


def forward_gflop(model: str, path: str | Path | None = None) -> float | None:
    """GFLOP of one training-mode forward pass of one image of ``model`` (None when not counted)."""
    from .paths import project_root

    path = Path(path) if path is not None else project_root() / FLOPS_FILE
    if not path.is_file():
        return None
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            if row["model"] == model:
                return float(row["forward_gflop_per_image"])
    return None


def gpu_hours(model: str, steps: int, batch: int, path: str | Path | None = None) -> str | None:
    """The estimate in words ("about N GPU-hours (...)"), or None when the model's operations were not counted."""
    gflop = forward_gflop(model, path)
    if gflop is None or not steps:
        return None
    hours = steps * batch * 3 * gflop * 1e9 / (ASSUMED_TFLOPS * 1e12) / 3600
    bound = "at least " if batch < SMALL_BATCH else "about "
    return (
        f"{bound}{hours:,.0f} GPU-hours from counted operations ({steps:,} steps x {batch} images x 3 x "
        f"{gflop:.1f} GFLOP at an assumed {ASSUMED_TFLOPS:g} TFLOP/s sustained"
        + ("; a GPU runs far below that at this batch" if batch < SMALL_BATCH else "")
        + ")"
    )
