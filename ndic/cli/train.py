"""``python -m ndic train``: train a model as its paper trains it (then evaluate it when ``test`` is set).

``--checkpoint FILE`` means here what it means for ``evaluate`` and ``compress``: these weights (ours,
NDIC-CAM's or STF's), from which a new run starts (``load_weight``/``weight_path``). ``--resume``
continues a run instead (its optimiser, schedule, step and RNG states).
"""

from __future__ import annotations

import argparse
import os

from ..config import ConfigError
from ..evaluate import evaluate_config
from ..paths import RUNS, display
from ..train import Trainer
from .config_args import add_config_arguments, config_from_args

RUN_FILES = ("best.pt", "train_log.csv", "val_log.csv", "config.yaml", "tb")  # besides checkpoint.pt


def add_arguments(parser: argparse.ArgumentParser, name: str = "train") -> None:
    parser.epilog = (
        f"The run folder is {RUNS}/<experiment_name> in the checkout unless --out-dir says otherwise. "
        "Examples: python -m ndic train --profile quick --model bls17 | "
        "python -m ndic train --config configs/config.yaml (NDIC-CAM's file) | "
        "torchrun --nproc_per_node 4 -m ndic train --model stf -d images --root DATA --lambda 0.0035"
    )
    parser.add_argument(
        "--checkpoint",
        help="start a new run from these weights (ours, NDIC-CAM's or STF's); --resume continues a run instead",
    )
    add_config_arguments(parser, exclude={"--checkpoint"})


def run(args: argparse.Namespace, name: str = "train") -> int:
    config = config_from_args(args)
    if args.checkpoint:
        if config.resume:
            raise ConfigError(
                "--checkpoint starts a new run from a checkpoint's weights and --resume continues a run: "
                "give one of them"
            )
        config = config.update({"load_weight": True, "weight_path": args.checkpoint})
    config = config.resolved()
    talk = int(os.environ.get("RANK", "0")) == 0  # torchrun: the first process speaks for all
    if talk:
        print(f"writing to {display(config.out_dir)}", flush=True)
        if config.train and config.load_weight and not config.resume:
            print(f"starting from the weights of {config.weight_path} (a new run; --resume continues one)")
    trainer = None
    try:
        if config.train:
            trainer = Trainer(config)
            trainer.fit()
            if talk:
                print(written(trainer), flush=True)
        if config.test and (trainer is None or trainer.is_main):
            model = trainer.model if trainer is not None else None
            evaluate_config(config, model=model)
    finally:
        if trainer is not None:
            trainer.close()
    return 0


def written(trainer: Trainer) -> str:
    """The line that says what a finished training run left in its folder."""
    folder = trainer.out_dir
    files = [f"checkpoint.pt (step {trainer.state.step})"] if (folder / "checkpoint.pt").is_file() else []
    files += [name + ("/ (TensorBoard)" if name == "tb" else "") for name in RUN_FILES if (folder / name).exists()]
    return f"wrote {display(folder)}: {', '.join(files)}"
