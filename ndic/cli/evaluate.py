"""``python -m ndic evaluate``: real-bitstream evaluation of a checkpoint (ours or an original's) on a dataset."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..checkpoint import stored_config
from ..evaluate import evaluate_config
from ..paths import display
from .config_args import add_config_arguments, config_from_args


def add_arguments(parser: argparse.ArgumentParser, name: str = "evaluate") -> None:
    parser.epilog = (
        "Examples: python -m ndic evaluate --checkpoint runs/<experiment_name>/checkpoint.pt | "
        "python -m ndic evaluate --checkpoint stf_0035.pth.tar --model stf --dataset kodak --root KODAK | "
        "python -m ndic evaluate --config configs/config.yaml (NDIC-CAM's, load_weight/weight_path)"
    )
    parser.add_argument("--checkpoint", help="ours (training checkpoint/best.pt) or an original's weights")
    parser.add_argument("--split", default=None, help="dataset split (default: test_split, 'test')")
    parser.add_argument("--limit", type=int, default=None, help="evaluate the first N images only")
    parser.add_argument("--out", default=None, help="result CSV (default: <save_output_path>/results/<model>_w<weights "
                        "hash>_<dataset>-<split>_lambda<lambda>.csv)")  # fmt: skip
    parser.add_argument("--overwrite", action="store_true",
                        help="replace a different evaluation already under that name (default: refuse)")  # fmt: skip
    parser.add_argument("--label", default=None, help="the curve's label in plots (default: the model name)")
    keep = "keep the coder tables stored with the weights (byte-exact with the original's streams)"
    parser.add_argument("--no-update", dest="update", action="store_false", help=keep)
    add_config_arguments(parser, exclude={"--checkpoint"})


def run(args: argparse.Namespace, name: str = "evaluate") -> int:
    base = stored_config(args.checkpoint) if args.checkpoint else None
    config = config_from_args(args, base)
    print(f"writing to {display(Path(args.out).parent if args.out else config.out_dir / 'results')}", flush=True)
    evaluate_config(config, checkpoint=args.checkpoint, split=args.split, out=args.out, limit=args.limit,
                    label=args.label, update=args.update, overwrite=args.overwrite)  # fmt: skip
    return 0
