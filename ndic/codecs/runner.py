"""Sweep images over a codec's qualities: real bitstreams, cached, in parallel processes.

For every (image, quality) the codec encodes the image, the bytes are counted (``bpp`` =
8 bytes / pixels), the bytes are decoded and PSNR / MS-SSIM are measured with ``ndic.metrics``,
exactly as for the learned models. Each measurement is cached on disk under a key of (codec name,
codec version, quality, SHA-256 of the image), so a second run, or a run that adds images or
qualities, only codes what is new; changing the encoder or a bitstream setting changes the version
and therefore the key. Results are the per-image rows of :mod:`ndic.results` (CSV, with provenance
in ``.meta.json``) plus CompressAI's JSON layout.

Command line (:mod:`ndic.cli.baselines`): ``python -m ndic baselines --data DIR --codecs bpg vvc``.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sys
import time
import warnings
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from multiprocessing.context import BaseContext
from pathlib import Path

import numpy as np

from ..io import atomic_write_text
from .base import Codec, as_rgb8

DEFAULT_CODECS = ("bpg", "vvc", "jpeg", "jpeg2000", "webp", "avif", "jpegxl")
CACHE_ENV = "NDIC_CODEC_CACHE"
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".ppm", ".webp"}


def default_cache_dir() -> Path:
    """``$NDIC_CODEC_CACHE``, else ``~/.cache/ndic/codecs``."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "ndic" / "codecs")


def image_hash(image: np.ndarray) -> str:
    """SHA-256 of an image's shape and pixels (the cache key's image part)."""
    digest = hashlib.sha256(f"{image.shape}{image.dtype}".encode())
    digest.update(np.ascontiguousarray(image).tobytes())
    return digest.hexdigest()


class ResultCache:
    """One JSON file per (codec, version, quality, image) measurement, written atomically."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def path(self, codec: str, version: str, quality: float, digest: str) -> Path:
        key = hashlib.sha256(json.dumps([codec, version, float(quality), digest]).encode()).hexdigest()
        return self.root / codec / key[:2] / f"{key}.json"

    def get(self, *key) -> dict | None:
        try:
            return json.loads(self.path(*key).read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def put(self, value: dict, *key) -> None:
        atomic_write_text(self.path(*key), json.dumps(value) + "\n")


def load_images(
    source: str | os.PathLike,
    limit: int | None = None,
    crop: int | None = None,
    root: str | os.PathLike | None = None,
    both_directions: bool = False,
) -> list[tuple[str, np.ndarray]]:
    """``(id, RGB uint8 image)`` pairs from an image file, a folder of images, or any ``ndic.data`` dataset.

    A stereo dataset gives the image ``x`` of each pair (the image a distributed model compresses), each
    view in turn with ``both_directions`` (the images ``evaluate --test_both_directions`` codes, same ids);
    ``root`` is the dataset's folder (its default location when None). ``crop``: each image is
    centre-cropped to at most ``crop`` x ``crop`` pixels and to even sizes (VVC codes 4:2:0).
    """
    from .. import data
    from ..paths import resolve

    path = Path(source) if str(source) in data.names() else resolve(source)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise FileNotFoundError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in {path}")
    elif path.is_file():
        files = [path]
    else:
        found = _dataset_images(str(source), limit, root, both_directions)
        return [(name, centre_crop(image, crop)) for name, image in found]
    return [(f.stem, centre_crop(data.read_rgb(f), crop)) for f in files[:limit]]


def _dataset_images(name: str, limit: int | None, root, both_directions: bool = False) -> list[tuple[str, np.ndarray]]:
    from .. import data

    if name not in data.names():
        raise FileNotFoundError(
            f"{name!r} is neither an image file, a folder, nor a dataset ({', '.join(data.names())})"
        )
    # the embedded default's single photographs, not its pairs
    options = {"stereo": False} if name == "default" else {}
    if both_directions:
        options["both_directions"] = True  # data.load names the datasets that have no such option
    dataset = data.load(name, "test", root=root, **options)
    count = len(dataset) if limit is None else min(limit, len(dataset))
    to_uint8 = lambda x: (x.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()  # noqa: E731
    images = []
    for i in range(count):
        item = dataset[i]
        images.append((dataset.ids[i], to_uint8(item[0] if dataset.stereo else item)))
    return images


def centre_crop(image: np.ndarray, crop: int | None = None) -> np.ndarray:
    """The centre of ``image``: at most ``crop`` x ``crop`` (no limit when None), even height and width."""
    height, width = image.shape[:2]
    h, w = (min(height, crop), min(width, crop)) if crop else (height, width)
    h, w = h - h % 2, w - w % 2
    top, left = (height - h) // 2, (width - w) // 2
    return np.ascontiguousarray(image[top : top + h, left : left + w])


def spread(values: Sequence[float], count: int | None) -> list[float]:
    """``count`` values evenly spread over ``values`` (first and last included); all when None."""
    values = list(values)
    if count is None or count >= len(values):
        return values
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    if count == 1:
        return [values[len(values) // 2]]
    return [values[round(i * (len(values) - 1) / (count - 1))] for i in range(count)]


def measure(codec: Codec, image: np.ndarray, quality: float) -> dict:
    """Encode, count, decode and measure one image at one quality (what the cache stores)."""
    import torch

    from .. import metrics

    start = time.perf_counter()
    data = codec.encode(image, quality)
    encoded = time.perf_counter()
    decoded_image = codec.decode(data)
    decoded = time.perf_counter()
    if decoded_image.shape != image.shape:
        raise RuntimeError(f"{codec.name} decoded a {decoded_image.shape} image from a {image.shape} one")
    x, x_hat = (torch.from_numpy(np.array(a)).permute(2, 0, 1)[None].double() / 255 for a in (image, decoded_image))
    try:
        ms_ssim = metrics.ms_ssim(x, x_hat)
    except ValueError:  # too small for the MS-SSIM scales: PSNR only
        ms_ssim = math.nan
    return {
        "bytes": len(data),
        "psnr": metrics.psnr(x, x_hat),
        "ms_ssim": ms_ssim,
        "encoding_time": encoded - start,
        "decoding_time": decoded - encoded,
    }


def _init_worker() -> None:
    import torch

    torch.set_num_threads(1)


def pool_context() -> BaseContext:
    """The start method of the sweep's worker processes: fork on Linux, spawn elsewhere.

    Spawn starts each worker by re-importing the caller's ``__main__``: a plain script without an
    ``if __name__ == "__main__"`` guard then runs again in every worker, whose own sweep cannot start processes
    while the worker bootstraps, and the pool dies (BrokenProcessPool). A forked worker inherits the loaded
    modules and runs only :func:`measure` (in one PyTorch thread, on CPU tensors: safe after fork, as PyTorch's
    DataLoader workers), so scripts, notebooks and papermill all work. macOS and Windows keep spawn (fork is
    unsafe or missing there): scripts there need the guard.
    """
    return get_context("fork" if sys.platform.startswith("linux") else "spawn")


def sweep(
    codec: Codec,
    images: Sequence[tuple[str, np.ndarray]],
    qualities: Iterable[float] | None = None,
    dataset: str = "images",
    workers: int = 1,
    cache: ResultCache | str | os.PathLike | None = None,
    profile: str = "quick",
    progress: bool = True,
) -> list[dict]:
    """Per-image result rows (:data:`ndic.results.COLUMNS`) of ``codec`` over ``images`` x ``qualities``.

    ``workers`` > 1 runs measurements in that many processes (:func:`pool_context`); ``cache`` (a folder or a
    :class:`ResultCache`; ``None``: no cache) skips measurements done before.
    """
    from .. import metrics

    codec.check()
    qualities = list(codec.qualities if qualities is None else qualities)
    if not qualities:
        raise ValueError(f"no qualities to sweep for {codec.name}")
    cache = ResultCache(cache) if isinstance(cache, (str, os.PathLike)) else cache
    version, label = codec.version, codec.label
    images = _codable(codec, [(name, as_rgb8(image)) for name, image in images])
    digests = [image_hash(image) for _, image in images]
    jobs = [(i, q) for q in qualities for i in range(len(images))]
    found: dict[tuple[int, float], dict] = {}
    for i, q in jobs:
        hit = cache.get(codec.name, version, q, digests[i]) if cache else None
        if hit is not None:
            found[i, q] = hit
    todo = [job for job in jobs if job not in found]
    bar = _progress(len(todo), f"{codec.name} ({len(found)} cached)", progress)
    if workers > 1 and len(todo) > 1:
        with ProcessPoolExecutor(min(workers, len(todo)), mp_context=pool_context(), initializer=_init_worker) as pool:
            with warnings.catch_warnings():  # Python 3.12 warns of fork in a process with threads (see pool_context)
                warnings.filterwarnings("ignore", "This process .* is multi-threaded", DeprecationWarning)
                futures = {pool.submit(measure, codec, images[i][1], q): (i, q) for i, q in todo}
            for future in as_completed(futures):
                _store(found, futures[future], future.result(), cache, codec.name, version, digests)
                bar.update()
    else:
        for i, q in todo:
            _store(found, (i, q), measure(codec, images[i][1], q), cache, codec.name, version, digests)
            bar.update()
    bar.close()
    small = sorted({images[i][0] for (i, _), m in found.items() if not math.isfinite(m["ms_ssim"])})
    if small:
        warnings.warn(f"MS-SSIM left out (NaN) for images too small for its scales: {', '.join(small)}", stacklevel=2)
    rows = []
    for i, q in jobs:
        name, image = images[i]
        m, (height, width) = found[i, q], image.shape[:2]
        rows.append(
            {
                "method": codec.name,
                "label": label,
                "quality": q,
                "dataset": dataset,
                "image": name,
                "height": height,
                "width": width,
                "bytes": m["bytes"],
                "bpp": metrics.bpp_from_bytes(m["bytes"], height, width),
                "bpp_estimated": math.nan,  # classical codecs: real bitstreams only
                "psnr": m["psnr"],
                "ms_ssim": m["ms_ssim"],
                "ms_ssim_db": metrics.ms_ssim_db(m["ms_ssim"]) if math.isfinite(m["ms_ssim"]) else math.nan,
                "encoding_time": m["encoding_time"],
                "decoding_time": m["decoding_time"],
                "profile": profile,
                "codec_version": version,
            }
        )
    return rows


def _codable(codec: Codec, images: list[tuple[str, np.ndarray]]) -> list[tuple[str, np.ndarray]]:
    """The images ``codec`` can code; the others (``codec.unsupported_reason(image)``) are left out with a warning."""
    reason_of = getattr(codec, "unsupported_reason", None)
    reasons = [reason_of(image) if reason_of else None for _, image in images]
    left_out = [f"{name} ({reason})" for (name, _), reason in zip(images, reasons, strict=True) if reason]
    if not left_out:
        return images
    if len(left_out) == len(images):
        raise ValueError(f"{codec.name} can code none of the {len(images)} images: {'; '.join(left_out)}")
    warnings.warn(
        f"{codec.name}: left out {len(left_out)} of {len(images)} images it cannot code: {'; '.join(left_out)} "
        "(its rows and means cover the others)",
        stacklevel=3,
    )
    return [image for image, reason in zip(images, reasons, strict=True) if not reason]


def _store(found, job, value, cache, name, version, digests) -> None:
    found[job] = value
    if cache:
        cache.put(value, name, version, job[1], digests[job[0]])


def _progress(total: int, description: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=description, disable=not enabled or total == 0, leave=False)


def write_results(rows: list[dict], codec: Codec, out_dir: str | os.PathLike, meta: dict) -> tuple[Path, Path]:
    """``<out_dir>/<codec>.csv`` (+ ``.meta.json``) and CompressAI's ``<out_dir>/<codec>.json``.

    ``meta["of"]``: how many images the dataset has; the meta then says ``images`` (the rows') of ``of``,
    and so does the JSON's description ("2 of 24 images"), so that a partial run never passes for a full one.
    """
    import pandas as pd

    from ..results import image_coverage, write_compressai_json, write_rows

    out_dir = Path(out_dir)
    csv = write_rows(rows, out_dir / f"{codec.name}.csv", meta={**meta, **codec.describe()})
    frame = pd.DataFrame(rows)
    coverage = image_coverage(frame, meta)
    partial = coverage["of"] not in (None, coverage["images"])
    images = f"{coverage['images']} of {coverage['of']}" if partial else str(coverage["images"])
    description = f"{codec.version}; real bitstreams, {images} images"
    json_path = write_compressai_json(frame, out_dir / f"{codec.name}.json", name=codec.label, description=description)
    return csv, json_path
