"""Training throughput (images per second) of every model at its paper's batch and crop size.

One training step is exactly what ``ndic.train.Trainer.train_step`` does (forward, the paper's
rate-distortion loss, backward, clipping and the optimiser steps of the model's recipe, the aux
step for models with quantiles). Batches:

- NDIC-CAM models (``ndic_cam`` recipe): batch 1 of 128x256 (pairs for the distributed models);
- STF / WACNN (``stf`` recipe): batch 16 of 256x256 crops.

Peer in the same run: ``bmshj18`` against a plain CompressAI step of ``ScaleHyperprior`` (bmshj2018-hyperprior)
at the same width and batch, the two steps back to back in each of ``--repeats`` rounds after ``--warmup``:
``step_ratio_to_peer`` (ours / CompressAI's; median, min, max). Ours also clips gradients and logs its losses.

Inputs are random images (seed 0): the cost of a training step does not depend on the content
(no entropy coding happens while training). Data loading is not included. Each figure is the median
over ``--repeats`` runs of ``--steps`` steps after ``--warmup`` discarded steps. CPU runs are bounded
(default: 1 step per run, 3 runs, fewer when the runs would exceed ``--budget`` seconds: the
``repeats`` column says how many were made); on CUDA each model is also measured with bf16
autocast and channels_last.

    .venv/bin/python benchmarks/bench_train.py                  # paper widths -> results/train.csv
    .venv/bin/python benchmarks/bench_train.py --quick          # small widths (the quick profile's)
    .venv/bin/python benchmarks/bench_train.py --models bls17,stf --device cuda --steps 10
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import ndic  # noqa: F401  (first: its _compat shim must run before compressai)

# isort: split
import pandas as pd
import torch

from ndic import models
from ndic.config import Config
from ndic.io import atomic_write_text
from ndic.results import machine_info
from ndic.train import Trainer

ROOT = Path(__file__).resolve().parents[1]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", help="comma-separated registry names (default: every registered model)")
    parser.add_argument("--device", help="comma-separated devices (default: cpu, plus cuda when available)")
    parser.add_argument("--steps", type=int, help="timed steps per run (default: 1 on CPU, 10 on CUDA)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs (median; default 3)")
    parser.add_argument("--warmup", type=int, default=1, help="discarded steps first (default 1)")
    parser.add_argument("--threads", type=int, help="torch.set_num_threads (default: torch's choice)")
    parser.add_argument("--budget", type=float, default=120.0,
                        help="seconds of timed steps per model and device: fewer runs when a step is slower "
                             "(at least one; default 120)")  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="the quick profile's small widths (not the papers')")
    parser.add_argument("--out", type=Path, help="CSV (default: benchmarks/results/train[_quick].csv)")
    args = parser.parse_args(argv)
    args.out = args.out or ROOT / "benchmarks" / "results" / ("train_quick.csv" if args.quick else "train.csv")
    return args


def paper_config(name: str, quick: bool, device: str, amp: bool, channels_last: bool) -> Config:
    """The recipe, batch and crop of the model's paper (widths: the paper's, or the quick profile's)."""
    config = Config(model=name, profile="quick" if quick else "paper", device=device, amp=amp,
                    channels_last=channels_last, save_weights=False, progress=False, val_split="none",
                    save_output_path=tempfile.mkdtemp(prefix="bench_train_"))  # fmt: skip
    paper = Config(model=name).resolved()  # batch and crop always the paper's
    return config.update({"train_batch_size": paper.train_batch_size, "crop": paper.crop, "resize": paper.resize})


def synthetic_batch(config: Config, distributed: bool) -> torch.Tensor | list[torch.Tensor]:
    size = tuple(config.resize) if config.resize else (config.crop, config.crop)
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(config.train_batch_size, 3, *size, generator=generator)
    return [x, torch.rand(x.shape, generator=generator)] if distributed else x


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def compressai_step(name: str, trainer: Trainer, batch) -> tuple[str, object] | None:
    """A plain CompressAI training step of the same architecture and width (the peer), when there is one:
    ``bmshj18`` against ``ScaleHyperprior(N=M=width)``: forward, MSE + rate loss, backward, Adam step, aux step."""
    if name != "bmshj18":
        return None
    from compressai.models import ScaleHyperprior

    torch.manual_seed(0)
    width = trainer.model.config["num_filters"]
    net = ScaleHyperprior(N=width, M=width).to(trainer.device).train()
    main = [p for n, p in net.named_parameters() if not n.endswith(".quantiles")]
    optimizer = torch.optim.Adam(main, lr=1e-4)
    aux_optimizer = torch.optim.Adam([p for n, p in net.named_parameters() if n.endswith(".quantiles")], lr=1e-3)
    x = (batch[0] if isinstance(batch, list) else batch).to(trainer.device)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        aux_optimizer.zero_grad(set_to_none=True)
        out = net(x)
        bpp = sum(-torch.log2(v).sum() for v in out["likelihoods"].values()) / (x.shape[0] * x.shape[-2] * x.shape[-1])
        (bpp + 0.01 * 255**2 * torch.nn.functional.mse_loss(out["x_hat"], x)).backward()
        optimizer.step()
        net.aux_loss().backward()
        aux_optimizer.step()

    return f"CompressAI ScaleHyperprior N=M={width}, plain step", step


def peer_ratio(trainer: Trainer, batch, peer_step, args: argparse.Namespace) -> list[float]:
    """ours / peer time of one training step, the two back to back (alternating first) in each round."""
    ratios = []
    for round_ in range(args.warmup + args.repeats):
        timed = {}
        for who in ("ours", "peer") if round_ % 2 == 0 else ("peer", "ours"):
            _synchronize(trainer.device)
            start = time.perf_counter()
            trainer.train_step(batch) if who == "ours" else peer_step()
            _synchronize(trainer.device)
            timed[who] = time.perf_counter() - start
        if round_ >= args.warmup:
            ratios.append(timed["ours"] / timed["peer"])
    return ratios


def bench(config: Config, args: argparse.Namespace) -> dict:
    try:
        return _bench(config, args)
    finally:
        shutil.rmtree(config.save_output_path, ignore_errors=True)


def _bench(config: Config, args: argparse.Namespace) -> dict:
    torch.manual_seed(0)
    dataset = torch.utils.data.TensorDataset(torch.zeros(1))  # unused: steps are fed directly
    trainer = Trainer(config, train_set=dataset)
    batch = synthetic_batch(trainer.config, trainer.distributed_model)
    steps = args.steps or (10 if trainer.device.type == "cuda" else 1)
    start = time.perf_counter()
    for _ in range(args.warmup):
        trainer.train_step(batch)
    warmup_step = (time.perf_counter() - start) / max(args.warmup, 1)
    repeats = max(1, min(args.repeats, int(args.budget // max(warmup_step * steps, 1e-9))))
    rates = []
    for _ in range(repeats):
        _synchronize(trainer.device)
        start = time.perf_counter()
        for _ in range(steps):
            trainer.train_step(batch)
        _synchronize(trainer.device)
        rates.append(steps * trainer.config.train_batch_size / (time.perf_counter() - start))
    images_per_s = statistics.median(rates)
    peer = compressai_step(trainer.model.registry_name, trainer, batch)
    compared = {}
    if peer is not None:
        ratios = peer_ratio(trainer, batch, peer[1], args)
        compared = {"peer": peer[0], "step_ratio_to_peer": statistics.median(ratios),
                    "step_ratio_to_peer_min": min(ratios), "step_ratio_to_peer_max": max(ratios)}  # fmt: skip
    size = batch[0].shape[-2:] if isinstance(batch, list) else batch.shape[-2:]
    return {
        "model": trainer.model.registry_name,
        "config": json.dumps(trainer.model.config, sort_keys=True),
        "parameters": sum(p.numel() for p in trainer.model.parameters()),
        "recipe": trainer.config.recipe,
        "device": str(trainer.device),
        "amp": str(trainer.amp_dtype).replace("torch.", "") if trainer.amp_dtype else "fp32",
        "channels_last": trainer.config.channels_last,
        "batch": trainer.config.train_batch_size,
        "height": int(size[0]),
        "width": int(size[1]),
        "images_per_s": images_per_s,
        "step_s": trainer.config.train_batch_size / images_per_s,
        "images_per_s_runs": json.dumps([round(r, 4) for r in rates]),
        "steps_per_run": steps,
        "repeats": repeats,
        "warmup_steps": args.warmup,
        **compared,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    names = [models.canonical(n) for n in (args.models.split(",") if args.models else models.names())]
    devices = args.device.split(",") if args.device else ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    profile = "quick" if args.quick else "paper"
    rows = []
    for device in devices:
        machine = machine_info(device, profile)
        variants = [(False, False)] + ([(True, True)] if device.startswith("cuda") else [])
        for name in names:
            for amp, channels_last in variants:
                row = {**bench(paper_config(name, args.quick, device, amp, channels_last), args), **machine}
                rows.append(row)
                print(f"{device:6s} {name:16s} {row['amp']:8s} batch {row['batch']:2d} {row['height']}x{row['width']}: "
                      f"{row['images_per_s']:.3f} images/s ({row['step_s']:.3f} s/step)", file=sys.stderr)  # fmt: skip
    frame = pd.DataFrame(rows)
    atomic_write_text(args.out, frame.to_csv(index=False))
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
