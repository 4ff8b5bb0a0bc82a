"""Floating-point operations of one training image of every model, at the papers' widths and inputs.

Counted with ``torch.utils.flop_counter.FlopCounterMode`` on a training-mode forward pass (matrix products,
convolutions and attention; element-wise work is not counted), for one image: a 128x256 stereo pair for
NDIC-CAM's models, a 256x256 crop for STF and WACNN. A training step costs about three forward passes
(the backward pass two), times the batch. ``ndic.gpu_estimate`` turns these counts into the GPU-hour
estimate that ``python -m ndic sweep --profile paper`` prints when no GPU step time was measured.

    .venv/bin/python benchmarks/bench_flops.py            # -> benchmarks/results/flops.csv
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd
import torch
from torch.utils.flop_counter import FlopCounterMode

import ndic  # noqa: F401  (the import hooks)
from ndic import models
from ndic.io import atomic_write_text
from ndic.results import machine_info

ROOT = Path(__file__).resolve().parents[1]


def forward_flops(name: str) -> tuple[int, str]:
    """FLOPs of one training-mode forward pass of ``name`` at its paper width, and the input it took."""
    model = models.build(name).train()
    if model.recipe == "ndic_cam":
        x, side, size = torch.rand(1, 3, 128, 256), torch.rand(1, 3, 128, 256), "128x256 pair"
    else:
        x, side, size = torch.rand(1, 3, 256, 256), None, "256x256 crop"
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(x, side) if model.distributed else model(x)
    return int(counter.get_total_flops()), size


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=None, help="comma-separated names (default: all)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "flops.csv")
    args = parser.parse_args(argv)
    names = args.models.split(",") if args.models else models.names()
    rows = []
    for name in names:
        flops, size = forward_flops(name)
        rows.append({"model": name, "input": size, "forward_gflop_per_image": flops / 1e9})
        print(f"{name}: {flops / 1e9:.1f} GFLOP per {size} (forward)", file=sys.stderr)
    atomic_write_text(args.out, pd.DataFrame(rows).to_csv(index=False, float_format="%.3f"))
    meta = {
        **machine_info("cpu", "paper"),
        "counter": "torch.utils.flop_counter.FlopCounterMode, training-mode forward",
    }
    atomic_write_text(args.out.with_suffix(".meta.json"), json.dumps(meta, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
