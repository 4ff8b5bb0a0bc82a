"""Speed of every classical codec: encode and decode time per Kodak image.

For each available codec (``ndic.codecs``), each image is coded at one quality of the codec's sweep
(``--point``: ``middle`` by default, i.e. the middle of the default sweep, around 0.3-0.7 bpp on
Kodak) and decoded; each time is the median of ``--repeats`` runs after ``--warmup`` discarded ones.
Times include what the codec really does per image: external programs (x265, ffmpeg/vvenc) are
started each time, as they are in the evaluation. Each codec runs with one thread.

Images: ``../shared/data/kodak`` (``--kodak DIR``), or scikit-image's astronaut when absent (the
CSV names what was used).

    .venv/bin/python benchmarks/bench_codecs.py                        # -> benchmarks/results/codecs.csv
    .venv/bin/python benchmarks/bench_codecs.py --codecs bpg jpeg --images 4 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

import ndic  # noqa: F401  (first: its _compat shim must run before compressai)
from ndic import codecs
from ndic.codecs.base import CodecUnavailable
from ndic.codecs.runner import DEFAULT_CODECS, load_images
from ndic.io import atomic_write_text
from ndic.metrics import bpp_from_bytes
from ndic.results import provenance

ROOT = Path(__file__).resolve().parents[1]
KODAK = ROOT.parent / "shared" / "data" / "kodak"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--codecs", nargs="+", default=list(DEFAULT_CODECS), help="codec names (default: all)")
    parser.add_argument("--kodak", type=Path, default=KODAK, help=f"image folder (default: {KODAK})")
    parser.add_argument("--images", type=int, default=None, help="first N images only (default: all)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per image (median; default 3)")
    parser.add_argument("--warmup", type=int, default=1, help="discarded runs before timing (default 1)")
    parser.add_argument("--point", choices=("lowest", "middle", "highest"), default="middle", help="sweep point")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "codecs.csv", help="CSV")
    return parser.parse_args(argv)


def images(args: argparse.Namespace) -> tuple[list[tuple[str, np.ndarray]], str]:
    if args.kodak.is_dir():
        return load_images(args.kodak, args.images), str(args.kodak)
    from skimage import data

    return [("astronaut", data.astronaut())], "scikit-image astronaut (Kodak not found)"


def timed(function, *args, repeats: int, warmup: int) -> tuple[float, object]:
    """Median wall time of ``repeats`` calls after ``warmup`` discarded ones, and the last result."""
    for _ in range(warmup):
        function(*args)
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function(*args)
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    pictures, source = images(args)
    rows = []
    for name in args.codecs:
        codec = codecs.get(name)
        try:
            codec.check()
        except CodecUnavailable as reason:
            print(f"skipped {name}: {reason}", file=sys.stderr)
            continue
        index = {"lowest": 0, "middle": len(codec.qualities) // 2, "highest": -1}[args.point]
        quality = codec.qualities[index]
        for image_id, image in pictures:
            encode_time, data = timed(codec.encode, image, quality, repeats=args.repeats, warmup=args.warmup)
            decode_time, _ = timed(codec.decode, data, repeats=args.repeats, warmup=args.warmup)
            rows.append({"codec": codec.name, "label": codec.label, "version": codec.version, "quality": quality,
                         "image": image_id, "height": image.shape[0], "width": image.shape[1],
                         "bpp": bpp_from_bytes(len(data), *image.shape[:2]), "encode_s": encode_time,
                         "decode_s": decode_time, "repeats": args.repeats, "images_from": source})  # fmt: skip
            print(f"{codec.name} {image_id}: encode {encode_time:.3f} s, decode {decode_time:.3f} s", file=sys.stderr)
    if not rows:
        print("no codec could run", file=sys.stderr)
        return 1
    frame = pd.DataFrame(rows)
    atomic_write_text(args.out, frame.to_csv(index=False))
    meta = provenance(
        "paper" if args.images is None else "quick", " ".join(["benchmarks/bench_codecs.py", *sys.argv[1:]])
    )
    atomic_write_text(args.out.with_suffix(".meta.json"), json.dumps(meta, indent=2) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)
    summary = frame.groupby(["codec", "label", "quality"], sort=False).agg(
        images=("image", "size"), bpp=("bpp", "mean"), encode_s=("encode_s", "median"), decode_s=("decode_s", "median")
    )
    print("median over images of the per-image median times:")
    print(summary.reset_index().to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
