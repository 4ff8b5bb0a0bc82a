"""Can the data pipeline keep a training step fed? Pairs (images) per second per DataLoader worker.

Measured in one process and one thread, which is what one DataLoader worker is:

- ``kitti pair``: NDIC-CAM's training input: both PNGs of a KITTI stereo pair decoded
  (``ndic.data.read_rgb``), centre-cropped to 370x740 and resized to 128x256 (``PairTransform``), the sample
  pairs of ``../shared/data/kitti_samples`` in turn; its peer, measured in the same rounds, is decoding the two
  PNGs alone (the transform's share is the ratio);
- ``stf crop``: STF/WACNN's input, a random 256x256 crop of a decoded image (``ImageTransform``; Kodak PNGs
  stand in for their training sets' images; same peer: decoding alone).

Ratios are within each round (median, min, max over ``--repeats``). Then, for every model of
``benchmarks/results/train.csv`` (its step times), the DataLoader workers a step needs: batch / step time /
(items per second per worker), rounded up. CPU step times there are measured; GPU steps are not measured
here (no GPU on this machine): for them the CSV gives the step time one worker can feed (batch / rate), and a
GPU step shorter than that needs ``ceil(that / step)`` workers.

    .venv/bin/python benchmarks/bench_data.py                 # -> results/data.csv
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

import ndic  # noqa: F401  (first: its _compat shim must run before compressai)

# isort: split
import pandas as pd
import torch

from ndic.data.decode import read_rgb
from ndic.data.transforms import ImageTransform, PairTransform
from ndic.io import atomic_write_text
from ndic.results import machine_info

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
RECIPE_INPUT = {"ndic_cam": "kitti pair", "stf": "stf crop"}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds (median and spread; default 5)")
    parser.add_argument("--data", type=Path, default=DATA, help="folder with kitti_samples/ and kodak/")
    parser.add_argument("--train", type=Path, default=ROOT / "benchmarks" / "results" / "train.csv")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "data.csv")
    return parser.parse_args(argv)


def kitti_pairs(root: Path) -> list[tuple[Path, Path]]:
    left = sorted((root / "kitti_samples" / "color" / "image_2").glob("*.png"))
    return [(path, path.parents[1] / "image_3" / path.name) for path in left]


def per_second(items: int, fn) -> float:
    start = time.perf_counter()
    fn()
    return items / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(1)  # one DataLoader worker
    pairs = kitti_pairs(args.data)
    kodak = sorted((args.data / "kodak").glob("*.png"))[:4]
    if not pairs or not kodak:
        raise SystemExit(f"bench_data: needs {args.data}/kitti_samples and {args.data}/kodak")
    pair_transform, crop = PairTransform((128, 256), crop="kitti"), ImageTransform(None, 256, train=True)
    cases = {
        "kitti pair": lambda: [pair_transform(read_rgb(a), read_rgb(b)) for a, b in pairs],
        "kitti pair, decode only": lambda: [(read_rgb(a), read_rgb(b)) for a, b in pairs],
        "stf crop": lambda: [crop(read_rgb(p)) for p in kodak],
        "stf crop, decode only": lambda: [read_rgb(p) for p in kodak],
    }
    counts = {"kitti pair": len(pairs), "stf crop": len(kodak)}
    rates: dict[str, list[float]] = {key: [] for key in cases}
    for fn in cases.values():  # warm-up: imports and first-call costs
        fn()
    for round_ in range(args.repeats):
        for key in list(cases)[round_ % 2 :] + list(cases)[: round_ % 2]:
            rates[key].append(per_second(counts[key.split(",")[0]], cases[key]))
    machine = machine_info("cpu", "paper")
    rows = []
    for item in ("kitti pair", "stf crop"):
        ratios = [p / s for s, p in zip(rates[item], rates[f"{item}, decode only"], strict=True)]  # time ratio
        rows.append(
            {
                "measure": f"{item}: items/s per worker",
                "value": statistics.median(rates[item]),
                "value_min": min(rates[item]),
                "value_max": max(rates[item]),
                "peer": "decode only (items/s)",
                "peer_value": statistics.median(rates[f"{item}, decode only"]),
                "ratio_to_peer_median": statistics.median(ratios),
                "ratio_to_peer_min": min(ratios),
                "ratio_to_peer_max": max(ratios),
                "note": "time with the transform / decoding alone",
                **machine,
            }
        )
    train = pd.read_csv(args.train) if args.train.is_file() else pd.DataFrame()
    for step in train.itertuples():
        item = RECIPE_INPUT.get(step.recipe, "kitti pair")
        rate = statistics.median(rates[item])
        measured = str(step.device).startswith("cpu")
        rows.append(
            {
                "measure": f"workers for a {step.device} step of {step.model} (batch {step.batch})",
                "value": math.ceil(step.batch / step.step_s / rate) if measured else math.nan,
                "peer": f"{item} items/s per worker",
                "peer_value": rate,
                "step_s": step.step_s if measured else math.nan,
                "step_s_one_worker_feeds": step.batch / rate,
                "note": "from train.csv's measured step" if measured else "GPU step not measured here",
                **machine,
            }
        )
    # GPU steps are not measured here: the step time one worker can feed, per recipe
    for recipe, item in RECIPE_INPUT.items():
        batch = {"ndic_cam": 1, "stf": 16}[recipe]
        rows.append(
            {
                "measure": f"GPU step of the {recipe} recipe (batch {batch}): one worker feeds steps of at least",
                "value": math.nan,
                "step_s_one_worker_feeds": batch / statistics.median(rates[item]),
                "note": "GPU steps not measured here: workers = ceil(this / the GPU step time)",
                **machine,
            }
        )
    frame = pd.DataFrame(rows)
    atomic_write_text(args.out, frame.to_csv(index=False))
    print(f"wrote {args.out}", file=sys.stderr)
    shown = ["measure", "value", "peer_value", "ratio_to_peer_median", "step_s_one_worker_feeds"]
    with pd.option_context("display.width", 220, "display.max_colwidth", 70):
        print(frame[shown].to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
