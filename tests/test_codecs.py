"""Classical codecs (ndic.codecs): real round trips, sweeps, the cache, and missing programs."""

import json
import math

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from skimage import data as skdata

from conftest import ROOT
from ndic import codecs, published
from ndic.__main__ import main
from ndic.bd import METHODS, bd_rate
from ndic.codecs import _video, runner
from ndic.codecs.base import CodecUnavailable
from ndic.results import COLUMNS, read_rows, summarize

CODECS = ["bpg", "vvenc", "jpeg", "jpeg2000", "webp", "avif", "jpegxl"]


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    """A 64x96 crop of a real photograph (the astronaut shipped with scikit-image)."""
    return np.ascontiguousarray(skdata.astronaut()[40:104, 180:276])


def _codec(name: str):
    codec = codecs.get(name)
    try:
        codec.check()
    except CodecUnavailable as reason:
        pytest.skip(f"{name} unavailable here: {reason}")
    return codec


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    return 10 * math.log10(255**2 / np.mean((a.astype(float) - b.astype(float)) ** 2))


@pytest.mark.parametrize("name", CODECS)
def test_round_trip(name, photo):
    codec = _codec(name)
    data = codec.encode(photo, codec.qualities[-3])  # a high-rate point of the sweep
    assert isinstance(data, bytes) and len(data) > 0
    decoded = codec.decode(data)
    assert decoded.shape == photo.shape and decoded.dtype == np.uint8
    # a real reconstruction: close to the photo, but lossy
    assert 25 < _psnr(photo, decoded) < 60
    assert codec.label and codec.version


@pytest.mark.parametrize("name", CODECS)
def test_rate_rises_over_the_sweep(name, photo):
    codec = _codec(name)
    sizes = [len(codec.encode(photo, q)) for q in codec.qualities]
    assert all(b >= a for a, b in zip(sizes, sizes[1:], strict=False)), sizes
    assert sizes[-1] > 2 * sizes[0], sizes


def test_kodak_bpg_results_match_the_published_bpg_curve():
    """The committed Kodak run of the x265 recipe against CompressAI's BPG 4:4:4 (bpgenc 0.9.8) points."""
    path = ROOT / "results" / "kodak" / "bpg.csv"
    if not path.is_file():
        pytest.skip(f"{path} not produced yet (python -m ndic baselines --data ../shared/data/kodak ...)")
    ours = summarize(read_rows(path))
    assert (ours.images == 24).all() and ours.bpp.min() < 0.1 and ours.bpp.max() > 1.9
    theirs = published.points("bpg", "compressai")
    for method in METHODS:
        assert abs(bd_rate(theirs.bpp, theirs.psnr, ours.bpp, ours.psnr, method)) < 2.0


def test_labels_are_truthful():
    assert codecs.get("vtm").label == "VTM (4:4:4)"
    vvenc = _codec("vvenc")
    assert vvenc.label.startswith("VVC (vvenc ") and vvenc.label.endswith(", 4:2:0)")
    assert "VTM" not in vvenc.label and "VTM" not in vvenc.version
    assert "4:4:4" in codecs.get("bpg").label and "4:4:4" in codecs.get("jpeg").label


def test_vvc_picks_vtm_only_when_configured(monkeypatch, tmp_path):
    monkeypatch.delenv("VTM_ENCODER", raising=False)
    assert codecs.get("vvc").name == "vvenc"
    with pytest.raises(CodecUnavailable, match="VTM_ENCODER"):
        codecs.get("vtm").check()
    fake = tmp_path / "EncoderApp"
    fake.write_text("#!/bin/sh\n")
    monkeypatch.setenv("VTM_ENCODER", str(fake))
    chosen = codecs.get("vvc")
    assert chosen.name == "vtm"
    with pytest.raises(CodecUnavailable, match="is not an executable"):
        chosen.check()


def test_missing_x265_is_reported_with_the_install_command(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # neither x265 nor bpgenc can be found
    codec = codecs.get("bpg")
    assert not codec.available()
    with pytest.raises(CodecUnavailable, match="apt-get install x265 ffmpeg"):
        codec.check()


def test_missing_ffmpeg_is_reported_with_the_install_command(monkeypatch, tmp_path):
    import imageio_ffmpeg

    fake_x265 = tmp_path / "x265"
    fake_x265.write_text("#!/bin/sh\n")
    fake_x265.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))  # x265 present, no ffmpeg on the PATH ...

    def no_static_ffmpeg():
        raise RuntimeError("no ffmpeg binary in this imageio-ffmpeg")  # ... nor in the wheel

    monkeypatch.setattr(imageio_ffmpeg, "get_ffmpeg_exe", no_static_ffmpeg)
    with pytest.raises(CodecUnavailable, match=r"apt-get install ffmpeg"):
        codecs.get("bpg").check()
    with pytest.raises(CodecUnavailable, match="imageio-ffmpeg"):
        codecs.get("vvenc").check()


@pytest.mark.filterwarnings("ignore:MS-SSIM left out")
def test_baselines_command_skips_a_missing_codec(tmp_path, photo, monkeypatch, capsys):
    Image.fromarray(photo).save(tmp_path / "photo.png")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # x265 and bpgenc are not found
    args = ["baselines", "--data", str(tmp_path / "photo.png"), "--codecs", "bpg", "jpeg"]
    args += ["--out", str(tmp_path / "out"), "--no-cache", "--workers", "1"]
    assert main([*args, "--qualities", "50"]) == 2 and "--qualities needs exactly one codec" in capsys.readouterr().err
    assert main(args) == 0
    assert "skipped bpg: x265 not found on the PATH: install x265 and ffmpeg" in capsys.readouterr().err
    assert (tmp_path / "out" / "jpeg.csv").is_file() and not (tmp_path / "out" / "bpg.csv").exists()


def test_sweep_rows_files_and_cache(tmp_path, photo, monkeypatch):
    codec = _codec("jpeg")
    images = [("a", photo), ("b", photo[:, ::-1].copy())]
    with pytest.warns(UserWarning, match="MS-SSIM left out"):
        rows = runner.sweep(codec, images, [20, 80], "tiny", cache=tmp_path / "cache", progress=False)
    frame = pd.DataFrame(rows)
    assert list(frame.columns[: len(COLUMNS)]) == COLUMNS and len(frame) == 4
    expected = [len(codec.encode(img, q)) for q in (20, 80) for _, img in images]
    assert frame.bytes.tolist() == expected  # real bitstream sizes, measured again here
    assert np.allclose(frame.bpp, 8 * frame.bytes / (64 * 96))
    assert frame.bpp_estimated.isna().all() and frame.ms_ssim.isna().all()  # 64 px: too small for MS-SSIM

    # second run: every measurement comes from the cache, the encoder is never called
    def refuse(*args):
        raise AssertionError("encoder called despite the cache")

    monkeypatch.setattr(codec, "encode", refuse)
    with pytest.warns(UserWarning):
        again = runner.sweep(codec, images, [20, 80], "tiny", cache=tmp_path / "cache", progress=False)
    assert pd.DataFrame(again).drop(columns=[]).equals(frame)
    # a new quality is measured (and fails here, proving it missed the cache)
    with pytest.raises(AssertionError, match="despite the cache"):
        runner.sweep(codec, images, [20, 50], "tiny", cache=tmp_path / "cache", progress=False)

    csv, json_path = runner.write_results(rows, codecs.get("jpeg"), tmp_path / "out", {"profile": "quick"})
    meta = json.loads(csv.with_suffix(".meta.json").read_text())
    assert meta["codec"] == "jpeg" and meta["label"] == "JPEG (4:4:4)" and meta["version"].startswith("Pillow")
    results = json.loads(json_path.read_text())["results"]
    assert len(results["bpp"]) == 2 and results["bpp"][0] < results["bpp"][1]


def test_sweep_in_parallel_processes_gives_the_same_numbers(photo):
    codec = _codec("jpeg")
    images = [("a", photo), ("b", photo[::-1].copy())]
    kwargs = {"qualities": [30, 60], "progress": False}
    with pytest.warns(UserWarning):
        serial = pd.DataFrame(runner.sweep(codec, images, **kwargs))
    with pytest.warns(UserWarning):
        parallel = pd.DataFrame(runner.sweep(codec, images, workers=2, **kwargs))
    columns = ["image", "quality", "bytes", "psnr"]
    assert parallel[columns].equals(serial[columns])


def test_cache_key_changes_with_version_quality_and_pixels(tmp_path, photo):
    cache = runner.ResultCache(tmp_path)
    digest = runner.image_hash(photo)
    cache.put({"bytes": 1}, "x", "v1", 30, digest)
    assert cache.get("x", "v1", 30, digest) == {"bytes": 1}
    assert cache.get("x", "v2", 30, digest) is None
    assert cache.get("x", "v1", 31, digest) is None
    changed = photo.copy()
    changed[0, 0, 0] ^= 1
    assert cache.get("x", "v1", 30, runner.image_hash(changed)) is None


def test_load_images_from_a_folder(tmp_path, photo):
    for name in ("b", "a"):
        Image.fromarray(photo).save(tmp_path / f"{name}.png")
    (tmp_path / "notes.txt").write_text("not an image")
    loaded = runner.load_images(tmp_path)
    assert [name for name, _ in loaded] == ["a", "b"]
    assert np.array_equal(loaded[0][1], photo)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no images"):
        runner.load_images(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="neither an image file, a folder, nor a dataset"):
        runner.load_images(tmp_path / "missing")


def test_bad_input_is_refused_clearly(photo):
    jpeg = codecs.get("jpeg")
    with pytest.raises(ValueError, match="uint8"):
        jpeg.encode(photo / 255.0, 50)
    with pytest.raises(ValueError, match=r"quality must lie in \[1, 100\]"):
        jpeg.encode(photo, 150)
    with pytest.raises(KeyError, match="known codecs"):
        codecs.get("heif")
    with pytest.raises(ValueError, match="even width and height"):
        _codec("vvenc").encode(photo[:63], 32)
    with pytest.raises(ValueError, match="at least one 64x64 CTU"):
        _codec("bpg").encode(photo[:48], 32)


def test_bpg_handles_odd_sizes(photo):
    bpg = _codec("bpg")
    odd = np.ascontiguousarray(skdata.astronaut()[100:165, 200:297])
    assert bpg.decode(bpg.encode(odd, 27)).shape == (65, 97, 3)


def test_ycbcr_matches_pillow_and_round_trips():
    photo = skdata.astronaut()
    ours = _video.rgb_to_ycbcr(photo, "bt601", 8).astype(int)
    pillow = np.asarray(Image.fromarray(photo).convert("YCbCr")).astype(int)  # JFIF: BT.601 full range
    assert np.abs(ours - pillow).max() <= 1
    assert np.abs(_video.ycbcr_to_rgb(ours, "bt601", 8).astype(int) - photo).max() <= 1
    ten_bit = _video.rgb_to_ycbcr(photo, "bt709", 10)
    assert ten_bit.max() <= 1023 and np.abs(_video.ycbcr_to_rgb(ten_bit, "bt709", 10).astype(int) - photo).max() <= 1


def test_chroma_resampling_keeps_ramps_and_constants():
    ramp = np.tile(np.arange(16.0), (8, 1))
    assert np.allclose(_video.upsample_420(_video.downsample_420(ramp))[:, 1:-1], ramp[:, 1:-1])
    assert np.allclose(_video.upsample_420(np.full((3, 5), 7.0)), 7.0)
    assert _video.upsample_420(np.zeros((3, 5))).shape == (6, 10)


def test_y4m_reader():
    y, cb, cr = np.arange(24).reshape(4, 6), np.full((2, 3), 5), np.full((2, 3), 9)
    stream = b"YUV4MPEG2 W6 H4 F25:1 Ip A0:0 C420p10 XYSCSS=420P10\nFRAME\n" + _video.planar_bytes([y, cb, cr], 10)
    planes, depth = _video.read_y4m(stream)
    assert depth == 10 and np.array_equal(planes[0], y) and np.array_equal(planes[2], cr)
    with pytest.raises(ValueError, match="not a YUV4MPEG2"):
        _video.read_y4m(b"RIFF....")


def test_stereo_references_code_the_same_views_with_the_same_ids_as_the_learned_evaluation(
    shared_data, tmp_path, capsys
):
    from ndic import data
    from ndic.codecs.runner import load_images

    root = shared_data / "middlebury"
    evaluated = data.load("middlebury", "test", root=root, both_directions=True)
    images = load_images("middlebury", root=root, both_directions=True)
    assert [name for name, _ in images] == list(evaluated.ids)
    assert len(images) == 2 * len(load_images("middlebury", root=root))
    first = (evaluated[1][0].permute(1, 2, 0) * 255).round().byte().numpy()  # the other view, as evaluate codes it
    assert np.array_equal(images[1][1], first)
    args = ["baselines", "--data", str(tmp_path), "--root", str(root), "--codecs", "jpeg"]
    assert main(args) == 2
    assert "--root and --both-directions apply to a dataset name" in capsys.readouterr().err
