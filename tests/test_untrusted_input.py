"""Untrusted input stays bounded: image bombs, EXIF orientation, orphaned temporaries, images a codec cannot take.

(Crafted bitstream headers are tested in test_bitstream.py.)
"""

import os
import shutil
import struct
import subprocess
import sys
import time
import zlib

import numpy as np
import pytest
from PIL import Image, ImageOps

from conftest import ROOT
from ndic import io as ndic_io
from ndic.data import decode

# ---------------------------------------------------------------- image bombs


def _png(width: int, height: int, idat: bytes, bit_depth: int = 8, colour_type: int = 0) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return decode.PNG_SIGNATURE + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _one_bit_bomb(side: int) -> bytes:
    """A genuine side x side 1-bit gray PNG of zeros: ~110 KB for 30000, 900 MB once decoded to bytes."""
    row = bytes(1 + (side + 7) // 8)  # filter byte + packed bits
    compressor = zlib.compressobj(9)
    body = b"".join(compressor.compress(row * 1000) for _ in range(side // 1000)) + compressor.flush()
    return _png(side, side, body, bit_depth=1)


@pytest.fixture
def no_png_decoding(monkeypatch):
    """Any call of the PNG decoder fails the test: a refusal must come from the header."""

    def reached(*args, **kwargs):
        raise AssertionError("the PNG decoder was reached")

    monkeypatch.setattr(decode.imagecodecs, "png_decode", reached)


def test_a_png_bomb_is_refused_from_its_header(tmp_path, no_png_decoding):
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(_one_bit_bomb(30000))
    assert bomb.stat().st_size < 200_000
    with pytest.raises(ValueError, match=r"bomb.png is 30000x30000 = 900,000,000 pixels.*NDIC_MAX_PIXELS=") as refused:
        decode.read_rgb(bomb)
    assert isinstance(refused.value, decode.ImageReadError)  # what a dataset reader catches
    # a header alone (its pixel data cut short) is refused the same way, before anything is decoded
    header_only = tmp_path / "header.png"
    header_only.write_bytes(_png(30000, 30000, zlib.compress(bytes(30001))))
    with pytest.raises(ValueError, match="over the limit of 89,478,485 pixels"):
        decode.read_rgb(header_only)


def test_a_jpeg_bomb_is_refused_from_its_header(tmp_path):
    small = tmp_path / "small.jpg"
    Image.fromarray(np.full((16, 16, 3), 128, np.uint8)).save(small, quality=90)
    data = bytearray(small.read_bytes())
    sof = data.index(b"\xff\xc0")  # baseline frame header: length, precision, height, width
    data[sof + 5 : sof + 9] = struct.pack(">HH", 30000, 30000)
    (tmp_path / "bomb.jpg").write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"30000x30000 = 900,000,000 pixels.*NDIC_MAX_PIXELS"):
        decode.read_rgb(tmp_path / "bomb.jpg")


def test_the_pixel_limit_is_a_keyword_or_an_environment_variable(tmp_path, monkeypatch):
    path = tmp_path / "x.png"
    Image.fromarray(np.zeros((50, 100, 3), np.uint8)).save(path)
    with pytest.raises(ValueError, match=r"50x100 = 5,000 pixels, over the limit of 4,999"):
        decode.read_rgb(path, max_pixels=4999)
    assert decode.read_rgb(path, max_pixels=5000).shape == (50, 100, 3)
    monkeypatch.setenv("NDIC_MAX_PIXELS", "4999")
    with pytest.raises(ValueError, match="limit of 4,999"):
        decode.read_rgb(path)
    assert decode.read_rgb(path, max_pixels=5000).shape == (50, 100, 3)  # the keyword wins
    monkeypatch.setenv("NDIC_MAX_PIXELS", "1_000_000_000")  # above Pillow's own guard: Pillow must defer
    assert decode.pixel_limit() == 10**9
    jpeg = tmp_path / "x.jpg"
    Image.fromarray(np.zeros((50, 100, 3), np.uint8)).save(jpeg)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # even a Pillow guard far below ours
    assert decode.read_rgb(jpeg).shape == (50, 100, 3) and Image.MAX_IMAGE_PIXELS == 1000
    monkeypatch.setenv("NDIC_MAX_PIXELS", "lots")
    with pytest.raises(ValueError, match="NDIC_MAX_PIXELS='lots' is not a whole number"):
        decode.read_rgb(path)


# ---------------------------------------------------------------- EXIF orientation


def _asymmetric(height: int = 12, width: int = 20) -> np.ndarray:
    """An image whose every flip and rotation differs: blocks of distinct colours."""
    yy, xx = np.mgrid[0:height, 0:width]
    return np.stack([xx * 12, yy * 20, (xx // 5) * 60 + (yy // 4) * 15], axis=-1).astype(np.uint8)


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("suffix", [".jpg", ".png"])
def test_exif_orientation_is_applied_as_pillow_does(tmp_path, orientation, suffix):
    path = tmp_path / f"oriented{suffix}"
    exif = Image.Exif()
    exif[0x0112] = orientation  # the Orientation tag
    Image.fromarray(_asymmetric()).save(path, exif=exif, **({"quality": 95} if suffix == ".jpg" else {}))
    with Image.open(path) as image:
        expected = np.asarray(ImageOps.exif_transpose(image).convert("RGB"))
    ours = decode.read_rgb(path)
    assert ours.shape == expected.shape == ((20, 12, 3) if orientation >= 5 else (12, 20, 3))
    assert np.array_equal(ours, expected)


# ---------------------------------------------------------------- orphaned temporaries


def _killed_during_write(folder, name: str) -> list:
    """Run a process that dies (SIGKILL-like, no cleanup) between writing a temporary and renaming it."""
    script = (
        "import os, sys\n"
        "from ndic import io\n"
        "os.replace = lambda *a: os._exit(9)\n"
        "io.atomic_write_bytes(sys.argv[1], b'x' * 1000)\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(folder / name)], cwd=ROOT, capture_output=True)
    assert done.returncode == 9, done.stderr
    return sorted(folder.glob(f".{name}.*.tmp"))


def test_a_killed_writers_temporary_is_removed(tmp_path):
    orphans = _killed_during_write(tmp_path, "checkpoint.pt")
    assert len(orphans) == 1 and orphans[0].stat().st_size == 1000
    (tmp_path / "checkpoint.pt").write_bytes(b"the last complete checkpoint")
    (tmp_path / ".other.pt.1.x.tmp").write_bytes(b"another file's temporary")
    assert ndic_io.remove_stale_temporaries(tmp_path, "checkpoint.pt") == orphans
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.pt.1.x.tmp", "checkpoint.pt"]
    assert ndic_io.remove_stale_temporaries(tmp_path / "absent", "checkpoint.pt") == []


def test_a_concurrent_writers_temporary_is_kept(tmp_path):
    host = ndic_io._host_tag()
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        writing = tmp_path / f".checkpoint.pt.{host}.{alive.pid}.abc.tmp"  # another live process's write
        writing.write_bytes(b"...")
        ours = tmp_path / f".checkpoint.pt.{host}.{os.getpid()}.def.tmp"  # another thread of this process
        ours.write_bytes(b"...")
        assert ndic_io.remove_stale_temporaries(tmp_path, "checkpoint.pt") == []
        assert writing.exists() and ours.exists()
        # the same pid, but older than this process: an earlier holder of the pid (containers reuse pids)
        before = ndic_io.PROCESS_START - 10
        os.utime(ours, (before, before))
        assert ndic_io.remove_stale_temporaries(tmp_path, "checkpoint.pt") == [ours]
    finally:
        alive.kill()
        alive.wait()
    assert ndic_io.remove_stale_temporaries(tmp_path, "checkpoint.pt") == [writing]  # its writer has gone


def test_temporaries_without_a_known_writer_are_removed_by_age(tmp_path):
    legacy = tmp_path / ".checkpoint.pt.k3j4h5g6.tmp"  # the name before writers were embedded
    remote = tmp_path / ".checkpoint.pt.otherhost.123.abc.tmp"  # written from another machine (shared disk)
    for path in (legacy, remote):
        path.write_bytes(b"...")
    assert ndic_io.remove_stale_temporaries(tmp_path, "checkpoint.pt") == []
    old = time.time() - 2 * ndic_io.STALE_AFTER_S
    for path in (legacy, remote):
        os.utime(path, (old, old))
    assert ndic_io.remove_stale_temporaries(tmp_path, "checkpoint.pt") == sorted([legacy, remote])


def test_temporaries_name_their_writer(tmp_path, monkeypatch):
    names = []
    real_replace = os.replace
    monkeypatch.setattr(os, "replace", lambda src, dst: names.append(os.path.basename(src)) or real_replace(src, dst))
    ndic_io.atomic_write_bytes(tmp_path / "checkpoint.pt", b"x")
    assert names[0].startswith(f".checkpoint.pt.{ndic_io._host_tag()}.{os.getpid()}.") and names[0].endswith(".tmp")


# ---------------------------------------------------------------- a small image in a codec's folder


@pytest.mark.filterwarnings("ignore:MS-SSIM left out")  # 64x96: too small for MS-SSIM's scales, as expected
def test_one_small_image_does_not_cost_bpg_the_folder(tmp_path):
    if not (shutil.which("x265") and shutil.which("ffmpeg")):
        pytest.skip("BPG's x265 recipe needs x265 and ffmpeg on the PATH (apt-get install x265 ffmpeg)")
    from skimage import data as skdata

    from ndic import codecs
    from ndic.codecs import runner

    photo = skdata.astronaut()
    Image.fromarray(np.ascontiguousarray(photo[100:164, 200:296])).save(tmp_path / "a_photo.png")
    Image.fromarray(np.ascontiguousarray(photo[:32, :32])).save(tmp_path / "b_tiny.png")
    images = runner.load_images(tmp_path)
    bpg = codecs.get("bpg", prefer_bpgenc=False)
    with pytest.warns(UserWarning, match=r"bpg: left out 1 of 2 images.*b_tiny \(32x32.*64x64 CTU"):
        rows = runner.sweep(bpg, images, [37], dataset="folder", progress=False)
    assert [row["image"] for row in rows] == ["a_photo"]
    assert rows[0]["bytes"] > 0 and rows[0]["psnr"] > 20
    with pytest.raises(ValueError, match="bpg can code none of the 1 images"):
        runner.sweep(bpg, images[1:], [37], dataset="folder", progress=False)
