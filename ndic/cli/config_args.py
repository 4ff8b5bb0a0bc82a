"""Command-line flags for every :class:`~ndic.config.Config` field, and the configuration they describe.

``--train_batch_size`` and ``--train-batch-size`` both work; STF's ``train.py`` spellings (``-m``,
``-d``, ``--lambda``, ``--patch-size``, ...) are accepted too. Precedence: a base configuration (e.g.
the one stored in a checkpoint), then ``--config FILE`` (YAML, NDIC-CAM's format accepted), then flags.
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from ..config import Config, ConfigError, load_yaml, normalize, read_config_file
from ..paths import RUNS

# the flags whose meaning is not obvious from the field's name
_HELP = {
    "save_output_path": f"the run folder (default: {RUNS}/<experiment_name> in the checkout, git-ignored)",
    "resume": "continue a run: true (its --out-dir's checkpoint.pt) or a checkpoint path",
    "lmbda": "the rate-distortion trade-off (papermill and Python: lmbda)",
    "progress": "progress: a bar on a terminal, plain lines in logs (false: only where the run writes)",
    "tensorboard": "also log the training scalars for TensorBoard, in <run folder>/tb/",
    "test_both_directions": "stereo test sets: compress each view once, the other as side image",
    "dataset_label": "the dataset's name in result rows and files (default: --dataset), e.g. kitti_samples",
}

_STF_FLAGS = {  # STF train.py's spellings (and short options)
    "model": ["-m"],
    "dataset_name": ["-d", "--dataset"],
    "epochs": ["-e"],
    "lr": ["-lr", "--learning-rate"],
    "workers": ["-n", "--num-workers"],
    "train_batch_size": ["--batch-size"],
    "val_batch_size": ["--test-batch-size"],
    "aux_lr": ["--aux-learning-rate"],
    "crop": ["--patch-size"],
    "lmbda": ["--lambda"],
    "save_output_path": ["--out-dir"],
    "distortion_loss": ["--distortion"],
    "dataset_path": ["--root"],
}


def add_config_arguments(parser: argparse.ArgumentParser, exclude: set[str] = frozenset()) -> None:
    """A flag for every :class:`Config` field (``--train_batch_size`` and ``--train-batch-size``).

    ``exclude``: option strings the command uses for something else.
    """
    parser.add_argument("--config", help="YAML file (NDIC-CAM's configs/config.yaml format accepted)")
    group = parser.add_argument_group("configuration (each overrides --config)")
    for f in dataclasses.fields(Config):
        flags = [f"--{f.name}"] + ([f"--{f.name.replace('_', '-')}"] if "_" in f.name else [])
        flags += [s for s in _STF_FLAGS.get(f.name, []) if s not in flags]
        flags = [s for s in flags if s not in exclude]
        kwargs: dict[str, Any] = {"dest": f.name, "default": argparse.SUPPRESS, "help": _HELP.get(f.name)}
        if f.name in ("resize", "crop"):
            kwargs.update(nargs="+", type=int, metavar="N")
        elif f.name == "model_config":
            kwargs.update(nargs="+", metavar="KEY=VALUE", type=_key_value)
        elif f.type.startswith("bool"):
            kwargs.update(nargs="?", const="true", metavar="BOOL")
        group.add_argument(*flags, **kwargs)


def _key_value(text: str) -> tuple[str, Any]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    key, value = text.split("=", 1)
    try:
        return key, load_yaml(value, key)
    except ConfigError as error:  # argparse shows the message of this type only
        raise argparse.ArgumentTypeError(str(error)) from None


def config_from_args(args: argparse.Namespace, base: Config | None = None) -> Config:
    """``base`` (default: the dataclass defaults), then YAML (``--config``), then every flag given."""
    values = {k: v for k, v in vars(args).items() if k in {f.name for f in dataclasses.fields(Config)}}
    if "model_config" in values:
        values["model_config"] = dict(values["model_config"])
    if isinstance(values.get("resize"), list) and len(values["resize"]) != 2:
        raise ConfigError(f"--resize takes HEIGHT WIDTH, got {values['resize']}")
    config = base or Config()
    if getattr(args, "config", None):
        config = config.update(read_config_file(args.config), args.config)
    return config.update(normalize(values, "the command line"), "the command line")
