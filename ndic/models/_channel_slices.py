"""The channel-conditional entropy model shared by WACNN and STF (Zou et al., CVPR 2022).

Both papers code their latent ``y`` as in Minnen & Singh (ICIP 2020): a hyperprior ``z`` gives
per-element means and scales; ``y`` is split into equal channel slices, and slice ``i`` is coded
with a Gaussian whose mean and scale also condition on the already decoded slices (at most
``max_support_slices`` of them); a latent residual prediction (LRP) then corrects the quantised
slice. Subclasses provide ``g_a``/``g_s`` and call this base class's constructor.

Codec layout (as the original): ``strings = [y_strings, z_strings]``, one string per image for
each; z is coded with the factorized ``EntropyBottleneck``, all y slices of an image go into one
rANS stream. ``shape`` is ``(z_height, z_width, image_height, image_width)``: CompressAI's latent
size followed by the size of the image before padding, which ``decompress`` crops back to.

Loading an original's weights (:meth:`ChannelSliceModel.from_reference`) accepts its files as it saves
them and reports what does not fit in one line (:func:`state_dict_mismatch`, shared with the NDIC-CAM
family's loader).

Why this module is long: the slice loop, its entropy coding (with the checks that catch damaged
streams) and the loading of the original's weights, coder tables included, share one layout of keys
and tables; keeping them together keeps that layout in one place.
"""

from __future__ import annotations

import copy
import inspect
import math
from collections.abc import Callable, Iterable, Mapping, Sequence

import torch
import torch.nn as nn
from compressai.ans import BufferedRansEncoder, RansDecoder
from compressai.entropy_models import EntropyBottleneck, EntropyModel, GaussianConditional
from compressai.layers import conv3x3, subpel_conv3x3
from compressai.models.utils import remap_old_keys
from compressai.ops import quantize_ste

from .base import ImageCodec, check_image, crop_padding, pad_to_multiple

# hidden widths of every mean, scale and LRP transform (both originals)
SLICE_TRANSFORM_WIDTHS = (224, 176, 128, 64)


def hyper_analysis(widths: Sequence[int]) -> nn.Sequential:
    """h_a: five 3x3 convolutions through ``widths`` (6 values), strides 1, 1, 2, 1, 2, GELU between."""
    layers: list[nn.Module] = []
    for i, stride in enumerate((1, 1, 2, 1, 2)):
        layers += [conv3x3(widths[i], widths[i + 1], stride=stride), nn.GELU()]
    return nn.Sequential(*layers[:-1])


def hyper_synthesis(widths: Sequence[int]) -> nn.Sequential:
    """h_s: 3x3 convolutions through ``widths`` (6 values), the 2nd and 4th sub-pixel x2, GELU between."""
    layers: list[nn.Module] = []
    for i in range(5):
        conv = subpel_conv3x3(widths[i], widths[i + 1], 2) if i in (1, 3) else conv3x3(widths[i], widths[i + 1])
        layers += [conv, nn.GELU()]
    return nn.Sequential(*layers[:-1])


def slice_transform(in_channels: int, out_channels: int) -> nn.Sequential:
    """A mean, scale or LRP transform: 3x3 convolutions through SLICE_TRANSFORM_WIDTHS, GELU between."""
    widths = (in_channels, *SLICE_TRANSFORM_WIDTHS, out_channels)
    layers: list[nn.Module] = []
    for c_in, c_out in zip(widths[:-1], widths[1:], strict=True):
        layers += [conv3x3(c_in, c_out), nn.GELU()]
    return nn.Sequential(*layers[:-1])


def _check_decoded(symbols: torch.Tensor, latent: str, sizes: Sequence[int]) -> None:
    """Raise for images whose decoded symbols (B, ...) compress() cannot have written.

    Symbols are rounded float32 values, exact integers only below 2**24; a damaged stream decodes
    to arbitrary int32 values, which CompressAI's encoder would never finish re-encoding.
    """
    for b, bad in enumerate((symbols.flatten(1).abs() >= 2**24).any(dim=1).tolist()):
        if bad:
            raise ValueError(f"the {latent} stream of image {b} ({sizes[b]} bytes) is corrupted or truncated")


def _padded_for_decoding(string: bytes, num_symbols: int) -> bytes:
    # CompressAI's rANS decoder does no bounds checks: on a damaged stream it reads on past the
    # end, at most one 32-bit word per symbol plus 15 words per stream word (escape codes), and
    # zero words end escapes. Zero padding keeps those reads inside our buffer; a valid stream
    # never reaches it.
    return bytes(string) + bytes(4 * num_symbols + 16 * len(string) + 64)


# -- loading an original's weights (shared with the NDIC-CAM family) ------------------------------

# the entropy coder's tables: derived from the weights by update(), of a length that depends on them
CODER_TABLES = ("_quantized_cdf", "_offset", "_cdf_length", "scale_table")
# keys of an earlier STF layout that its own loader (compressai/zoo/pretrained.py) drops
STALE_REFERENCE_PREFIXES = ("h_s.",)


def coder_table_keys(model: nn.Module) -> set[str]:
    """The state-dict keys of every CompressAI entropy model's coder tables in ``model``."""
    keys = set()
    for name, module in model.named_modules():
        if isinstance(module, EntropyModel):
            buffers = dict(module.named_buffers(recurse=False))
            keys |= {f"{name}.{table}" for table in CODER_TABLES if table in buffers}
    return keys


def resize_coder_tables(model: nn.Module, tables: Mapping[str, torch.Tensor]) -> None:
    """Give ``model``'s coder-table buffers the shapes of ``tables`` (state-dict key -> tensor).

    CompressAI's ``load_state_dict`` resizes a table only while it is empty (``resize_if_empty``):
    a model whose tables were already built could not take another length.
    """
    buffers = dict(model.named_buffers())
    for key, value in tables.items():
        if buffers[key].shape != value.shape:
            buffers[key].resize_(value.shape)


def name_some(keys: Iterable[str], shown: int = 4) -> str:
    """``a, b, c, d ... and 7 more``: a few names of a long list, for one-line messages."""
    keys = list(keys)
    more = f" ... and {len(keys) - shown} more" if len(keys) > shown else ""
    return ", ".join(keys[:shown]) + more


def _count(items: Sequence, noun: str) -> str:
    return f"{len(items)} {noun}{'' if len(items) == 1 else 's'}"


def _keywords(model: nn.Module, shown: int = 4) -> str:
    """``N, M``: the names of the model's constructor arguments (the first few)."""
    names = [name for name in inspect.signature(type(model).__init__).parameters if name != "self"]
    return name_some(names, shown)


def _described(config: Mapping) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in config.items())


def state_dict_mismatch(
    model: nn.Module,
    missing: Sequence[str],
    unexpected: Sequence[str],
    reshaped: Sequence[tuple[str, tuple, tuple]],
    hint: str,
) -> ValueError:
    """One line naming what does not fit: missing keys, unexpected keys, keys of another shape."""
    parts = []
    if missing:
        parts.append(f"missing {_count(missing, 'key')} (named as in this model): {name_some(missing)}")
    if unexpected:
        parts.append(f"unexpected {_count(unexpected, 'key')}: {name_some(unexpected)}")
    if reshaped:
        shapes = [f"{k} {list(file)} in the file, {list(here)} here" for k, file, here in reshaped]
        parts.append(f"{_count(reshaped, 'key')} of another shape: {name_some(shapes, 2)}")
    return ValueError(
        f"the weights do not fit {type(model).__name__}({_described(model.config)}): "
        + "; ".join(parts)
        + f". Is it the right model? If so, {hint}"
    )


# STF/WACNN (Zou et al. 2022, Sec. 4.1): CompressAI's six lambdas per objective, on any training set
STF_LAMBDAS = {
    "MSE": {"*": [0.0018, 0.0035, 0.0067, 0.0130, 0.0250, 0.0483]},
    "MS-SSIM": {"*": [2.40, 4.58, 8.73, 16.64, 31.73, 60.50]},
}


class ChannelSliceModel(ImageCodec):
    """Base class: hyperprior + channel-conditional slices + LRP; subclasses add ``g_a``/``g_s``.

    .. code-block:: none

        x ── pad ── g_a ── y ── h_a ── z ── Q ── EB ── z_hat ─┬─ h_mean_s ── means ─┐
                           │                                  └─ h_scale_s ─ scales ┤
                           │  for slice i:                                          │
                           │    mu_i    = cc_mean_i(means, y_hat_<i)                │
                           │    sigma_i = cc_scale_i(scales, y_hat_<i)   <──────────┘
                           └─ y_i ── Q(y_i - mu_i) + mu_i ── GC(mu_i, sigma_i) ── + 0.5 tanh(lrp_i(...)) ── y_hat_i
        y_hat = cat(y_hat_i) ── g_s ── crop ── x_hat

    ``y_hat_<i`` are the first ``min(i, max_support_slices)`` decoded slices (the original
    conditions on the first slices, not the latest). Behaviours of the original kept:

    - z: the entropy bottleneck's likelihood is taken at ``round(z - median) + median`` (eval)
      and the hyper-synthesis receives ``ste_round(z - median) + median`` in training too;
    - y: Gaussian likelihoods at ``round(y - mu) + mu`` in eval (uniform noise in training),
      while ``y_hat`` always uses straight-through rounding;
    - ``x_hat`` of ``forward`` is not clamped; ``decompress`` clamps it to [0, 1], and equals
      the clamped eval forward bit for bit.
    - Inputs are zero-padded (centred) to a multiple of ``stride`` (64: the original needs
      ``H, W`` multiples of 64 and its decoder assumes ``y`` is exactly 4x ``z``), and cropped back.
    """

    stride: int = 64
    distributed = False
    recipe = "stf"
    paper = "STF / WACNN (Zou et al., CVPR 2022)"
    paper_distortion = "MSE"
    paper_lambdas = STF_LAMBDAS

    def __init__(
        self,
        hyper_analysis_widths: Sequence[int],
        hyper_synthesis_widths: Sequence[int],
        num_slices: int,
        max_support_slices: int,
    ):
        super().__init__()
        latent_channels = hyper_analysis_widths[0]
        if latent_channels % num_slices:
            raise ValueError(f"the latent's {latent_channels} channels must split into {num_slices} equal slices")
        self.latent_channels = latent_channels
        self.num_slices = num_slices
        self.max_support_slices = max_support_slices
        slice_channels = latent_channels // num_slices

        self.h_a = hyper_analysis(hyper_analysis_widths)
        self.h_mean_s = hyper_synthesis(hyper_synthesis_widths)
        self.h_scale_s = hyper_synthesis(hyper_synthesis_widths)

        def support(i: int) -> int:
            return latent_channels + slice_channels * min(i, max_support_slices)

        self.cc_mean_transforms = nn.ModuleList(slice_transform(support(i), slice_channels) for i in range(num_slices))
        self.cc_scale_transforms = nn.ModuleList(slice_transform(support(i), slice_channels) for i in range(num_slices))
        # LRP sees the mean support plus the current slice
        self.lrp_transforms = nn.ModuleList(
            slice_transform(support(i) + slice_channels, slice_channels) for i in range(num_slices)
        )
        self.entropy_bottleneck = EntropyBottleneck(hyper_analysis_widths[-1])
        self.gaussian_conditional = GaussianConditional(None)

    # -- the slice loop shared by forward, compress and decompress ---------------------------------

    def _run_slices(self, z_hat: torch.Tensor, code_slice: Callable[..., torch.Tensor]) -> torch.Tensor:
        """Return y_hat. ``code_slice(i, mu, scale)`` quantises (and entropy-codes) slice i."""
        latent_scales = self.h_scale_s(z_hat)
        latent_means = self.h_mean_s(z_hat)
        y_hat_slices: list[torch.Tensor] = []
        for i in range(self.num_slices):
            support = y_hat_slices[: self.max_support_slices]
            mean_support = torch.cat([latent_means, *support], dim=1)
            mu = self.cc_mean_transforms[i](mean_support)
            scale = self.cc_scale_transforms[i](torch.cat([latent_scales, *support], dim=1))
            y_hat_slice = code_slice(i, mu, scale)
            lrp = self.lrp_transforms[i](torch.cat([mean_support, y_hat_slice], dim=1))
            y_hat_slices.append(y_hat_slice + 0.5 * torch.tanh(lrp))
        return torch.cat(y_hat_slices, dim=1)

    def forward(self, x: torch.Tensor) -> dict:
        check_image(x)
        x_padded, padding = pad_to_multiple(x, self.stride)
        y = self.g_a(x_padded)
        z = self.h_a(y)
        _, z_likelihoods = self.entropy_bottleneck(z)
        medians = self.entropy_bottleneck._get_medians()
        z_hat = quantize_ste(z - medians) + medians

        y_slices = y.chunk(self.num_slices, dim=1)
        y_likelihoods = []

        def code_slice(i: int, mu: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
            _, likelihoods = self.gaussian_conditional(y_slices[i], scale, mu)
            y_likelihoods.append(likelihoods)
            return quantize_ste(y_slices[i] - mu) + mu

        y_hat = self._run_slices(z_hat, code_slice)
        x_hat = crop_padding(self.g_s(y_hat), padding)
        return {"x_hat": x_hat, "likelihoods": {"y": torch.cat(y_likelihoods, dim=1), "z": z_likelihoods}}

    # -- entropy coding --------------------------------------------------------------------------

    def _gaussian_tables(self) -> tuple[list, list, list]:
        gc = self.gaussian_conditional
        if gc.quantized_cdf.numel() == 0:
            raise ValueError("the Gaussian coder tables are empty: call model.update() before compress/decompress")
        return gc.quantized_cdf.tolist(), gc.cdf_length.reshape(-1).int().tolist(), gc.offset.reshape(-1).int().tolist()

    def _encode_y(self, symbols: list[int], indexes: list[int], tables: tuple) -> bytes:
        encoder = BufferedRansEncoder()
        encoder.encode_with_indexes(symbols, indexes, *tables)
        return encoder.flush()

    @torch.no_grad()
    def compress(self, x: torch.Tensor) -> dict:
        check_image(x)
        x_padded, _ = pad_to_multiple(x, self.stride)
        y = self.g_a(x_padded)
        z = self.h_a(y)
        z_strings = self.entropy_bottleneck.compress(z)
        z_hat = self.entropy_bottleneck.decompress(z_strings, z.shape[-2:])

        tables = self._gaussian_tables()
        y_slices = y.chunk(self.num_slices, dim=1)
        symbols: list[list[int]] = [[] for _ in range(len(x))]
        indexes: list[list[int]] = [[] for _ in range(len(x))]

        def code_slice(i: int, mu: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
            index = self.gaussian_conditional.build_indexes(scale)
            quantized = self.gaussian_conditional.quantize(y_slices[i], "symbols", mu)
            for b in range(len(x)):
                symbols[b] += quantized[b].reshape(-1).tolist()
                indexes[b] += index[b].reshape(-1).tolist()
            return quantized + mu

        self._run_slices(z_hat, code_slice)
        y_strings = [self._encode_y(s, i, tables) for s, i in zip(symbols, indexes, strict=True)]
        return {"strings": [y_strings, z_strings], "shape": (*z.shape[-2:], *x.shape[-2:])}

    @torch.no_grad()
    def compress_with_likelihoods(self, x: torch.Tensor, side: torch.Tensor | None = None) -> tuple[dict, Callable]:
        """``compress(x)`` and, when asked, the eval forward's likelihoods of what it coded: ``[y, z]``.

        No forward pass: compress() runs on a shallow copy of the model whose slice loop and entropy
        bottleneck note what they code (each slice's ``round(y_i - mu_i) + mu_i`` with its mean and scale, and
        z); the likelihoods are the forward's of those. A copy rather than patched methods, so that concurrent
        calls (``ndic.evaluate``'s worker threads) keep their notes apart.
        """
        gaussian, bottleneck = self.gaussian_conditional, self.entropy_bottleneck
        slices: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
        latents: list[torch.Tensor] = []

        def compress_z(z: torch.Tensor) -> list[bytes]:
            latents.append(z)
            return bottleneck.compress(z)

        def run_slices(z_hat: torch.Tensor, code_slice: Callable[..., torch.Tensor]) -> torch.Tensor:
            def noted(i: int, mu: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
                slices.append((code_slice(i, mu, scale), scale, mu))
                return slices[-1][0]

            return self._run_slices(z_hat, noted)

        recording = copy.copy(self)
        recording._modules = {**self._modules, "entropy_bottleneck": copy.copy(bottleneck)}
        recording.entropy_bottleneck.compress, recording._run_slices = compress_z, run_slices
        encoded = recording.compress(x)

        @torch.no_grad()
        def likelihoods() -> list[torch.Tensor]:
            y = [gaussian.likelihood_lower_bound(gaussian._likelihood(v, s, m)) for v, s, m in slices]
            return [torch.cat(y, dim=1), bottleneck(latents[0], training=False)[1]]

        return encoded, likelihoods

    def _check_codec_input(self, strings, shape) -> tuple[list, list, tuple[int, int], tuple[int, int]]:
        """Clear errors for strings/shape that compress() cannot have returned."""
        if not (isinstance(strings, (list, tuple)) and len(strings) == 2):
            raise ValueError("strings must be [y_strings, z_strings] as returned by compress()")
        y_strings, z_strings = strings
        if not (isinstance(y_strings, (list, tuple)) and isinstance(z_strings, (list, tuple))):
            raise ValueError("strings must be [y_strings, z_strings], each a list with one bytes string per image")
        if not y_strings or len(y_strings) != len(z_strings):
            raise ValueError(
                f"got {len(y_strings)} y strings and {len(z_strings)} z strings; need one of each per image"
            )
        if not all(isinstance(s, (bytes, bytearray)) for s in [*y_strings, *z_strings]):
            raise TypeError("every string must be bytes")
        try:
            z_h, z_w, height, width = (int(v) for v in shape)
        except (TypeError, ValueError):
            raise ValueError(
                f"shape must be (z_height, z_width, height, width) from compress(), got {shape!r}"
            ) from None
        expected = (math.ceil(height / self.stride), math.ceil(width / self.stride))
        if min(height, width) < 1 or (z_h, z_w) != expected:
            raise ValueError(
                f"inconsistent shape {tuple(shape)!r}: a {height}x{width} image has a {expected[0]}x{expected[1]} "
                f"latent z at stride {self.stride}; pass the shape compress() returned"
            )
        return list(y_strings), list(z_strings), (z_h, z_w), (height, width)

    def _decode_z(self, z_strings: list[bytes], size: tuple[int, int]) -> torch.Tensor:
        eb = self.entropy_bottleneck
        num_symbols = eb.quantiles.shape[0] * size[0] * size[1]
        z_hat = eb.decompress([_padded_for_decoding(s, num_symbols) for s in z_strings], size)
        _check_decoded(z_hat - eb._get_medians(), "z", [len(s) for s in z_strings])
        # rANS streams are canonical: a stream is intact iff its symbols re-encode to it
        for b, (again, string) in enumerate(zip(eb.compress(z_hat), z_strings, strict=True)):
            if again != bytes(string):
                raise ValueError(f"the z stream of image {b} ({len(string)} bytes) is corrupted or truncated")
        return z_hat

    @torch.no_grad()
    def decompress(self, strings, shape) -> dict:
        y_strings, z_strings, z_size, image_size = self._check_codec_input(strings, shape)
        z_hat = self._decode_z(z_strings, z_size)

        tables = self._gaussian_tables()
        num_symbols = self.latent_channels * 16 * z_size[0] * z_size[1]  # y is 4x z in each dimension
        decoders = []
        for string in y_strings:
            decoders.append(RansDecoder())
            decoders[-1].set_stream(_padded_for_decoding(string, num_symbols))
        symbols: list[list[int]] = [[] for _ in y_strings]
        indexes: list[list[int]] = [[] for _ in y_strings]

        def code_slice(i: int, mu: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
            index = self.gaussian_conditional.build_indexes(scale)
            decoded = []
            for b, decoder in enumerate(decoders):
                decoded.append(decoder.decode_stream(index[b].reshape(-1).tolist(), *tables))
                indexes[b] += index[b].reshape(-1).tolist()
                symbols[b] += decoded[b]
            quantized = torch.tensor(decoded, dtype=torch.int32, device=mu.device).reshape(mu.shape)
            _check_decoded(quantized, "y", [len(s) for s in y_strings])
            return self.gaussian_conditional.dequantize(quantized, mu)

        y_hat = self._run_slices(z_hat, code_slice)
        for b, string in enumerate(y_strings):
            if self._encode_y(symbols[b], indexes[b], tables) != bytes(string):
                raise ValueError(f"the y stream of image {b} ({len(string)} bytes) is corrupted or truncated")
        x_hat = self.g_s(y_hat).clamp_(0, 1)
        top = (x_hat.shape[-2] - image_size[0]) // 2  # the centred padding of pad_to_multiple
        left = (x_hat.shape[-1] - image_size[1]) // 2
        return {"x_hat": x_hat[..., top : top + image_size[0], left : left + image_size[1]]}

    @classmethod
    def _reference_key(cls, key: str) -> str:
        """Our name for a state-dict key of the original implementation (identity by default)."""
        return key

    @classmethod
    def from_reference(cls, state_dict: Mapping[str, torch.Tensor], **config) -> ChannelSliceModel:
        """Build the model from a state dict saved by the original (Googolxx/STF ``train.py``).

        Strict: every parameter must be there with this configuration's shape, and nothing else; a
        mismatch raises one ValueError naming the keys. Accepted as the original's loader accepts them:

        - the entropy bottleneck's ``_matrix{i}``/``_bias{i}``/``_factor{i}`` (CompressAI 1.1's names);
        - stale ``h_s.*`` keys (an earlier layout with one hyper-synthesis), dropped as STF's
          ``load_pretrained`` drops them;
        - coder tables (``_quantized_cdf``, ``_offset``, ``_cdf_length``, ``scale_table``) of any length,
          or none (a file saved before ``update()``: the tables stay empty until ``update()`` builds them).

        Tables present are loaded as they are, so compress() writes the original's bytes; do not call
        ``update(force=True)`` afterwards if you want those bytes, since CompressAI 1.2.8 recomputes
        slightly different z tables (its entropy bottleneck lacks the original's sign trick).
        (Wrapper prefixes such as DataParallel's ``module.`` are removed by ``ndic.checkpoint``.)
        """
        model = cls(**config)
        model.load_reference_state_dict(state_dict)
        return model

    def load_reference_state_dict(self, original: Mapping[str, torch.Tensor]) -> None:
        """Load the original's state dict into this model (see :meth:`from_reference`)."""
        ours = self.state_dict()
        buffers = dict(self.named_buffers())
        converted: dict[str, torch.Tensor] = {}
        source: dict[str, str] = {}  # our key -> the file's, to name unexpected keys as the file does
        for key, value in original.items():
            name = self._reference_key(key)
            if name.startswith(STALE_REFERENCE_PREFIXES):
                continue
            if key.endswith("attn.relative_position_index") and name in buffers:
                # a non-persistent buffer here, computed from the window size; the file's must agree
                if value.shape != buffers[name].shape or not torch.equal(buffers[name].cpu(), value.cpu()):
                    raise ValueError(
                        f"{key} does not match the window size of {type(self).__name__}({_described(self.config)}): "
                        "pass the original's configuration"
                    )
                continue
            converted[name] = value
            source[name] = key
        for name, module in self.named_modules():
            if isinstance(module, EntropyBottleneck):  # CompressAI 1.1's parameter names -> 1.2's
                for key in [k for k in converted if k.startswith(f"{name}._")]:
                    (renamed,) = remap_old_keys(name, {key: None})
                    converted[renamed], source[renamed] = converted.pop(key), source.pop(key)
        tables = coder_table_keys(self)
        for key in tables:
            converted.setdefault(key, ours[key].new_empty(0))  # absent: empty, as before update()
        # missing keys in the model's order, the others in the file's
        missing = [k for k in ours if k not in converted]
        unexpected = [source[k] for k in converted if k not in ours]
        reshaped = [
            (k, tuple(converted[k].shape), tuple(ours[k].shape))
            for k in converted
            if k in ours and k not in tables and converted[k].shape != ours[k].shape
        ]
        if missing or unexpected or reshaped:
            hint = f"build it with the constructor arguments the original used (model_config: {_keywords(self)})"
            raise state_dict_mismatch(self, missing, unexpected, reshaped, hint)
        # the tables' lengths follow the file: CompressAI resizes a buffer only while it is empty
        resize_coder_tables(self, {k: converted[k] for k in tables})
        self.load_state_dict(converted, strict=True)
