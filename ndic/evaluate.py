"""Real-bitstream evaluation: every image is entropy-coded with rANS, decoded and measured.

For each image ``evaluate`` runs ``model.compress`` (the encoder never sees the side image),
counts the bytes of the rANS strings, decodes them with ``model.decompress`` (with the side image
``y`` for distributed models) and reports, per image (:data:`ndic.results.COLUMNS`):

- ``bpp``: 8 * bytes / (H * W) of the real bitstream (the rANS payload of every latent, as
  CompressAI's and STF's evaluation count it; container headers are not included);
- ``bpp_estimated``: -sum(log2 p) / (H * W) of the eval-mode forward's transmitted likelihoods:
  the number NDIC-CAM's test loop reports, kept beside the real one so the gap can be shown. They are
  the likelihoods of the symbols ``compress`` coded (``model.compress_with_likelihoods``), so the estimate
  costs no extra forward pass (:mod:`ndic.coding`);
- ``bpp_estimated_capped`` (after the columns of :data:`ndic.results.COLUMNS`): the same with each symbol
  charged at most the 16 bits the coder's tables can charge, nearer the real rate where latents fall far
  into the tails. An extra column, not one of ``COLUMNS``: files written before it stay result files and the
  classical codecs, which have no estimate, need not write it;
- ``psnr`` (RGB, 8-bit rounded, peak 255), ``ms_ssim`` and ``ms_ssim_db`` of the decoded image;
- ``encoding_time`` / ``decoding_time`` in seconds, with CUDA synchronised around each (with several
  ``workers`` they include waiting on the others; the meta records ``workers``).

Quality is measured on what a receiver gets: the decoded image, clamped to [0, 1] and rounded to
8 bits (NDIC-CAM's test loop measured the unclamped forward output, with PSNR = 10 log10(1 / MSE)).

Results are written as the tidy CSV of :mod:`ndic.results` and as CompressAI's JSON, so curves from
here and from CompressAI's published files plot together. :func:`evaluate_config` names them after what
was evaluated (:func:`ndic.results.result_name`: model, weights hash, dataset and split, lambda), never
after the training run, and refuses to replace a different evaluation of the same name.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import math
import os
import re
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from . import _compat, coding, metrics, paths, results  # noqa: F401  (_compat before compressai)
from .checkpoint import load_model
from .coding import flatten_strings
from .config import Config, ConfigError
from .io import atomic_write_bytes

ESTIMATE_CAPPED = "bpp_estimated_capped"  # written after results.COLUMNS (see the module docstring)


def image_file_name(image_id: str) -> str:
    """The file name (without suffix) a reconstruction of ``image_id`` is saved under."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", image_id).strip("_") or "image"


def save_png(x: torch.Tensor, path: str | Path) -> Path:
    """Write a (3, H, W) or (1, 3, H, W) image in [0, 1] as an 8-bit PNG, atomically; returns the path."""
    from PIL import Image

    array = metrics.to_uint8(x.reshape(-1, *x.shape[-2:])).byte().permute(1, 2, 0).cpu().numpy()
    buffer = io.BytesIO()
    Image.fromarray(array, "RGB").save(buffer, format="PNG")
    return atomic_write_bytes(path, buffer.getvalue())


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
    workers: int | None = None,
) -> pd.DataFrame:
    """Compress, decompress and measure every image of ``dataset``; one row per image, in dataset order.

    Args:
        model: a registry model (CompressionModel); distributed models get the side image at decode.
        dataset: items are images or ``(x, y)`` pairs (``ndic.data``); ``dataset.ids`` names rows.
        method / label / quality: the curve's registry name, plot label and lambda.
        save_images: folder for the decoded reconstructions as PNG (``<image id>.png``).
        update: rebuild the coder's CDF tables (``model.update(force=True)``); pass False to keep tables
            loaded with the weights (an original's tables give byte-identical streams).
        limit: evaluate the first ``limit`` images only.
        workers: images coded at once, in threads (:func:`ndic.coding.in_order`; PyTorch's threads are split
            between them); default :func:`ndic.coding.default_workers`. Rows do not depend on it, except the
            times, which then include waiting on the other workers: time with ``workers=1``.
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
    workers = coding.default_workers() if workers is None else workers

    def measure(index: int) -> dict[str, Any]:
        item = dataset[index]
        x, y = (item[0], item[1]) if isinstance(item, (list, tuple)) else (item, None)
        x = x.unsqueeze(0).to(device).float()
        side = y.unsqueeze(0).to(device).float() if (distributed and y is not None) else None
        if distributed and side is None:
            raise ValueError(f"item {ids[index]} has no side image")
        height, width = x.shape[-2:]
        coded = coding.code_image(model, x, side)
        try:
            ms_ssim = metrics.ms_ssim(x, coded.x_hat)
        except ValueError:  # too small for five MS-SSIM scales
            ms_ssim = math.nan
        if save_images is not None:
            save_png(coded.x_hat, Path(save_images) / f"{image_file_name(ids[index])}.png")
        return {
            "method": method,
            "label": label or method,
            "quality": quality,
            "dataset": dataset_name,
            "image": ids[index],
            "height": height,
            "width": width,
            "bytes": coded.bytes,
            "bpp": metrics.bpp_from_bytes(coded.bytes, height, width),
            "bpp_estimated": coded.bpp_estimated,
            "psnr": metrics.psnr(x, coded.x_hat),
            "ms_ssim": ms_ssim,
            "ms_ssim_db": metrics.ms_ssim_db(ms_ssim) if math.isfinite(ms_ssim) else math.nan,
            "encoding_time": coded.encoding_time,
            "decoding_time": coded.decoding_time,
            "profile": profile,
            ESTIMATE_CAPPED: coded.bpp_estimated_capped,
        }

    with coding.sharing_threads(workers):
        rows = list(tqdm(coding.in_order(measure, count, workers), total=count, desc=f"evaluate {method}",
                         disable=not progress, unit="image"))  # fmt: skip
    small = [row["image"] for row in rows if math.isnan(row["ms_ssim"])]
    if small:
        warnings.warn(f"MS-SSIM left out (NaN) for images under 97 px on a side: {small}", stacklevel=3)
    return pd.DataFrame(rows, columns=[*results.COLUMNS, ESTIMATE_CAPPED])


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

    stereo = config.dataset_name in data.STEREO_SETS
    opts = {}
    if config.test_both_directions and config.dataset_name in ("kitti_stereo", "middlebury"):
        opts["both_directions"] = True  # each view compressed once, the other view as side information
    if config.dataset_name == "default":  # NDIC-CAM models (single-image baselines too) use the pairs
        stereo = opts["stereo"] = distributed_model or config.trains_on_pairs
    return data.load(config.dataset_name, split or config.test_split, root=config.dataset_path,
                     size=config.resize if stereo else None, **opts)  # fmt: skip


def known_lambda(given: float | None, model) -> float | None:
    """The lambda the weights were trained for: ours store it; otherwise ``given`` (the caller's, e.g.
    ``--lambda``), else None: released weights evaluated without one get no lambda, never a profile's default."""
    info = getattr(model, "checkpoint_info", None) or {}
    stored = info.get("lmbda") if "step" in info else None  # "step": one of our checkpoints
    if stored is not None and given is not None and not math.isclose(stored, given):
        raise ConfigError(f"{info['path']} was trained with lambda {stored:g}, not {given:g}: drop --lambda")
    return stored if stored is not None else given


def checkpoint_record(model, path: str | os.PathLike | None = None) -> dict[str, Any]:
    """Which file was evaluated: its path (relative to the project), its kind and step."""
    info = getattr(model, "checkpoint_info", None) or {}
    path = path or info.get("path")
    if path is None:
        return {"path": None, "kind": "model in memory", "step": None}
    if "step" not in info:
        kind = "released weights (not an ndic checkpoint)"
    else:  # best.pt records the loss it was kept for; checkpoint.pt does not
        kind = "best.pt (best weights of the run)" if info.get("val_loss") is not None else "checkpoint.pt (last saved)"
    return {"path": paths.display(path), "kind": kind, "step": info.get("step")}


def evaluation_record(model, config, dataset, split, count, quality, label=None, checkpoint=None) -> dict[str, Any]:
    """What a result set is of (its ``.meta.json``'s ``evaluated``): model, weights hash (with the coder tables
    it codes with), the file they came from, data, split, the first ``count`` images, quality (None: unknown)
    and label. :func:`ndic.results.result_name` names the files after it."""
    from .bitstream import weights_hash

    ids = (list(getattr(dataset, "ids", [])) or [str(i) for i in range(len(dataset))])[:count]
    method = getattr(model, "registry_name", type(model).__name__)
    return {
        "model": method,
        "weights": weights_hash(model),
        "checkpoint": checkpoint_record(model, checkpoint),
        "dataset": config.dataset_label or config.dataset_name,
        "loader": config.dataset_name,
        "root": paths.display(config.dataset_path) if config.dataset_path else None,
        "split": split,
        "images": count,
        "limit": count if count < len(dataset) else None,
        "image_list": hashlib.sha256("\n".join(ids).encode()).hexdigest()[:16],
        "resize": list(config.resize) if getattr(dataset, "stereo", False) and config.resize else None,
        "quality": quality,
        "label": label or method,
        "profile": config.profile,
    }


def evaluate_config(
    config: Config,
    model=None,
    checkpoint: str | Path | None = None,
    split: str | None = None,
    out: str | Path | None = None,
    limit: int | None = None,
    label: str | None = None,
    update: bool = True,
    overwrite: bool = False,
    workers: int | None = None,
) -> pd.DataFrame:
    """NDIC-CAM's ``test`` step: evaluate, write ``<save_output_path>/results/<name>.csv``, ``.json`` and
    ``.meta.json`` (+ PNGs in ``<name>_images/``); the name says what was evaluated (``results.result_name``).

    The model is ``model``, else ``checkpoint``, else ``config.weight_path`` (``load_weight``). Another
    evaluation under that name is refused before evaluating (FileExistsError) unless ``overwrite``. The
    lambda is the checkpoint's, or the configuration's as given: released weights without one get none.
    ``workers``: images coded at once (:func:`evaluate`), recorded in the meta.
    """
    given_lambda = config.lmbda  # before resolved() puts the profile's default there
    config = config.resolved()
    device = config.resolve_device()
    if model is None:
        checkpoint = checkpoint or (config.weight_path if config.load_weight or config.weight_path else None)
        if checkpoint is None:
            raise ConfigError("nothing to evaluate: give a checkpoint (--checkpoint) or weight_path")
        model = load_model(checkpoint, config, device)
    model = model.to(device).eval()
    if update:  # before hashing: the name carries the hash of the weights and tables that code the streams
        model.update(force=True)
    dataset = load_test_set(config, bool(getattr(model, "distributed", False)), split)
    split = split or config.test_split
    count = len(dataset) if limit is None else min(limit, len(dataset))
    quality = known_lambda(given_lambda, model)
    record = evaluation_record(model, config, dataset, split, count, quality, label, checkpoint)
    out = Path(out) if out is not None else config.out_dir / "results" / f"{results.result_name(record)}.csv"
    command = results.ndic_command()
    workers = coding.default_workers() if workers is None else workers
    meta = {**results.provenance(config.profile, command), "experiment": config.experiment_name, "evaluated": record,
            "workers": workers}  # fmt: skip
    results.check_free(out, meta, overwrite)  # refuse now, not after the evaluation
    images = out.with_name(f"{out.stem}_images") if config.save_image else None
    frame = evaluate(model, dataset, device=device, quality=quality, dataset_name=record["dataset"],
                     profile=config.profile, save_images=images, update=False, limit=limit, label=label,
                     progress=config.progress, workers=workers)  # fmt: skip
    results.write_result_set(frame, out, results.describe_evaluation(record), meta, overwrite=overwrite)
    print(summary_line(frame), flush=True)
    if quality is None:
        print("lambda unknown (released weights evaluated without --lambda): the quality column is empty")
    shown = f"; reconstructions in {paths.display(images)}" if images else ""
    print(f"results: {paths.display(out)} (+ .json, .meta.json){shown}")
    return frame


# ---------------------------------------------------------------------------- one image at a time
def _batch(image: torch.Tensor) -> torch.Tensor:
    return (image.unsqueeze(0) if image.dim() == 3 else image).float()


def estimated_bpp(model, x: torch.Tensor, side: torch.Tensor | None = None) -> float:
    """-sum(log2 p) / pixels of the transmitted latents in an eval-mode forward (not a byte count)."""
    with _evaluating(model) as device:
        x = _batch(x).to(device)
        out = model(x, _batch(side).to(device)) if side is not None else model(x)
    return metrics.bpp_from_likelihoods(out["likelihoods"], *x.shape[-2:])


def roundtrip(
    model,
    image_path: str | os.PathLike,
    bitstream_path: str | os.PathLike,
    side_path: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """Compress an image file to a bitstream file, decode it (with the side image for distributed
    models) and measure: file bytes, header and payload bytes, real bpp of both, estimated bpp,
    PSNR and MS-SSIM. ``x_hat`` is the decoded image (1, 3, H, W)."""
    from .bitstream import compress_file, decompress_file, read_image

    info = compress_file(model, image_path, bitstream_path)
    x_hat = decompress_file(model, bitstream_path, side=side_path).detach().cpu().clamp(0, 1)
    x = read_image(image_path)
    side = read_image(side_path) if side_path is not None else None
    try:
        ms_ssim = metrics.ms_ssim(x, x_hat)
    except ValueError:  # too small for five scales
        ms_ssim = math.nan
    return {
        "model": info["model"],
        "image": Path(image_path).name,
        "size": f"{info['height']}x{info['width']}",
        "file bytes": info["bytes"],
        "header bytes": info["header_bytes"],
        "payload bytes": info["payload_bytes"],
        "real bpp (file)": info["bpp"],
        "real bpp (payload)": info["payload_bpp"],
        "estimated bpp": estimated_bpp(model, x, side),
        "PSNR (dB)": metrics.psnr(x, x_hat),
        "MS-SSIM": ms_ssim,
        "x_hat": x_hat,
    }


@contextlib.contextmanager
def _evaluating(model) -> Iterator[torch.device]:
    """Eval mode and no autograd for the duration (the previous mode is restored); yields the device."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield next(model.parameters()).device
    finally:
        model.train(was_training)


def _encode(model, x: torch.Tensor) -> tuple[dict, int]:
    """``model.compress(x)`` (coder tables built when missing) and the byte count of its streams."""
    from .bitstream import ensure_coder_tables

    ensure_coder_tables(model)
    encoded = model.compress(x)
    return encoded, sum(len(s) for s in flatten_strings(encoded["strings"]))


def reconstruct(model, x: torch.Tensor, side: torch.Tensor | None = None) -> torch.Tensor:
    """Compress and decompress ``x`` in memory (with ``side`` for distributed models); (1, 3, H, W) on the CPU."""
    with _evaluating(model) as device:
        encoded, _ = _encode(model, _batch(x).to(device))
        kwargs = {"side": _batch(side).to(device)} if getattr(model, "distributed", False) else {}
        return model.decompress(encoded["strings"], encoded["shape"], **kwargs)["x_hat"].clamp(0, 1).cpu()


def decode_with_sides(model, x: torch.Tensor, sides: Mapping[str, torch.Tensor]) -> pd.DataFrame:
    """Compress ``x`` once with a distributed model and decode the same bytes with each side image.

    The rate is identical in every row; only the decoder's side information changes, so the quality
    differences are what that side image is worth to this decoder. Returns one row per side image:
    bytes, real bpp, PSNR and MS-SSIM of the decoded image.
    """
    if not getattr(model, "distributed", False):
        raise ValueError(f"{type(model).__name__} is a single-image model: its decoder takes no side image")
    rows = []
    with _evaluating(model) as device:
        x = _batch(x).to(device)
        encoded, num_bytes = _encode(model, x)
        for name, side in sides.items():
            x_hat = model.decompress(encoded["strings"], encoded["shape"], side=_batch(side).to(device))["x_hat"]
            x_hat = x_hat.clamp(0, 1)
            rows.append(
                {
                    "side image": name,
                    "bytes": num_bytes,
                    "bpp": metrics.bpp_from_bytes(num_bytes, *x.shape[-2:]),
                    "PSNR (dB)": metrics.psnr(x, x_hat),
                    "MS-SSIM": metrics.ms_ssim(x, x_hat),
                }
            )
    return pd.DataFrame(rows).set_index("side image")
