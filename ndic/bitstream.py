"""Self-describing bitstream files: one compressed image per file, checked before it is decoded.

A model's ``compress`` gives rANS streams (``{"strings": [[bytes, ...], ...], "shape": ...}``); this
module wraps them in a file that says which model wrote it and guards against the usual accidents
(truncated download, flipped bits, decoding with the wrong model or weights).

File layout (format version 1, integers little-endian)::

    offset  size  field
    0       4     magic b"NDIC"
    4       1     format version
    5       4     header length L (bytes of JSON)
    9       4     CRC32 of the header JSON
    13      L     header: compact UTF-8 JSON
    13+L    ...   payload: every rANS stream, concatenated in order (latent i, then batch item b)

The header holds the model's registry name, SHA-256 prefixes of its ``config`` (canonical JSON) and
of its weights (the whole state dict, entropy-coder tables included), the original image size, the
model's ``shape`` (any nesting of lists/ints, as JSON), the byte length of every stream and the
CRC32 of the payload. A file is rejected with a :class:`BitstreamError` subclass that names the cause
and the fix before any byte reaches the entropy decoder.

Rates: ``payload_bpp`` counts the rANS streams only (what CompressAI's and the papers' evaluations
call the real bpp); ``bpp`` counts the whole file, header included. Both are measured byte counts,
unlike the likelihood estimate of a forward pass.

>>> import ndic
>>> from ndic import models
>>> net = models.build("bls17", num_filters=128)
>>> info = ndic.compress_file(net, "kodim01.png", "kodim01.ndic")
>>> x_hat = ndic.decompress_file(net, "kodim01.ndic")
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import struct
import sys
import weakref
import zlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from . import _compat  # noqa: F401  (before compressai)
from .io import atomic_write_bytes
from .metrics import to_uint8

MAGIC = b"NDIC"
FORMAT_VERSION = 1
_PRELUDE = struct.Struct("<4sBII")  # magic, version, header length, header CRC32
HASH_HEX_DIGITS = 16  # 64-bit prefixes of SHA-256: ample to tell models apart, 2 x 48 bytes less per file

ImageLike = str | os.PathLike | torch.Tensor


# --------------------------------------------------------------------------- errors


class BitstreamError(ValueError):
    """A bitstream file that cannot be decoded; the message names the cause and the fix."""


class NotABitstream(BitstreamError):
    """The file does not start with the magic bytes of this format."""


class UnsupportedVersion(BitstreamError):
    """The file was written by another version of the format."""


class TruncatedBitstream(BitstreamError):
    """The file ends before the header or the payload it announces."""


class CorruptBitstream(BitstreamError):
    """The file has the right length but its bytes were changed (CRC mismatch, malformed header)."""


class WrongModel(BitstreamError):
    """The file was written by another model, configuration or set of weights."""


class SideImageError(ValueError):
    """A distributed model's side image is missing or does not fit the compressed image."""


# --------------------------------------------------------------------------- images


def read_image(path: str | os.PathLike) -> torch.Tensor:
    """An image file as a (1, 3, H, W) float tensor in [0, 1].

    Decoded by the project's reader (:func:`ndic.data.decode.read_rgb`): grayscale is replicated to
    three channels, alpha is dropped, 16-bit samples are rescaled to 8 bits; an unreadable file
    raises an error naming it.
    """
    from .data.decode import read_rgb

    return torch.tensor(read_rgb(path)).permute(2, 0, 1).unsqueeze(0).float().div_(255.0)


def _image_tensor(image: ImageLike, role: str) -> torch.Tensor:
    """A path or a (3, H, W) / (1, 3, H, W) tensor as a (1, 3, H, W) float tensor."""
    if isinstance(image, torch.Tensor):
        x = image.unsqueeze(0) if image.dim() == 3 else image
        if x.dim() != 4 or x.shape[:2] != (1, 3):
            raise ValueError(f"{role} must be one RGB image, (3, H, W) or (1, 3, H, W); got {tuple(image.shape)}")
        return x.float()
    return read_image(image)


def png_bytes(x: torch.Tensor) -> bytes:
    """A (1, 3, H, W) or (3, H, W) image in [0, 1] as PNG bytes (clamped and rounded to 8 bits)."""
    x = x[0] if x.dim() == 4 else x
    array = to_uint8(x).to(torch.uint8).permute(1, 2, 0).cpu().numpy()
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


# --------------------------------------------------------------------------- model identity


def _canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def model_name(model: torch.nn.Module) -> str:
    """The registry name a decoder builds ``model`` by (set by :func:`ndic.models.register`)."""
    name = getattr(model, "registry_name", None)
    if not isinstance(name, str):
        raise TypeError(
            f"{type(model).__name__} has no registry name: register the class with @ndic.models.register(...) "
            "so that a decoder can rebuild it from the file"
        )
    return name


def config_hash(model: torch.nn.Module) -> str:
    """SHA-256 prefix of ``model.config`` as canonical JSON (sorted keys; tuples equal lists)."""
    config = getattr(model, "config", None)
    if not isinstance(config, Mapping):
        raise TypeError(f"{type(model).__name__} has no `config` dict (its constructor's keyword arguments)")
    try:
        text = _canonical_json(dict(config))
    except TypeError as err:
        raise TypeError(f"{type(model).__name__}.config must be JSON-serialisable: {err}") from err
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:HASH_HEX_DIGITS]


# model -> (fingerprint of its tensors, hash); entries vanish with their model
_weights_hash_cache: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _state_fingerprint(state: Mapping[str, torch.Tensor]) -> tuple:
    # Identity, storage and version counter of every tensor: replacing a tensor (update(), load_state_dict
    # of a buffer) or changing it in place (optimizer steps, copy_) changes the fingerprint, without
    # reading any weight. Writes through `.data` escape version counters: pass use_cache=False after them.
    return tuple((key, t.data_ptr(), t._version, tuple(t.shape), t.dtype, t.device) for key, t in state.items())


def weights_hash(model: torch.nn.Module, use_cache: bool = True) -> str:
    """SHA-256 prefix of the state dict (names, dtypes, shapes and bytes, sorted by name).

    The entropy-coder tables are buffers, so they are part of it: a file only decodes with exactly
    the tables that encoded it. The hash is cached per model object until a tensor changes.
    """
    state = model.state_dict()
    fingerprint = _state_fingerprint(state)
    cached = _weights_hash_cache.get(model) if use_cache else None
    if cached is not None and cached[0] == fingerprint:
        return cached[1]
    digest = hashlib.sha256()
    for key in sorted(state):
        tensor = state[key].detach().to("cpu").contiguous().reshape(-1)
        digest.update(_canonical_json([key, str(tensor.dtype), list(state[key].shape)]).encode("utf-8"))
        digest.update(tensor.view(torch.uint8).numpy().tobytes())
    value = digest.hexdigest()[:HASH_HEX_DIGITS]
    _weights_hash_cache[model] = (fingerprint, value)
    return value


def ensure_coder_tables(model: torch.nn.Module) -> bool:
    """Build the entropy-coder tables with ``model.update()`` if any entropy model lacks them.

    Tables that are present (built earlier or loaded from a checkpoint) are kept as they are:
    ``update()`` without ``force`` only fills empty ones. Returns whether tables were built.
    """
    from compressai.entropy_models import EntropyModel

    entropy_models = [m for m in model.modules() if isinstance(m, EntropyModel)]
    if not any(m._offset.numel() == 0 for m in entropy_models):
        return False
    model.update()
    return True


@contextlib.contextmanager
def _inference(model: torch.nn.Module) -> Iterator[None]:
    """Eval mode and no autograd for the duration; the model's previous mode is restored."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        model.train(was_training)


def _device(model: torch.nn.Module) -> torch.device:
    tensor = next(model.parameters(), None)
    return tensor.device if tensor is not None else torch.device("cpu")


# --------------------------------------------------------------------------- container


def _jsonable_shape(shape: Any) -> Any:
    if isinstance(shape, torch.Tensor):
        shape = shape.tolist()
    if isinstance(shape, list | tuple):
        return [_jsonable_shape(s) for s in shape]
    if isinstance(shape, Mapping):
        return {str(k): _jsonable_shape(v) for k, v in shape.items()}
    if isinstance(shape, bool) or not isinstance(shape, int | np.integer):
        raise TypeError(f"model.compress returned a shape holding {shape!r}; the file format stores ints only")
    return int(shape)


def _restore_shape(shape: Any) -> Any:
    # JSON lists back to tuples: models return torch.Size / tuples and may compare or hash them
    if isinstance(shape, list):
        return tuple(_restore_shape(s) for s in shape)
    if isinstance(shape, dict):
        return {k: _restore_shape(v) for k, v in shape.items()}
    return shape


def _check_strings(strings: Any) -> list[list[bytes]]:
    ok = isinstance(strings, list | tuple) and all(
        isinstance(per_latent, list | tuple) and all(isinstance(s, bytes) for s in per_latent) for per_latent in strings
    )
    if not ok:
        raise TypeError("model.compress must return strings as a list (one per latent) of lists of bytes")
    return [list(per_latent) for per_latent in strings]


def pack(header: dict, strings: list[list[bytes]]) -> bytes:
    """The file bytes for ``header`` (without ``lengths``/``payload_crc32``, filled here) and ``strings``."""
    payload = b"".join(s for per_latent in strings for s in per_latent)
    header = {
        **header,
        "lengths": [[len(s) for s in per_latent] for per_latent in strings],
        "payload_crc32": zlib.crc32(payload),
    }
    text = _canonical_json(header).encode("utf-8")
    return _PRELUDE.pack(MAGIC, FORMAT_VERSION, len(text), zlib.crc32(text)) + text + payload


_HEADER_TYPES = {
    "model": str,
    "config_hash": str,
    "weights_hash": str,
    "height": int,
    "width": int,
    "lengths": list,
    "payload_crc32": int,
}


def unpack(data: bytes, source: str = "bitstream") -> tuple[dict, list[list[bytes]]]:
    """Parse and verify file bytes: the header dict and the streams. Raises :class:`BitstreamError`."""
    head = data[: len(MAGIC)]
    if head != MAGIC[: len(head)]:
        raise NotABitstream(
            f"{source} is not an ndic bitstream (it starts with {head!r}, not {MAGIC!r}); "
            "pass a file written by `ndic compress` / ndic.compress_file"
        )
    if len(data) < _PRELUDE.size:
        raise TruncatedBitstream(
            f"{source} is truncated: {len(data)} bytes, shorter than the {_PRELUDE.size}-byte "
            "prelude; the file was cut off, copy or compress it again"
        )
    _, version, header_length, header_crc = _PRELUDE.unpack_from(data)
    if version != FORMAT_VERSION:
        raise UnsupportedVersion(
            f"{source} uses bitstream format version {version}; this ndic reads version "
            f"{FORMAT_VERSION}: decode it with the ndic release that wrote it"
        )
    end = _PRELUDE.size + header_length
    if len(data) < end:
        raise TruncatedBitstream(
            f"{source} is truncated: it ends inside its {header_length}-byte header ({len(data)} bytes in all; "
            "or its header-length field is damaged); the file was cut off, copy or compress it again"
        )
    text = data[_PRELUDE.size : end]
    if zlib.crc32(text) != header_crc:
        raise CorruptBitstream(
            f"{source} is corrupted: its header fails the CRC32 check; the file was damaged, copy or compress it again"
        )
    try:
        header = json.loads(text.decode("utf-8"))
        if not isinstance(header, dict):
            raise TypeError(f"the header is a JSON {type(header).__name__}, not an object")
        bad = [k for k, kind in _HEADER_TYPES.items() if not isinstance(header.get(k), kind)]
        lengths = header.get("lengths", [])
        bad += [] if all(isinstance(n, int) and n >= 0 for per in lengths for n in per) else ["lengths"]
    except (UnicodeDecodeError, json.JSONDecodeError, TypeError) as err:
        raise CorruptBitstream(f"{source} has a malformed header ({err}); it was not written by ndic") from err
    if bad or "shape" not in header:
        raise CorruptBitstream(
            f"{source} has a malformed header (bad or missing fields: {bad or ['shape']}); "
            "it was not written by this version of ndic"
        )
    payload = data[end:]
    expected = sum(n for per in lengths for n in per)
    if len(payload) < expected:
        raise TruncatedBitstream(
            f"{source} is truncated: the header announces {expected} payload bytes, the file "
            f"holds {len(payload)}; the file was cut off, copy or compress it again"
        )
    if len(payload) > expected:
        raise CorruptBitstream(
            f"{source} has {len(payload) - expected} bytes after the {expected}-byte payload; "
            "the file was damaged or appended to, copy or compress it again"
        )
    if zlib.crc32(payload) != header["payload_crc32"]:
        raise CorruptBitstream(
            f"{source} is corrupted: its payload fails the CRC32 check; the file was damaged, copy or compress it again"
        )
    strings, offset = [], 0
    for per_latent in lengths:
        strings.append([])
        for n in per_latent:
            strings[-1].append(payload[offset : offset + n])
            offset += n
    return header, strings


def read_header(path: str | os.PathLike) -> dict:
    """The verified header of a bitstream file (model name, hashes, size, shape, stream lengths)."""
    header, _ = unpack(Path(path).read_bytes(), source=str(path))
    return header


def _check_model(header: dict, model: torch.nn.Module, source: str) -> None:
    name = model_name(model)
    if header["model"] != name:
        raise WrongModel(
            f"{source} was written by model {header['model']!r}, not {name!r}: decode it with "
            f"{header['model']!r} (e.g. `python -m ndic decompress --model {header['model']} ...`)"
        )
    if header["config_hash"] != config_hash(model):
        raise WrongModel(
            f"{source} was written by {name!r} with another configuration (config hash "
            f"{header['config_hash']}, this model's is {config_hash(model)}): build the model with "
            "the encoder's config, or load the encoder's checkpoint"
        )
    if header["weights_hash"] != weights_hash(model):
        raise WrongModel(
            f"{source} was written by {name!r} with other weights or coder tables (weights hash "
            f"{header['weights_hash']}, this model's is {weights_hash(model)}): load the checkpoint "
            "that encoded it"
        )


# --------------------------------------------------------------------------- compress / decompress


def compress_file(model: torch.nn.Module, image_path: ImageLike, out_path: str | os.PathLike) -> dict:
    """Compress one image into a bitstream file, written atomically.

    ``image_path`` is an 8-bit image file (or a (3, H, W) tensor in [0, 1]). A distributed model's
    encoder only ever sees this image; its side image is given to :func:`decompress_file`.
    The coder tables are built with ``model.update()`` only when missing.

    Returns ``{"path", "model", "height", "width", "bytes", "bpp", "header_bytes", "payload_bytes",
    "payload_bpp", "lengths", "config_hash", "weights_hash"}``: ``bytes``/``bpp`` count the whole file,
    ``payload_*`` the rANS streams only (the rate CompressAI and the papers report; the header adds
    about 190 bytes, which matters at 128x256: 0.05 bpp).
    """
    x = _image_tensor(image_path, "the image")
    height, width = x.shape[-2:]
    name = model_name(model)
    ensure_coder_tables(model)
    with _inference(model):
        out = model.compress(x.to(_device(model)))
    extra = sorted(set(out) - {"strings", "shape"})
    if extra:
        raise TypeError(f"{name}.compress returned {extra} besides strings/shape; a bitstream file stores only those")
    strings = _check_strings(out["strings"])
    header = {
        "model": name,
        "config_hash": config_hash(model),
        "weights_hash": weights_hash(model),
        "height": int(height),
        "width": int(width),
        "shape": _jsonable_shape(out["shape"]),
    }
    data = pack(header, strings)
    atomic_write_bytes(out_path, data)
    payload_bytes = sum(len(s) for per_latent in strings for s in per_latent)
    pixels = int(height) * int(width)
    return {
        "path": str(out_path),
        "model": name,
        "height": int(height),
        "width": int(width),
        "bytes": len(data),
        "bpp": 8.0 * len(data) / pixels,
        "header_bytes": len(data) - payload_bytes,
        "payload_bytes": payload_bytes,
        "payload_bpp": 8.0 * payload_bytes / pixels,
        "lengths": [[len(s) for s in per_latent] for per_latent in strings],
        "config_hash": header["config_hash"],
        "weights_hash": header["weights_hash"],
    }


def _side_tensor(model: torch.nn.Module, side: ImageLike | None, header: dict, source: str) -> torch.Tensor | None:
    name, size = header["model"], (header["height"], header["width"])
    if not getattr(model, "distributed", False):
        if side is not None:
            raise SideImageError(f"{name!r} is a single-image model: it takes no side image; drop `side`/--side")
        return None
    if side is None:
        raise SideImageError(
            f"{source} was written by the distributed model {name!r}: its decoder needs the side "
            f"image (the other view of the pair, {size[0]}x{size[1]}); pass side=... / --side"
        )
    y = _image_tensor(side, "the side image")
    if tuple(y.shape[-2:]) != size:
        raise SideImageError(
            f"the side image is {y.shape[-2]}x{y.shape[-1]} but {source} holds a "
            f"{size[0]}x{size[1]} image: pass the side image of the same pair, at the same size"
        )
    return y.to(_device(model))


def _check_size(x_hat: torch.Tensor, height: int, width: int, name: str) -> torch.Tensor:
    if tuple(x_hat.shape[-2:]) != (height, width):
        raise RuntimeError(
            f"{name}.decompress returned a {x_hat.shape[-2]}x{x_hat.shape[-1]} image for a {height}x{width} "
            "original: the model must crop its padding back (ndic.models.base.crop_padding)"
        )
    return x_hat


def decompress_file(
    model: torch.nn.Module,
    path: str | os.PathLike,
    side: ImageLike | None = None,
    out_path: str | os.PathLike | None = None,
) -> torch.Tensor | dict:
    """Decode a bitstream file with ``model``, after checking that the file is intact and was
    written by this very model (name, config and weights).

    Distributed models need ``side`` (image path or tensor) of the compressed image's size.
    Without ``out_path``: returns ``x_hat`` (1, 3, H, W) as the model's decoder gives it. With
    ``out_path``: writes an 8-bit PNG atomically (nothing is written if decoding fails) and returns
    ``{"path", "x_hat", "model", "height", "width", "bytes"}``.
    """
    source = str(path)
    header, strings = unpack(Path(path).read_bytes(), source=source)
    ensure_coder_tables(model)
    _check_model(header, model, source)
    y = _side_tensor(model, side, header, source)
    shape = _restore_shape(header["shape"])
    with _inference(model):
        out = model.decompress(strings, shape, side=y) if y is not None else model.decompress(strings, shape)
    x_hat = _check_size(out["x_hat"], header["height"], header["width"], header["model"])
    if out_path is None:
        return x_hat
    atomic_write_bytes(out_path, png_bytes(x_hat))
    return {
        "path": str(out_path),
        "x_hat": x_hat,
        "model": header["model"],
        "height": header["height"],
        "width": header["width"],
        "bytes": Path(path).stat().st_size,
    }


# --------------------------------------------------------------------------- loading models


def _state_dict_of(obj: Any, source: str) -> dict:
    """The state dict inside a loaded file: the object itself or its state_dict/model entry."""
    if isinstance(obj, Mapping) and obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        state = dict(obj)
    else:
        inner = next(
            (
                obj[k]
                for k in ("state_dict", "model_state_dict", "model")
                if isinstance(obj, Mapping) and isinstance(obj.get(k), Mapping)
            ),
            None,
        )
        if inner is None:
            raise ValueError(f"{source} holds no state dict (expected a dict of tensors or a 'state_dict' entry)")
        state = dict(inner)
    if all(k.startswith("module.") for k in state):  # saved from DataParallel / DDP
        state = {k[len("module.") :]: v for k, v in state.items()}
    return state


def _torch_load(path: str | os.PathLike, map_location: str | torch.device) -> Any:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:
        raise ValueError(
            f"{path} cannot be loaded as tensors and plain Python values (torch.load with "
            f"weights_only=True): {err}. Re-save it with tensors, dicts, lists and numbers only"
        ) from err


def load_checkpoint_model(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> torch.nn.Module:
    """Build the model saved in an ndic checkpoint and load its weights (strictly, coder tables included).

    The checkpoint is a dict with ``"model"`` (registry name), the model's config and ``"state_dict"``;
    the config is read from ``"model_config"`` (as :mod:`ndic.train` writes it, beside its training
    ``"config"``) or else from ``"config"``.
    """
    from . import models

    ckpt = _torch_load(path, map_location)
    if not isinstance(ckpt, Mapping) or not isinstance(ckpt.get("model"), str) or "state_dict" not in ckpt:
        raise ValueError(
            f"{path} is not an ndic checkpoint: expected a dict with 'model' (registry name), 'model_config' "
            "(or 'config') and 'state_dict'; for an original implementation's weights use --reference"
        )
    config = ckpt["model_config"] if "model_config" in ckpt else ckpt.get("config")
    model = models.build(ckpt["model"], **dict(config or {}))
    model.load_state_dict(_state_dict_of(ckpt["state_dict"], str(path)))
    return model.to(map_location)


def load_model(
    name: str | None = None,
    config: Mapping | None = None,
    checkpoint: str | os.PathLike | None = None,
    reference: str | os.PathLike | None = None,
    seed: int = 0,
    map_location: str | torch.device = "cpu",
) -> torch.nn.Module:
    """A model for coding, from exactly one source of weights.

    - ``checkpoint``: an ndic checkpoint (:func:`load_checkpoint_model`); ``name``, if given, must match.
    - ``reference``: an original implementation's weights, through ``ndic.models.load_reference(name, ...)``
      with ``config`` (the original constructor's arguments).
    - neither: ``ndic.models.build(name, **config)`` with untrained weights drawn from ``seed``, so
      that an encoder and a decoder process build the same model (useful for smoke tests only).
    """
    from . import models

    if checkpoint is not None:
        if reference is not None or config:
            raise ValueError("a checkpoint carries its own config and weights: give --checkpoint alone")
        model = load_checkpoint_model(checkpoint, map_location)
        if name is not None and models.canonical(name) != model_name(model):
            raise ValueError(f"{checkpoint} holds a {model_name(model)!r} model, not {name!r}")
        return model
    if name is None:
        raise ValueError("name the model (--model NAME) or give a --checkpoint")
    if reference is not None:
        state = _state_dict_of(_torch_load(reference, map_location), str(reference))
        return models.load_reference(name, state, **dict(config or {})).to(map_location)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = models.build(name, **dict(config or {}))
    return model.to(map_location)


# --------------------------------------------------------------------------- command line


def _parse_config(text: str | None) -> dict | None:
    if text is None:
        return None
    source = Path(text).read_text() if not text.lstrip().startswith("{") and Path(text).is_file() else text
    try:
        config = json.loads(source)
    except json.JSONDecodeError as err:
        example = '{"num_filters": 192}'
        raise ValueError(f"--config must be a JSON object or a JSON file, e.g. '{example}': {err}") from err
    if not isinstance(config, dict):
        raise ValueError(f"--config must be a JSON object, got {type(config).__name__}")
    return config


def add_arguments(parser, name: str) -> None:
    """Arguments of ``python -m ndic compress`` / ``python -m ndic decompress``."""
    if name == "compress":
        parser.add_argument("image", help="8-bit image to compress (PNG, JPEG, ...; grayscale/RGBA converted to RGB)")
        parser.add_argument("-o", "--output", required=True, help="bitstream file to write (e.g. OUT.ndic)")
    else:
        parser.add_argument("bitstream", help="bitstream file written by `ndic compress`")
        parser.add_argument("-o", "--output", required=True, help="PNG file to write")
        parser.add_argument("--side", help="side image (distributed models: the other view of the pair)")
    model_help = "registry name" + (" (default: the one the file names)" if name == "decompress" else "")
    parser.add_argument("--model", help=f"model {model_help}; optional with --checkpoint")
    weights = parser.add_mutually_exclusive_group()
    weights.add_argument("--checkpoint", help="ndic checkpoint (torch file with model, config, state_dict)")
    weights.add_argument("--reference", help="original implementation's weights (loaded with load_reference)")
    parser.add_argument("--config", help="model config as JSON (or a JSON file); without weights: untrained model")
    parser.add_argument("--seed", type=int, default=0, help="seed of the untrained weights without weights (0)")
    parser.add_argument("--device", default="cpu", help="torch device (cpu, cuda, ...)")


def run(args, name: str) -> int:
    """Run ``compress`` or ``decompress``; errors are printed as one line and exit status 1."""
    try:
        model_arg = args.model
        if name == "decompress" and model_arg is None and args.checkpoint is None:
            model_arg = read_header(args.bitstream)["model"]
        if args.checkpoint is None and args.reference is None:
            print(
                f"note: {model_arg} with untrained weights (seed {args.seed}); pass --checkpoint for a trained one",
                file=sys.stderr,
            )
        model = load_model(
            model_arg, _parse_config(args.config), args.checkpoint, args.reference, args.seed, map_location=args.device
        )
        if name == "compress":
            info = compress_file(model, args.image, args.output)
            print(
                f"{info['path']}: {info['bytes']} bytes (header {info['header_bytes']}, payload "
                f"{info['payload_bytes']}), {info['bpp']:.4f} bpp ({info['payload_bpp']:.4f} bpp payload), "
                f"{info['height']}x{info['width']}, model {info['model']}"
            )
        else:
            info = decompress_file(model, args.bitstream, side=args.side, out_path=args.output)
            print(f"{info['path']}: {info['height']}x{info['width']} decoded by {info['model']}")
    except (BitstreamError, SideImageError, ValueError, TypeError, KeyError, OSError) as err:
        print(f"ndic {name}: error: {err}", file=sys.stderr)
        return 1
    return 0
