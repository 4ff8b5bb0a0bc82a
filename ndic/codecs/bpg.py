"""BPG (4:4:4): the classical baseline of the learned-compression papers.

Two ways to run it:

- ``bpgenc``/``bpgdec`` (Bellard's BPG 0.9.8) when both are on the PATH: ``-f 444 -c ycbcr -b 8
  -m 8`` (CompressAI's "BPG 8b 444 x265 ycbcr"); the rate counts the whole ``.bpg`` file.
- otherwise bpgenc's recipe with Debian's ``x265`` and ``ffmpeg``: RGB -> YCbCr (BT.601, full range)
  in numpy, 8-bit 4:4:4, ``x265 --preset veryslow --tune ssim --qp QP --keyint 1 --rect --amp
  --range full --colormatrix bt470bg``, the recipe that reproduces bpgenc 0.9.8 ``-m 8``, decoded
  by ffmpeg, YCbCr -> RGB. The rate counts the raw HEVC stream (VPS, SPS, PPS and the slice), without
  x265's informational SEI (``--no-info``: a ~2 kB text of encoder options that is no image data and
  that bpgenc does not store). The container differs: a ``.bpg`` file replaces the parameter sets
  by a compact header of a few bytes, so the recipe's rate is a few hundred bits per image higher.
"""

from __future__ import annotations

import shutil

import numpy as np

from . import _video
from .base import Codec, as_rgb8, register

INSTALL_HINT = "install x265 and ffmpeg (apt-get install x265 ffmpeg) or put bpgenc/bpgdec on the PATH"

X265_CTU = 64  # the CTU size of --preset veryslow
# bpgenc -m 8 in x265 command-line terms
X265_RECIPE = (
    "--preset veryslow --tune ssim --keyint 1 --rect --amp --range full --colormatrix bt470bg --no-info"
).split()


@register
class BPG(Codec):
    """BPG 4:4:4 8-bit, quality = HEVC QP (0-51, lower is better)."""

    name = "bpg"
    quality_name = "qp"
    qualities = (47, 42, 37, 32, 27, 22)

    def __init__(self, prefer_bpgenc: bool = True):
        self.use_bpgenc = prefer_bpgenc and all(shutil.which(p) for p in ("bpgenc", "bpgdec"))

    def check(self) -> None:
        if not self.use_bpgenc:
            _video.program("x265", INSTALL_HINT)
            _video.ffmpeg()

    @property
    def label(self) -> str:
        return "BPG (4:4:4)" if self.use_bpgenc else "BPG (4:4:4, x265 recipe)"

    @property
    def version(self) -> str:
        self.check()
        if self.use_bpgenc:
            found = _video.version_line(["bpgenc", "-h"], r"version ([\w.]+)")
            return f"bpgenc {found} -f 444 -c ycbcr -b 8 -m 8"
        found = _video.version_line([_video.program("x265", INSTALL_HINT), "--version"], r"version ([^\s]+)")
        return f"x265 {found} {' '.join(X265_RECIPE)}; raw HEVC bytes; BT.601 full range 4:4:4 8-bit"

    def unsupported_reason(self, image: np.ndarray) -> str | None:
        """Why ``image`` cannot be coded (None if it can); the runner leaves such images out with a warning.

        The x265 recipe needs a whole CTU: a smaller CTU (--ctu 32/16) would change the recipe, and
        padding would count bits of pixels that are not in the image.
        """
        height, width = np.shape(image)[:2]
        if not self.use_bpgenc and min(height, width) < X265_CTU:
            return f"{width}x{height}: x265 codes pictures of at least one {X265_CTU}x{X265_CTU} CTU"
        return None

    def encode(self, image: np.ndarray, quality: float) -> bytes:
        image = as_rgb8(image)
        self.check_quality(quality, 0, 51)
        if self.use_bpgenc:
            return self._bpgenc(image, int(quality))
        reason = self.unsupported_reason(image)
        if reason:
            raise ValueError(f"{reason}; use a larger image")
        height, width = image.shape[:2]
        ycc = _video.rgb_to_ycbcr(image, "bt601", 8)
        cmd = [_video.program("x265", INSTALL_HINT), "--input", "-", "--input-res", f"{width}x{height}"]
        cmd += ["--input-csp", "i444", "--input-depth", "8", "--fps", "1", "--frames", "1", "--qp", str(int(quality))]
        # --pools 1: one thread, the runner parallelises over images
        cmd += [*X265_RECIPE, "--pools", "1", "--log-level", "error", "--output", "-"]
        return _video.run(cmd, stdin=_video.planar_bytes(np.moveaxis(ycc, -1, 0), 8), what="x265")

    def decode(self, data: bytes) -> np.ndarray:
        if self.use_bpgenc:
            return self._bpgdec(data)
        planes, _ = _video.read_y4m(_video.decode_to_y4m(data, "hevc", "yuv444p"))
        return _video.ycbcr_to_rgb(np.stack(planes, axis=-1), "bt601", 8)

    def _bpgenc(self, image: np.ndarray, qp: int) -> bytes:
        from PIL import Image

        with _video.Scratch() as tmp:
            Image.fromarray(image).save(tmp / "in.png")
            cmd = ["bpgenc", "-f", "444", "-c", "ycbcr", "-b", "8", "-m", "8", "-q", str(qp)]
            _video.run([*cmd, "-o", str(tmp / "out.bpg"), str(tmp / "in.png")], what="bpgenc")
            return (tmp / "out.bpg").read_bytes()

    def _bpgdec(self, data: bytes) -> np.ndarray:
        from PIL import Image

        with _video.Scratch() as tmp:
            (tmp / "in.bpg").write_bytes(data)
            _video.run(["bpgdec", "-o", str(tmp / "out.png"), str(tmp / "in.bpg")], what="bpgdec")
            return np.asarray(Image.open(tmp / "out.png").convert("RGB"))
