"""Bitstream files: round trips, measured rates, and a specific clear error for every damaged input."""

import copy
import io
import json
import os
import subprocess
import sys
import zlib

import ndic  # first: its _compat shim must run before compressai imports torchvision

# isort: split
import numpy as np
import pytest
import torch
import torch.nn as nn
from compressai.entropy_models import EntropyBottleneck
from compressai.models import CompressionModel
from PIL import Image

from conftest import ROOT
from ndic import bitstream as bs
from ndic.models.base import crop_padding, pad_to_multiple

# ---------------------------------------------------------------- tiny models (not in the registry)


class TinyFactorized(CompressionModel):
    """x -> conv/s4 -> y -> EntropyBottleneck -> y_hat -> deconv/s4 -> x_hat, with centred padding."""

    registry_name = "tiny_factorized"
    distributed = False

    def __init__(self, channels: int = 4):
        super().__init__()
        self.config = {"channels": channels}
        self.g_a = nn.Conv2d(3, channels, 5, stride=4, padding=2)
        self.g_s = nn.ConvTranspose2d(channels, 3, 5, stride=4, padding=2, output_padding=3)
        self.entropy_bottleneck = EntropyBottleneck(channels)

    def _decode(self, y_hat, padding, side=None):
        return crop_padding(self.g_s(y_hat), padding)

    def compress(self, x):
        x, padding = pad_to_multiple(x, 4)
        y = self.g_a(x)
        # a nested shape (latent size, padding) exercises the generic JSON storage
        return {"strings": [self.entropy_bottleneck.compress(y)], "shape": (y.size()[-2:], padding)}

    def compressed_shape(self, height, width):
        """The shape compress() returns for a height x width image (the decoder checks headers against it)."""
        pad_h, pad_w = -height % 4, -width % 4
        padding = (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2)
        return ((height + pad_h) // 4, (width + pad_w) // 4), padding

    def decompress(self, strings, shape, **side):
        size, padding = shape
        y_hat = self.entropy_bottleneck.decompress(strings[0], size)
        return {"x_hat": self._decode(y_hat, padding, **side)}


class TinyDistributed(TinyFactorized):
    """The same, with a decoder that mixes in the side image (so that decoding needs it)."""

    registry_name = "tiny_distributed"
    distributed = True

    def _decode(self, y_hat, padding, side=None):
        return crop_padding(self.g_s(y_hat), padding) + 0.5 * side


def _smooth_image(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A photograph-like 8-bit RGB array: gradients plus a little noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width] / max(height, width)
    base = np.stack([np.sin(6 * xx + c) * np.cos(4 * yy - c) for c in range(3)], axis=-1)
    return np.clip(127 + 100 * base + rng.normal(0, 8, base.shape), 0, 255).astype(np.uint8)


def _save(array: np.ndarray, path) -> str:
    Image.fromarray(array).save(path)
    return str(path)


@pytest.fixture
def image(tmp_path):
    return _save(_smooth_image(38, 53), tmp_path / "x.png")  # odd size: padded and cropped back


@pytest.fixture
def side(tmp_path):
    return _save(_smooth_image(38, 53, seed=1), tmp_path / "y.png")


@pytest.fixture
def tiny():
    return TinyFactorized().eval()


@pytest.fixture
def coded(tiny, image, tmp_path):
    """A tiny model, its file, and the info compress_file returned."""
    path = tmp_path / "x.ndic"
    return tiny, path, ndic.compress_file(tiny, image, path)


def _direct_round_trip(model, image, side=None):
    x = bs.read_image(image)
    with torch.no_grad():
        out = model.compress(x)
        kwargs = {"side": bs.read_image(side)} if side is not None else {}
        return out, model.decompress(out["strings"], out["shape"], **kwargs)["x_hat"]


# ---------------------------------------------------------------- round trips and rates


def test_round_trip_equals_the_models_own_decoder(coded, image):
    model, path, info = coded
    x_hat = ndic.decompress_file(model, path)
    _, expected = _direct_round_trip(model, image)
    assert x_hat.shape == (1, 3, 38, 53)
    assert torch.equal(x_hat, expected)
    assert (info["height"], info["width"], info["model"]) == (38, 53, "tiny_factorized")


def test_rates_are_measured_from_the_file_and_the_streams(coded, image):
    model, path, info = coded
    out, _ = _direct_round_trip(model, image)
    payload = sum(len(s) for per_latent in out["strings"] for s in per_latent)
    size = path.stat().st_size
    assert info["bytes"] == size and info["payload_bytes"] == payload > 0
    assert info["header_bytes"] == size - payload
    assert info["bpp"] == pytest.approx(8 * size / (38 * 53))
    assert info["payload_bpp"] == pytest.approx(8 * payload / (38 * 53))
    assert info["lengths"] == [[len(s) for s in per_latent] for per_latent in out["strings"]]


def test_header_describes_the_file(coded):
    model, path, _ = coded
    header = bs.read_header(path)
    assert header["model"] == "tiny_factorized"
    assert header["config_hash"] == bs.config_hash(model) and header["weights_hash"] == bs.weights_hash(model)
    assert (header["height"], header["width"]) == (38, 53)
    # latent 38x53 padded to 40x56, /4 -> 10x14; padding (left, right, top, bottom) = (1, 2, 1, 1)
    assert header["shape"] == [[10, 14], [1, 2, 1, 1]]
    data = path.read_bytes()
    assert data[:4] == b"NDIC" and data[4] == bs.FORMAT_VERSION


def test_png_output_is_the_rounded_reconstruction(coded, tmp_path):
    model, path, _ = coded
    result = ndic.decompress_file(model, path, out_path=tmp_path / "out.png")
    decoded = np.asarray(Image.open(tmp_path / "out.png"))
    expected = (result["x_hat"][0].clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    assert np.array_equal(decoded, expected)


def test_distributed_round_trip_uses_the_side_image(image, side, tmp_path):
    model = TinyDistributed().eval()
    info = ndic.compress_file(model, image, tmp_path / "x.ndic")
    x_hat = ndic.decompress_file(model, tmp_path / "x.ndic", side=side)
    _, expected = _direct_round_trip(model, image, side)
    assert torch.equal(x_hat, expected)
    # the side image changes the reconstruction, not the bitstream
    other = ndic.decompress_file(model, tmp_path / "x.ndic", side=torch.zeros(3, 38, 53))
    assert not torch.equal(other, x_hat)
    assert info["bytes"] == (tmp_path / "x.ndic").stat().st_size


def test_compress_restores_training_mode_and_keeps_gradients_off(tiny, image, tmp_path):
    tiny.train()
    ndic.compress_file(tiny, image, tmp_path / "x.ndic")
    assert tiny.training


# ---------------------------------------------------------------- coder tables and hashes


def test_missing_tables_are_built_and_loaded_tables_are_kept(image, tmp_path):
    model = TinyFactorized()
    assert bs.ensure_coder_tables(model)  # fresh model: no tables yet
    tables = model.entropy_bottleneck._quantized_cdf.clone()
    with torch.no_grad():  # a forced update() would now build different tables
        model.entropy_bottleneck.quantiles.mul_(3.0)
    ndic.compress_file(model, image, tmp_path / "x.ndic")
    assert torch.equal(model.entropy_bottleneck._quantized_cdf, tables)
    assert not bs.ensure_coder_tables(model)


def test_weights_hash_is_deterministic_and_follows_every_change():
    model = TinyFactorized()
    model.update()
    first = bs.weights_hash(model)
    assert bs.weights_hash(copy.deepcopy(model)) == first  # another object, same weights
    assert bs.weights_hash(model) == bs.weights_hash(model, use_cache=False) == first
    with torch.no_grad():
        model.g_s.bias.add_(1e-3)  # in place: the cached hash must not be reused
    changed = bs.weights_hash(model)
    assert changed != first and changed == bs.weights_hash(model, use_cache=False)
    with torch.no_grad():
        model.entropy_bottleneck.quantiles.mul_(2.0)
    model.update(force=True)  # new coder tables change the hash too
    assert bs.weights_hash(model) not in (first, changed)


def test_weights_are_hashed_once_until_a_tensor_changes(monkeypatch):
    model = TinyFactorized()
    model.update()
    calls, sha256 = [], bs.hashlib.sha256
    monkeypatch.setattr(bs.hashlib, "sha256", lambda *args: calls.append(args) or sha256(*args))
    first = bs.weights_hash(model)
    assert bs.weights_hash(model) == first and len(calls) == 1
    model.load_state_dict(copy.deepcopy(model.state_dict()))  # copy_ into every tensor: same values, rehashed
    assert bs.weights_hash(model) == first and len(calls) == 2


def test_config_hash_ignores_key_order_and_tuple_vs_list():
    a, b = TinyFactorized(), TinyFactorized()
    a.config = {"channels": 4, "size": (2, 3)}
    b.config = {"size": [2, 3], "channels": 4}
    assert bs.config_hash(a) == bs.config_hash(b)
    b.config = {"size": [2, 3], "channels": 5}
    assert bs.config_hash(a) != bs.config_hash(b)


# ---------------------------------------------------------------- damaged files


def _write(path, data: bytes):
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("keep", [0, 3, 10, 20, -1])
def test_truncated_files_are_reported(coded, tmp_path, keep):
    model, path, info = coded
    data = path.read_bytes()
    cut = _write(tmp_path / "cut.ndic", data[:keep])
    with pytest.raises(bs.TruncatedBitstream, match="truncated.*cut off"):
        ndic.decompress_file(model, cut)


def test_a_flipped_payload_byte_fails_the_crc(coded, tmp_path):
    model, path, info = coded
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x10
    with pytest.raises(bs.CorruptBitstream, match="payload fails the CRC32"):
        ndic.decompress_file(model, _write(tmp_path / "bad.ndic", bytes(data)))


def test_a_flipped_header_byte_fails_the_header_crc(coded, tmp_path):
    model, path, info = coded
    data = bytearray(path.read_bytes())
    data[20] ^= 0x01
    with pytest.raises(bs.CorruptBitstream, match="header fails the CRC32"):
        ndic.decompress_file(model, _write(tmp_path / "bad.ndic", bytes(data)))


def test_trailing_bytes_are_reported(coded, tmp_path):
    model, path, _ = coded
    with pytest.raises(bs.CorruptBitstream, match="bytes after the"):
        ndic.decompress_file(model, _write(tmp_path / "long.ndic", path.read_bytes() + b"\0"))


def test_bad_magic_and_unknown_version(coded, tmp_path):
    model, path, _ = coded
    data = path.read_bytes()
    with pytest.raises(bs.NotABitstream, match="not an ndic bitstream"):
        ndic.decompress_file(model, _write(tmp_path / "png.ndic", b"\x89PNG" + data[4:]))
    with pytest.raises(bs.UnsupportedVersion, match="version 9"):
        ndic.decompress_file(model, _write(tmp_path / "v9.ndic", data[:4] + bytes([9]) + data[5:]))


def test_a_valid_crc_over_a_malformed_header_is_still_caught(coded, tmp_path):
    model, path, _ = coded
    text = json.dumps({"model": "tiny_factorized"}).encode()
    data = bs._PRELUDE.pack(b"NDIC", bs.FORMAT_VERSION, len(text), zlib.crc32(text)) + text
    with pytest.raises(bs.CorruptBitstream, match="malformed header"):
        ndic.decompress_file(model, _write(tmp_path / "odd.ndic", data))


# ---------------------------------------------------------------- crafted headers (consistent CRCs)


def _craft(path, data: bytes, header_text: bytes | None = None, **changes):
    """``data`` with header fields replaced and the header CRC recomputed: what a crafted file can do."""
    _, _, length, _ = bs._PRELUDE.unpack_from(data)
    header = json.loads(data[bs._PRELUDE.size : bs._PRELUDE.size + length])
    payload = data[bs._PRELUDE.size + length :]
    text = header_text if header_text is not None else json.dumps({**header, **changes}).encode()
    return _write(path, bs._PRELUDE.pack(b"NDIC", bs.FORMAT_VERSION, len(text), zlib.crc32(text)) + text + payload)


@pytest.fixture
def bls17_file(pair, tmp_path):
    model = _registered("bls17")
    ndic.compress_file(model, pair[0], tmp_path / "x.ndic")
    return model, tmp_path / "x.ndic"


def test_a_huge_latent_shape_is_refused_before_any_allocation(bls17_file, tmp_path):
    """The issue's file: 64x128 in the header, a latent shape of 2**20 x 2**20, consistent CRCs."""
    import tracemalloc

    model, path = bls17_file
    crafted = _craft(tmp_path / "bomb.ndic", path.read_bytes(), shape=[2**20, 2**20])
    tracemalloc.start()
    try:
        with pytest.raises(bs.CorruptBitstream, match=r"shape \[1048576, 1048576\].*64x128 image.*\[64, 128\]"):
            ndic.decompress_file(model, crafted)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 * 2**20  # the file and the header, not the decoder's buffers


def test_image_size_in_the_header_is_bounded(bls17_file, tmp_path, monkeypatch):
    model, path = bls17_file
    data = path.read_bytes()
    huge = _craft(tmp_path / "huge.ndic", data, height=100_000, width=100_000, shape=[100_000, 100_000])
    with pytest.raises(bs.OversizedImage, match=r"100000x100000 = 10,000,000,000 pixels.*NDIC_MAX_PIXELS"):
        ndic.decompress_file(model, huge)
    with pytest.raises(bs.OversizedImage, match="NDIC_MAX_PIXELS"):
        bs.read_header(huge)  # the CLI reads the header first: refused there too
    # the limit is the reader's: a keyword or the environment variable moves it
    with pytest.raises(bs.OversizedImage, match=r"64x128 .*limit of 8,000 pixels"):
        ndic.decompress_file(model, path, max_pixels=8000)
    monkeypatch.setenv("NDIC_MAX_PIXELS", "8000")
    with pytest.raises(bs.OversizedImage, match="limit of 8,000 pixels"):
        ndic.decompress_file(model, path)
    monkeypatch.setenv("NDIC_MAX_PIXELS", str(64 * 128))
    assert ndic.decompress_file(model, path).shape == (1, 3, 64, 128)


@pytest.mark.parametrize("field, value", [("height", 0), ("width", -3), ("height", True), ("width", 2.5)])
def test_image_sizes_must_be_positive_ints(bls17_file, tmp_path, field, value):
    model, path = bls17_file
    crafted = _craft(tmp_path / "odd.ndic", path.read_bytes(), **{field: value})
    with pytest.raises(bs.CorruptBitstream, match=f"malformed header.*{field}"):
        ndic.decompress_file(model, crafted)


def test_a_file_holds_one_stream_per_latent(bls17_file, tmp_path):
    model, path = bls17_file
    data = path.read_bytes()
    (n,) = bs.read_header(path)["lengths"][0]
    split = _craft(tmp_path / "two.ndic", data, lengths=[[n - 8, 8]])  # same payload, cut into two images
    with pytest.raises(bs.CorruptBitstream, match=r"one stream per latent.*\[2\]"):
        ndic.decompress_file(model, split)
    none = _craft(tmp_path / "none.ndic", data[:-n], lengths=[], payload_crc32=zlib.crc32(b""))
    with pytest.raises(bs.CorruptBitstream, match="no streams"):
        ndic.decompress_file(model, none)


def test_oversized_and_deeply_nested_headers_are_refused(bls17_file, tmp_path):
    model, path = bls17_file
    data = path.read_bytes()
    header = bs.read_header(path)
    deep = json.dumps({**header, "shape": "@"}).replace('"@"', "[" * 5000 + "]" * 5000).encode()
    with pytest.raises(bs.CorruptBitstream, match="malformed header"):
        ndic.decompress_file(model, _craft(tmp_path / "deep.ndic", data, header_text=deep))
    padded = json.dumps(header).encode() + b" " * bs.MAX_HEADER_BYTES
    with pytest.raises(bs.CorruptBitstream, match=f"header of {len(padded)} bytes.*at most {bs.MAX_HEADER_BYTES}"):
        ndic.decompress_file(model, _craft(tmp_path / "long.ndic", data, header_text=padded))


def test_the_shape_must_follow_from_the_image_size(coded, tmp_path):
    model, path, _ = coded
    data = path.read_bytes()
    shifted = _craft(tmp_path / "shifted.ndic", data, shape=[[10, 15], [1, 2, 1, 1]])
    with pytest.raises(bs.CorruptBitstream, match=r"shape \[\[10, 15\].*38x53 image"):
        ndic.decompress_file(model, shifted)
    resized = _craft(tmp_path / "resized.ndic", data, height=40, width=56)  # the padded size: its own shape differs
    with pytest.raises(bs.CorruptBitstream, match="40x56 image"):
        ndic.decompress_file(model, resized)


def test_a_model_without_a_known_shape_layout_is_refused_when_it_encodes(image, tmp_path):
    class Undeclared(TinyFactorized):
        compressed_shape = None  # neither the contract's (H, W) nor a compressed_shape() of its own

    with pytest.raises(TypeError, match="compressed_shape"):
        ndic.compress_file(Undeclared(), image, tmp_path / "x.ndic")
    assert not (tmp_path / "x.ndic").exists()


def test_wrong_model_name(coded, side):
    _, path, _ = coded
    with pytest.raises(bs.WrongModel, match="written by model 'tiny_factorized', not 'tiny_distributed'"):
        ndic.decompress_file(TinyDistributed(), path, side=side)


def test_wrong_config(coded):
    _, path, _ = coded
    with pytest.raises(bs.WrongModel, match="another configuration"):
        ndic.decompress_file(TinyFactorized(channels=5), path)


def test_wrong_weights(coded):
    model, path, _ = coded
    other = copy.deepcopy(model)
    with torch.no_grad():
        other.g_s.weight.mul_(1.01)
    with pytest.raises(bs.WrongModel, match="other weights or coder tables.*load the checkpoint"):
        ndic.decompress_file(other, path)


# ---------------------------------------------------------------- side images


@pytest.fixture
def distributed_file(image, tmp_path):
    model = TinyDistributed().eval()
    ndic.compress_file(model, image, tmp_path / "distributed.ndic")
    return model, tmp_path / "distributed.ndic"


def test_missing_side_image(distributed_file):
    model, path = distributed_file
    with pytest.raises(bs.SideImageError, match="needs the side image.*38x53"):
        ndic.decompress_file(model, path)


def test_side_image_of_the_wrong_size(distributed_file, tmp_path):
    model, path = distributed_file
    wrong = _save(_smooth_image(40, 53), tmp_path / "wrong.png")
    with pytest.raises(bs.SideImageError, match="side image is 40x53 but .* holds a 38x53 image"):
        ndic.decompress_file(model, path, side=wrong)


def test_a_single_image_model_refuses_a_side_image(coded, side):
    model, path, _ = coded
    with pytest.raises(bs.SideImageError, match="single-image model"):
        ndic.decompress_file(model, path, side=side)


def test_a_failed_decode_writes_no_output(distributed_file, coded, tmp_path):
    model, path = distributed_file
    out = tmp_path / "out.png"
    with pytest.raises(bs.SideImageError):
        ndic.decompress_file(model, path, out_path=out)
    single, single_path, _ = coded
    data = bytearray(single_path.read_bytes())
    data[-1] ^= 0xFF
    with pytest.raises(bs.CorruptBitstream):
        ndic.decompress_file(single, _write(tmp_path / "bad.ndic", bytes(data)), out_path=out)

    class FailingDecoder(TinyFactorized):
        def decompress(self, strings, shape, **side):
            raise RuntimeError("decoder crashed")

    failing = FailingDecoder()
    failing.load_state_dict(single.state_dict())
    with pytest.raises(RuntimeError, match="decoder crashed"):
        ndic.decompress_file(failing, single_path, out_path=out)
    assert not out.exists()
    assert not any(p.name.startswith(".out.png") for p in tmp_path.iterdir())  # no temporary left behind


def test_a_decoder_that_leaves_its_padding_is_caught(coded):
    model, path, _ = coded

    class Uncropped(TinyFactorized):
        def _decode(self, y_hat, padding, side=None):
            return self.g_s(y_hat)

    uncropped = Uncropped()
    uncropped.load_state_dict(model.state_dict())
    with pytest.raises(RuntimeError, match="40x56 image for a 38x53 original"):
        ndic.decompress_file(uncropped, path)


# ---------------------------------------------------------------- images


def test_grayscale_images_are_coded_as_rgb(tiny, tmp_path):
    gray = _smooth_image(38, 53)[..., 0]
    from_gray = ndic.compress_file(tiny, _save(gray, tmp_path / "gray.png"), tmp_path / "gray.ndic")
    rgb = _save(np.repeat(gray[..., None], 3, axis=2), tmp_path / "rgb.png")
    from_rgb = ndic.compress_file(tiny, rgb, tmp_path / "rgb.ndic")
    assert from_gray["bytes"] == from_rgb["bytes"]
    assert (tmp_path / "gray.ndic").read_bytes() == (tmp_path / "rgb.ndic").read_bytes()


def test_unreadable_inputs_name_the_problem(tiny, tmp_path):
    with pytest.raises(FileNotFoundError):
        ndic.compress_file(tiny, tmp_path / "absent.png", tmp_path / "x.ndic")
    with pytest.raises(ValueError, match="one RGB image"):
        ndic.compress_file(tiny, torch.rand(2, 3, 8, 8), tmp_path / "x.ndic")
    assert not (tmp_path / "x.ndic").exists()


# ---------------------------------------------------------------- the project's models, in process and by CLI

SMALL = {"num_filters": 32}


def _registered(name: str):
    torch.manual_seed(0)
    config = ndic.models.get(name).quick_config if name == "wacnn" else SMALL  # wacnn: N/M, not num_filters
    return ndic.models.build(name, **config).eval()


@pytest.fixture
def pair(tmp_path):
    # 64x128: a small stereo-like pair (y is x shifted by 3 columns)
    wide = _smooth_image(64, 131, seed=2)
    return _save(wide[:, 3:], tmp_path / "left.png"), _save(wide[:, :-3], tmp_path / "right.png")


@pytest.mark.parametrize("name", ["bls17", "ndic_bls17", "wacnn"])
def test_registered_models_round_trip(name, pair, tmp_path):
    model = _registered(name)
    x_path, y_path = pair
    side = y_path if model.distributed else None
    info = ndic.compress_file(model, x_path, tmp_path / "x.ndic")
    x_hat = ndic.decompress_file(model, tmp_path / "x.ndic", side=side)
    out, expected = _direct_round_trip(model, x_path, side)
    assert torch.equal(x_hat, expected) and x_hat.shape == (1, 3, 64, 128)
    assert info["payload_bytes"] == sum(len(s) for per_latent in out["strings"] for s in per_latent)
    assert bs.read_header(tmp_path / "x.ndic")["model"] == name
    if model.distributed:
        with pytest.raises(bs.SideImageError, match="needs the side image"):
            ndic.decompress_file(model, tmp_path / "x.ndic")
        with pytest.raises(bs.SideImageError, match="side image is 64x127"):
            ndic.decompress_file(model, tmp_path / "x.ndic", side=torch.rand(3, 64, 127))


def test_checkpoint_loader_rebuilds_the_same_model(tmp_path):
    from ndic.checkpoint import model_for_coding
    from ndic.io import atomic_torch_save

    model = _registered("bls17")
    model.update()
    atomic_torch_save({"model": "bls17", "config": model.config, "state_dict": model.state_dict()}, tmp_path / "c.pt")
    loaded = model_for_coding(checkpoint=tmp_path / "c.pt")
    assert type(loaded) is type(model) and loaded.config == model.config
    assert bs.weights_hash(loaded) == bs.weights_hash(model)
    assert model_for_coding("bls17", checkpoint=tmp_path / "c.pt").config == model.config
    with pytest.raises(ValueError, match="holds a 'bls17' model, not 'ndic_bls17'"):
        model_for_coding("ndic_bls17", checkpoint=tmp_path / "c.pt")
    # the trainer's layout: the model's config under "model_config", its own training config under "config"
    trainer_layout = {"model": "bls17", "model_config": model.config, "config": {"lmbda": 0.01, "model": "bls17"}}
    atomic_torch_save({**trainer_layout, "state_dict": model.state_dict()}, tmp_path / "trained.pt")
    assert bs.weights_hash(model_for_coding(checkpoint=tmp_path / "trained.pt")) == bs.weights_hash(model)
    atomic_torch_save({"state_dict": model.state_dict()}, tmp_path / "bare.pt")
    with pytest.raises(ValueError, match="not an ndic checkpoint"):
        model_for_coding(checkpoint=tmp_path / "bare.pt")


@pytest.mark.slow  # two fresh interpreters, each importing compressai (~15 s of CPU)
def test_cli_round_trip_by_subprocess(image, tmp_path):
    """`python -m ndic compress|decompress` as a user runs them (two processes: compressai imports slowly)."""
    from ndic.io import atomic_torch_save

    model = _registered("bls17")
    model.update()
    ckpt = tmp_path / "bls17.pt"
    atomic_torch_save({"model": "bls17", "config": model.config, "state_dict": model.state_dict()}, ckpt)
    env, outputs = {**os.environ, "OMP_NUM_THREADS": "1"}, []
    for args in (
        ["compress", "--checkpoint", str(ckpt), image, "-o", str(tmp_path / "x.ndic")],
        ["decompress", "--checkpoint", str(ckpt), str(tmp_path / "x.ndic"), "-o", str(tmp_path / "x.png")],
    ):
        done = subprocess.run([sys.executable, "-m", "ndic", *args], cwd=ROOT, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        outputs.append(done.stdout)
    assert f"{(tmp_path / 'x.ndic').stat().st_size} bytes" in outputs[0] and "38x53" in outputs[1]
    expected = ndic.decompress_file(model, tmp_path / "x.ndic", out_path=tmp_path / "expected.png")
    assert (tmp_path / "x.png").read_bytes() == (tmp_path / "expected.png").read_bytes()
    assert expected["x_hat"].shape[-2:] == (38, 53)


def test_cli_distributed_model_with_untrained_weights_and_errors(pair, tmp_path, capsys):
    from ndic.__main__ import main

    x_path, y_path = pair
    config, out = json.dumps(SMALL), tmp_path / "x.png"
    assert main(["compress", "--model", "ndic_bls17", "--config", config, x_path, "-o", str(tmp_path / "x.ndic")]) == 0
    printed = capsys.readouterr()
    assert "untrained" in printed.err and "bpp" in printed.out
    # without --model the name comes from the file; the side image is required
    assert main(["decompress", "--config", config, str(tmp_path / "x.ndic"), "-o", str(out)]) == 2
    assert "needs the side image" in capsys.readouterr().err and not out.exists()
    other = json.dumps({"num_filters": 48})
    assert main(["decompress", "--config", other, str(tmp_path / "x.ndic"), "-o", str(out), "--side", y_path]) == 2
    assert "another configuration" in capsys.readouterr().err and not out.exists()
    assert main(["decompress", "--config", config, str(tmp_path / "x.ndic"), "-o", str(out), "--side", y_path]) == 0
    expected = ndic.decompress_file(_registered("ndic_bls17"), tmp_path / "x.ndic", side=y_path)
    assert np.array_equal(np.asarray(Image.open(out)), np.asarray(Image.open(io.BytesIO(bs.png_bytes(expected)))))
    with pytest.raises(SystemExit):  # argparse: --checkpoint and --reference exclude each other
        main(["compress", "--checkpoint", "a.pt", "--reference", "b.pt", x_path, "-o", str(tmp_path / "y.ndic")])
