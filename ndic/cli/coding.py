"""``python -m ndic compress`` / ``decompress``: one image to a self-describing bitstream file and back."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ..bitstream import compress_file, decompress_file, read_header
from ..checkpoint import model_for_coding


def parse_model_config(text: str | None) -> dict | None:
    """``--config``: a JSON object, or the path of a JSON file holding one."""
    if text is None:
        return None
    source = Path(text).read_text() if not text.lstrip().startswith("{") and Path(text).is_file() else text
    try:
        config = json.loads(source)
    except json.JSONDecodeError as err:
        example = '{"num_filters": 192}'
        raise ValueError(f"--config must be a JSON object or a JSON file, e.g. '{example}': {err}") from None
    if not isinstance(config, dict):
        raise ValueError(f"--config must be a JSON object, got {type(config).__name__}")
    return config


def add_arguments(parser, name: str) -> None:
    if name == "compress":
        parser.add_argument("image", help="8-bit image to compress (PNG, JPEG, ...; grayscale/RGBA converted to RGB)")
        parser.add_argument("-o", "--output", required=True, help="bitstream file to write (e.g. OUT.ndic)")
    else:
        parser.add_argument("bitstream", help="bitstream file written by `ndic compress`")
        parser.add_argument("-o", "--output", required=True, help="PNG file to write")
        parser.add_argument("--side", help="side image (distributed models: the other view of the pair)")
    model_help = "registry name" + (" (default: the one the file names)" if name == "decompress" else "")
    parser.add_argument("--model", help=f"model {model_help}; optional with --checkpoint")
    weights = parser.add_mutually_exclusive_group()
    weights.add_argument("--checkpoint", help="ndic checkpoint (torch file with model, config, state_dict)")
    weights.add_argument("--reference", help="original implementation's weights (loaded with load_reference)")
    parser.add_argument("--config", help="model config as JSON (or a JSON file); without weights: untrained model")
    parser.add_argument("--seed", type=int, default=0, help="seed of the untrained weights without weights (0)")
    parser.add_argument("--device", default="cpu", help="torch device (cpu, cuda, ...)")


def run(args, name: str) -> int:
    model_arg = args.model
    if name == "decompress" and model_arg is None and args.checkpoint is None:
        model_arg = read_header(args.bitstream)["model"]
    if args.checkpoint is None and args.reference is None:
        print(
            f"note: {model_arg} with untrained weights (seed {args.seed}); pass --checkpoint for a trained one",
            file=sys.stderr,
        )
    config = parse_model_config(args.config)
    model = model_for_coding(model_arg, config, args.checkpoint, args.reference, args.seed, map_location=args.device)
    if name == "compress":
        info = compress_file(model, args.image, args.output)
        print(
            f"{info['path']}: {info['bytes']} bytes (header {info['header_bytes']}, payload "
            f"{info['payload_bytes']}), {info['bpp']:.4f} bpp ({info['payload_bpp']:.4f} bpp payload), "
            f"{info['height']}x{info['width']}, model {info['model']}"
        )
    else:
        info = decompress_file(model, args.bitstream, side=args.side, out_path=args.output)
        print(f"{info['path']}: {info['height']}x{info['width']} decoded by {info['model']}")
    return 0
