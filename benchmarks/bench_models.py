"""Speed of every registered model: forward, compress and decompress, on CPU and on CUDA when present.

Inputs:
- distributed models, and the single-image NDIC-CAM baselines, at 128x256: a KITTI stereo pair from
  ``../shared/data/kitti_samples`` with NDIC-CAM's preprocessing (centre crop 370x740, resize), or,
  without it, scikit-image's Middlebury Motorcycle pair cropped to 1:2 and resized;
- single-image models on a Kodak image (``../shared/data/kodak/kodim01.png``, ``--kodak PATH``, or
  scikit-image's astronaut when neither exists). The CSV names the input actually used.

Peers measured in the same run: ``bmshj18`` against CompressAI's ``bmshj2018-hyperprior`` architecture
(``ScaleHyperprior`` with N = M = the same width, untrained), the two timed back to back in each of
``--repeats`` rounds: ``<op>_ratio_to_peer`` (ours / CompressAI's) with its min and max over the rounds.
NDIC-CAM's bmshj18 differs from CompressAI's in small ways (no ReLU between h_a's first convolutions, h_s
without exp, zero-mean Gaussian, its own bottleneck for z; see :class:`ndic.models.balle.BMSHJ18`).

Each time is the median of ``--repeats`` runs after ``--warmup`` discarded ones, in eval mode under
``torch.no_grad``, with ``torch.cuda.synchronize`` around CUDA runs. Weights are untrained (seed 0):
network times do not depend on the weights, entropy-coding times do (through the number of bits),
so compress/decompress times of trained models differ somewhat.

The same run measures the machine's fp32 matrix-product GFLOP/s (a large square matmul, timed just
before each model, since a shared machine's speed drifts) and, for ``cross_attention``: the FLOPs of
its three attention modules as the original formulates them (analytic, :func:`nominal_attention_flops`,
about 270 GFLOP at the default width), the GFLOP/s its forward achieves on them (those FLOPs / the
whole forward time, the issue's measure) and its share of the matmul rate, the FLOPs this
implementation actually executes (counted with ``torch.utils.flop_counter``), and its forward time
relative to ``ndic_bls17``'s (the issue's target: at most 8x).

    .venv/bin/python benchmarks/bench_models.py                    # default widths -> results/models.csv
    .venv/bin/python benchmarks/bench_models.py --quick            # small widths, 256x256 crop: smoke test
    .venv/bin/python benchmarks/bench_models.py --models ndic_bls17,cross_attention --repeats 9
"""

from __future__ import annotations

import argparse
import inspect
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import ndic  # noqa: F401  (first: its _compat shim must run before compressai)

# isort: split
import numpy as np
import pandas as pd
import torch

from ndic import models
from ndic.bitstream import ensure_coder_tables
from ndic.data.decode import read_rgb
from ndic.data.transforms import PairTransform, to_tensor
from ndic.io import atomic_write_text
from ndic.results import machine_info

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
KITTI_PAIR = ("kitti_samples/color/image_2", "kitti_samples/color/image_3", "kitti15_training_000046_10.png")
NDIC_SIZE = (128, 256)

# --quick: small widths that keep every architecture (a smoke test, not the papers' models)
QUICK_CONFIGS = {
    "bls17": {"num_filters": 32},
    "bmshj18": {"num_filters": 32},
    "ndic_bls17": {"num_filters": 32},
    "ndic_bmshj18": {"num_filters": 32},
    "cross_attention": {"num_filters": 32},
    "wacnn": {"N": 40, "M": 80},
    "stf": {"embed_dim": 24, "depths": [1, 1, 1, 1], "num_heads": [1, 2, 4, 8]},
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", help="comma-separated registry names (default: every registered model)")
    parser.add_argument("--device", help="comma-separated devices (default: cpu, plus cuda when available)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per measurement (median; default 5)")
    parser.add_argument("--warmup", type=int, default=1, help="discarded runs before timing (default 1)")
    parser.add_argument("--threads", type=int, help="torch.set_num_threads (default: torch's choice)")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="small widths and a 256x256 Kodak crop (smoke test; not the papers' models)",
    )
    parser.add_argument("--kodak", type=Path, help="Kodak image for single-image models (default: kodim01)")
    parser.add_argument("--out", type=Path, help="CSV (default: benchmarks/results/models[_quick].csv)")
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.warmup < 0:
        parser.error("--repeats must be >= 1 and --warmup >= 0")
    default = "models_quick.csv" if args.quick else "models.csv"
    args.out = args.out or ROOT / "benchmarks" / "results" / default
    return args


# ---------------------------------------------------------------- inputs


def stereo_pair() -> tuple[torch.Tensor, torch.Tensor, str]:
    """(x, y) at 128x256 as (1, 3, H, W) tensors, and a label naming their source."""
    left, right, name = KITTI_PAIR
    if (SHARED_DATA / left / name).is_file():
        transform, label = PairTransform(NDIC_SIZE, crop="kitti"), f"KITTI {Path(name).stem}"
        x, y = read_rgb(SHARED_DATA / left / name), read_rgb(SHARED_DATA / right / name)
    else:
        from skimage import data as skdata

        transform, label = PairTransform(NDIC_SIZE, crop="aspect"), "skimage stereo_motorcycle"
        x, y, _ = skdata.stereo_motorcycle()
    x, y = transform(x, y)
    return x[None], y[None], label


def kodak_image(path: Path | None, quick: bool) -> tuple[torch.Tensor, str]:
    """The single-image input and its label (``quick``: its central 256x256 crop)."""
    path = path or SHARED_DATA / "kodak" / "kodim01.png"
    if path.is_file():
        image, label = read_rgb(path), path.stem
    else:
        from skimage import data as skdata

        image, label = skdata.astronaut(), "skimage astronaut (no Kodak image found)"
    if quick:
        top, left = (image.shape[0] - 256) // 2, (image.shape[1] - 256) // 2
        image, label = image[top : top + 256, left : left + 256], f"{label} (centre 256x256)"
    return to_tensor(image)[None], label


# ---------------------------------------------------------------- measurements


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_seconds(fn: Callable[[], object], device: torch.device, repeats: int, warmup: int) -> float:
    """Median wall time of ``fn`` over ``repeats`` runs after ``warmup`` discarded ones."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        _synchronize(device)
        start = time.perf_counter()
        fn()
        _synchronize(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def matmul_gflops(device: torch.device, repeats: int, quick: bool) -> float:
    """fp32 GFLOP/s of a large square matrix product (2 n^3 FLOPs), the machine's practical peak."""
    n = (1024 if quick else 2048) if device.type == "cpu" else 8192
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    return 2 * n**3 / median_seconds(lambda: a @ b, device, repeats, warmup=1) / 1e9


def attention_modules(model: torch.nn.Module) -> list[str]:
    """Qualified names of the outermost submodules whose class is an attention module."""
    names = [n for n, m in model.named_modules() if n and "attention" in type(m).__name__.lower()]
    return [n for n in names if not any(n.startswith(other + ".") for other in names)]


def count_flops(model: torch.nn.Module, inputs: tuple[torch.Tensor, ...], modules: list[str]) -> tuple[int, int]:
    """FLOPs of one eval forward: (in the given submodules, in total), by torch's FLOP counter."""
    from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

    def fused_attention_flops(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
        return sdpa_flop_count(query_shape, key_shape, value_shape)

    # torch counts its CUDA fused-attention kernels; the CPU one computes the same two products
    cpu_attention = getattr(torch.ops.aten, "_scaled_dot_product_flash_attention_for_cpu", None)
    mapping = {cpu_attention: fused_attention_flops} if cpu_attention is not None else {}
    counter = FlopCounterMode(display=False, custom_mapping=mapping)
    with torch.no_grad(), counter:
        model(*inputs)
    counts = counter.get_flop_counts()
    root = type(model).__name__
    in_modules = sum(sum(counts.get(f"{root}.{name}", {}).values()) for name in modules)
    return in_modules, counter.get_total_flops()


def nominal_attention_flops(config: dict) -> int:
    """FLOPs of cross_attention's three modules as the original formulates them (the issue's ~270 GFLOP).

    NDIC-CAM's modules sit after the first three synthesis layers (features at 1/8, 1/4 and 1/2 of the
    image), with ``num_filters`` channels each cut into a 4x4 grid of patches: L = 16 * num_filters
    tokens of P patch pixels, embedded to D = 256, 8 heads of width 256 (inner I = 2048). Per module:
    two embeddings (2 * 2LPD), x's queries and y's keys and values (2LD * 3I), q k^T and attention x v
    (2 * 2L^2 I), the output projection (2LID) and the un-embedding (2LDP). An implementation may
    execute fewer (the counted ``attention_gflop_executed``) with the same outputs.
    """
    dim, inner, grid = 256, 8 * 256, 4
    height, width = config["image_size"]
    tokens = grid * grid * config["num_filters"]
    total = 0
    for scale in (8, 4, 2):
        patch = (height // scale // grid) * (width // scale // grid)
        total += 2 * tokens * dim * (2 * patch + 3 * inner + inner + patch) + 4 * tokens**2 * inner
    return total


def model_config(name: str, quick: bool) -> dict:
    """The benchmark's config: defaults (or quick widths), at 128x256 for the NDIC-CAM family."""
    config = dict(QUICK_CONFIGS.get(name, {})) if quick else {}
    if "image_size" in inspect.signature(models.get(name).__init__).parameters:
        config["image_size"] = list(NDIC_SIZE)
    return config


def compressai_peer(name: str, model: torch.nn.Module) -> tuple[str, torch.nn.Module] | None:
    """CompressAI's model of the same architecture and width, when it has one (untrained, seed 0)."""
    if name != "bmshj18":
        return None
    from compressai.models import ScaleHyperprior

    torch.manual_seed(0)
    width = model.config["num_filters"]
    peer = ScaleHyperprior(N=width, M=width).eval()
    peer.update(force=True)
    return f"CompressAI bmshj2018-hyperprior (ScaleHyperprior N=M={width})", peer


def peer_ratios(model, peer, x: torch.Tensor, device: torch.device, args: argparse.Namespace) -> dict:
    """ours / peer time of forward, compress and decompress, each pair timed back to back (median, min, max)."""
    ratios: dict[str, list[float]] = {"forward": [], "compress": [], "decompress": []}
    with torch.no_grad():
        coded = {"ours": model.compress(x), "peer": peer.compress(x)}
        subjects = {"ours": model, "peer": peer}

        def run(who: str, op: str) -> float:
            net, code = subjects[who], coded[who]
            fn = {"forward": lambda: net(x), "compress": lambda: net.compress(x),
                  "decompress": lambda: net.decompress(code["strings"], code["shape"])}[op]  # fmt: skip
            return median_seconds(fn, device, repeats=1, warmup=0)

        for round_ in range(args.warmup + args.repeats):
            for op in ratios:
                pair = ("ours", "peer") if round_ % 2 == 0 else ("peer", "ours")  # alternate who runs first
                elapsed = {who: run(who, op) for who in pair}
                if round_ >= args.warmup:
                    ratios[op].append(elapsed["ours"] / elapsed["peer"])
    row = {}
    for op, values in ratios.items():
        row |= {f"{op}_ratio_to_peer": statistics.median(values), f"{op}_ratio_to_peer_min": min(values),
                f"{op}_ratio_to_peer_max": max(values)}  # fmt: skip
    return row


def time_case(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor | None, device, args) -> dict:
    """Forward, compress and decompress medians of one input (``y``: side image of distributed models)."""
    forward_inputs = (x, y) if y is not None else (x,)
    side = {"side": y} if y is not None else {}
    with torch.no_grad():
        coded = model.compress(x)
        times = {
            "forward_s": lambda: model(*forward_inputs),
            "compress_s": lambda: model.compress(x),
            "decompress_s": lambda: model.decompress(coded["strings"], coded["shape"], **side),
        }
        row = {key: median_seconds(fn, device, args.repeats, args.warmup) for key, fn in times.items()}
    row["payload_bytes"] = sum(len(s) for per_latent in coded["strings"] for s in per_latent)
    return row


def bench_model(
    name: str, model: torch.nn.Module, inputs: dict, device: torch.device, args: argparse.Namespace
) -> list[dict]:
    """One row per input the model runs on: 128x256 for the NDIC-CAM family, Kodak for single-image models."""
    distributed = bool(getattr(model, "distributed", False))
    ndic_family = "image_size" in model.config
    cases = (["pair"] if distributed or ndic_family else []) + ([] if distributed else ["kodak"])
    rows = []
    for kind in cases:
        x, y, label = inputs[kind]
        x, y = x.to(device), (y.to(device) if distributed else None)
        row = {"model": name, "input": label, "height": x.shape[-2], "width": x.shape[-1], "device": str(device)}
        row.update(time_case(model, x, y, device, args))
        peer = compressai_peer(name, model)
        if peer is not None:
            row["peer"] = peer[0]
            row.update(peer_ratios(model, peer[1].to(device), x, device, args))
        if name == "cross_attention":
            attention = attention_modules(model)
            executed, total = count_flops(model, (x, y), attention)
            nominal = nominal_attention_flops(model.config)
            row.update(
                attention_modules=" ".join(attention),
                attention_gflop=nominal / 1e9,
                attention_gflops_achieved=nominal / 1e9 / row["forward_s"],
                attention_gflop_executed=executed / 1e9,
                forward_gflop_executed=total / 1e9,
            )
        rows.append(row)
    return rows


# ---------------------------------------------------------------- run


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    names = args.models.split(",") if args.models else models.names()
    names = [models.canonical(n) for n in names]
    devices = args.device.split(",") if args.device else ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    profile = "quick" if args.quick else "default"
    x, y, pair_label = stereo_pair()
    kodak, kodak_label = kodak_image(args.kodak, args.quick)
    inputs = {"pair": (x, y, pair_label), "kodak": (kodak, None, kodak_label)}
    print(f"inputs: {pair_label} {tuple(x.shape[-2:])}; {kodak_label} {tuple(kodak.shape[-2:])}", file=sys.stderr)

    rows = []
    for device_name in devices:
        device = torch.device(device_name)
        machine = machine_info(device, profile)
        for name in names:
            matmul = matmul_gflops(device, args.repeats, args.quick)
            config = model_config(name, args.quick)
            torch.manual_seed(0)
            model = models.build(name, **config).to(device).eval()
            ensure_coder_tables(model)
            parameters = sum(p.numel() for p in model.parameters())
            for row in bench_model(name, model, inputs, device, args):
                rows.append(
                    {
                        **row,
                        "config": json.dumps(model.config, sort_keys=True),
                        "parameters": parameters,
                        "repeats": args.repeats,
                        "warmup": args.warmup,
                        "weights": "untrained (seed 0)",
                        "matmul_gflops": matmul,
                        **machine,
                    }
                )
                times = ", ".join(f"{key[:-2]} {row[key]:.4f} s" for key in ("forward_s", "compress_s", "decompress_s"))
                print(f"  {name:16s} {row['input'][:16]:16s} matmul {matmul:6.1f} GFLOP/s, {times}", file=sys.stderr)
            del model

    frame = pd.DataFrame(rows)
    if "attention_gflops_achieved" in frame:
        frame["attention_share_of_matmul"] = frame["attention_gflops_achieved"] / frame["matmul_gflops"]
    _add_ratio(frame)
    atomic_write_text(args.out, frame.to_csv(index=False))
    print(f"wrote {args.out}", file=sys.stderr)
    shown = ["model", "input", "device", "forward_s", "compress_s", "decompress_s", "matmul_gflops"]
    extra = ("attention_gflop", "attention_gflops_achieved", "attention_share_of_matmul", "forward_ratio_to_ndic_bls17",
             "forward_ratio_to_peer", "compress_ratio_to_peer", "decompress_ratio_to_peer")  # fmt: skip
    shown += [c for c in extra if c in frame]
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(frame[shown].to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    return 0


def _add_ratio(frame: pd.DataFrame) -> None:
    """cross_attention forward / ndic_bls17 forward, same device and input (the issue's target: <= 8)."""
    if frame.empty or not {"cross_attention", "ndic_bls17"} <= set(frame["model"]):
        return
    base = frame[frame["model"] == "ndic_bls17"].set_index(["device", "input"])["forward_s"]
    ratio = np.full(len(frame), np.nan)
    for i, row in enumerate(frame.itertuples()):
        if row.model == "cross_attention" and (row.device, row.input) in base.index:
            ratio[i] = row.forward_s / base[(row.device, row.input)]
    frame["forward_ratio_to_ndic_bls17"] = ratio


if __name__ == "__main__":
    sys.exit(main())
