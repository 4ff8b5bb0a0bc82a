"""One training/evaluation configuration for notebooks, the command line and YAML files.

:class:`Config` is the single place where a run is described. Papermill parameters
(``Config(**params)``), CLI flags (``python -m ndic train --lambda 3e-5 ...``) and YAML files
(:func:`load_config`) all map onto its fields, so one run can be launched any of the three ways.

- NDIC-CAM's ``configs/config.yaml`` keys are fields as they are (``dataset_name``, ``resize``,
  ``num_filters``, ``cuda``, ``train_batch_size``, ``distortion_loss``, ``save_output_path``, ...;
  ``lambda`` is stored as ``lmbda`` because ``lambda`` is a Python keyword). A user of the original
  brings their file unchanged; dataset names are matched case-insensitively (``KITTI_Stereo``).
- STF's ``train.py`` arguments are accepted under their own names where they mean the same
  thing (``learning_rate``, ``aux_learning_rate``, ``batch_size``, ``test_batch_size``,
  ``patch_size``, ``num_workers``, ``clip_max_norm``, ``seed``).
- An unknown key is an error naming it and listing the known ones.

Fields left at ``None`` are filled by :meth:`Config.resolved` from the recipe the model declares
(its ``recipe`` class attribute, :mod:`ndic.models.base`; the recipes are in :mod:`ndic.recipes`:
``ndic_cam`` for the NDIC-CAM models, ``stf`` for WACNN/STF) in the chosen profile:
``paper`` (the originals' hyperparameters, datasets and widths) or ``quick`` (embedded default
data, small widths, a few hundred steps: minutes on a laptop CPU, never a paper reproduction).

Why this module is long: a field, the coercion of its papermill/CLI/YAML spellings and the check of its
value (each refused in words) belong together; apart, a new field would miss its check. YAML itself is
read by :mod:`ndic.yaml_bounded`.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import importlib.util
import math
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import yaml_bounded
from .paths import RUNS, project_root
from .recipes import DISTORTIONS, PROFILES, RECIPES, SETUPS, TRAINS_ON_PAIRS

RECIPE_NAMES = tuple(RECIPES)

# other names a key is known by -> the field (papermill/notebook names, STF's train.py arguments)
ALIASES = {
    "lambda": "lmbda",
    "dataset": "dataset_name",
    "root": "dataset_path",
    "size": "resize",
    "distortion": "distortion_loss",
    "batch_size": "train_batch_size",
    "out_dir": "save_output_path",
    "learning_rate": "lr",
    "aux_learning_rate": "aux_lr",
    "test_batch_size": "val_batch_size",
    "patch_size": "crop",
    "num_workers": "workers",
}


class ConfigError(ValueError):
    """A configuration key or value that cannot be used (the message says which and why)."""


@dataclass
class Config:
    """Every setting of a training or evaluation run (see the module docstring).

    ``None`` means "the paper's value for this model" (filled by :meth:`resolved`).
    """

    # --- NDIC-CAM configs/config.yaml: dataset
    dataset_name: str | None = None  # a name of ndic.data (KITTI_Stereo, Cityscape, ... accepted)
    dataset_path: str | None = None  # the dataset's root folder (ndic.data's ``root``)
    resize: list[int] | None = None  # [H, W] images are resized to (NDIC-CAM: [128, 256])
    # --- model
    model: str = "cross_attention"
    num_filters: int | None = None  # width of the NDIC-CAM family
    model_config: dict = field(default_factory=dict)  # further constructor keywords (N, M, depths, ...)
    cuda: bool | None = None  # NDIC-CAM's switch; ``device`` says the same thing more precisely
    load_weight: bool = False  # start from ``weight_path`` (ours, NDIC-CAM's or STF's checkpoint)
    weight_path: str | None = None
    # --- training
    train: bool = True
    epochs: int | None = None
    train_batch_size: int | None = None  # the global batch (as the originals' DataParallel), split over ranks
    batch_per_process: bool = False  # True: train_batch_size is each torchrun process's batch instead
    lr: float | None = None
    lmbda: float | None = None  # YAML/CLI key "lambda"
    alpha: float = 0.0  # weight of the side image's distortion and rate (distributed models)
    beta: float = 0.0  # weight of the common information's rate (distributed models)
    distortion_loss: str | None = None  # "MSE" or "MS-SSIM"
    verbose_period: int = 10  # print validation every this many epochs; <= 0: never
    # --- saving
    save_weights: bool = True
    save_output_path: str | None = None  # the run folder (checkpoint.pt, best.pt, logs, results/); None: runs/<name>
    experiment_name: str | None = None  # default: <model>_<dataset>_<distortion>_lambda<lambda>
    # --- test (after training, or alone with `ndic evaluate`)
    test: bool = False
    save_image: bool = False
    # --- recipe (STF's train.py arguments and the schedules of both papers)
    profile: str = "paper"
    recipe: str | None = None  # "ndic_cam" or "stf"; default: the recipe the model declares
    aux_lr: float | None = None
    amsgrad: bool | None = None
    clip_max_norm: float | None = None  # 0: no clipping
    lr_factor: float | None = None
    lr_patience: int | None = None
    min_lr: float | None = None
    msssim_scale: float | None = None  # multiplies lambda*(1-MS-SSIM): 255**2 in NDIC-CAM, 1 in CompressAI/STF
    msssim_win_size: int | None = None
    crop: int | list[int] | None = None  # random training crop (STF: 256)
    val_batch_size: int | None = None
    val_split: str | None = None  # "none": no validation (the schedule then follows the training loss)
    test_split: str = "test"
    dataset_label: str | None = None  # the dataset's name in result rows (default: dataset_name), e.g. kitti_samples
    test_both_directions: bool = False  # stereo test sets: also compress each pair's second view (KITTI, Middlebury)
    val_limit: int | None = None  # validate on the first N images only
    steps: int | None = None  # stop after this many optimiser steps in total (None: run all epochs)
    # --- stopping rules of the paper profile (ndic.recipes.STOPPING); None: the recipe's, 0: off
    lr_drop_at: int | None = None  # after this many steps the learning rate becomes lr_drop_to (STF's author)
    lr_drop_to: float | None = None  # (with lr_drop_at the plateau schedule is off)
    stop_patience: int | None = None  # stop after this many epochs without a new best validation loss
    stop_at_min_lr: bool | None = None  # count those epochs only once the learning rate has reached min_lr
    checkpoint_every: int = 1000  # also checkpoint every N steps (0: at the end of every epoch only)
    val_every: int = 0  # also validate (logged, no schedule step) every N steps
    log_every: int = 1  # a row of the step log every N steps
    # --- machine
    seed: int = 0
    deterministic: bool = False
    device: str = "auto"  # "auto", "cpu", "cuda", "cuda:1", ...
    workers: int | None = None
    amp: bool = False  # autocast the transforms (bf16 where supported, else fp16 + GradScaler)
    channels_last: bool = False
    compile: bool = False  # torch.compile the training forward
    resume: bool | str = False  # True: <save_output_path>/checkpoint.pt if present; or a path
    progress: bool = True  # a bar in a terminal or notebook, plain lines in batch logs (papermill, > log)
    tensorboard: bool = True  # also log the training scalars as TensorBoard events in <run folder>/tb/

    def __post_init__(self) -> None:
        # papermill and the CLI hand over strings, YAML 1.1 reads "3e-05" as a string: coerce every field
        # (values that came through normalize() were coerced there already, with their source in the message)
        hints = _field_types()
        for f in dataclasses.fields(self):
            setattr(self, f.name, _coerce(getattr(self, f.name), hints[f.name], f.name, "configuration"))
        if self.distortion_loss is not None:
            self.distortion_loss = _distortion_name(self.distortion_loss)
        if isinstance(self.crop, list) and len(set(self.crop)) == 1:
            self.crop = self.crop[0]  # a square crop (STF's --patch-size 256 256)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str = "configuration") -> Config:
        """Build from a mapping of (possibly aliased, possibly string-valued) keys."""
        return cls(**normalize(values, source))

    def update(self, values: dict[str, Any], source: str = "configuration") -> Config:
        """A copy with ``values`` (aliases allowed) replacing the current ones."""
        return dataclasses.replace(self, **normalize(values, source))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    # ------------------------------------------------------------------ derived values
    @property
    def model_class(self) -> type:
        """The registry class of ``model`` (a clear ConfigError for an unknown name)."""
        from . import models

        try:
            return models.get(self.model)
        except KeyError as error:
            close = difflib.get_close_matches(str(self.model), models.names(), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(error.args[0] + hint) from None

    @property
    def family(self) -> str:
        """The recipe (and data setup) the model declares: ``ndic_cam`` or ``stf``."""
        return self.model_class.recipe

    @property
    def trains_on_pairs(self) -> bool:
        """Whether the model trains on stereo pairs: distributed models, and NDIC-CAM's single-image
        baselines too (they compress the x of each pair, as the paper compares them)."""
        return bool(self.model_class.distributed) or TRAINS_ON_PAIRS[self.family]

    @property
    def out_dir(self) -> Path:
        """The run folder: ``save_output_path``, by default ``runs/<experiment_name>`` in the checkout."""
        if self.save_output_path is None:
            return self.resolved().out_dir
        return Path(self.save_output_path)

    def resolved(self) -> Config:
        """A copy with every ``None`` filled from the profile's recipe for this model's family."""
        self.validate()
        recipe = self.recipe or self.family
        defaults = {**RECIPES[recipe], **SETUPS[self.profile][self.family]}
        filled = {k: v for k, v in defaults.items() if getattr(self, k) is None}
        if self.recipe is None:
            filled["recipe"] = recipe
        if self.profile in ("quick", "cpu") and not self.model_config:  # the model's own small widths
            filled["model_config"] = dict(getattr(self.model_class, f"{self.profile}_config", {}))
        out = dataclasses.replace(self, **filled)
        if self.dataset_name is not None:
            out.dataset_name, path = _dataset_and_root(self.dataset_name, self.dataset_path)
            out.dataset_path = path
        if out.experiment_name is None:
            out.experiment_name = f"{out.model}_{out.dataset_name}_{out.distortion_loss}_lambda{out.lmbda:g}"
        if out.save_output_path is None:  # one default for the CLI, notebooks and Python: git-ignored runs/
            out.save_output_path = str(project_root() / RUNS / out.experiment_name)
        out.validate()
        return out

    def model_kwargs(self) -> dict[str, Any]:
        """Constructor keywords for ``ndic.models.build(self.model, ...)``: ``model_config``, plus
        ``num_filters`` and ``image_size`` (from ``resize``) where the model's constructor takes them."""
        import inspect

        kwargs = dict(self.model_config)
        accepted = inspect.signature(self.model_class.__init__).parameters
        if self.num_filters is not None and "num_filters" in accepted:
            kwargs.setdefault("num_filters", self.num_filters)
        if self.resize is not None and "image_size" in accepted:
            kwargs.setdefault("image_size", list(self.resize))
        return kwargs

    def resolve_device(self):
        """The torch device this configuration asks for; a clear error when it is absent."""
        import torch

        wanted = self.device
        if wanted == "auto":
            wanted = "cuda" if self.cuda or (self.cuda is None and torch.cuda.is_available()) else "cpu"
        device = torch.device(wanted)
        if device.type == "cuda" and not torch.cuda.is_available():
            how = "cuda: True" if self.cuda else f"device: {self.device}"
            raise ConfigError(
                f"the configuration asks for CUDA ({how}) but torch sees no CUDA device; "
                "set cuda: False (or device: cpu) to run on the CPU"
            )
        return device

    def validate(self) -> None:
        """Clear errors for values that cannot work."""
        if self.profile not in PROFILES:
            raise ConfigError(f"profile must be one of {PROFILES}, got {self.profile!r}")
        if self.recipe is not None and self.recipe not in RECIPES:
            raise ConfigError(f"recipe must be one of {RECIPE_NAMES}, got {self.recipe!r}")
        if self.distortion_loss is not None and self.distortion_loss not in DISTORTIONS:
            raise ConfigError(f"distortion_loss must be 'MSE' or 'MS-SSIM', got {self.distortion_loss!r}")
        if self.resize is not None and (len(self.resize) != 2 or min(self.resize) <= 0):
            raise ConfigError(f"resize must be [height, width] with positive values, got {self.resize!r}")
        for name in ("epochs", "train_batch_size", "val_batch_size", "steps", "log_every"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ConfigError(f"{name} must be at least 1, got {value}")
        for name in ("checkpoint_every", "val_every"):
            value = getattr(self, name)
            if value < 0:
                raise ConfigError(f"{name} must be 0 (only at the end of each epoch) or positive, got {value}")
        crop = self.crop if isinstance(self.crop, list) else [self.crop]
        if self.crop is not None and (len(crop) not in (1, 2) or min(crop) <= 0):
            raise ConfigError(f"crop must be a positive size (N, or HEIGHT WIDTH; null: no crop), got {self.crop}")
        # NaN passes every comparison and inf every lower bound: finiteness is checked first
        for name in ("lr", "lmbda", "aux_lr", "msssim_scale", "lr_drop_to"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value > 0):
                raise ConfigError(f"{_shown(name)} must be a finite positive number, got {value}")
        for name in ("alpha", "beta", "min_lr"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value >= 0):
                raise ConfigError(f"{name} must be a finite non-negative number, got {value}")
        if self.clip_max_norm is not None and not (math.isfinite(self.clip_max_norm) and self.clip_max_norm >= 0):
            raise ConfigError(
                f"clip_max_norm must be a finite number, 0 (no clipping) or positive, got {self.clip_max_norm}"
            )
        if self.lr_factor is not None and not 0 < self.lr_factor < 1:
            raise ConfigError(
                f"lr_factor must lie between 0 and 1 (the schedule multiplies lr by it), got {self.lr_factor}"
            )
        if self.load_weight and not self.weight_path:
            raise ConfigError("load_weight is True but weight_path is empty; give the checkpoint to load")
        if self.tensorboard and self.train and importlib.util.find_spec("tensorboard") is None:
            raise ConfigError(
                "tensorboard is True but the tensorboard package is not installed; run `make env` "
                "(or pip install tensorboard), or set tensorboard: false"
            )
        self._validate_stopping()

    def _validate_stopping(self) -> None:
        """The stopping rules' counts (ndic.recipes.STOPPING): 0 switches a rule off (lr_drop_to is a rate, above)."""
        for name in ("lr_drop_at", "stop_patience"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ConfigError(f"{name} must be 0 (off) or a positive number, got {value}")


def known_keys() -> list[str]:
    """Every accepted key: the fields and their aliases."""
    return [f.name for f in dataclasses.fields(Config)] + sorted(ALIASES)


def normalize(values: dict[str, Any], source: str = "configuration") -> dict[str, Any]:
    """Map aliases to fields and reject unknown keys (values are coerced by :class:`Config`)."""
    types_ = _field_types()
    out: dict[str, Any] = {}
    for key, value in values.items():
        name = ALIASES.get(key, key)
        if name not in types_:
            raise ConfigError(
                f"unknown key {key!r} in {source}; known keys: {', '.join(known_keys())}"
                + (f" (did you mean {_closest(key)!r}?)" if _closest(key) else "")
            )
        value = _coerce(value, types_[name], key, source)  # here the message can name the source and the key
        if name in out and out[name] != value:
            raise ConfigError(f"{source} sets {name!r} twice (as {name!r} and an alias) with different values")
        out[name] = value
    return out


def load_config(path: str | os.PathLike | None = None, profile: str | None = None, **overrides) -> Config:
    """A configuration from a YAML file (NDIC-CAM's format accepted), then ``overrides`` on top."""
    values = read_config_file(path) if path is not None else {}
    if profile is not None:
        values["profile"] = profile
    config = Config.from_dict(values, str(path) if path else "configuration")
    return config.update(overrides, "overrides") if overrides else config


def read_config_file(path: str | os.PathLike) -> dict[str, Any]:
    """The keys of a YAML configuration file, aliases mapped and unknown keys rejected."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"configuration file {path} does not exist")
    return normalize(parse_yaml(path.read_text(), str(path)), str(path))


def load_yaml(text: str, source: str = "YAML") -> Any:
    """The value of a YAML text: safe types only, aliases bounded (:mod:`ndic.yaml_bounded`)."""
    try:
        return yaml_bounded.load(text, source)
    except yaml_bounded.YamlError as error:
        raise ConfigError(str(error)) from None


def parse_yaml(text: str, source: str = "YAML") -> dict[str, Any]:
    """A YAML mapping, with the line of a syntax error in the message."""
    values = load_yaml(text, source)
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise ConfigError(f"{source} must be a mapping of keys to values, got {type(values).__name__}")
    return values


# ---------------------------------------------------------------------------- helpers
@functools.cache
def _field_types() -> dict[str, Any]:
    """Each field's type (the annotations are strings under ``from __future__ import annotations``)."""
    hints = typing.get_type_hints(Config)
    return {f.name: hints[f.name] for f in dataclasses.fields(Config)}


# how a type is named in a message
_TYPE_WORDS = {int: "a whole number", float: "a number", bool: "true or false", str: "text", list: "a list",
               dict: "a mapping"}  # fmt: skip


def _shown(key: str) -> str:
    """A key as a message names it (``lmbda`` is the papermill and Python spelling of YAML's ``lambda``)."""
    return "lambda (lmbda)" if key == "lmbda" else key


def _coerce(value: Any, hint: Any, key: str, source: str) -> Any:
    """YAML ("3e-05" is a string in YAML 1.1), CLI and papermill values to the field's type."""
    if value is None:
        return None
    allowed = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    allowed = tuple(typing.get_origin(t) or t for t in allowed if t is not type(None))
    if isinstance(value, bool) and bool in allowed:
        return value
    if isinstance(value, tuple):
        value = list(value)
    for kind in allowed:
        if kind is bool and isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "1", "0"):
            return value.lower() in ("true", "yes", "1")
        if kind in (int, float) and not isinstance(value, bool) and isinstance(value, (int, float, str)):
            try:
                number = float(value) if kind is float else int(str(value))
                return number
            except ValueError:
                continue
        if kind is list and isinstance(value, str) and value.strip().startswith("["):
            parsed = load_yaml(value, f"{source}: {key}")
            if isinstance(parsed, list):
                return parsed
        if kind is dict and isinstance(value, str):
            parsed = load_yaml(value, f"{source}: {key}") if value.strip() else {}
            if isinstance(parsed, dict):
                return parsed
        if isinstance(value, kind):
            return value
    names = " or ".join(_TYPE_WORDS.get(t, getattr(t, "__name__", str(t))) for t in allowed)
    raise ConfigError(f"{source}: {_shown(key)} must be {names}, got {value!r}")


def _distortion_name(value: str) -> str:
    key = str(value).upper().replace("_", "-")
    if key in ("MS-SSIM", "MSSSIM"):
        return "MS-SSIM"
    if key == "MSE":
        return "MSE"
    raise ConfigError(f"distortion_loss must be 'MSE' or 'MS-SSIM', got {value!r}")


def _dataset_and_root(name: str, root: str | None) -> tuple[str, str | None]:
    """NDIC-CAM's names (KITTI_Stereo, Cityscape) to ndic.data's; an image folder path (STF's -d) to 'images'."""
    key = name.lower()
    if key in ("kitti_stereo", "kitti_general", "cityscape", "kodak", "images", "default"):
        return key, root
    if root is None and Path(name).is_dir():
        return "images", name
    return name, root  # ndic.data.load names what it knows when this is wrong


def _closest(key: str) -> str | None:
    match = difflib.get_close_matches(key, known_keys(), n=1)
    return match[0] if match else None
