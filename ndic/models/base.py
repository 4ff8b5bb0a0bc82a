"""The model contract: what every model of the registry provides, written once.

A model is a CompressAI ``CompressionModel`` (entropy models, ``update``, ``aux_loss``) that
follows one of two shapes:

.. code-block:: none

    ImageCodec:        forward(x)          -> {"x_hat", "likelihoods": {name: tensor}}
                       compress(x)         -> {"strings": [[bytes per image] per latent], "shape": (H, W)}
                       decompress(strings, shape)            -> {"x_hat"}  (clamped to [0, 1])
    DistributedCodec:  forward(x, side)    -> {"x_hat", "likelihoods", ...}
                       compress(x)         -> as above: the encoder never sees the side image
                       decompress(strings, shape, side=y)    -> {"x_hat"}

and, optionally (:class:`ImageCodec` has a default):

.. code-block:: none

    compress_with_likelihoods(x, side=None) -> (compress(x), likelihoods)
                       likelihoods() -> [tensor per transmitted latent]: the eval forward's likelihoods

and declares, as class attributes, what the rest of the package needs to know about it:

=====================  ==========================================================================
``stride``             total down-sampling; inputs are padded to a multiple of it
``distributed``        True when the decoder takes a side image (:class:`DistributedCodec`)
``recipe``             the training recipe and data setup it follows (a key of ``ndic.recipes.RECIPES``)
``paper``              the paper whose protocol the model belongs to (a label for tables and the book)
``paper_distortion``   the objective of the paper's headline curve ("MSE" or "MS-SSIM")
``paper_lambdas``      ``{distortion: {dataset or "*": [lambda, ...]}}``: the lambdas the paper trained with
``quick_config``       constructor keywords of the quick profile (small widths)
``cpu_config``         constructor keywords of the cpu profile (reduced widths; optional)
=====================  ==========================================================================

and, per instance, ``config``: the constructor's keyword arguments with defaults filled in
(JSON-serialisable; bitstream headers and checkpoints store it). ``from_reference(state_dict,
**config)`` builds the model from the original implementation's weights; the default loads a state
dict that already uses this model's names (CompressAI's convention).

``compress_with_likelihoods`` serves the estimated rate of ``ndic.evaluate`` (``bpp_estimated``): the default
(:func:`compress_then_forward`) runs a forward pass for it; a model that can take the likelihoods from the latents
its ``compress`` computes anyway overrides it (the NDIC-CAM family, STF and WACNN do), which makes an evaluation
cost about what the codec costs.

:func:`contract_problems` lists what a class lacks; ``ndic.models.register`` refuses such a class
with a message naming each missing part, so a model fails when it is added, not in ``evaluate``.

Padding: CNN/transformer models accept any image size; they pad to their total stride with
:func:`pad_to_multiple` and crop the reconstruction back with :func:`crop_padding`. Padding is split
evenly between the sides, as CompressAI's and STF's evaluation scripts pad.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping, Sequence

import torch
import torch.nn.functional as F
from compressai.models import CompressionModel

from ..recipes import DISTORTIONS, RECIPES


class ImageCodec(CompressionModel):
    """A single-image learned codec (see the module docstring for the whole contract)."""

    stride: int = 1
    distributed: bool = False
    recipe: str = ""
    paper: str = ""
    paper_distortion: str = "MSE"
    paper_lambdas: Mapping[str, Mapping[str, Sequence[float]]] = {}
    quick_config: Mapping[str, object] = {}
    cpu_config: Mapping[str, object] = {}

    config: dict

    def forward(self, x: torch.Tensor) -> dict:
        raise NotImplementedError

    def compress(self, x: torch.Tensor) -> dict:
        raise NotImplementedError

    def decompress(self, strings, shape) -> dict:
        raise NotImplementedError

    def compress_with_likelihoods(
        self, x: torch.Tensor, side: torch.Tensor | None = None
    ) -> tuple[dict, Callable[[], list[torch.Tensor]]]:
        """``compress(x)`` and a function returning the likelihoods of what it coded (eval mode).

        The function returns the eval-mode forward's ``likelihoods`` of the transmitted latents, one tensor
        per latent (-sum(log2 p) of them is the estimated rate); it computes them when called, so that
        timing this method times the encoder alone. This default runs that forward (:func:`compress_then_forward`;
        a distributed model's needs ``side``); a model overrides it to take them from compress's own latents.
        """
        return compress_then_forward(self, x, side)

    @classmethod
    def from_reference(cls, state_dict: Mapping[str, torch.Tensor], **config) -> ImageCodec:
        """Build with ``config`` and load ``state_dict`` strictly (names as this model's)."""
        model = cls(**config)
        model.load_state_dict(dict(state_dict), strict=True)
        return model

    @classmethod
    def lambdas(cls, dataset: str | None = None, distortion: str | None = None) -> list[float]:
        """The lambdas the model's paper trained with for ``distortion`` (default: its headline one)."""
        distortion = distortion or cls.paper_distortion
        name = getattr(cls, "registry_name", cls.__name__)
        per_dataset = cls.paper_lambdas.get(distortion)
        if not per_dataset:
            known = ", ".join(cls.paper_lambdas) or "none"
            raise ValueError(
                f"{name}'s paper gives no {distortion} lambdas (it gives: {known}); pass the lambdas yourself"
            )
        if dataset in per_dataset:
            return [float(v) for v in per_dataset[dataset]]
        if "*" in per_dataset:
            return [float(v) for v in per_dataset["*"]]
        raise ValueError(
            f"{name}'s paper gives {distortion} lambdas for {', '.join(sorted(per_dataset))}, not {dataset!r}; "
            "pass the lambdas yourself"
        )


class DistributedCodec(ImageCodec):
    """A codec whose decoder also sees a side image (the other view of a stereo pair)."""

    distributed = True

    def forward(self, x: torch.Tensor, side: torch.Tensor) -> dict:
        raise NotImplementedError

    def decompress(self, strings, shape, side: torch.Tensor | None = None) -> dict:
        raise NotImplementedError


_METHODS = ("forward", "compress", "decompress", "update", "aux_loss", "from_reference", "lambdas")


def contract_problems(cls: type) -> list[str]:
    """What ``cls`` lacks of the contract, in words (empty when it fulfils it)."""
    if not (isinstance(cls, type) and issubclass(cls, torch.nn.Module)):
        return ["it is not a torch.nn.Module class (subclass ndic.models.base.ImageCodec or DistributedCodec)"]
    problems = []
    for name in _METHODS:
        if not callable(getattr(cls, name, None)):
            problems.append(f"method {name}()")
        elif _is_placeholder(cls, name):
            problems.append(f"method {name}() (still the abstract placeholder of the base class)")
    stride = getattr(cls, "stride", None)
    if not (isinstance(stride, int) and stride >= 1):
        problems.append(f"class attribute stride (a positive int, got {stride!r})")
    distributed = getattr(cls, "distributed", None)
    if not isinstance(distributed, bool):
        problems.append(f"class attribute distributed (True or False, got {distributed!r})")
    recipe = getattr(cls, "recipe", None)
    if recipe not in RECIPES:
        problems.append(f"class attribute recipe (one of {', '.join(RECIPES)}, got {recipe!r})")
    if getattr(cls, "paper_distortion", None) not in DISTORTIONS:
        problems.append(f"class attribute paper_distortion (one of {', '.join(DISTORTIONS)})")
    problems += _lambda_problems(getattr(cls, "paper_lambdas", None))
    for profile in ("quick", "cpu"):
        if not isinstance(getattr(cls, f"{profile}_config", {}), Mapping):
            problems.append(f"class attribute {profile}_config (a mapping of constructor keywords)")
    estimate = getattr(cls, "compress_with_likelihoods", None)  # optional: evaluate falls back to a forward
    if estimate is not None and not (callable(estimate) and "side" in _parameters(estimate)):
        problems.append("method compress_with_likelihoods(x, side=None) (optional; leave it out or take side)")
    if distributed is True:
        if "side" not in _parameters(cls.decompress):
            problems.append("decompress(strings, shape, side=...) (a distributed model decodes with the side image)")
        if len([p for p in _parameters(cls.forward) if p != "self"]) < 2:
            problems.append("forward(x, side) (a distributed model's forward takes the side image)")
    return problems


def compress_then_forward(
    model: torch.nn.Module, x: torch.Tensor, side: torch.Tensor | None = None
) -> tuple[dict, Callable[[], list[torch.Tensor]]]:
    """``compress_with_likelihoods`` of any model: ``model.compress(x)``, then, when asked, an eval forward's
    likelihoods (in its order). The model must be in eval mode; a distributed model's forward needs ``side``."""
    likelihoods = forward_likelihoods(model, x, side)  # checks side first
    return model.compress(x), likelihoods


def forward_likelihoods(
    model: torch.nn.Module, x: torch.Tensor, side: torch.Tensor | None = None
) -> Callable[[], list[torch.Tensor]]:
    """A function returning the likelihoods of ``model``'s eval forward on ``x`` (and ``side``), in its order."""
    distributed = bool(getattr(model, "distributed", False))
    if distributed and side is None:
        raise ValueError(f"{type(model).__name__} needs the side image for its likelihoods: pass side=y")

    def likelihoods() -> list[torch.Tensor]:
        with torch.no_grad():
            out = model(x, side) if distributed else model(x)
        return list(out["likelihoods"].values())

    return likelihoods


def check_config(model: torch.nn.Module) -> None:
    """A built model must describe itself: ``model.config``, a dict of constructor keywords."""
    config = getattr(model, "config", None)
    if not isinstance(config, dict):
        raise TypeError(
            f"{type(model).__name__} sets no self.config in __init__ (a dict of its constructor's keyword "
            "arguments, stored in checkpoints and bitstream headers)"
        )


def _lambda_problems(value) -> list[str]:
    if not isinstance(value, Mapping) or not value:
        return ["class attribute paper_lambdas ({distortion: {dataset or '*': [lambdas]}}, not empty)"]
    for distortion, per_dataset in value.items():
        if distortion not in DISTORTIONS or not isinstance(per_dataset, Mapping) or not per_dataset:
            return [f"paper_lambdas[{distortion!r}] (distortion one of {DISTORTIONS}, mapping datasets to lambdas)"]
        for dataset, lambdas in per_dataset.items():
            ok = isinstance(lambdas, Sequence) and lambdas and all(_positive(v) for v in lambdas)
            if not ok:
                return [f"paper_lambdas[{distortion!r}][{dataset!r}] (a non-empty list of positive numbers)"]
    return []


def _positive(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


def _parameters(function) -> list[str]:
    try:
        return list(inspect.signature(function).parameters)
    except (TypeError, ValueError):
        return []


def _is_placeholder(cls: type, name: str) -> bool:
    """Whether ``cls.name`` is still the base class's NotImplementedError placeholder."""
    found = inspect.getattr_static(cls, name, None)
    for base in (ImageCodec, DistributedCodec):
        if found is base.__dict__.get(name) and name in ("forward", "compress", "decompress"):
            return True
    return False


def pad_to_multiple(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple[int, int, int, int]]:
    """Zero-pad ``x`` (N, C, H, W) to multiples of ``multiple``, centred.

    Returns the padded tensor and the padding (left, right, top, bottom) to undo.
    """
    h, w = x.shape[-2:]
    pad_h, pad_w = (-h) % multiple, (-w) % multiple
    padding = (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2)
    if pad_h or pad_w:
        x = F.pad(x, padding, mode="constant", value=0.0)
    return x, padding


def crop_padding(x: torch.Tensor, padding: tuple[int, int, int, int]) -> torch.Tensor:
    """Remove the padding added by :func:`pad_to_multiple`."""
    left, right, top, bottom = padding
    h, w = x.shape[-2:]
    return x[..., top : h - bottom, left : w - right]


def check_image(x: torch.Tensor, name: str = "x") -> None:
    """A clear error for inputs that are not a batch of RGB images."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape (N, 3, H, W), got {type(x).__name__}")
    if x.dim() != 4 or x.shape[1] != 3:
        raise ValueError(f"{name} must have shape (N, 3, H, W), got {tuple(x.shape)}")
