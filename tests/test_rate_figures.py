"""Real against likelihood-estimated bpp (ndic.plot): the comparison figure, and curves that say their rate.

NDIC-CAM's paper plots the likelihood estimate (its code has no entropy coder); this book plots the real
bitstream. The synthetic rows below carry both for the same points, with the real rate built as a coder
would make it: the estimate, a small proportional overhead and each rANS stream's final flush (a 32-bit
state per stream), which weighs most at the lowest rate.
"""

import math

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_hex

from ndic import published
from ndic.plot import RATES, curves_from_published, curves_from_results, published_curves, rate_comparison_figure
from ndic.results import COLUMNS

HEIGHT, WIDTH = 128, 256
STREAMS = 2  # hx and zx of ndic_bmshj18
FLUSH_BPP = STREAMS * 4 * 8 / (HEIGHT * WIDTH)  # four bytes of rANS state flushed per stream
ESTIMATES = np.array([0.02, 0.06, 0.15, 0.35])
PSNR = np.array([27.0, 29.5, 32.0, 35.0])


def _real(estimated: np.ndarray) -> np.ndarray:
    return estimated * 1.004 + FLUSH_BPP


def _rows() -> pd.DataFrame:
    """Per-image rows of one learned model (two images per point) and a classical codec (no estimate)."""
    rows = []
    for quality, (estimate, psnr) in enumerate(zip(ESTIMATES, PSNR, strict=True)):
        for image, wiggle in (("a", 0.9), ("b", 1.1)):
            common = {"quality": quality, "dataset": "kitti_stereo", "image": image, "height": HEIGHT,
                      "width": WIDTH, "ms_ssim": 1 - 10 ** (-(psnr - 15) / 10), "encoding_time": 0.1,
                      "decoding_time": 0.1, "profile": "paper"}  # fmt: skip
            learned = estimate * wiggle
            rows.append(dict(common, method="ndic_bmshj18", label="NDIC (Ballé18), here", bpp=_real(learned),
                             bpp_estimated=learned, psnr=psnr + wiggle - 1))  # fmt: skip
            rows.append(dict(common, method="bpg", label="BPG", bpp=2 * learned, bpp_estimated=math.nan,
                             psnr=psnr))  # fmt: skip
    frame = pd.DataFrame(rows)
    frame["bytes"] = (frame["bpp"] * HEIGHT * WIDTH / 8).round()
    frame["ms_ssim_db"] = -10 * np.log10(1 - frame["ms_ssim"])
    return frame[COLUMNS]


def test_comparison_figure_draws_both_rates_of_the_same_points(tmp_path):
    figure = rate_comparison_figure(_rows(), path=tmp_path / "rates")
    assert (tmp_path / "rates.png").read_bytes().startswith(b"\x89PNG") and (tmp_path / "rates.svg").is_file()
    psnr_axes, ms_axes = figure.axes
    lines = {line.get_label(): line for line in psnr_axes.get_lines()}
    assert set(lines) == {"NDIC (Ballé18), here", "NDIC (Ballé18), here (estimated bpp)"}  # no BPG: no estimate
    real, estimated = lines["NDIC (Ballé18), here"], lines["NDIC (Ballé18), here (estimated bpp)"]

    # the x values are the per-point means of each rate; the y values are the same points
    means = _rows().query("method == 'ndic_bmshj18'").groupby("quality")[["bpp", "bpp_estimated", "psnr"]].mean()
    assert np.allclose(real.get_xdata(), means["bpp"]) and np.allclose(estimated.get_xdata(), means["bpp_estimated"])
    assert np.array_equal(real.get_ydata(), estimated.get_ydata())
    assert np.allclose(real.get_ydata(), means["psnr"])

    # the flush: real > estimated everywhere, relatively most at the lowest rate
    gap = real.get_xdata() / estimated.get_xdata() - 1
    assert real.get_xdata()[0] > estimated.get_xdata()[0]
    assert gap[0] > 0.09 and np.all(np.diff(gap) < 0)

    # one colour per model, told apart by the line: solid filled on bytes, dashed hollow on the estimate
    assert to_hex(real.get_color()) == to_hex(estimated.get_color())
    assert real.get_linestyle() == "-" and estimated.get_linestyle() == "--"
    assert estimated.get_markerfacecolor() == "none" and real.get_markerfacecolor() != "none"
    assert "estimated bpp" in psnr_axes.get_xlabel() and "real bytes" in psnr_axes.get_xlabel()
    assert len(ms_axes.get_lines()) == 2


def test_curves_on_the_estimate_say_so():
    frame = _rows()
    (real,) = [c for c in curves_from_results(frame) if c.method == "ndic_bmshj18"]
    (estimated,) = curves_from_results(frame, rate="bpp_estimated")  # BPG has no estimate: left out
    assert (real.rate, estimated.rate) == ("bpp", "bpp_estimated")
    assert "estimated bpp" not in real.label and estimated.label == f"{real.label} (estimated bpp)"
    assert np.all(real.bpp > estimated.bpp)
    assert set(RATES) == {"bpp", "bpp_estimated"}

    with pytest.raises(ValueError, match="rate must be one of"):
        curves_from_results(frame, rate="bits")
    with pytest.raises(ValueError, match="no 'bpp_estimated' column"):
        curves_from_results(frame.drop(columns="bpp_estimated"), rate="bpp_estimated")
    with pytest.raises(ValueError, match="no row has a bpp_estimated value"):
        rate_comparison_figure(frame.query("method == 'bpg'"))


def test_published_ndic_cam_curves_are_labelled_estimated_bpp():
    points = published.load("kitti_stereo")
    estimated_labels = set(points.loc[points["note"].str.contains("bpp estimated"), "label"])
    assert estimated_labels and set(points["source"][points["label"].isin(estimated_labels)]) == {"neural-dsc"}
    curves = published_curves("kitti_stereo")
    assert len(curves) == points["label"].nunique()
    for curve in curves:
        assert curve.rate == "bpp_estimated" and "estimated bpp" in curve.label, curve.label
    # real-byte published points keep their label
    (stf,) = curves_from_published(published.load("kodak").query("method == 'stf' and objective == 'mse'"))
    assert stf.rate == "bpp" and stf.label == "STF, published"


def test_rd_figure_legend_says_which_published_curves_are_on_the_estimate():
    from ndic.plot import rd_figure

    figure = rd_figure(_rows(), "kitti_stereo", published=["cross_attention"])
    legend = [text.get_text() for text in figure.legends[0].get_texts()]
    assert "NDIC-CAM (MS-SSIM), paper figure, transcribed by neural-dsc (estimated bpp)" in legend
    assert "NDIC (Ballé18), here" in legend  # our rows: real bytes, no mark
