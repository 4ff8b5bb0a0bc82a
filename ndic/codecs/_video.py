"""What the video-codec baselines (BPG's HEVC, VVC) share: colour conversion, chroma resampling,
Y4M parsing and running external programs with useful errors.

The RGB <-> YCbCr conversion is done here in numpy, not by ffmpeg's swscale, so that the matrix,
range and rounding are exactly the ones stated (full range, Rec. ITU-T H.273 equations).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from .base import CodecUnavailable

# (K_R, K_B) of the luma equation Y = K_R R + (1 - K_R - K_B) G + K_B B
MATRICES = {"bt601": (0.299, 0.114), "bt709": (0.2126, 0.0722)}


def rgb_to_ycbcr(rgb: np.ndarray, matrix: str = "bt601", bit_depth: int = 8) -> np.ndarray:
    """8-bit RGB -> full-range YCbCr integer code values of ``bit_depth`` bits, (H, W, 3) uint16."""
    kr, kb = MATRICES[matrix]
    r, g, b = np.moveaxis(rgb.astype(np.float64) / 255.0, -1, 0)
    y = kr * r + (1 - kr - kb) * g + kb * b
    cb = (b - y) / (2 * (1 - kb))
    cr = (r - y) / (2 * (1 - kr))
    peak, mid = 2**bit_depth - 1, 2 ** (bit_depth - 1)
    ycc = np.stack([peak * y, peak * cb + mid, peak * cr + mid], axis=-1)
    return np.clip(np.round(ycc), 0, peak).astype(np.uint16)


def ycbcr_to_rgb(ycc: np.ndarray, matrix: str = "bt601", bit_depth: int = 8) -> np.ndarray:
    """Inverse of :func:`rgb_to_ycbcr` (float code values accepted), rounded to 8-bit RGB."""
    kr, kb = MATRICES[matrix]
    peak, mid = 2**bit_depth - 1, 2 ** (bit_depth - 1)
    y, cb, cr = np.moveaxis(ycc.astype(np.float64), -1, 0)
    y, cb, cr = y / peak, (cb - mid) / peak, (cr - mid) / peak
    r = y + 2 * (1 - kr) * cr
    b = y + 2 * (1 - kb) * cb
    g = (y - kr * r - kb * b) / (1 - kr - kb)
    return np.clip(np.round(np.stack([r, g, b], axis=-1) * 255.0), 0, 255).astype(np.uint8)


def downsample_420(plane: np.ndarray) -> np.ndarray:
    """Chroma plane (even H, W) -> half size by 2x2 averaging (centre-sited chroma)."""
    h, w = plane.shape
    return plane.astype(np.float64).reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))


def upsample_420(plane: np.ndarray) -> np.ndarray:
    """Centre-sited chroma -> double size by bilinear interpolation (inverse siting of ``downsample_420``)."""
    out = plane.astype(np.float64)
    for axis in (0, 1):
        # output sample 2k sits at k - 1/4 and 2k + 1 at k + 1/4 of the input grid (edges repeated)
        previous = np.concatenate([np.take(out, [0], axis), np.take(out, range(out.shape[axis] - 1), axis)], axis)
        following = np.concatenate([np.take(out, range(1, out.shape[axis]), axis), np.take(out, [-1], axis)], axis)
        even, odd = 0.75 * out + 0.25 * previous, 0.75 * out + 0.25 * following
        out = np.stack([even, odd], axis=axis + 1).reshape(
            *out.shape[:axis], 2 * out.shape[axis], *out.shape[axis + 1 :]
        )
    return out


def planar_bytes(planes: list[np.ndarray], bit_depth: int) -> bytes:
    """Planes concatenated as raw video (8-bit samples, or little-endian 16-bit ones above 8 bits)."""
    dtype = np.uint8 if bit_depth <= 8 else np.dtype("<u2")
    return b"".join(np.ascontiguousarray(p, dtype=dtype).tobytes() for p in planes)


def read_y4m(data: bytes) -> tuple[list[np.ndarray], int]:
    """The first frame of a YUV4MPEG2 stream: its three planes and bit depth.

    Handles the colour spaces the baselines produce: ``C444``, ``C420``/``C420jpeg``/``C420mpeg2`` and
    their ``p10`` variants (16-bit little-endian samples).
    """
    header_end = data.find(b"\n")
    if not data.startswith(b"YUV4MPEG2 ") or header_end < 0:
        raise ValueError("decoder output is not a YUV4MPEG2 stream")
    fields = {t[:1]: t[1:] for t in data[:header_end].decode("ascii").split()[1:]}
    width, height = int(fields["W"]), int(fields["H"])
    colour = fields.get("C", "420jpeg")
    match = re.fullmatch(r"(444|420)(?:jpeg|mpeg2|paldv)?(?:p(\d+))?", colour)
    if not match:
        raise ValueError(f"unsupported Y4M colour space C{colour}")
    bit_depth = int(match.group(2) or 8)
    cw, ch = (width, height) if match.group(1) == "444" else ((width + 1) // 2, (height + 1) // 2)
    frame = data.find(b"FRAME", header_end)
    start = data.find(b"\n", frame) + 1
    dtype = np.uint8 if bit_depth <= 8 else np.dtype("<u2")
    sizes = [width * height, cw * ch, cw * ch]
    samples = np.frombuffer(data, dtype=dtype, count=sum(sizes), offset=start)
    y, cb, cr = np.split(samples, np.cumsum(sizes)[:2])
    return [y.reshape(height, width), cb.reshape(ch, cw), cr.reshape(ch, cw)], bit_depth


def ffmpeg() -> str:
    """The ffmpeg on the PATH, else the static one of the ``imageio-ffmpeg`` wheel."""
    return shutil.which("ffmpeg") or static_ffmpeg("install ffmpeg (apt-get install ffmpeg) or imageio-ffmpeg==0.8.1")


def static_ffmpeg(hint: str) -> str:
    """The static ffmpeg of the ``imageio-ffmpeg`` wheel (built with libvvenc), or CodecUnavailable(hint)."""
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError) as err:
        raise CodecUnavailable(f"imageio-ffmpeg's ffmpeg not found: {hint}") from err


def program(name: str, hint: str, env: str | None = None) -> str:
    """Path of an executable from environment variable ``env`` or the PATH, or CodecUnavailable(hint)."""
    if env and os.environ.get(env):
        path = os.environ[env]
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            raise CodecUnavailable(f"{env}={path} is not an executable file")
        return path
    found = shutil.which(name)
    if not found:
        raise CodecUnavailable(f"{name} not found on the PATH: {hint}")
    return found


def run(cmd: list[str], stdin: bytes | None = None, what: str = "") -> bytes:
    """Run a program and return its stdout; a failure raises RuntimeError with its stderr."""
    return run_logged(cmd, stdin, what)[0]


def run_logged(cmd: list[str], stdin: bytes | None = None, what: str = "") -> tuple[bytes, str]:
    """:func:`run` that also returns the program's stderr (its log)."""
    try:
        done = subprocess.run(cmd, input=stdin, capture_output=True, check=False)
    except FileNotFoundError as err:
        raise CodecUnavailable(f"cannot run {cmd[0]}: {err}") from err
    log = done.stderr.decode(errors="replace")
    if done.returncode != 0:
        tail = log.strip()[-2000:]
        raise RuntimeError(f"{what or Path(cmd[0]).name} failed (exit {done.returncode}): {' '.join(cmd)}\n{tail}")
    return done.stdout, log


def decode_to_y4m(data: bytes, demuxer: str, pix_fmt: str, executable: str | None = None) -> bytes:
    """Decode a raw elementary stream (``hevc``, ``vvc``) with ffmpeg into Y4M, no colour conversion."""
    exe = executable or ffmpeg()
    cmd = [exe, "-v", "error", "-threads", "1", "-f", demuxer, "-i", "pipe:0"]
    cmd += ["-frames:v", "1", "-pix_fmt", pix_fmt, "-strict", "-1", "-f", "yuv4mpegpipe", "pipe:1"]
    return run(cmd, stdin=data, what=f"ffmpeg ({demuxer} decoding)")


class Scratch:
    """A temporary folder for programs that only read and write files (removed on exit)."""

    def __enter__(self) -> Path:
        self._dir = tempfile.TemporaryDirectory(prefix="ndic-codec-")
        return Path(self._dir.name)

    def __exit__(self, *exc) -> None:
        self._dir.cleanup()


def version_line(cmd: list[str], pattern: str) -> str:
    """First match of ``pattern`` (one group) in a program's stdout+stderr, e.g. its version."""
    done = subprocess.run(cmd, capture_output=True, check=False)
    text = (done.stdout + done.stderr).decode(errors="replace")
    match = re.search(pattern, text)
    return match.group(1) if match else "unknown"
