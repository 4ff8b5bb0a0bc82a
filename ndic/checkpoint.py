"""Checkpoint files: reading them safely and building the model they hold.

Three kinds of file reach this module:

- ours (``format == CHECKPOINT_FORMAT``): written by :mod:`ndic.train` (``checkpoint.pt``: everything
  to continue; ``best.pt``: the best validation weights); they name their model and its config;
- the originals' as they distribute them: NDIC-CAM's ``main.py`` (``{"model_state_dict",
  "optimizer_state_dict"}``) and STF's ``train.py`` (``{"epoch", "state_dict", "loss", "optimizer",
  "aux_optimizer", "lr_scheduler"}``, keys prefixed ``module.`` when trained on several GPUs), which
  do not say which model they hold: the caller's :class:`~ndic.config.Config` (``model``,
  ``num_filters``, ``resize``, ``model_config``) says it;
- a bare state dict.

Reading and unwrapping (:func:`state_dict_of`: the entry that holds the weights, wrapper prefixes off)
happen here; each model family's ``from_reference`` converts the original's names and layouts
(``ndic.models``). Weights that do not fit the model are one ValueError naming the keys (a few, then
"... and N more"), which the command line prints as one line.

Every file is read with ``torch.load(weights_only=True)``: no code from a checkpoint is ever run.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from . import _compat  # noqa: F401  (before compressai)
from .config import Config

CHECKPOINT_FORMAT = "ndic-checkpoint-1"
# prefixes that wrappers add to every key: DataParallel/DDP ("module.") and torch.compile ("_orig_mod.")
_WRAPPER_PREFIXES = ("module.", "_orig_mod.")


def read(path: str | os.PathLike) -> Any:
    """The object in a checkpoint file, loaded with ``weights_only=True`` on the CPU."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # an unpickling error names a class; say what the file is not
        raise ValueError(
            f"{path} is not a checkpoint this project can read safely (torch.load with weights_only=True): "
            f"{error}. Re-save it with tensors, dicts, lists and numbers only"
        ) from None


def is_ours(obj: Any) -> bool:
    """Whether a loaded checkpoint was written by :mod:`ndic.train`."""
    return isinstance(obj, Mapping) and obj.get("format") == CHECKPOINT_FORMAT


def state_dict_of(obj: Any, source: str = "checkpoint") -> dict[str, torch.Tensor]:
    """The state dict inside a loaded file, wrapper prefixes removed.

    Accepts a dict of tensors or a dict with a ``state_dict`` / ``model_state_dict`` / ``model`` entry
    (STF's ``train.py``, NDIC-CAM's ``main.py`` and CompressAI's layouts); other entries (epoch, loss,
    optimizer, aux_optimizer, lr_scheduler) are ignored. DataParallel/DDP's ``module.`` and
    ``torch.compile``'s ``_orig_mod.``, which prefix every key, are removed (nested ones too).
    """
    if isinstance(obj, Mapping) and obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        state = dict(obj)
    else:
        keys = ("state_dict", "model_state_dict", "model")
        inner = next((obj[k] for k in keys if isinstance(obj, Mapping) and isinstance(obj.get(k), Mapping)), None)
        if inner is None:
            found = f"its entries are {_some(sorted(map(str, obj)))}" if isinstance(obj, Mapping) and obj else ""
            found = found or f"it holds {'an empty dict' if isinstance(obj, Mapping) else type(obj).__name__}"
            raise ValueError(
                f"{source} holds no state dict ({found}); expected a dict of tensors or one with a "
                "'state_dict' (STF) or 'model_state_dict' (NDIC-CAM) entry"
            )
        state = {k: v for k, v in inner.items() if isinstance(v, torch.Tensor)}
    stripped = True
    while stripped:
        stripped = False
        for prefix in _WRAPPER_PREFIXES:
            if state and all(k.startswith(prefix) for k in state):
                state = {k[len(prefix) :]: v for k, v in state.items()}
                stripped = True
    return state


def _some(names: list[str], shown: int = 4) -> str:
    """A few names of a long list (``a, b, c, d ... and 7 more``), for one-line messages."""
    more = f" ... and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def load_weights(model: torch.nn.Module, state: Mapping[str, torch.Tensor], source: str = "checkpoint") -> None:
    """Load a state dict in this project's names into ``model``, strictly.

    What does not fit (keys missing, unexpected or of another shape) is one ValueError naming the keys,
    not PyTorch's multi-line report. Coder tables (CompressAI's ``_quantized_cdf``, ...) of another
    length are fine: CompressAI resizes the empty tables of a freshly built model.
    """
    try:
        model.load_state_dict(dict(state), strict=True)
    except (RuntimeError, KeyError) as error:
        ours = model.state_dict()
        missing = [k for k in ours if k not in state]
        unexpected = [k for k in state if k not in ours]
        reshaped = [
            f"{k} {list(state[k].shape)} in the file, {list(ours[k].shape)} here"
            for k in state
            if k in ours and state[k].shape != ours[k].shape and ours[k].numel() > 0  # empty: a coder table
        ]
        parts = [f"missing {_some(missing)}"] if missing else []
        parts += [f"unexpected {_some(unexpected)}"] if unexpected else []
        parts += [f"of another shape {_some(reshaped, 2)}"] if reshaped else []
        what = "; ".join(parts) or str(error).strip().splitlines()[0]
        raise ValueError(
            f"{source} does not fit {type(model).__name__}({getattr(model, 'config', '')}): {what}"
        ) from None


def load_original(name: str, state: Mapping[str, torch.Tensor], source: str = "checkpoint", **config):
    """``ndic.models.load_reference(name, state, **config)``; what does not fit is one line naming ``source``."""
    from . import models

    try:
        return models.load_reference(name, state, **config)
    except ValueError as error:
        raise ValueError(f"{source}: {error}") from None


def build_model(config: Config):
    """The (untrained) registry model a configuration describes."""
    from . import models

    return models.build(config.model, **config.model_kwargs())


def load_model(path: str | os.PathLike, config: Config | None = None, device: str | torch.device = "cpu"):
    """A model from a checkpoint: ours (self-describing), NDIC-CAM's ``main.py`` or STF's ``train.py``.

    The originals' files do not name their model: ``config.model`` (and ``num_filters``, ``resize``,
    ``model_config``) says which, and ``ndic.models.load_reference`` converts the weights. For our
    files, a ``config`` naming another model is an error (it would otherwise be ignored silently).
    ``model.checkpoint_info`` records where the weights came from (path, step, lambda, ...).
    """
    from . import models

    ckpt = read(path)
    if is_ours(ckpt):
        if config is not None and models.canonical(config.model) != ckpt["model"]:
            raise ValueError(
                f"{path} holds a {ckpt['model']} model, but the configuration names {config.model!r}: "
                f"drop --model or pass a {config.model} checkpoint"
            )
        model = models.build(ckpt["model"], **ckpt["model_config"])
        load_weights(model, state_dict_of(ckpt, str(path)), str(path))
        info = {k: ckpt.get(k) for k in ("step", "epoch", "val_loss", "lmbda", "config")}
    else:
        if config is None:
            raise ValueError(
                f"{path} is not an ndic checkpoint (an original NDIC-CAM or STF file?): "
                "say which model it holds (model, num_filters, resize / model_config)"
            )
        config = config.resolved()
        model = load_original(config.model, state_dict_of(ckpt, str(path)), str(path), **config.model_kwargs())
        info = {"lmbda": config.lmbda, "config": config.to_dict()}
    model.checkpoint_info = dict(info, path=str(path))
    return model.to(device)


def stored_config(path: str | os.PathLike) -> Config | None:
    """The training configuration stored in one of our checkpoints (None for an original's file)."""
    ckpt = read(path)
    if not (is_ours(ckpt) and ckpt.get("config")):
        return None
    return Config.from_dict(dict(ckpt["config"], resume=False, load_weight=False, model=ckpt["model"]), str(path))


def model_for_coding(
    name: str | None = None,
    config: Mapping | None = None,
    checkpoint: str | os.PathLike | None = None,
    reference: str | os.PathLike | None = None,
    seed: int = 0,
    map_location: str | torch.device = "cpu",
) -> torch.nn.Module:
    """A model for ``ndic compress`` / ``decompress``, from exactly one source of weights.

    - ``checkpoint``: one of our checkpoints; ``name``, if given, must match.
    - ``reference``: an original implementation's weights, through ``ndic.models.load_reference(name, ...)``
      with ``config`` (the original constructor's arguments).
    - neither: ``ndic.models.build(name, **config)`` with untrained weights drawn from ``seed``, so
      that an encoder and a decoder process build the same model (useful for smoke tests only).
    """
    from . import models

    if checkpoint is not None:
        if reference is not None or config:
            raise ValueError("a checkpoint carries its own config and weights: give --checkpoint alone")
        ckpt = read(checkpoint)
        if not (isinstance(ckpt, Mapping) and isinstance(ckpt.get("model"), str) and "state_dict" in ckpt):
            raise ValueError(
                f"{checkpoint} is not an ndic checkpoint: expected a dict with 'model' (registry name), 'model_config' "
                "(or 'config') and 'state_dict'; for an original implementation's weights use --reference"
            )
        stored = ckpt["model_config"] if "model_config" in ckpt else ckpt.get("config")
        model = models.build(ckpt["model"], **dict(stored or {}))
        load_weights(model, state_dict_of(ckpt["state_dict"], str(checkpoint)), str(checkpoint))
        if name is not None and models.canonical(name) != model.registry_name:
            raise ValueError(f"{checkpoint} holds a {model.registry_name!r} model, not {name!r}")
        return model.to(map_location)
    if name is None:
        raise ValueError("name the model (--model NAME) or give a --checkpoint")
    if reference is not None:
        state = state_dict_of(read(reference), str(reference))
        return load_original(name, state, str(reference), **dict(config or {})).to(map_location)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = models.build(name, **dict(config or {}))
    return model.to(map_location)
