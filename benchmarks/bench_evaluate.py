"""What an evaluation costs against the bare codec it measures, and what worker threads gain.

Each round times, in a rotating order, over the same ``--images`` Kodak images (full size):

- ``bare codec``: ``model.compress`` + ``model.decompress`` per image, nothing else (the peer);
- ``codec + metrics``: the bare codec plus PSNR and MS-SSIM of the decoded images (what any evaluation
  costs; MS-SSIM's filtering of a full Kodak image is a sizeable share of it on a CPU);
- ``evaluate``: :func:`ndic.evaluate.evaluate` with one worker (real bitstreams, both rate estimates from the
  likelihoods of what ``compress`` coded, PSNR, MS-SSIM);
- ``evaluate, forward estimate``: the same with the estimate taken from an extra eval forward per image
  (:func:`ndic.models.base.compress_then_forward`), which is how ``evaluate`` estimated the rate before;
- ``evaluate, N workers``: :func:`ndic.evaluate.evaluate` with ``--workers`` threads (PyTorch's threads are
  split between them).

Ratios are taken within each round, so that a shared machine's drift hits both sides alike; the CSV gives
their median, min and max over ``--repeats`` rounds after ``--warmup``. Goals (stated, never asserted):
evaluate / bare codec <= 1.1; N workers faster than one on N cores.

    .venv/bin/python benchmarks/bench_evaluate.py --threads 2 --workers 2      # -> results/evaluate.csv
    .venv/bin/python benchmarks/bench_evaluate.py --quick                       # 16 filters, 2 images
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import ndic  # noqa: F401  (first: its _compat shim must run before compressai)

# isort: split
import pandas as pd
import torch

from ndic import data, metrics, models
from ndic.evaluate import evaluate
from ndic.io import atomic_write_text
from ndic.models.base import compress_then_forward
from ndic.results import machine_info

ROOT = Path(__file__).resolve().parents[1]
KODAK = ROOT.parent / "shared" / "data" / "kodak"
GOAL_EVALUATE = 1.1  # evaluate / bare codec


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="bmshj18", help="registry name (default bmshj18)")
    parser.add_argument("--images", type=int, default=4, help="Kodak images per round (default 4)")
    parser.add_argument("--workers", type=int, default=2, help="workers of the parallel case (default 2)")
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (default 1)")
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds (median and spread; default 3)")
    parser.add_argument("--warmup", type=int, default=1, help="discarded rounds first (default 1)")
    parser.add_argument("--quick", action="store_true", help="the quick profile's widths, 2 images")
    parser.add_argument("--kodak", type=Path, default=KODAK, help="folder of the Kodak PNGs")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "evaluate.csv")
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.warmup < 0 or args.threads < 1 or args.workers < 1:
        parser.error("--repeats, --threads and --workers must be at least 1, --warmup at least 0")
    if args.quick:
        args.images = min(args.images, 2)
    return args


def build(name: str, quick: bool) -> torch.nn.Module:
    torch.manual_seed(0)
    config = dict(models.get(name).quick_config) if quick else {}
    if name in ("bls17", "bmshj18") and quick:
        config = {"num_filters": 16}
    model = models.build(name, **config).eval()
    model.update(force=True)
    return model


class ForwardEstimate(torch.nn.Module):
    """``model`` with the default rate estimate (an extra eval forward), as evaluate worked before."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.inner = model
        self.distributed = getattr(model, "distributed", False)
        self.registry_name = getattr(model, "registry_name", type(model).__name__)

    def forward(self, *args):
        return self.inner(*args)

    def compress(self, x):
        return self.inner.compress(x)

    def decompress(self, *args, **kwargs):
        return self.inner.decompress(*args, **kwargs)

    def update(self, *args, **kwargs):
        return self.inner.update(*args, **kwargs)

    def compress_with_likelihoods(self, x, side=None):
        return compress_then_forward(self.inner, x, side)


def seconds(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    model = build(args.model, args.quick)
    dataset = data.load("kodak", "test", root=args.kodak)
    images = [dataset[i][None] for i in range(args.images)]

    def bare() -> None:
        with torch.no_grad():
            for x in images:
                encoded = model.compress(x)
                model.decompress(encoded["strings"], encoded["shape"])

    def with_metrics() -> None:
        with torch.no_grad():
            for x in images:
                encoded = model.compress(x)
                x_hat = model.decompress(encoded["strings"], encoded["shape"])["x_hat"]
                metrics.psnr(x, x_hat), metrics.ms_ssim(x, x_hat)

    def run(subject, workers: int) -> Callable[[], object]:
        return lambda: evaluate(subject, dataset, limit=args.images, update=False, progress=False, workers=workers)

    parallel = f"evaluate, {args.workers} workers"
    cases = {
        "bare codec": bare,
        "codec + metrics": with_metrics,
        "evaluate": run(model, 1),
        "evaluate, forward estimate": run(ForwardEstimate(model), 1),
        parallel: run(model, args.workers),
    }
    times: dict[str, list[float]] = {key: [] for key in cases}
    keys = list(cases)
    for round_ in range(args.warmup + args.repeats):
        order = keys[round_ % len(keys) :] + keys[: round_ % len(keys)]
        elapsed = {key: seconds(cases[key]) for key in order}
        if round_ >= args.warmup:
            for key, value in elapsed.items():
                times[key].append(value)
        print(f"round {round_ + 1}: " + ", ".join(f"{k} {v:.2f} s" for k, v in elapsed.items()), file=sys.stderr)

    machine = machine_info("cpu", "quick" if args.quick else "paper")
    comparisons = [  # (measure, subject, peer, goal): subject time / peer time within each round
        ("evaluate / bare codec", "evaluate", "bare codec", f"<= {GOAL_EVALUATE}"),
        ("evaluate / codec + metrics", "evaluate", "codec + metrics", "~1: the estimate and reading cost little"),
        ("codec + metrics / bare codec", "codec + metrics", "bare codec", "(the metrics' share)"),
        ("forward-estimate evaluate / bare codec", "evaluate, forward estimate", "bare codec", "(before; ~2)"),
        ("evaluate / forward-estimate evaluate", "evaluate", "evaluate, forward estimate", "< 1"),
        (f"{args.workers} workers / 1 worker (time)", parallel, "evaluate", f"< 1 on {args.workers} cores"),
    ]  # fmt: skip
    rows = []
    for measure, subject, peer, goal in comparisons:
        ratios = [s / p for s, p in zip(times[subject], times[peer], strict=True)]
        rows.append(
            {
                "measure": measure,
                "ratio_median": statistics.median(ratios),
                "ratio_min": min(ratios),
                "ratio_max": max(ratios),
                "goal": goal,
                "subject_s": statistics.median(times[subject]),
                "peer_s": statistics.median(times[peer]),
                "images_per_s_subject": args.images / statistics.median(times[subject]),
                "images_per_s_peer": args.images / statistics.median(times[peer]),
                "model": args.model,
                "config": str(model.config),
                "images": args.images,
                "image_size": "x".join(str(s) for s in images[0].shape[-2:]),
                "threads": args.threads,
                "workers": args.workers,
                "repeats": args.repeats,
                "warmup": args.warmup,
                **machine,
            }
        )
    frame = pd.DataFrame(rows)
    atomic_write_text(args.out, frame.to_csv(index=False))
    print(f"wrote {args.out}", file=sys.stderr)
    shown = ["measure", "ratio_median", "ratio_min", "ratio_max", "goal", "subject_s", "peer_s"]
    print(frame[shown].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
