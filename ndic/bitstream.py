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

A CRC only detects accidents: a crafted file carries consistent CRCs. So every header field is also
bounded before decoding, and nothing the decoder allocates depends on the header beyond the image
size: the header is at most :data:`MAX_HEADER_BYTES`; the image at most ``NDIC_MAX_PIXELS`` pixels
(:func:`ndic.data.decode.pixel_limit`, 89,478,485 by default, or ``max_pixels=``); there is exactly
one stream per latent (one image per file) and their lengths add up to the payload; and ``shape`` must
be exactly what the model's ``compress`` gives for that image size: ``model.compressed_shape(height,
width)`` when the model defines it, else the contract's ``(H, W)`` or the hyperprior layout ``(ceil(H /
stride), ceil(W / stride), H, W)`` of the model's ``stride``. Decoding a crafted file therefore costs
at most what decoding a genuine image of the declared size costs.

Rates: ``payload_bpp`` counts the rANS streams only (what CompressAI's and the papers' evaluations
call the real bpp); ``bpp`` counts the whole file, header included. Both are measured byte counts,
unlike the likelihood estimate of a forward pass.

>>> import ndic
>>> from ndic import models
>>> net = models.build("bls17", num_filters=128)
>>> info = ndic.compress_file(net, "kodim01.png", "kodim01.ndic")
>>> x_hat = ndic.decompress_file(net, "kodim01.ndic")

Why this module is long: the file format is one unit: every check of :func:`unpack` answers a field that
:func:`pack` writes, and :func:`compress_file`/:func:`decompress_file` are the format's only writer and
reader. Loading models lives in :mod:`ndic.checkpoint`, the command line in :mod:`ndic.cli.coding`.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import struct
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
MAX_HEADER_BYTES = 64 * 1024  # headers hold ~250 bytes; a bound keeps JSON parsing of crafted ones cheap

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


class OversizedImage(BitstreamError):
    """The header declares an image of more pixels than the limit (``NDIC_MAX_PIXELS`` / ``max_pixels``)."""


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


def unpack(data: bytes, source: str = "bitstream", max_pixels: int | None = None) -> tuple[dict, list[list[bytes]]]:
    """Parse and verify file bytes: the header dict and the streams. Raises :class:`BitstreamError`.

    Checks everything that needs no model: magic, version, lengths, CRCs, field types, the image size
    against the pixel limit (``max_pixels``, else ``$NDIC_MAX_PIXELS``) and one stream per latent.
    """
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
    if header_length > MAX_HEADER_BYTES:
        raise CorruptBitstream(
            f"{source} announces a header of {header_length} bytes; ndic writes a few hundred (at most "
            f"{MAX_HEADER_BYTES}): the file is damaged or was not written by ndic"
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
        # bool is an int to isinstance: a size of `true` is as malformed as one of 0
        bad += [k for k in ("height", "width") if k not in bad and (type(header[k]) is bool or header[k] < 1)]
        lengths = header.get("lengths", [])
        valid = all(isinstance(per, list) and all(_is_count(n) for n in per) for per in lengths)
        bad += [] if valid or "lengths" in bad else ["lengths"]
    except (UnicodeDecodeError, json.JSONDecodeError, TypeError, RecursionError) as err:
        # RecursionError: a crafted header of deeply nested lists
        raise CorruptBitstream(f"{source} has a malformed header ({err}); it was not written by ndic") from err
    if bad or "shape" not in header:
        raise CorruptBitstream(
            f"{source} has a malformed header (bad or missing fields: {bad or ['shape']}); "
            "it was not written by this version of ndic"
        )
    _check_image_size(header, source, max_pixels)
    if not lengths or any(len(per) != 1 for per in lengths):
        found = [len(per) for per in lengths]
        raise CorruptBitstream(
            f"{source} has a malformed header: a file holds one image, so one stream per latent, but it lists "
            f"{found or 'no streams'} stream(s) per latent; the file is damaged or was not written by ndic"
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


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _check_image_size(header: dict, source: str, max_pixels: int | None) -> None:
    from .data.decode import ImageTooLarge, check_pixels, pixel_limit

    try:
        check_pixels(header["height"], header["width"], pixel_limit(max_pixels), f"the image in {source}")
    except ImageTooLarge as err:
        raise OversizedImage(str(err)) from None


def read_header(path: str | os.PathLike, max_pixels: int | None = None) -> dict:
    """The verified header of a bitstream file (model name, hashes, size, shape, stream lengths)."""
    header, _ = unpack(Path(path).read_bytes(), source=str(path), max_pixels=max_pixels)
    return header


def _expected_shapes(model: torch.nn.Module, height: int, width: int) -> list:
    """The ``shape`` values (JSON form) ``model.compress`` may return for a height x width image."""
    declared = getattr(model, "compressed_shape", None)
    if callable(declared):
        return [_jsonable_shape(declared(height, width))]
    stride = getattr(model, "stride", None)
    if not _is_count(stride) or stride < 1:
        return []
    # the contract's (H, W), and the hyperprior models' (z height, z width, H, W) at the total stride
    return [[height, width], [-(-height // stride), -(-width // stride), height, width]]


def _check_shape(header: dict, model: torch.nn.Module, source: str) -> None:
    """The header's latent shape must be the one the model's stride implies for the stored image size."""
    height, width, shape = header["height"], header["width"], header["shape"]
    expected = _expected_shapes(model, height, width)
    if shape in expected:
        return
    same_rank = [e for e in expected if isinstance(shape, list) and len(e) == len(shape)]
    described = " or ".join(json.dumps(e) for e in same_rank or expected) or "(unknown: no stride)"
    raise CorruptBitstream(
        f"{source} has the latent shape {json.dumps(shape)[:80]}, which a {height}x{width} image cannot have: "
        f"{header['model']} codes it as {described}; the file is damaged or was crafted"
    )


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
    if header["shape"] not in _expected_shapes(model, int(height), int(width)):
        raise TypeError(
            f"{name}.compress returned the shape {header['shape']} for a {height}x{width} image, which a decoder "
            "cannot check: return (H, W) (the model contract) or (ceil(H / stride), ceil(W / stride), H, W), or "
            "define compressed_shape(height, width) returning what compress() returns"
        )
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
    max_pixels: int | None = None,
) -> torch.Tensor | dict:
    """Decode a bitstream file with ``model``, after checking that the file is intact, was written by
    this very model (name, config and weights), and that its header is bounded and consistent (image
    size within ``max_pixels``, else ``$NDIC_MAX_PIXELS``; the shape the model's stride implies).

    Distributed models need ``side`` (image path or tensor) of the compressed image's size.
    Without ``out_path``: returns ``x_hat`` (1, 3, H, W) as the model's decoder gives it. With
    ``out_path``: writes an 8-bit PNG atomically (nothing is written if decoding fails) and returns
    ``{"path", "x_hat", "model", "height", "width", "bytes"}``.
    """
    source = str(path)
    header, strings = unpack(Path(path).read_bytes(), source=source, max_pixels=max_pixels)
    ensure_coder_tables(model)
    _check_model(header, model, source)
    _check_shape(header, model, source)
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
