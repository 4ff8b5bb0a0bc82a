"""Real-bitstream evaluation: every image is entropy-coded with rANS, decoded and measured.

For each image ``evaluate`` runs ``model.compress`` (the encoder never sees the side image),
counts the bytes of the rANS strings, decodes them with ``model.decompress`` (with the side image
``y`` for distributed models) and reports, per image (:data:`ndic.results.COLUMNS`):

- ``bpp``: 8 * bytes / (H * W) of the real bitstream (the rANS payload of every latent, as
  CompressAI's and STF's evaluation count it; container headers are not included);
- ``bpp_estimated``: -sum(log2 p) / (H * W) of the eval-mode forward's transmitted likelihoods:
  the number NDIC-CAM's test loop reports, kept beside the real one so the gap can be shown;
- ``psnr`` (RGB, 8-bit rounded, peak 255), ``ms_ssim`` and ``ms_ssim_db`` of the decoded image;
- ``encoding_time`` / ``decoding_time`` in seconds, with CUDA synchronised around each.

Quality is measured on what a receiver gets: the decoded image, clamped to [0, 1] and rounded to
8 bits (NDIC-CAM's test loop measured the unclamped forward output, with PSNR = 10 log10(1 / MSE)).

Results are written as the tidy CSV of :mod:`ndic.results` and as CompressAI's JSON, so curves from
here and from CompressAI's published files plot together.
"""

from __future__ import annotations

import argparse
import io
import math
import re
import sys
import time
import warnings
from pathlib import Path

import pandas as pd
import torch

from . import _compat, metrics, results  # noqa: F401  (_compat before compressai)
from .config import Config, ConfigError
from .io import atomic_write_bytes


def flatten_strings(strings) -> list[bytes]:
    """Every byte string of a ``compress`` result (``strings[latent][batch]``, nested lists)."""
    if isinstance(strings, (bytes, bytearray)):
        return [bytes(strings)]
    return [s for item in strings for s in flatten_strings(item)]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _safe_name(image_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", image_id).strip("_") or "image"


def save_png(x: torch.Tensor, path: str | Path) -> Path:
    """Write a (3, H, W) or (1, 3, H, W) image in [0, 1] as an 8-bit PNG, atomically."""
    from PIL import Image

    array = metrics.to_uint8(x.reshape(-1, *x.shape[-2:])).byte().permute(1, 2, 0).cpu().numpy()
    buffer = io.BytesIO()
    Image.fromarray(array, "RGB").save(buffer, format="PNG")
    return atomic_write_bytes(path, buffer.getvalue())


@torch.no_grad()
def evaluate(
    model,
    dataset,
    *,
    device: str | torch.device | None = None,
    method: str | None = None,
    label: str | None = None,
    quality: float | None = None,
    dataset_name: str = "",
    profile: str = "quick",
    save_images: str | Path | None = None,
    update: bool = True,
    limit: int | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Compress, decompress and measure every image of ``dataset``; one row per image.

    Args:
        model: a registry model (CompressionModel); distributed models get the side image at decode.
        dataset: items are images or ``(x, y)`` pairs (``ndic.data``); ``dataset.ids`` names rows.
        method / label / quality: the curve's registry name, plot label and lambda.
        save_images: folder for the decoded reconstructions as PNG (``<image id>.png``).
        update: rebuild the coder's CDF tables (``model.update(force=True)``); pass False to keep tables
            loaded with the weights (an original's tables give byte-identical streams).
        limit: evaluate the first ``limit`` images only.
    """
    from tqdm.auto import tqdm

    device = torch.device(device) if device is not None else next(model.parameters()).device
    model = model.to(device).eval()
    if update:
        model.update(force=True)
    distributed = bool(getattr(model, "distributed", False))
    if distributed and not getattr(dataset, "stereo", True):
        raise ValueError(f"{type(model).__name__} decodes with a side image; give a stereo dataset of (x, y) pairs")
    method = method or getattr(model, "registry_name", type(model).__name__)
    ids = list(getattr(dataset, "ids", [])) or [str(i) for i in range(len(dataset))]
    count = len(dataset) if limit is None else min(limit, len(dataset))
    rows, small = [], []
    for index in tqdm(range(count), desc=f"evaluate {method}", disable=not progress, unit="image"):
        item = dataset[index]
        x, y = (item[0], item[1]) if isinstance(item, (list, tuple)) else (item, None)
        x = x.unsqueeze(0).to(device).float()
        side = y.unsqueeze(0).to(device).float() if (distributed and y is not None) else None
        if distributed and side is None:
            raise ValueError(f"item {ids[index]} has no side image")
        height, width = x.shape[-2:]

        estimate = model(x, side) if distributed else model(x)
        bpp_estimated = metrics.bpp_from_likelihoods(estimate["likelihoods"], height, width)

        _sync(device)
        start = time.perf_counter()
        encoded = model.compress(x)
        _sync(device)
        encoded_at = time.perf_counter()
        kwargs = {"side": side} if distributed else {}
        decoded = model.decompress(encoded["strings"], encoded["shape"], **kwargs)
        _sync(device)
        decoded_at = time.perf_counter()

        x_hat = decoded["x_hat"].clamp(0, 1)
        num_bytes = sum(len(s) for s in flatten_strings(encoded["strings"]))
        try:
            ms_ssim = metrics.ms_ssim(x, x_hat)
        except ValueError:  # too small for five MS-SSIM scales
            ms_ssim = math.nan
            small.append(ids[index])
        rows.append(
            {
                "method": method,
                "label": label or method,
                "quality": quality,
                "dataset": dataset_name,
                "image": ids[index],
                "height": height,
                "width": width,
                "bytes": num_bytes,
                "bpp": metrics.bpp_from_bytes(num_bytes, height, width),
                "bpp_estimated": bpp_estimated,
                "psnr": metrics.psnr(x, x_hat),
                "ms_ssim": ms_ssim,
                "ms_ssim_db": metrics.ms_ssim_db(ms_ssim) if math.isfinite(ms_ssim) else math.nan,
                "encoding_time": encoded_at - start,
                "decoding_time": decoded_at - encoded_at,
                "profile": profile,
            }
        )
        if save_images is not None:
            save_png(x_hat, Path(save_images) / f"{_safe_name(ids[index])}.png")
    if small:
        warnings.warn(f"MS-SSIM left out (NaN) for images under 97 px on a side: {small}", stacklevel=3)
    return pd.DataFrame(rows, columns=results.COLUMNS)


def summary_line(frame: pd.DataFrame) -> str:
    """Means over the images, in words (real and estimated bpp named apart)."""
    mean = frame[["bpp", "bpp_estimated", "psnr", "ms_ssim", "encoding_time", "decoding_time"]].mean()
    return (
        f"{len(frame)} images: real bpp {mean.bpp:.4f} (estimated from likelihoods {mean.bpp_estimated:.4f}), "
        f"PSNR {mean.psnr:.2f} dB, MS-SSIM {mean.ms_ssim:.4f}, "
        f"encode {mean.encoding_time * 1e3:.1f} ms, decode {mean.decoding_time * 1e3:.1f} ms"
    )


def load_test_set(config: Config, distributed_model: bool, split: str | None = None):
    """The evaluation dataset of a resolved configuration, without augmentation.

    Stereo pairs get NDIC-CAM's preprocessing at ``resize``; single-image sets (Kodak, an image folder)
    are evaluated at full size, as CompressAI and STF evaluate.
    """
    from . import data

    stereo = config.dataset_name in ("kitti_stereo", "kitti_general", "cityscape", "middlebury")
    opts = {}
    if config.dataset_name == "default":  # NDIC-CAM models (single-image baselines too) use the pairs
        stereo = opts["stereo"] = distributed_model or config.family == "ndic_cam"
    return data.load(config.dataset_name, split or config.test_split, root=config.dataset_path,
                     size=config.resize if stereo else None, **opts)  # fmt: skip


def evaluate_config(
    config: Config,
    model=None,
    checkpoint: str | Path | None = None,
    split: str | None = None,
    out: str | Path | None = None,
    limit: int | None = None,
    label: str | None = None,
    update: bool = True,
) -> pd.DataFrame:
    """NDIC-CAM's ``test`` step: evaluate, write ``results/<experiment>.csv`` + ``.json`` (+ PNGs).

    The model is ``model``, else ``checkpoint``, else ``config.weight_path`` (``load_weight``).
    """
    from .train import load_model

    config = config.resolved()
    device = config.resolve_device()
    if model is None:
        path = checkpoint or (config.weight_path if config.load_weight or config.weight_path else None)
        if path is None:
            raise ConfigError("nothing to evaluate: give a checkpoint (--checkpoint) or weight_path")
        model = load_model(path, config, device)
    dataset = load_test_set(config, bool(getattr(model, "distributed", False)), split)
    out = Path(out) if out is not None else config.out_dir / "results" / f"{config.experiment_name}.csv"
    images = out.with_name(f"{out.stem}_images") if config.save_image else None
    frame = evaluate(model, dataset, device=device, quality=config.lmbda, dataset_name=config.dataset_name,
                     profile=config.profile, save_images=images, update=update, limit=limit, label=label,
                     progress=config.progress)  # fmt: skip
    command = " ".join(sys.argv) if sys.argv and sys.argv[0] else None
    results.write_rows(frame.to_dict("records"), out, meta=results.provenance(config.profile, command))
    name = label or frame["method"].iloc[0]
    split = split or config.test_split
    description = f"{config.profile} profile, lambda {config.lmbda:g}, {config.dataset_name} {split} split"
    results.write_compressai_json(frame, out.with_suffix(".json"), name, description)
    print(summary_line(frame), flush=True)
    print(f"results: {out} and {out.with_suffix('.json')}" + (f"; reconstructions in {images}" if images else ""))
    return frame


# ---------------------------------------------------------------------------- command line
def add_arguments(parser: argparse.ArgumentParser, name: str = "evaluate") -> None:
    from .train import add_config_arguments

    parser.epilog = (
        "Examples: python -m ndic evaluate --checkpoint runs/x/checkpoint.pt | "
        "python -m ndic evaluate --checkpoint stf_0035.pth.tar --model stf --dataset kodak --root KODAK | "
        "python -m ndic evaluate --config configs/config.yaml (NDIC-CAM's, load_weight/weight_path)"
    )
    parser.add_argument("--checkpoint", help="ours (training checkpoint/best.pt) or an original's weights")
    parser.add_argument("--split", default=None, help="dataset split (default: test_split, 'test')")
    parser.add_argument("--limit", type=int, default=None, help="evaluate the first N images only")
    parser.add_argument("--out", default=None, help="result CSV (default: <save_output_path>/results/<name>.csv)")
    parser.add_argument("--label", default=None, help="the curve's label in plots (default: the model name)")
    keep = "keep the coder tables stored with the weights (byte-exact with the original's streams)"
    parser.add_argument("--no-update", dest="update", action="store_false", help=keep)
    add_config_arguments(parser, exclude={"--checkpoint"})


def run(args: argparse.Namespace, name: str = "evaluate") -> int:
    from .train import checkpoint_config, config_from_args

    try:
        base = checkpoint_config(args.checkpoint) if args.checkpoint else None
        config = config_from_args(args, base)
        evaluate_config(config, checkpoint=args.checkpoint, split=args.split, out=args.out, limit=args.limit,
                        label=args.label, update=args.update)  # fmt: skip
    except (ConfigError, FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0
