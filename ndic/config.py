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

Fields left at ``None`` are filled by :meth:`Config.resolved` from the paper's recipe of the model's
family (``ndic_cam`` for the NDIC-CAM models, ``stf`` for WACNN/STF) in the chosen profile:
``paper`` (the originals' hyperparameters, datasets and widths) or ``quick`` (embedded default
data, small widths, a few hundred steps: minutes on a laptop CPU, never a paper reproduction).
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

NDIC_CAM_MODELS = ("bls17", "bmshj18", "ndic_bls17", "ndic_bmshj18", "cross_attention")
STF_MODELS = ("wacnn", "cnn", "stf")
PROFILES = ("paper", "quick")
RECIPES = ("ndic_cam", "stf")
DISTORTIONS = ("MSE", "MS-SSIM")

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

# The optimisation recipes. NDIC-CAM: main.py. STF: train.py (CompressAI's example trainer).
_RECIPES = {
    "ndic_cam": dict(
        epochs=50000,
        train_batch_size=1,
        val_batch_size=1,  # main.py validates with the training batch size
        lr=1e-4,
        amsgrad=True,  # one Adam(amsgrad=True) over every parameter
        aux_lr=1e-3,  # only for the quantiles of our CompressAI entropy models (the original has none)
        clip_max_norm=0.0,  # no clipping
        lr_factor=0.1,  # ReduceLROnPlateau(factor=0.1, patience=10, min_lr=1e-7) on the validation loss
        lr_patience=10,
        min_lr=1e-7,
        msssim_scale=255.0**2,  # loss = lmbda * distortion * 255**2 + bpp, for MS-SSIM as well
        msssim_win_size=7,
        workers=3,  # DataLoader(num_workers=3)
        val_split="val",
    ),
    "stf": dict(
        epochs=1000,  # README: -e 1000
        train_batch_size=16,
        val_batch_size=64,  # --test-batch-size
        lr=1e-4,
        amsgrad=False,
        aux_lr=1e-3,  # --aux-learning-rate, Adam over the quantiles, stepped after the main step
        clip_max_norm=1.0,
        lr_factor=0.3,  # ReduceLROnPlateau(factor=0.3, patience=4) on the test-split loss
        lr_patience=4,
        min_lr=0.0,
        msssim_scale=1.0,  # CompressAI's MS-SSIM loss: lmbda * (1 - MS-SSIM) + bpp
        msssim_win_size=11,
        workers=8,
        val_split="test",  # STF validates on the ImageFolder's test split
    ),
}
# What each profile trains on, per model family (the paper's data, widths and first lambda).
_SETUPS = {
    "paper": {
        # configs/config.yaml; README "Lambda Values", KITTI Stereo
        "ndic_cam": dict(dataset_name="kitti_stereo", resize=[128, 256], num_filters=192, lmbda=3e-5,
                         distortion_loss="MS-SSIM", crop=None),
        # README: --lambda 0.0035; RandomCrop(256)
        "stf": dict(dataset_name="images", resize=None, lmbda=0.0035, distortion_loss="MSE", crop=256),
    },
    # embedded data, small widths, a bounded number of steps: minutes on a CPU, never a paper result
    "quick": {
        "ndic_cam": dict(dataset_name="default", resize=[128, 256], num_filters=32, lmbda=1e-4,
                         distortion_loss="MS-SSIM", crop=None, steps=300, train_batch_size=4, lr=1e-3,
                         workers=0, val_limit=4, val_batch_size=2),
        "stf": dict(dataset_name="default", resize=None, lmbda=0.0067, distortion_loss="MSE", crop=128,
                    steps=100, train_batch_size=2, lr=1e-3, workers=0, val_limit=4, val_batch_size=2),
    },
}  # fmt: skip
# small widths of the STF family for the quick profile (constructor keywords of ndic.models)
QUICK_MODEL_CONFIG = {
    "wacnn": {"N": 64, "M": 160},  # 10 slices of 16 channels; 8 attention heads divide both widths
    "cnn": {"N": 64, "M": 160},
    "stf": {"embed_dim": 24, "depths": [2, 2, 2, 2]},
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
    train_batch_size: int | None = None
    lr: float | None = None
    lmbda: float | None = None  # YAML/CLI key "lambda"
    alpha: float = 0.0  # weight of the side image's distortion and rate (distributed models)
    beta: float = 0.0  # weight of the common information's rate (distributed models)
    distortion_loss: str | None = None  # "MSE" or "MS-SSIM"
    verbose_period: int = 10  # print validation every this many epochs; <= 0: never
    # --- saving
    save_weights: bool = True
    save_output_path: str = "outputs"  # the run folder: checkpoint.pt, best.pt, logs, results/
    experiment_name: str | None = None  # default: <model>_<dataset>_<distortion>_lambda<lambda>
    # --- test (after training, or alone with `ndic evaluate`)
    test: bool = False
    save_image: bool = False
    # --- recipe (STF's train.py arguments and the schedules of both papers)
    profile: str = "paper"
    recipe: str | None = None  # "ndic_cam" or "stf"; default: the model's family
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
    val_limit: int | None = None  # validate on the first N images only
    steps: int | None = None  # stop after this many optimiser steps in total (None: run all epochs)
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
    progress: bool = True

    def __post_init__(self) -> None:
        # papermill and the CLI hand over strings, YAML 1.1 reads "3e-05" as a string: coerce every field
        hints = typing.get_type_hints(Config)
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
    def family(self) -> str:
        """``ndic_cam`` (NDIC-CAM's five models) or ``stf`` (WACNN, STF and anything else)."""
        return "ndic_cam" if self.model in NDIC_CAM_MODELS else "stf"

    @property
    def out_dir(self) -> Path:
        return Path(self.save_output_path)

    def resolved(self) -> Config:
        """A copy with every ``None`` filled from the profile's recipe for this model's family."""
        self.validate()
        recipe = self.recipe or self.family
        defaults = {**_RECIPES[recipe], **_SETUPS[self.profile][self.family]}
        filled = {k: v for k, v in defaults.items() if getattr(self, k) is None}
        if self.recipe is None:
            filled["recipe"] = recipe
        if self.profile == "quick" and not self.model_config:
            filled["model_config"] = dict(QUICK_MODEL_CONFIG.get(self.model, {}))
        out = dataclasses.replace(self, **filled)
        if self.dataset_name is not None:
            out.dataset_name, path = _dataset_and_root(self.dataset_name, self.dataset_path)
            out.dataset_path = path
        if out.experiment_name is None:
            out.experiment_name = f"{out.model}_{out.dataset_name}_{out.distortion_loss}_lambda{out.lmbda:g}"
        out.validate()
        return out

    def model_kwargs(self) -> dict[str, Any]:
        """Constructor keywords for ``ndic.models.build(self.model, ...)``."""
        kwargs = dict(self.model_config)
        if self.family == "ndic_cam":
            if self.num_filters is not None:
                kwargs.setdefault("num_filters", self.num_filters)
            if self.resize is not None:
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
            raise ConfigError(f"recipe must be one of {RECIPES}, got {self.recipe!r}")
        if self.distortion_loss is not None and self.distortion_loss not in DISTORTIONS:
            raise ConfigError(f"distortion_loss must be 'MSE' or 'MS-SSIM', got {self.distortion_loss!r}")
        if self.resize is not None and (len(self.resize) != 2 or min(self.resize) <= 0):
            raise ConfigError(f"resize must be [height, width] with positive values, got {self.resize!r}")
        for name in ("epochs", "train_batch_size", "val_batch_size", "steps", "log_every"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ConfigError(f"{name} must be at least 1, got {value}")
        for name in ("lr", "lmbda"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ConfigError(f"{name} must be positive, got {value}")
        if self.alpha < 0 or self.beta < 0:
            raise ConfigError(f"alpha and beta must be non-negative, got {self.alpha} and {self.beta}")
        if self.load_weight and not self.weight_path:
            raise ConfigError("load_weight is True but weight_path is empty; give the checkpoint to load")


def known_keys() -> list[str]:
    """Every accepted key: the fields and their aliases."""
    return [f.name for f in dataclasses.fields(Config)] + sorted(ALIASES)


def normalize(values: dict[str, Any], source: str = "configuration") -> dict[str, Any]:
    """Map aliases to fields and reject unknown keys (values are coerced by :class:`Config`)."""
    fields = {f.name for f in dataclasses.fields(Config)}
    out: dict[str, Any] = {}
    for key, value in values.items():
        name = ALIASES.get(key, key)
        if name not in fields:
            raise ConfigError(
                f"unknown key {key!r} in {source}; known keys: {', '.join(known_keys())}"
                + (f" (did you mean {_closest(key)!r}?)" if _closest(key) else "")
            )
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


def parse_yaml(text: str, source: str = "YAML") -> dict[str, Any]:
    """A YAML mapping, with the line of a syntax error in the message."""
    try:
        values = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{source} is not valid YAML{where}: {getattr(error, 'problem', error)}") from None
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise ConfigError(f"{source} must be a mapping of keys to values, got {type(values).__name__}")
    return values


# ---------------------------------------------------------------------------- helpers
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
        if kind in (int, float) and not isinstance(value, bool):
            try:
                number = float(value) if kind is float else int(str(value))
                return number
            except ValueError:
                continue
        if kind is list and isinstance(value, str) and value.strip().startswith("["):
            return list(yaml.safe_load(value))
        if kind is dict and isinstance(value, str):
            parsed = yaml.safe_load(value) if value.strip() else {}
            if isinstance(parsed, dict):
                return parsed
        if isinstance(value, kind):
            return value
    names = " or ".join(getattr(t, "__name__", str(t)) for t in allowed)
    raise ConfigError(f"{source}: {key} must be {names}, got {value!r}")


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
    import difflib

    match = difflib.get_close_matches(key, known_keys(), n=1)
    return match[0] if match else None
