"""Building blocks shared by the NDIC-CAM family: bls17, bmshj18, ndic_bls17, ndic_bmshj18, cross_attention.

The original code (ipc-lab/NDIC-CAM) predates CompressAI's conventions: it has its own GDN, its own
entropy bottleneck (a port of TensorFlow Compression's), its own Gaussian conditional and no entropy
coder at all. Here every piece is CompressAI's, with the differences that change numbers reproduced:

- GDN: CompressAI's :class:`~compressai.layers.GDN` uses the same reparametrisation (offset 2**-18,
  beta_min 1e-6) as the original's, but indexes gamma ``[out, in]`` where the original indexes it
  ``[in, out]``; :meth:`NdicFamilyModel.from_reference` transposes it.
- Entropy bottleneck: :class:`OriginalEntropyBottleneck` keeps CompressAI's density network and rANS
  coder but evaluates the original's likelihood (see its docstring).
- Gaussian conditional: CompressAI's :class:`~compressai.entropy_models.GaussianConditional` computes the
  original's zero-mean likelihood bit for bit (same erfc formula, scale bound 0.11, floor 1e-9).

:class:`NdicFamilyModel` holds what the five models share: configuration with the original constructor's
argument names, input checks, padding, strict loading of the original's state dicts, and bitstream
decoding that detects corrupted or truncated streams.

Why this module is long: the five models share these layers and the conversion of the original's state
dicts; one module keeps the family's conventions (and their departures from CompressAI) in one place.
"""

from __future__ import annotations

import copy
import math
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence

import torch
import torch.nn as nn
from compressai.entropy_models import EntropyBottleneck, EntropyModel, GaussianConditional
from compressai.layers import GDN
from compressai.models.base import get_scale_table
from compressai.models.utils import conv, deconv
from torch import Tensor

from ._channel_slices import state_dict_mismatch
from .base import ImageCodec, check_image, crop_padding, forward_likelihoods, pad_to_multiple

DEFAULT_IMAGE_SIZE = (128, 256)  # the size NDIC-CAM's main.py passes (KITTI/Cityscapes resized to 128x256)
SCALE_BOUND = 0.11  # the original's lower bound of the Gaussian scales (its ``bound`` argument)


class OriginalEntropyBottleneck(EntropyBottleneck):
    """CompressAI's entropy bottleneck with the density evaluation of NDIC-CAM's TF-port bottleneck.

    The density network (``matrices``, ``biases``, ``factors``; filters (3, 3, 3), init_scale 10) is
    CompressAI's and computes the same cumulative logits as the original. What differs, and is kept so
    that the original's weights reproduce its numbers:

    - no ``quantiles`` parameter and no auxiliary loss (:meth:`loss` is 0): the original has neither;
    - evaluation rounds the value itself (``torch.round``, half to even), not ``x - median``;
    - the likelihood is ``|sigmoid(s*upper) - sigmoid(s*lower)|`` with ``s = +sign(lower + upper)``,
      the opposite sign to TensorFlow's trick (so right-tail values lose precision, as in the
      original), floored at 1e-9;
    - ``discrete=False`` (the original's ``quantize=False``, used for the side image's private latent
      and the common information w) never adds noise nor rounds: the likelihood of the continuous value.

    Real coding reuses CompressAI's coder: :meth:`update` finds the tails of the learned CDF by bisection
    (CompressAI's ``_update_quantiles``, into a non-persistent ``quantiles`` buffer, since the original
    trains no quantiles), tabulates this same likelihood at the integers between them, and
    :meth:`compress` codes ``round(x)`` so that the decoded latent is exactly the forward's.
    """

    def __init__(self, channels: int, discrete: bool = True):
        super().__init__(channels, filters=(3, 3, 3), init_scale=10, tail_mass=1e-9, likelihood_bound=1e-9)
        self.discrete = bool(discrete)
        quantiles = self.quantiles.detach().clone()
        del self.quantiles  # a parameter in CompressAI; here only the coder's bookkeeping
        self.register_buffer("quantiles", quantiles, persistent=False)

    def _pmf(self, values: Tensor, stop_gradient: bool = False) -> tuple[Tensor, Tensor, Tensor]:
        """The original's probability mass of ``[v - 1/2, v + 1/2]``, with its cumulative logits."""
        lower = self._logits_cumulative(values - 0.5, stop_gradient=stop_gradient)
        upper = self._logits_cumulative(values + 0.5, stop_gradient=stop_gradient)
        sign = torch.sign(lower + upper)  # the original's sign; TensorFlow negates it
        return torch.abs(torch.sigmoid(sign * upper) - torch.sigmoid(sign * lower)), lower, upper

    def likelihood(self, x: Tensor) -> Tensor:
        """Floored likelihood of ``x`` (N, C, ...) as given (no quantisation)."""
        channels = x.size(1)
        values = x.transpose(0, 1).reshape(channels, 1, -1)  # (C, 1, everything else), as the matmuls need
        likelihood = self.likelihood_lower_bound(self._pmf(values)[0])
        return likelihood.reshape(channels, x.size(0), *x.shape[2:]).transpose(0, 1)

    def forward(self, x: Tensor, training: bool | None = None) -> tuple[Tensor, Tensor]:
        if training is None:
            training = self.training
        if self.discrete:
            x = self.quantize(x, "noise") if training else torch.round(x)
        return x, self.likelihood(x)

    def loss(self) -> Tensor:
        """No auxiliary loss: the coding range comes from bisection in :meth:`update`."""
        return self.biases[0].new_zeros(())

    @torch.no_grad()
    def update(self, force: bool = False, update_quantiles: bool = False) -> bool:
        """Tabulate the likelihood at the integers within the learned tails (``update_quantiles`` is implied)."""
        if self._offset.numel() > 0 and not force:
            return False
        if not all(torch.isfinite(p).all() for p in self.parameters()):
            raise ValueError("the entropy bottleneck has NaN or infinite parameters: no coder tables can be built")
        self._update_quantiles()
        low = torch.floor(self.quantiles[:, 0, 0]).int()
        high = torch.ceil(self.quantiles[:, 0, 2]).int()
        pmf_length = high - low + 1
        max_length = int(pmf_length.max())
        samples = low[:, None, None].float() + torch.arange(max_length, device=low.device)
        pmf, lower, upper = self._pmf(samples, stop_gradient=True)
        last = (pmf_length - 1).long()[:, None]
        tail_mass = torch.sigmoid(lower[:, 0, :1]) + torch.sigmoid(-upper[:, 0, :].gather(1, last))
        self._quantized_cdf = self._pmf_to_cdf(pmf[:, 0, :], tail_mass, pmf_length, max_length)
        self._offset = low
        self._cdf_length = pmf_length + 2
        return True

    def compress(self, x: Tensor) -> list[bytes]:
        if not self.discrete:
            raise RuntimeError("this entropy bottleneck models a continuous latent that is never transmitted")
        check_codable(x, "the latent")
        return EntropyModel.compress(self, x, self._build_indexes(x.size()))  # symbols: round(x), no median

    def decompress(self, strings: list[bytes], size: Sequence[int]) -> Tensor:
        indexes = self._build_indexes((len(strings), self._quantized_cdf.size(0), *size))
        return EntropyModel.decompress(self, strings, indexes.to(self._quantized_cdf.device))


def continuous_gaussian_likelihood(conditional: GaussianConditional, values: Tensor, scales: Tensor) -> Tensor:
    """Floored zero-mean Gaussian likelihood of unquantised values (the original's ``cor_input=True``)."""
    return conditional.likelihood_lower_bound(conditional._likelihood(values, scales))


def analysis_transform(num_filters: int) -> nn.Sequential:
    """x -> latent: 4x (conv 5x5 / 2), GDN between them (the NDIC models' and bmshj18's encoder)."""
    n = num_filters
    return nn.Sequential(conv(3, n), GDN(n), conv(n, n), GDN(n), conv(n, n), GDN(n), conv(n, n))


def synthesis_transform(num_filters: int, in_channels: int, extra: Sequence[int] = (0, 0, 0)) -> nn.Sequential:
    """Latent -> image: 4x (deconv 5x5 / 2), IGDN between them.

    ``extra[i]`` adds input channels to the 2nd..4th deconvolution (concatenated attention outputs).
    """
    n = num_filters
    return nn.Sequential(
        deconv(in_channels, n),
        GDN(n, inverse=True),
        deconv(n + extra[0], n),
        GDN(n, inverse=True),
        deconv(n + extra[1], n),
        GDN(n, inverse=True),
        deconv(n + extra[2], 3),
    )


def hyper_analysis(num_filters: int) -> nn.Sequential:
    """|y| -> z, as the original's HyperAnalysisTransform.

    The original applies a ReLU to |y| first (a no-op, left out) and has no ReLU between its first two
    convolutions (kept); its last convolution has no bias.
    """
    n = num_filters
    return nn.Sequential(conv(n, n, 3, 1), conv(n, n), nn.ReLU(), nn.Conv2d(n, n, 5, 2, 2, bias=False))


def hyper_synthesis(num_filters: int) -> nn.Sequential:
    """z_hat -> scales before the lower bound (no exp, no ReLU at the end), as HyperSynthesisTransform."""
    n = num_filters
    return nn.Sequential(deconv(n, n), nn.ReLU(), deconv(n, n), nn.ReLU(), deconv(n, n, 3, 1))


def layer_names(*names: str | None, suffix: str = "") -> list[str | None]:
    """The original's attribute names of a layer sequence (None for parameter-free layers)."""
    return [None if name is None else name + suffix for name in names]


ANALYSIS_NAMES = ("conv1", "gdn1", "conv2", "gdn2", "conv3", "gdn3", "conv4")
SYNTHESIS_NAMES = ("deconv1", "igdn1", "deconv2", "igdn2", "deconv3", "igdn3", "deconv4")
HYPER_ANALYSIS_NAMES = ("conv_h1", "conv_h2", None, "conv_h3")
HYPER_SYNTHESIS_NAMES = ("conv_h4", None, "conv_h5", None, "conv_h6")


def sequence_map(prefix: str, names: Sequence[str | None], original_prefix: str = "") -> dict[str, str]:
    """Map the original's module names to the positions of an ``nn.Sequential`` called ``prefix``."""
    return {original_prefix + name: f"{prefix}.{i}" for i, name in enumerate(names) if name is not None}


def _positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


def _image_size(value) -> tuple[int, int]:
    if not isinstance(value, Sequence) or len(value) != 2:
        raise ValueError(f"image_size must be (height, width), got {value!r}")
    return _positive_int(value[0], "image_size[0]"), _positive_int(value[1], "image_size[1]")


# NDIC-CAM README, "Lambda Values", per dataset; used with distortion_loss MS-SSIM. The README does not
# name the objective; configs/config.yaml's default is MS-SSIM (the reproduction chapter says what is assumed).
NDIC_CAM_LAMBDAS = {
    "MS-SSIM": {
        "kitti_stereo": [3e-05, 4.5e-05, 6e-05, 0.00011, 0.00018, 0.00022, 0.0003],
        "kitti_general": [3e-05, 4.5e-05, 8e-05, 0.00011, 0.00016, 0.00022, 0.00032, 0.00042, 0.00046],
        "cityscape": [4.5e-05, 6e-05, 0.0001, 0.00016, 0.00022, 0.00032, 0.0004, 0.00044, 0.0005, 0.00062],
    }
}


class NdicFamilyModel(ImageCodec):
    """Shared behaviour of the NDIC-CAM family (not registered itself).

    Contract (:mod:`ndic.models.base`): NDIC-CAM's recipe and data setup, its per-dataset MS-SSIM lambdas;
    the quick profile sets the width through ``num_filters`` (``ndic.recipes.SETUPS``).

    Bitstream conventions of the family: ``compress(x)`` returns ``strings[latent][image]`` (raw rANS
    streams) and ``shape``, the input image's (H, W), from which every latent size follows;
    ``decompress`` returns the eval-mode forward's ``x_hat`` clamped to [0, 1], bit for bit, and raises
    ValueError for strings it can tell are damaged (:func:`checked_decode`).

    Subclasses set ``stride`` (the padding multiple), implement ``reference_modules`` (the original's
    module names -> ours) and build their layers after calling ``super().__init__``.
    """

    distributed = False
    stride = 16
    recipe = "ndic_cam"
    paper = "NDIC-CAM (Mital et al., WACV 2023)"
    paper_distortion = "MS-SSIM"
    paper_lambdas = NDIC_CAM_LAMBDAS

    def __init__(
        self, num_filters: int = 192, image_size: Sequence[int] = DEFAULT_IMAGE_SIZE, bound: float | None = None
    ):
        super().__init__()
        self.num_filters = _positive_int(num_filters, "num_filters")
        # the original constructors take image_size; only cross_attention depends on it
        self.image_size = _image_size(image_size)
        self.config = {"num_filters": self.num_filters, "image_size": list(self.image_size)}
        if bound is not None:  # the scale lower bound, in the constructors that have one
            if not float(bound) > 0:
                raise ValueError(f"bound must be positive, got {bound!r}")
            self.config["bound"] = float(bound)
        self.bound = self.config.get("bound", SCALE_BOUND)

    def update(self, scale_table=None, force: bool = False, update_quantiles: bool = False) -> bool:
        """Build the coder tables (CompressAI); the Gaussian's scale table starts at ``bound``."""
        if scale_table is None:
            scale_table = get_scale_table(min=self.bound)
        return super().update(scale_table=scale_table, force=force, update_quantiles=update_quantiles)

    @torch.no_grad()
    def compress_with_likelihoods(self, x: Tensor, side: Tensor | None = None) -> tuple[dict, Callable[[], list]]:
        """``compress(x)`` and, when asked, the eval forward's likelihoods of what it coded, in ``strings`` order.

        No forward pass: compress() runs on a shallow copy of the model whose entropy models also note what
        they code (:func:`_recording`); the likelihoods are then the forward's for the same latents (and
        scales). A copy rather than patched methods, so that concurrent calls keep their notes apart.
        """
        coded: list[tuple[list, Callable[[], Tensor]]] = []
        recording = copy.copy(self)
        recording._modules = {name: _recording(module, coded) for name, module in self._modules.items()}
        encoded = recording.compress(x)
        found = {id(strings): likelihood for strings, likelihood in coded}
        if not all(id(strings) in found for strings in encoded["strings"]):  # coded some other way: a forward
            return encoded, forward_likelihoods(self, x, side)

        @torch.no_grad()
        def likelihoods() -> list[Tensor]:
            return [found[id(strings)]() for strings in encoded["strings"]]

        return encoded, likelihoods

    # --- the original's state dicts -------------------------------------------------------------------
    def reference_modules(self) -> dict[str, str]:
        """The original's module names -> this model's (every module with parameters)."""
        raise NotImplementedError

    @classmethod
    def from_reference(cls, state_dict: Mapping[str, Tensor], **config) -> NdicFamilyModel:
        """Build the model from a state dict saved by NDIC-CAM's ``main.py`` (strictly).

        ``config`` takes the original constructor's arguments (``num_filters``, ``image_size``, ...);
        ``num_filters`` defaults to the width found in the state dict. A ``main.py`` checkpoint (a dict
        with ``model_state_dict``) is accepted as well.
        """
        if isinstance(state_dict.get("model_state_dict"), Mapping):
            state_dict = state_dict["model_state_dict"]
        if "num_filters" not in config and "conv1.bias" in state_dict:
            config["num_filters"] = int(state_dict["conv1.bias"].numel())
        model = cls(**config)
        model.load_reference_state_dict(state_dict)
        return model

    def load_reference_state_dict(self, original: Mapping[str, Tensor]) -> None:
        """Load the original's parameters, converting names, GDN gammas and entropy-bottleneck layouts.

        Keys with ``z`` where this model has ``w`` (``conv1_z`` for ``conv1_w``) are accepted too: NDIC-CAM's
        ``main.py`` renames them so for its released weights (``map_layers``). Anything that does not fit
        (keys missing, unexpected or of another shape) raises one ValueError naming the keys.
        """
        modules = self.reference_modules()
        converted: dict[str, Tensor] = {}
        source: dict[str, str] = {}  # our key -> the file's, to name unexpected keys as the file does
        unknown = []
        for key, value in original.items():
            prefix, _, leaf = key.rpartition(".")
            ours = modules.get(prefix, modules.get(prefix.replace("z", "w")))
            if ours is None:
                unknown.append(key)
                continue
            for name, tensor in _convert_leaf(self.get_submodule(ours), leaf, value):
                converted[f"{ours}.{name}"] = tensor
                source[f"{ours}.{name}"] = key
        expected = dict(self.named_parameters())
        # missing keys in the model's order, the others in the file's
        missing = [k for k in expected if k not in converted]
        unexpected = unknown + [source[k] for k in converted if k not in expected]
        reshaped = {  # by the file's key (its factors make several of ours), in our layout
            source[k]: (source[k], tuple(converted[k].shape), tuple(expected[k].shape))
            for k in converted
            if k in expected and converted[k].shape != expected[k].shape
        }
        if missing or unexpected or reshaped:
            width = original.get("conv1.bias")
            found = f" (the file's conv1 has {width.numel()} filters)" if isinstance(width, Tensor) else ""
            hint = f"pass the original's num_filters{found} / image_size"
            raise state_dict_mismatch(self, missing, unexpected, list(reshaped.values()), hint)
        state = self.state_dict()
        state.update(converted)
        self.load_state_dict(state, strict=True)

    # --- inputs ---------------------------------------------------------------------------------------
    def _pad(self, x: Tensor) -> tuple[Tensor, tuple[int, int, int, int]]:
        return pad_to_multiple(x, self.stride)

    @staticmethod
    def _check_side(x_shape: Sequence[int], y: Tensor | None) -> None:
        if y is None:
            raise ValueError("this model decodes with the side image: pass side=y, the image that x was paired with")
        check_image(y, "side image y")
        n, _, h, w = x_shape
        if tuple(y.shape[-2:]) != (h, w):
            raise ValueError(
                f"the side image y must have the size of x: x is {h}x{w}, y is {y.shape[-2]}x{y.shape[-1]}"
            )
        if y.size(0) != n:
            raise ValueError(f"one side image per image: x has a batch of {n}, y of {y.size(0)}")

    @staticmethod
    def _check_strings(strings, count: int) -> int:
        """Check the structure ``strings[latent][batch]``; return the batch size."""
        if not isinstance(strings, Sequence) or len(strings) != count:
            raise ValueError(f"expected strings for {count} latent(s) (strings[latent][image]), got {strings!r:.80}")
        sizes = {len(s) if isinstance(s, Sequence) else -1 for s in strings}
        if len(sizes) != 1 or -1 in sizes or 0 in sizes:
            raise ValueError("strings must be lists of bytes, one per image, the same number for every latent")
        return sizes.pop()

    @staticmethod
    def _check_shape(shape) -> tuple[int, int]:
        if not isinstance(shape, Sequence) or len(shape) != 2:
            raise ValueError(f"shape must be the image's (height, width) that compress() returned, got {shape!r}")
        return _positive_int(int(shape[0]), "shape[0]"), _positive_int(int(shape[1]), "shape[1]")

    def _crop_to(self, x_hat_padded: Tensor, shape: tuple[int, int]) -> Tensor:
        """Crop a padded reconstruction back to the image size ``shape`` (the encoder's centred padding)."""
        return crop_padding(x_hat_padded, self._pad(x_hat_padded.new_empty(1, 1, *shape))[1])

    def _latent_size(self, shape: tuple[int, int], factor: int) -> tuple[int, int]:
        """Spatial size of a latent ``factor`` times smaller than the padded image."""
        return tuple(math.ceil(s / self.stride) * self.stride // factor for s in shape)


def _recording(module: nn.Module, coded: list) -> nn.Module:
    """A shallow copy of an entropy model whose ``compress`` also appends ``(strings, likelihood function)`` to
    ``coded``: the likelihood the module's eval forward gives the latent it coded (and, for the Gaussian, the
    scales ``build_indexes`` turned into that call's indexes). Other modules are returned as they are."""
    if isinstance(module, OriginalEntropyBottleneck) and module.discrete:
        copied = copy.copy(module)

        def compress_bottleneck(latent: Tensor) -> list[bytes]:
            strings = module.compress(latent)
            coded.append((strings, lambda: module(latent, training=False)[1]))
            return strings

        copied.compress = compress_bottleneck
        return copied
    if isinstance(module, GaussianConditional):
        copied, scales_of = copy.copy(module), []

        def build_indexes(scales: Tensor) -> Tensor:
            scales_of.append((module.build_indexes(scales), scales))
            return scales_of[-1][0]

        def compress_gaussian(inputs: Tensor, indexes: Tensor, means: Tensor | None = None) -> list[bytes]:
            strings = module.compress(inputs, indexes, means)
            scales = next((s for i, s in scales_of if i is indexes), None)
            if scales is not None:  # else indexes built elsewhere: the caller falls back to a forward
                coded.append((strings, lambda: module(inputs, scales, means, training=False)[1]))
            return strings

        copied.build_indexes, copied.compress = build_indexes, compress_gaussian
        return copied
    return module


def _convert_leaf(module: nn.Module, leaf: str, value: Tensor) -> Iterator[tuple[str, Tensor]]:
    """The original's parameter ``leaf`` of ``module`` in CompressAI's layout."""
    if isinstance(module, GDN) and leaf == "gamma" and value.dim() == 2:
        yield "gamma", value.t().contiguous()  # original: [in, out]; CompressAI: [out, in]
    elif isinstance(module, OriginalEntropyBottleneck) and leaf == "factors" and value.dim() > 0:
        yield from ((f"factors.{i}", f) for i, f in enumerate(value.unbind(0)))
    elif isinstance(module, OriginalEntropyBottleneck) and leaf[:-1] in ("matrix", "bias") and leaf[-1].isdigit():
        yield f"{'matrices' if leaf.startswith('matrix') else 'biases'}.{leaf[-1]}", value
    else:
        yield leaf, value


MAX_SYMBOL = 2**24  # beyond it float32 latents are not integers, and the rANS escape code overflows


def check_codable(latent: Tensor, what: str) -> None:
    """A clear error for latents the rANS coder cannot take (it would loop forever on NaN or huge values)."""
    if not torch.isfinite(latent).all() or latent.abs().max() >= MAX_SYMBOL - 1:
        raise ValueError(f"{what} has NaN, infinite or huge (>= 2**24) values: the model's weights are broken")


def _overread_margin(n_symbols: int, length: int) -> bytes:
    """Zeros appended to a stream before decoding, enough for whatever a damaged stream makes the decoder read.

    CompressAI's rANS decoder does not bound its reads. A valid stream never reads past its end; a damaged
    one does, and from arbitrary memory its escape codes could run for billions of steps. Past the end it
    reads these zeros instead, which keep every escape short: per symbol at most one word for the symbol
    and ~33 for an escape (a run of <= 16 all-ones nibbles of the state, then <= 240 nibbles), plus escape
    runs fed by the stream itself (<= 2 nibbles per byte, each worth 15 nibbles of payload).
    """
    return bytes(144 * n_symbols + 16 * length + 64)


def checked_decode(
    strings: Sequence[bytes],
    n_symbols: int,
    decode: Callable[[list[bytes]], Tensor],
    encode: Callable[[Tensor], list[bytes]],
    what: str,
) -> Tensor:
    """Decode rANS streams, raising ValueError for streams that are truncated or corrupted.

    A valid stream is a whole number of 32-bit words, at least two, and it is exactly what encoding its
    decoded symbols again produces; any other stream is reported instead of decoded into garbage.
    """
    for i, s in enumerate(strings):
        if not isinstance(s, bytes | bytearray):
            raise ValueError(f"{what} stream {i} must be bytes, got {type(s).__name__}")
        if len(s) < 8 or len(s) % 4:
            raise ValueError(
                f"{what} stream {i} is truncated or corrupted: {len(s)} bytes, but rANS streams are whole "
                "32-bit words, at least 8 bytes"
            )
    values = decode([bytes(s) + _overread_margin(n_symbols, len(s)) for s in strings])
    if values.abs().max() >= MAX_SYMBOL or [bytes(s) for s in encode(values)] != [bytes(s) for s in strings]:
        raise ValueError(
            f"{what} stream is corrupted or truncated: re-encoding the decoded symbols does not reproduce it "
            "(or the model's weights/entropy tables differ from the encoder's)"
        )
    return values


def decode_factorized(bottleneck: OriginalEntropyBottleneck, strings, size: Sequence[int], what: str) -> Tensor:
    """Checked :meth:`OriginalEntropyBottleneck.decompress`."""
    n_symbols = bottleneck._quantized_cdf.size(0) * math.prod(size)
    return checked_decode(strings, n_symbols, lambda s: bottleneck.decompress(s, size), bottleneck.compress, what)


def decode_gaussian(conditional: GaussianConditional, strings, indexes: Tensor, what: str) -> Tensor:
    """Checked :meth:`GaussianConditional.decompress`."""
    n_symbols = indexes[0].numel()
    return checked_decode(
        strings,
        n_symbols,
        lambda s: conditional.decompress(s, indexes),
        lambda values: conditional.compress(values, indexes),
        what,
    )


def merge(*dicts: Mapping[str, str]) -> OrderedDict[str, str]:
    """Concatenate module-name maps."""
    out: OrderedDict[str, str] = OrderedDict()
    for d in dicts:
        out.update(d)
    return out
