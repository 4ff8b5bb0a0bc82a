"""Bjøntegaard delta rate and delta quality between two rate-distortion curves.

``bd_rate`` is the average rate difference (percent) of a test curve against a reference at equal
quality; ``bd_quality`` the average quality difference (dB) at equal rate. Negative BD-rate and
positive BD-quality mean the test curve is better. Quality is anything on a dB scale: PSNR, or
MS-SSIM as ``-10 log10(1 - ms_ssim)`` (``ndic.metrics.ms_ssim_db``).

Two interpolations of log-rate against quality (and back):

- ``"cubic"``: a least-squares cubic polynomial through all points, G. Bjøntegaard, "Calculation of
  average PSNR differences between RD-curves", VCEG-M33, 2001 (the papers' BD-rates);
- ``"pchip"``: piecewise cubic Hermite interpolation through the points, as in the later JCT-VC /
  JVET common-test-conditions spreadsheets; it never overshoots between points.

Both integrate over the interval where the two curves overlap (quality for BD-rate, log-rate for
BD-quality) and refuse curves that do not overlap.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

METHODS = ("cubic", "pchip")


def bd_rate(
    rate_ref: Sequence[float],
    quality_ref: Sequence[float],
    rate_test: Sequence[float],
    quality_test: Sequence[float],
    method: str = "cubic",
) -> float:
    """Average rate change of the test curve at equal quality, in percent (negative = saves rate)."""
    ref = _curve(rate_ref, quality_ref, "reference", method)
    test = _curve(rate_test, quality_test, "test", method)
    # log-rate as a function of quality, averaged over the common quality range
    mean_diff = _mean_difference(ref[1], np.log(ref[0]), test[1], np.log(test[0]), method, "quality")
    return (math.exp(mean_diff) - 1) * 100


def bd_quality(
    rate_ref: Sequence[float],
    quality_ref: Sequence[float],
    rate_test: Sequence[float],
    quality_test: Sequence[float],
    method: str = "cubic",
) -> float:
    """Average quality change of the test curve at equal rate, in dB (positive = better)."""
    ref = _curve(rate_ref, quality_ref, "reference", method)
    test = _curve(rate_test, quality_test, "test", method)
    return _mean_difference(np.log(ref[0]), ref[1], np.log(test[0]), test[1], method, "log-rate")


def bd_psnr(*args, **kwargs) -> float:
    """Alias of :func:`bd_quality` for PSNR curves."""
    return bd_quality(*args, **kwargs)


def _curve(rate: Sequence[float], quality: Sequence[float], which: str, method: str) -> tuple[np.ndarray, np.ndarray]:
    if method not in METHODS:
        raise ValueError(f"unknown BD method {method!r}; use one of {METHODS}")
    rate, quality = np.asarray(rate, dtype=np.float64), np.asarray(quality, dtype=np.float64)
    if rate.ndim != 1 or rate.shape != quality.shape:
        raise ValueError(
            f"{which} curve: rate and quality must be 1-D of equal length, got {rate.shape}, {quality.shape}"
        )
    needed = 4 if method == "cubic" else 2
    if len(rate) < needed:
        raise ValueError(f"{which} curve has {len(rate)} points; the {method} BD computation needs at least {needed}")
    if not (np.all(np.isfinite(rate)) and np.all(np.isfinite(quality))):
        raise ValueError(f"{which} curve has non-finite values (NaN or inf): rate {rate}, quality {quality}")
    if np.any(rate <= 0):
        raise ValueError(f"{which} curve has non-positive rates {rate}; BD works on log-rate")
    return rate, quality


def _mean_difference(
    x_ref: np.ndarray, y_ref: np.ndarray, x_test: np.ndarray, y_test: np.ndarray, method: str, axis: str
) -> float:
    """Mean of y_test(x) - y_ref(x) over the overlap of the two x ranges."""
    low, high = max(x_ref.min(), x_test.min()), min(x_ref.max(), x_test.max())
    if not high > low:
        raise ValueError(
            f"the curves do not overlap in {axis}: reference spans [{x_ref.min():.4g}, {x_ref.max():.4g}], "
            f"test [{x_test.min():.4g}, {x_test.max():.4g}]; BD needs a common range"
        )
    area = _integral(x_test, y_test, low, high, method) - _integral(x_ref, y_ref, low, high, method)
    return area / (high - low)


def _integral(x: np.ndarray, y: np.ndarray, low: float, high: float, method: str) -> float:
    if method == "cubic":
        antiderivative = np.polyint(np.polyfit(x, y, 3))
        return float(np.polyval(antiderivative, high) - np.polyval(antiderivative, low))
    from scipy.interpolate import PchipInterpolator

    order = np.argsort(x)
    x, y = x[order], y[order]
    if np.any(np.diff(x) <= 0):
        raise ValueError(f"PCHIP needs distinct x values; the curve repeats one: {x}")
    return float(PchipInterpolator(x, y).integrate(low, high))
