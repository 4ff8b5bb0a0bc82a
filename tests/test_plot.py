"""RD figures and BD tables (ndic.plot): the book's one style, files written, tables computed."""

import math

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_hex

from ndic import published
from ndic.plot import Curve, bd_table, color, curves_from_published, curves_from_results, rd

BPP = np.array([0.1, 0.2, 0.4, 0.8, 1.6])
PSNR = np.array([27.0, 29.8, 32.9, 36.1, 39.5])
MS_SSIM_DB = np.array([9.0, 11.5, 14.2, 17.0, 20.1])


def _rows(method: str, label: str, scale: float) -> list[dict]:
    """Per-image result rows of two images whose means are (scale * BPP, PSNR, MS_SSIM_DB)."""
    rows = []
    for quality, (bpp, psnr, db) in enumerate(zip(BPP * scale, PSNR, MS_SSIM_DB, strict=True)):
        for offset in (-0.01, 0.01):
            rows.append({"method": method, "label": label, "dataset": "kodak", "quality": quality,
                         "bpp": bpp + offset, "bpp_estimated": math.nan, "psnr": psnr + offset,
                         "ms_ssim": 1 - 10 ** (-db / 10), "ms_ssim_db": db, "encoding_time": 0.1,
                         "decoding_time": 0.1, "image": f"im{offset}"})  # fmt: skip
    return rows


@pytest.fixture()
def curves() -> list[Curve]:
    frame = pd.DataFrame(_rows("stf", "STF (here)", 0.9) + _rows("bpg", "BPG (4:4:4, x265 recipe)", 1.0))
    ours = curves_from_results(frame)
    theirs = curves_from_published(published.load().query("method == 'stf' and objective == 'mse'"))
    return [*ours, *theirs]


def test_curves_from_results_average_images_and_infer_kinds(curves):
    by_label = {curve.label: curve for curve in curves}
    stf, bpg, stf_published = (by_label[k] for k in ("STF (here)", "BPG (4:4:4, x265 recipe)", "STF, published"))
    assert (stf.kind, bpg.kind, stf_published.kind) == ("learned", "classical", "published")
    assert np.allclose(stf.bpp, 0.9 * BPP) and np.allclose(stf.psnr, PSNR) and np.allclose(bpg.ms_ssim_db, MS_SSIM_DB)
    assert stf_published.values("ms_ssim_db") is None  # STF published PSNR only for its MSE models


def test_rd_draws_the_book_style_and_writes_png_and_svg(curves, tmp_path):
    figure = rd(curves, path=tmp_path / "kodak_rd", title="Kodak")
    png, svg = tmp_path / "kodak_rd.png", tmp_path / "kodak_rd.svg"
    assert png.read_bytes().startswith(b"\x89PNG") and b"<svg" in svg.read_bytes()
    psnr_axes, ms_axes = figure.axes
    assert psnr_axes.get_ylabel() == "PSNR (dB)" and ms_axes.get_ylabel() == "MS-SSIM (dB)"
    lines = {line.get_label(): line for line in psnr_axes.get_lines()}
    assert lines["STF (here)"].get_linestyle() == "-" and lines["STF (here)"].get_marker() == "o"
    assert lines["BPG (4:4:4, x265 recipe)"].get_linestyle() == "--"
    hollow = lines["STF, published"]
    assert hollow.get_markerfacecolor() == "none" and hollow.get_linestyle() == ":"
    # the same method keeps its colour whether run here or published
    assert to_hex(lines["STF (here)"].get_color()) == to_hex(hollow.get_color()) == to_hex(color("stf"))
    assert "STF, published" not in {line.get_label() for line in ms_axes.get_lines()}  # no MS-SSIM values


def test_rd_single_metric_and_errors(curves, tmp_path):
    figure = rd(curves, metrics="psnr")
    assert len(figure.axes) == 1
    with pytest.raises(ValueError, match="no curves"):
        rd([])
    with pytest.raises(ValueError, match="unknown metric"):
        rd(curves, metrics="ssim")
    with pytest.raises(ValueError, match="kind must be one of"):
        Curve("x", BPP, PSNR, kind="dashed")


def test_colours_are_stable():
    assert color("stf") == color("STF") != color("wacnn")
    assert color("some-new-model") == color("some-new-model")


def test_bd_table(curves):
    table = bd_table(curves, "BPG (4:4:4, x265 recipe)", "psnr")
    assert table.attrs == {"reference": "BPG (4:4:4, x265 recipe)", "metric": "psnr"}
    assert table.loc["STF (here)", "BD-rate cubic (%)"] == pytest.approx(-10.0, abs=0.3)
    assert table.loc["STF (here)", "BD-rate pchip (%)"] == pytest.approx(-10.0, abs=0.3)
    assert table.loc["STF (here)", "BD-PSNR cubic (dB)"] > 0
    assert table.loc["STF (here)", "note"] == ""
    on_ms_ssim = bd_table(curves, next(c for c in curves if c.method == "bpg"), "ms_ssim_db")
    assert "BD-MS-SSIM cubic (dB)" in on_ms_ssim.columns
    assert math.isnan(on_ms_ssim.loc["STF, published", "BD-rate cubic (%)"])
    assert "no ms_ssim_db values" in on_ms_ssim.loc["STF, published", "note"]
    with pytest.raises(ValueError, match="not among the curves"):
        bd_table(curves, "VTM")


def test_attention_figure_draws_the_true_match_where_the_disparity_puts_the_query_patch():
    import torch
    from matplotlib.patches import Rectangle

    from ndic.plot import plot_attention

    x, y = torch.rand(3, 32, 64), torch.rand(3, 32, 64)
    maps = [torch.full((16, 16), 1 / 16)]
    disparity = np.full((32, 64), 5.0)
    disparity[:, :20] = np.nan  # unknown where the query patch (row 2, column 1) starts: the median of the rest
    figure = plot_attention(x, y, maps, query=(2, 1), disparity=disparity)
    dashed = [p for p in figure.axes[1].patches if isinstance(p, Rectangle) and p.get_linestyle() == "--"]
    assert len(dashed) == 1 and dashed[0].get_xy() == (16 - 5.0, 16) and dashed[0].get_width() == 16
    plain = plot_attention(x, y, maps, query=(2, 1))
    assert not [p for p in plain.axes[1].patches if p.get_linestyle() == "--"]


def test_bd_against_codecs_of_a_curve_at_twice_the_rate_of_jpeg_is_plus_100_percent():
    from ndic.plot import bd_against_codecs, bd_tables, describe_short_curves

    def rows(method, label, bpps, profile, psnr_of=lambda b: 25 + 5 * np.log2(b)):
        return [dict(method=method, label=label, quality=q, dataset="kitti_samples", image=f"i{i}",
                     bpp=b * (1 + i / 10), bpp_estimated=np.nan, psnr=psnr_of(b),
                     ms_ssim=1 - 10 ** (-psnr_of(b) / 20), ms_ssim_db=np.nan, encoding_time=0.0,
                     decoding_time=0.0, profile=profile, height=128, width=256, bytes=0)
                for q, b in enumerate(bpps) for i in range(2)]  # fmt: skip

    jpeg = rows("jpeg", "JPEG (4:4:4)", [0.25, 0.5, 1.0, 2.0, 4.0], "cpu")
    learned = rows("bls17", "bls17", [0.5, 1.0, 2.0, 4.0], "cpu", psnr_of=lambda b: 25 + 5 * np.log2(b / 2))
    quick = rows("ndic_bls17", "ndic_bls17", [0.5, 1.0, 2.0, 4.0], "quick")
    frame = pd.DataFrame(jpeg + learned + quick)
    table = bd_against_codecs(frame, "kitti_samples")
    assert list(table.index) == [("bls17", "psnr"), ("bls17", "ms_ssim_db")]  # the quick-profile curve is left out
    assert table.loc[("bls17", "psnr"), "vs JPEG (4:4:4): BD-rate pchip (%)"] == pytest.approx(100, abs=1)
    assert table.loc[("bls17", "psnr"), "vs JPEG (4:4:4): BD-rate cubic (%)"] == pytest.approx(100, abs=1)
    assert "vs BPG" not in " ".join(table.columns)  # no BPG rows: no BPG columns
    assert bd_against_codecs(frame, "kodak").empty

    # a learned curve of one point has no BD-rate: it is left out of the rows and named once
    one_point = rows("ndic_bls17", "ndic_bls17", [1.0], "cpu")
    table = bd_against_codecs(pd.DataFrame(jpeg + learned + one_point), "kitti_samples")
    assert list(table.index.get_level_values("curve").unique()) == ["bls17"]
    assert table.attrs["too_few_points"] == {"ndic_bls17": 1}
    assert describe_short_curves(table) == (
        "No BD-rate yet for ndic_bls17 (1 point): a curve needs at least 2 points (4 for the cubic fit)."
    )
    only_short = bd_against_codecs(pd.DataFrame(jpeg + one_point), "kitti_samples")
    assert only_short.empty and only_short.attrs["too_few_points"] == {"ndic_bls17": 1}
    with_reference = bd_tables(pd.DataFrame(jpeg + learned + one_point), "kitti_samples", reference="JPEG (4:4:4)")
    assert "ndic_bls17" not in set(with_reference["curve"]) and "bls17" in set(with_reference["curve"])
    assert with_reference.attrs["too_few_points"] == {"ndic_bls17": 1}
    assert describe_short_curves(bd_tables(pd.DataFrame(jpeg + learned), "kitti_samples", "JPEG (4:4:4)")) == ""


def test_validation_curves_of_several_runs_share_their_axes(tmp_path):
    from ndic.plot import plot_validation

    for name, ms_ssim in (("a", [0.5, 0.9]), ("b", [0.6, 0.99])):
        (tmp_path / name).mkdir()
        (tmp_path / name / "val_log.csv").write_text(
            "step,loss,bpp,psnr,ms_ssim\n" + "".join(f"{100 * (i + 1)},1,0.5,20,{m}\n" for i, m in enumerate(ms_ssim))
        )
    (tmp_path / "empty").mkdir()
    figure = plot_validation({"run a": tmp_path / "a", "run b": tmp_path / "b", "none": tmp_path / "empty"})
    ms_ssim_axis = figure.axes[1]
    assert [line.get_label() for line in ms_ssim_axis.lines] == ["run a", "run b"]
    np.testing.assert_allclose(ms_ssim_axis.lines[1].get_ydata(), [-10 * np.log10(0.4), 20.0])
