"""cross_attention (NDIC-CAM) against ndic_bls17: training step and eval forward, fast vs plain attention.

One process, one thread by default (``--threads``). Each round times, in a rotating order: a
cross_attention training step with the fast attention (``CrossAttentionAlignment.fast = True``, the
default), one with the plain attention (``fast = False``: the original's order of operations), a
ndic_bls17 training step, then the three eval forwards (``torch.no_grad``). A training step is
``ndic.train.Trainer.train_step`` at the paper's recipe (as ``bench_train.py``: batch 1 of random
128x256 pairs, num_filters 192). Ratios are taken within each round, so that a shared machine's drift
hits both sides of a ratio alike; the CSV gives their median, min and max over ``--repeats`` rounds
(after ``--warmup`` discarded rounds), next to the medians of the times themselves.

Each round also times a 2048^2 fp32 matrix product: the GFLOP of the fast path's attention products
alone (:func:`attention_gflop`) divided by that rate is the "attention floor", the time no exact fp32
computation of this attention goes below on this machine, and "attention floor / ndic_bls17" is the
ratio to ndic_bls17 that cross_attention cannot beat even with free convolutions: where it exceeds the
goal, the goal is out of reach for an exact computation. The run records (``.meta.json``) the rate
before and after, the GFLOP per step of both paths, and the largest |x_hat fast - x_hat plain| of the
eval forward.

    .venv/bin/python benchmarks/bench_cross_attention.py                 # -> results/cross_attention.csv
    .venv/bin/python benchmarks/bench_cross_attention.py --repeats 9 --threads 2
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import ndic  # noqa: F401  (first: its _compat shim must run before compressai)

# isort: split
import pandas as pd
import torch
from bench_train import paper_config, synthetic_batch

from ndic.io import atomic_write_text
from ndic.results import machine_info
from ndic.train import Trainer

ROOT = Path(__file__).resolve().parents[1]
GOALS = {"train_step": 3.0, "eval_forward": 2.0}  # fast / ndic_bls17, the targets
KINDS = tuple(GOALS)
# the attention products of the fast path alone, at the machine's matrix-product rate: what no exact fp32
# computation of this attention goes below (the convolutions and everything else come on top)
FLOOR = "attention floor"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds (median and spread; default 5)")
    parser.add_argument("--warmup", type=int, default=1, help="discarded rounds first (default 1)")
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (default 1)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "cross_attention.csv")
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.warmup < 0 or args.threads < 1:
        parser.error("--repeats and --threads must be at least 1, --warmup at least 0")
    return args


def build_trainer(name: str) -> tuple[Trainer, list[torch.Tensor]]:
    """The paper's recipe on random pairs, as bench_train.py builds it."""
    torch.manual_seed(0)
    trainer = Trainer(
        paper_config(name, False, "cpu", False, False), train_set=torch.utils.data.TensorDataset(torch.zeros(1))
    )
    return trainer, synthetic_batch(trainer.config, trainer.distributed_model)


def set_fast(model: torch.nn.Module, fast: bool) -> None:
    for align in model.align:
        align.fast = fast


def seconds(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def eval_forward(model: torch.nn.Module, batch: list[torch.Tensor]) -> torch.Tensor:
    model.eval()
    try:
        with torch.no_grad():
            return model(*batch)["x_hat"]
    finally:
        model.train()


def matmul_gflops(repeats: int = 3, n: int = 2048) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    return 2 * n**3 / min(seconds(lambda: a @ b) for _ in range(repeats)) / 1e9


def attention_floor_s(gflop: float) -> float:
    """Seconds the attention products alone take at the fp32 matrix-product rate measured now (the best of
    three 2048^2 products): timed in every round, next to the steps it is compared with."""
    return gflop / matmul_gflops()


def attention_gflop(model: torch.nn.Module, batch: int, fast: bool, train: bool) -> float:
    """GFLOP of the attention products alone (q k^T and weights x values; in training also the four of the
    backward), per step: a floor that no exact fp32 implementation of these widths goes below."""
    total = 0
    for align in model.align:
        tokens = align.grid**2 * model.num_filters
        patch = align.patch[0] * align.patch[1]
        width = patch + 1 if fast and patch + 1 < align.dim else align.dim
        total += 2 * (2 * batch * align.heads * tokens**2 * width)
    return total * (3 if train else 1) / 1e9


def measure(args: argparse.Namespace) -> tuple[dict[str, dict[str, list[float]]], dict]:
    """Times per measure and case over the rounds, and the machine's matmul rate and the eval difference."""
    cross, batch = build_trainer("cross_attention")
    ndic_trainer, ndic_batch = build_trainer("ndic_bls17")

    def cross_attention(kind: str, fast: bool) -> Callable[[], object]:
        def run():
            set_fast(cross.model, fast)
            return cross.train_step(batch) if kind == "train_step" else eval_forward(cross.model, batch)

        return run

    def ndic_bls17(kind: str) -> Callable[[], object]:
        if kind == "train_step":
            return lambda: ndic_trainer.train_step(ndic_batch)
        return lambda: eval_forward(ndic_trainer.model, ndic_batch)

    cases = {}
    for kind in KINDS:
        cases[kind, "cross_attention fast"] = cross_attention(kind, True)
        cases[kind, "cross_attention plain"] = cross_attention(kind, False)
        cases[kind, "ndic_bls17"] = ndic_bls17(kind)
    gflop = {kind: attention_gflop(cross.model, len(batch[0]), True, kind == "train_step") for kind in KINDS}
    extra = {"matmul_gflops_before": matmul_gflops()}
    times: dict[tuple[str, str], list[float]] = {key: [] for key in cases}
    times.update({(kind, FLOOR): [] for kind in KINDS})
    keys = list(cases)
    for round_ in range(args.warmup + args.repeats):
        shift = round_ % len(keys)
        order = keys[shift:] + keys[:shift]  # rotated: no case always runs first
        elapsed = {key: seconds(cases[key]) for key in order}
        elapsed.update({(kind, FLOOR): attention_floor_s(gflop[kind]) for kind in KINDS})
        if round_ >= args.warmup:
            for key, value in elapsed.items():
                times[key].append(value)
        summary = ", ".join(f"{kind} {case} {value:.2f} s" for (kind, case), value in elapsed.items())
        print(f"round {round_ + 1}/{args.warmup + args.repeats}: {summary}", file=sys.stderr)
    extra["matmul_gflops_after"] = matmul_gflops()
    set_fast(cross.model, True)
    fast_x_hat = eval_forward(cross.model, batch)
    set_fast(cross.model, False)
    extra["eval_x_hat_max_abs_diff_fast_vs_plain"] = float((fast_x_hat - eval_forward(cross.model, batch)).abs().max())
    set_fast(cross.model, True)
    for fast in (True, False):
        for train in (True, False):
            key = f"attention_gflop_{'fast' if fast else 'plain'}_{'train' if train else 'eval'}"
            extra[key] = attention_gflop(cross.model, len(batch[0]), fast, train)
    by_kind: dict[str, dict[str, list[float]]] = {}
    for (kind, case), values in times.items():
        by_kind.setdefault(kind, {})[case] = values
    return by_kind, extra


def rows_of(by_kind: dict[str, dict[str, list[float]]]) -> list[dict]:
    rows = []
    ratios = {
        "fast / ndic_bls17": ("cross_attention fast", "ndic_bls17"),
        "plain / ndic_bls17": ("cross_attention plain", "ndic_bls17"),
        "fast / plain": ("cross_attention fast", "cross_attention plain"),
        f"{FLOOR} / ndic_bls17": (FLOOR, "ndic_bls17"),
    }
    for kind, cases in by_kind.items():
        series = {case: (values, "s") for case, values in cases.items()}
        for label, (top, bottom) in ratios.items():  # per round: both sides timed minutes apart at most
            series[label] = ([a / b for a, b in zip(cases[top], cases[bottom], strict=True)], "ratio")
        for quantity, (values, unit) in series.items():
            rows.append(
                {
                    "measure": kind,
                    "quantity": quantity,
                    "unit": unit,
                    "median": statistics.median(values),
                    "min": min(values),
                    "max": max(values),
                    "runs": json.dumps([round(v, 4) for v in values]),
                    "goal": GOALS[kind] if quantity == "fast / ndic_bls17" else None,
                }
            )
    return rows


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    by_kind, extra = measure(args)
    machine = machine_info("cpu", "paper")
    frame = pd.DataFrame([{**row, **machine} for row in rows_of(by_kind)])
    atomic_write_text(args.out, frame.to_csv(index=False))
    meta = {
        **machine,
        "models": {
            "cross_attention": {"num_filters": 192, "image_size": [128, 256]},
            "ndic_bls17": {"num_filters": 192},
        },
        "batch": "1 random 128x256 pair (seed 0)",
        "repeats": args.repeats,
        "warmup_rounds": args.warmup,
        **extra,
    }
    atomic_write_text(args.out.with_suffix(".meta.json"), json.dumps(meta, indent=2) + "\n")
    for row in frame.itertuples():
        if row.unit == "ratio":
            print(
                f"{row.measure:12s} {row.quantity:29s} {row.median:.2f} (min {row.min:.2f}, max {row.max:.2f})",
                file=sys.stderr,
            )
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
