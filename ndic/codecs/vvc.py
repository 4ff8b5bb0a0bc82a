"""VVC intra coding: the VTM reference software when given, else Fraunhofer's vvenc.

- ``vtm``: the user's VTM build (``VTM_ENCODER``, ``VTM_DECODER``, ``VTM_CONFIG`` or constructor
  arguments), run as CompressAI's benchmark runs it: RGB -> YCbCr (BT.709, full range) 4:4:4 8-bit,
  the all-intra configuration ``encoder_intra_vtm.cfg``, ``-q QP``; decoded by VTM's DecoderApp
  (Y4M output, VTM 14 or later) or, without ``VTM_DECODER``, by ffmpeg's VVC decoder. Label
  "VTM (4:4:4)". VTM is in no package registry; build it from https://vcgit.hhi.fraunhofer.de/jvet/VVCSoftware_VTM.
- ``vvenc``: the encoder of the static ffmpeg in the pinned ``imageio-ffmpeg`` wheel (``-c:v libvvenc``),
  10-bit 4:2:0 (the only format that encoder takes), ``-qp QP``, intra period 1, perceptual QP
  adaptation off (an objective-quality comparison), preset ``medium``; decoded by that ffmpeg.
  Label "VVC (vvenc <version>, 4:2:0)": vvenc is a real VVC encoder, but neither VTM nor 4:4:4, and
  its curves are never called VTM.

``ndic.codecs.get("vvc")`` picks VTM when ``VTM_ENCODER`` is set, else vvenc.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from . import _video
from .base import Codec, CodecUnavailable, alias, as_rgb8, register

VVC_QPS = (47, 42, 37, 32, 27, 22, 17)


def _imageio_ffmpeg() -> str:
    return _video.static_ffmpeg("vvenc runs inside it: pip install imageio-ffmpeg==0.8.1")


@register
class VVenC(Codec):
    """VVC intra (vvenc via ffmpeg), 10-bit 4:2:0; quality = QP (0-63, lower is better)."""

    name = "vvenc"
    quality_name = "qp"
    qualities = VVC_QPS

    def __init__(self, preset: str = "medium", ffmpeg: str | None = None):
        self.preset = preset
        self._ffmpeg = ffmpeg
        self._encoder_version: str | None = None

    @property
    def ffmpeg(self) -> str:
        return self._ffmpeg or _imageio_ffmpeg()

    def check(self) -> None:
        encoders = _video.run([self.ffmpeg, "-hide_banner", "-encoders"], what="ffmpeg -encoders").decode()
        if not re.search(r"\blibvvenc\b", encoders):
            raise CodecUnavailable(f"{self.ffmpeg} was built without libvvenc; use the imageio-ffmpeg==0.8.1 wheel")

    @property
    def encoder_version(self) -> str:
        """vvenc's version as the library reports it (encodes a tiny frame once to ask)."""
        if self._encoder_version is None:
            log = self._ffmpeg_encode(np.zeros((16, 16, 3), np.uint8), 51, log_level="info")[1]
            match = re.search(r"libvvenc version: ([^\s]+)", log)
            self._encoder_version = match.group(1) if match else "unknown"
        return self._encoder_version

    @property
    def label(self) -> str:
        return f"VVC (vvenc {self.encoder_version}, 4:2:0)"

    @property
    def version(self) -> str:
        return f"vvenc {self.encoder_version} preset={self.preset} qpa=0 IntraPeriod=1; BT.601 full range 4:2:0 10-bit"

    def encode(self, image: np.ndarray, quality: float) -> bytes:
        image = as_rgb8(image)
        self.check_quality(quality, 0, 63)
        return self._ffmpeg_encode(image, int(quality))[0]

    def decode(self, data: bytes) -> np.ndarray:
        planes, bit_depth = _video.read_y4m(_video.decode_to_y4m(data, "vvc", "yuv420p10le", self.ffmpeg))
        y, cb, cr = (p.astype(np.float64) for p in planes)
        height, width = y.shape
        chroma = [_video.upsample_420(c)[:height, :width] for c in (cb, cr)]
        return _video.ycbcr_to_rgb(np.stack([y, *chroma], axis=-1), "bt601", bit_depth)

    def _ffmpeg_encode(self, image: np.ndarray, qp: int, log_level: str = "error") -> tuple[bytes, str]:
        height, width = image.shape[:2]
        if height % 2 or width % 2:
            raise ValueError(
                f"VVC 4:2:0 needs an even width and height, got {width}x{height}: crop the image by one pixel"
            )
        ycc = _video.rgb_to_ycbcr(image, "bt601", 10).astype(np.float64)
        chroma = [np.clip(np.round(_video.downsample_420(ycc[..., c])), 0, 1023) for c in (1, 2)]
        raw = _video.planar_bytes([ycc[..., 0], *chroma], 10)
        cmd = [self.ffmpeg, "-hide_banner", "-v", log_level, "-f", "rawvideo", "-pix_fmt", "yuv420p10le"]
        cmd += ["-s", f"{width}x{height}", "-i", "pipe:0", "-frames:v", "1", "-c:v", "libvvenc", "-preset", self.preset]
        cmd += ["-qp", str(qp), "-qpa", "0", "-threads", "1", "-vvenc-params", "IntraPeriod=1", "-f", "vvc", "pipe:1"]
        return _video.run_logged(cmd, stdin=raw, what="vvenc (ffmpeg)")


@register
class VTM(Codec):
    """VVC intra with the VTM reference encoder, 8-bit 4:4:4 YCbCr; quality = QP (0-63)."""

    name = "vtm"
    quality_name = "qp"
    qualities = VVC_QPS

    def __init__(self, encoder: str | None = None, decoder: str | None = None, config: str | None = None):
        self.encoder = encoder or os.environ.get("VTM_ENCODER")
        self.decoder = decoder or os.environ.get("VTM_DECODER")
        self.config = config or os.environ.get("VTM_CONFIG")
        if self.encoder and not self.config:
            # a VTM checkout keeps its configurations in cfg/ beside bin/
            guess = Path(self.encoder).resolve().parents[1] / "cfg" / "encoder_intra_vtm.cfg"
            self.config = str(guess) if guess.is_file() else None

    def check(self) -> None:
        if not self.encoder:
            raise CodecUnavailable(
                "VTM is not configured: set VTM_ENCODER (EncoderApp), VTM_DECODER (DecoderApp) and, unless the "
                "checkout layout is standard, VTM_CONFIG (cfg/encoder_intra_vtm.cfg); VTM is in no package registry"
            )
        for what, path in (("VTM_ENCODER", self.encoder), ("VTM_DECODER", self.decoder)):
            if path and not (os.path.isfile(path) and os.access(path, os.X_OK)):
                raise CodecUnavailable(f"{what}={path} is not an executable file")
        if not (self.config and os.path.isfile(self.config)):
            raise CodecUnavailable(f"VTM intra configuration not found ({self.config}); set VTM_CONFIG")

    @property
    def label(self) -> str:
        return "VTM (4:4:4)"

    @property
    def version(self) -> str:
        self.check()
        found = _video.version_line([self.encoder, "--help"], r"VTM[^\[]*\[([^\]]+)\]")
        return f"VTM {found} {Path(self.config).name}; BT.709 full range 4:4:4 8-bit"

    def encode(self, image: np.ndarray, quality: float) -> bytes:
        image = as_rgb8(image)
        self.check_quality(quality, 0, 63)
        self.check()
        height, width = image.shape[:2]
        ycc = _video.rgb_to_ycbcr(image, "bt709", 8)
        with _video.Scratch() as tmp:
            (tmp / "in.yuv").write_bytes(_video.planar_bytes(np.moveaxis(ycc, -1, 0), 8))
            cmd = [self.encoder, "-c", self.config, "-i", str(tmp / "in.yuv"), "-b", str(tmp / "out.bin")]
            cmd += ["-o", os.devnull, "-q", str(int(quality)), "-wdt", str(width), "-hgt", str(height), "-fr", "1"]
            cmd += ["-f", "1", "--InputChromaFormat=444", "--InputBitDepth=8", "--ConformanceWindowMode=1"]
            _video.run(cmd, what="VTM EncoderApp")
            return (tmp / "out.bin").read_bytes()

    def decode(self, data: bytes) -> np.ndarray:
        if self.decoder:
            with _video.Scratch() as tmp:
                (tmp / "in.bin").write_bytes(data)
                _video.run([self.decoder, "-b", str(tmp / "in.bin"), "-o", str(tmp / "out.y4m"), "-d", "8"])
                y4m = (tmp / "out.y4m").read_bytes()
        else:
            y4m = _video.decode_to_y4m(data, "vvc", "yuv444p", _imageio_ffmpeg())
        planes, bit_depth = _video.read_y4m(y4m)
        return _video.ycbcr_to_rgb(np.stack(planes, axis=-1), "bt709", bit_depth)


def vvc(**options) -> Codec:
    """VTM when ``VTM_ENCODER`` is set (or ``encoder=`` given), else vvenc."""
    if options.get("encoder") or os.environ.get("VTM_ENCODER"):
        return VTM(**options)
    return VVenC(**options)


alias("vvc", vvc)
