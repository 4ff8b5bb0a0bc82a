"""``python -m ndic baselines``: classical codecs (BPG, VVC, JPEG, ...) over a dataset, real bitstreams."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import pandas as pd

from ..codecs.base import CodecUnavailable, get
from ..codecs.runner import (
    CACHE_ENV,
    DEFAULT_CODECS,
    ResultCache,
    default_cache_dir,
    load_images,
    sweep,
    write_results,
)
from ..plot import write_bd_rates
from ..results import provenance, read_meta, read_rows, summarize, write_compressai_json


def add_arguments(parser: argparse.ArgumentParser, name: str = "baselines") -> None:
    parser.epilog = (
        "Example: python -m ndic baselines --data ../shared/data/kodak --out results/kodak --profile paper. "
        "VTM runs instead of vvenc when VTM_ENCODER (and VTM_DECODER, VTM_CONFIG) are set."
    )
    data = parser.add_mutually_exclusive_group(required=True)
    data.add_argument("--data", help="a folder of images, one image, or an ndic.data dataset name")
    data.add_argument(
        "--summaries-only",
        metavar="DIR",
        help="code nothing: rewrite the CompressAI JSON and bd_rates.csv of the result CSVs in DIR from their rows",
    )
    parser.add_argument("--dataset", default=None, help="dataset name in the result rows (default: folder name)")
    parser.add_argument("--root", default=None, help="with --data naming a dataset: its folder (default: $NDIC_DATA)")
    parser.add_argument(
        "--both-directions",
        action="store_true",
        help="with --data naming a stereo dataset: each view in turn (as evaluate --test_both_directions codes)",
    )
    parser.add_argument("--codecs", nargs="+", default=list(DEFAULT_CODECS), help="codec names (default: all)")
    parser.add_argument("--qualities", nargs="+", type=float, default=None, help="override the sweep (one codec)")
    parser.add_argument("--out", default=None, help="output folder (default: runs/baselines/<dataset>)")
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1), help="parallel processes")
    parser.add_argument("--cache", default=None, help=f"cache folder (default: ${CACHE_ENV} or ~/.cache/ndic/codecs)")
    parser.add_argument("--no-cache", action="store_true", help="measure everything again")
    parser.add_argument("--limit", type=int, default=None, help="first N images only")
    parser.add_argument(
        "--profile",
        choices=("quick", "cpu", "paper"),
        default="quick",
        help="label of the rows (cpu: references of the CPU-scale reproduction's test sets)",
    )


def run(args: argparse.Namespace, name: str = "baselines") -> int:
    if args.summaries_only:
        return resummarize(Path(args.summaries_only), args.dataset or Path(args.summaries_only).name, args.profile)
    if args.qualities and len(args.codecs) != 1:
        raise ValueError("--qualities needs exactly one codec (each codec has its own quality scale)")
    from .. import data as datasets

    if (args.root or args.both_directions) and args.data not in datasets.names():
        raise ValueError(f"--root and --both-directions apply to a dataset name given as --data, not {args.data!r}")
    images = load_images(args.data, args.limit, root=args.root, both_directions=args.both_directions)
    dataset = args.dataset or Path(args.data).name
    # never the committed results/ by default: an ad-hoc run must not replace the book's curves
    out_dir = Path(args.out or Path("runs") / "baselines" / dataset)
    cache = None if args.no_cache else ResultCache(args.cache or default_cache_dir())
    meta = provenance(args.profile, " ".join(["python -m ndic", name, *sys.argv[2:]]))
    # "of": how many images the source has, so that a --limit run's files and tables say "2 of 24 images"
    of = None if args.root or args.both_directions else source_size(args.data)  # of another folder: not counted
    of = len(images) if of is None and args.limit is None else of
    meta.update({"dataset": dataset, "data": str(args.root or args.data), "images": len(images), "of": of})
    status = 0
    for codec_name in args.codecs:
        try:
            codec = get(codec_name)
            rows = sweep(codec, images, args.qualities, dataset, args.workers, cache, args.profile)
        except CodecUnavailable as reason:
            print(f"skipped {codec_name}: {reason}", file=sys.stderr)
            continue
        except (KeyError, ValueError, RuntimeError) as error:
            print(f"ndic {name}: error: {codec_name}: {error}", file=sys.stderr)
            status = 1
            continue
        csv, _ = write_results(rows, codec, out_dir, meta)
        print_summary(rows, csv)
    table = write_bd_rates(out_dir, dataset, meta)
    if table:
        print(f"BD-rates against the published VTM and BPG curves: {table}")
    return status


def source_size(source: str) -> int | None:
    """How many images ``load_images(source)`` gives without a limit (None: unknown), without decoding them."""
    from .. import data
    from ..codecs.runner import IMAGE_SUFFIXES
    from ..paths import resolve

    path = Path(source) if source in data.names() else resolve(source)
    if path.is_dir():
        return sum(1 for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if path.is_file():
        return 1
    try:  # a dataset name: the length of its test split, as load_images reads it
        return len(data.load(source, "test", **({"stereo": False} if source == "default" else {})))
    except (ValueError, OSError):
        return None


def print_summary(rows: list[dict], csv: Path) -> None:
    table = summarize(pd.DataFrame(rows))[["label", "quality", "bpp", "psnr", "ms_ssim_db", "encoding_time"]]
    meta = read_meta(csv)
    partial = meta.get("of") not in (None, meta.get("images"))
    covers = f" ({meta['images']} of {meta['of']} images: not comparable with full-set curves)" if partial else ""
    print(f"{csv}{covers}:\n{table.to_string(index=False, float_format=lambda v: f'{v:.4g}')}")


def resummarize(folder: Path, dataset: str, profile: str) -> int:
    """Rewrite every curve's CompressAI JSON and the folder's BD table from the per-image rows."""
    import json

    files = sorted(p for p in folder.glob("*.csv") if p.name != "bd_rates.csv")
    if not files:
        raise FileNotFoundError(f"no result CSV in {folder}: --summaries-only needs a folder of result rows")
    # provenance first: the files rewritten below must not make the record of this run "dirty"
    meta = provenance(profile, " ".join(["python -m ndic baselines", *sys.argv[2:]]))
    for csv in files:
        frame = read_rows(csv)
        old = json.loads(csv.with_suffix(".json").read_text()) if csv.with_suffix(".json").is_file() else {}
        name = old.get("name", str(frame["label"].iloc[0]))
        write_compressai_json(frame, csv.with_suffix(".json"), name, old.get("description", ""))
        print(f"{csv.with_suffix('.json')}: rewritten from {len(frame)} rows")
    # the folder's own count of its dataset, where its sets recorded one (bd_rates.meta.json says it on)
    counts = {read_meta(csv).get("of") for csv in files} - {None}
    of = counts.pop() if len(counts) == 1 else None
    images = int(read_rows(*files)["image"].nunique())
    meta.update({"dataset": dataset, "data": str(folder), "images": images, "of": of})
    table = write_bd_rates(folder, dataset, meta)
    if table:
        print(f"BD-rates against the published VTM and BPG curves: {table}")
    return 0
