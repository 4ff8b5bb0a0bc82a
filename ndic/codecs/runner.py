"""Sweep images over a codec's qualities: real bitstreams, cached, in parallel processes.

For every (image, quality) the codec encodes the image, the bytes are counted (``bpp`` =
8 bytes / pixels), the bytes are decoded and PSNR / MS-SSIM are measured with ``ndic.metrics``,
exactly as for the learned models. Each measurement is cached on disk under a key of (codec name,
codec version, quality, SHA-256 of the image), so a second run, or a run that adds images or
qualities, only codes what is new; changing the encoder or a bitstream setting changes the version
and therefore the key. Results are the per-image rows of :mod:`ndic.results` (CSV, with provenance
in ``.meta.json``) plus CompressAI's JSON layout.

Command line: ``python -m ndic baselines --data ../shared/data/kodak --codecs bpg vvc --out results/kodak``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import re
import sys
import time
import warnings
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from ..io import atomic_write_text
from .base import Codec, CodecUnavailable, as_rgb8, get

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


def load_images(source: str | os.PathLike, limit: int | None = None) -> list[tuple[str, np.ndarray]]:
    """``(id, RGB uint8 image)`` pairs from an image file, a folder of images, or a ``ndic.data`` name."""
    path = Path(source)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise FileNotFoundError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in {path}")
    elif path.is_file():
        files = [path]
    else:
        return _dataset_images(str(source), limit)
    from ..data import read_rgb

    return [(f.stem, read_rgb(f)) for f in files[:limit]]


def _dataset_images(name: str, limit: int | None) -> list[tuple[str, np.ndarray]]:
    from .. import data

    if name not in data.names():
        raise FileNotFoundError(
            f"{name!r} is neither an image file, a folder, nor a dataset ({', '.join(data.names())})"
        )
    dataset = data.load(name, "test")
    if dataset.stereo:
        raise ValueError(f"{name} is a stereo dataset; classical codecs take single images (give a folder)")
    count = len(dataset) if limit is None else min(limit, len(dataset))
    to_uint8 = lambda x: (x.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()  # noqa: E731
    return [(dataset.ids[i], to_uint8(dataset[i])) for i in range(count)]


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

    ``workers`` > 1 runs measurements in that many processes; ``cache`` (a folder or a
    :class:`ResultCache`; ``None``: no cache) skips measurements done before.
    """
    from .. import metrics

    codec.check()
    qualities = list(codec.qualities if qualities is None else qualities)
    if not qualities:
        raise ValueError(f"no qualities to sweep for {codec.name}")
    cache = ResultCache(cache) if isinstance(cache, (str, os.PathLike)) else cache
    version, label = codec.version, codec.label
    images = [(name, as_rgb8(image)) for name, image in images]
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
        context = get_context("spawn")  # a clean interpreter: no inherited threads or torch state
        with ProcessPoolExecutor(min(workers, len(todo)), mp_context=context, initializer=_init_worker) as pool:
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


def _store(found, job, value, cache, name, version, digests) -> None:
    found[job] = value
    if cache:
        cache.put(value, name, version, job[1], digests[job[0]])


def _progress(total: int, description: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=description, disable=not enabled or total == 0, leave=False)


def write_results(rows: list[dict], codec: Codec, out_dir: str | os.PathLike, meta: dict) -> tuple[Path, Path]:
    """``<out_dir>/<codec>.csv`` (+ ``.meta.json``) and CompressAI's ``<out_dir>/<codec>.json``."""
    import pandas as pd

    from ..results import write_compressai_json, write_rows

    out_dir = Path(out_dir)
    csv = write_rows(rows, out_dir / f"{codec.name}.csv", meta={**meta, **codec.describe()})
    frame = pd.DataFrame(rows)
    description = f"{codec.version}; real bitstreams, {frame['image'].nunique()} images"
    json_path = write_compressai_json(frame, out_dir / f"{codec.name}.json", name=codec.label, description=description)
    return csv, json_path


def write_bd_rates(out_dir: str | os.PathLike, dataset: str, meta: dict | None = None) -> Path | None:
    """``<out_dir>/bd_rates.csv``: every result CSV in ``out_dir`` against the published VTM and BPG curves.

    Both BD methods, on PSNR and on MS-SSIM (dB) (``metric``; ``BD-quality`` is in dB of that metric).
    None when nothing was published for ``dataset``.
    """
    import pandas as pd

    from .. import published
    from ..plot import bd_table, curves_from_published, curves_from_results
    from ..results import read_rows

    try:
        references = [
            curves_from_published(published.points(m, "compressai", dataset=dataset))[0] for m in ("vtm", "bpg")
        ]
    except ValueError:
        return None
    files = sorted(p for p in Path(out_dir).glob("*.csv") if p.name != "bd_rates.csv")
    if not files:
        return None
    ours = curves_from_results(read_rows(*files))
    tables = []
    for reference in references:
        for metric in ("psnr", "ms_ssim_db"):
            table = bd_table([reference, *ours], reference, metric).reset_index()
            table.columns = [re.sub(r"^BD-(PSNR|MS-SSIM) ", "BD-quality ", c) for c in table.columns]
            tables.append(table.assign(reference=reference.label, metric=metric))
    frame = pd.concat(tables, ignore_index=True)
    first = ["curve", "reference", "metric"]
    frame = frame[first + [c for c in frame.columns if c not in first and c != "kind"]]
    path = atomic_write_text(Path(out_dir) / "bd_rates.csv", frame.to_csv(index=False, float_format="%.4f"))
    if meta is not None:
        sources = {
            r.label: "InterDigitalInc/CompressAI results/image/kodak (ndic/published_rd.csv)" for r in references
        }
        atomic_write_text(path.with_suffix(".meta.json"), json.dumps({**meta, "references": sources}, indent=2) + "\n")
    return path


# ---------------------------------------------------------------------------- command line
def add_arguments(parser: argparse.ArgumentParser, name: str = "baselines") -> None:
    parser.epilog = (
        "Example: python -m ndic baselines --data ../shared/data/kodak --out results/kodak --profile paper. "
        "VTM runs instead of vvenc when VTM_ENCODER (and VTM_DECODER, VTM_CONFIG) are set."
    )
    parser.add_argument("--data", required=True, help="a folder of images, one image, or an ndic.data dataset name")
    parser.add_argument("--dataset", default=None, help="dataset name in the result rows (default: folder name)")
    parser.add_argument("--codecs", nargs="+", default=list(DEFAULT_CODECS), help="codec names (default: all)")
    parser.add_argument("--qualities", nargs="+", type=float, default=None, help="override the sweep (one codec)")
    parser.add_argument("--out", default=None, help="output folder (default: results/<dataset>)")
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1), help="parallel processes")
    parser.add_argument("--cache", default=None, help=f"cache folder (default: ${CACHE_ENV} or ~/.cache/ndic/codecs)")
    parser.add_argument("--no-cache", action="store_true", help="measure everything again")
    parser.add_argument("--limit", type=int, default=None, help="first N images only")
    parser.add_argument("--profile", choices=("quick", "paper"), default="quick", help="label of the rows")


def run(args: argparse.Namespace, name: str = "baselines") -> int:
    from ..results import provenance

    if args.qualities and len(args.codecs) != 1:
        print("error: --qualities needs exactly one codec (each codec has its own quality scale)", file=sys.stderr)
        return 2
    try:
        images = load_images(args.data, args.limit)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    dataset = args.dataset or Path(args.data).name
    out_dir = Path(args.out or Path("results") / dataset)
    cache = None if args.no_cache else ResultCache(args.cache or default_cache_dir())
    meta = provenance(args.profile, " ".join(["python -m ndic", name, *sys.argv[2:]]))
    meta.update({"dataset": dataset, "data": str(args.data), "images": len(images)})
    status = 0
    for codec_name in args.codecs:
        try:
            codec = get(codec_name)
            rows = sweep(codec, images, args.qualities, dataset, args.workers, cache, args.profile)
        except CodecUnavailable as reason:
            print(f"skipped {codec_name}: {reason}", file=sys.stderr)
            continue
        except (KeyError, ValueError, RuntimeError) as error:
            print(f"error: {codec_name}: {error}", file=sys.stderr)
            status = 1
            continue
        csv, _ = write_results(rows, codec, out_dir, meta)
        _print_summary(rows, csv)
    table = write_bd_rates(out_dir, dataset, meta)
    if table:
        print(f"BD-rates against the published VTM and BPG curves: {table}")
    return status


def _print_summary(rows: list[dict], csv: Path) -> None:
    import pandas as pd

    from ..results import summarize

    table = summarize(pd.DataFrame(rows))[["label", "quality", "bpp", "psnr", "ms_ssim_db", "encoding_time"]]
    print(f"{csv}:\n{table.to_string(index=False, float_format=lambda v: f'{v:.4g}')}")
