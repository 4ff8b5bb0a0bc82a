"""Tables and figure styles as the book shows them: readable headings, no empty columns, integers as
integers, no paths of the build machine; one marker per method, a line style per training objective."""

import math

import pandas as pd
import pytest
from matplotlib.figure import Figure

from ndic.paths import project_root
from ndic.plot import Curve
from ndic.plot.style import describe_curves, line_style, marker, objective, restyle
from ndic.tables import hide_local_paths, tidy_table


def test_tidy_table_drops_empty_columns_and_prints_integers_as_integers():
    frame = pd.DataFrame(
        {
            "label": ["BPG", "JPEG"],
            "images": [24.0, 24.0],
            "bpp": [0.123456, 1.5],
            "bpp_estimated": [math.nan, math.nan],
            "note": ["", ""],
            "quality": [22, 0.0018],
        }
    ).set_index("label")
    table = tidy_table(frame)
    assert list(table.columns) == ["images", "bpp", "quality"]  # the all-NaN and all-empty columns are gone
    assert table.index.name == "method"
    assert str(table["images"].dtype) == "Int64" and table["images"].tolist() == [24, 24]
    assert table["bpp"].tolist() == [0.123, 1.5]
    assert table["quality"].tolist() == ["22", "0.0018"]  # a lambda keeps its digits beside a QP
    assert "2576.0000" not in tidy_table(pd.DataFrame({"bytes": [2576.0]})).to_html()


def test_tidy_table_names_columns_with_units_and_tidies_index_levels():
    frame = pd.DataFrame({"dataset": ["kodak"] * 2, "quality": [22.0, 27.0], "psnr": [40.1234, 36.5]})
    table = tidy_table(frame.set_index(["dataset", "quality"]), ["psnr", "absent"])
    assert list(table.columns) == ["PSNR (dB)"]
    assert table.index.get_level_values("quality").tolist() == [22, 27]


def test_tidy_table_keeps_numbers_that_a_transpose_left_as_objects():
    frame = pd.DataFrame({"a": pd.array([1, 2], dtype="Int64"), "psnr": [30.12345, 31.0]})
    table = tidy_table(tidy_table(frame).describe().T, headings={"mean": "mean", "std": "std"})
    assert table.loc["PSNR (dB)", "mean"] == pytest.approx(30.562)
    assert table["count"].tolist() == [2, 2]


def test_hide_local_paths_leaves_no_path_of_this_machine():
    root = project_root().resolve()
    text = f"ndic baselines --data ../shared/data/kodak --out {root}/results/kodak; {root.parent}/shared/data/x"
    hidden = hide_local_paths(text)
    assert hidden == "ndic baselines --data $NDIC_DATA/kodak --out results/kodak; $NDIC_DATA/x"
    assert hide_local_paths(f"{root}2/other") == f"{root}2/other"  # only whole path components
    frame = pd.DataFrame({"file": [f"{root}/results/a.csv"]}, index=pd.Index([f"{root}/runs"], name="run"))
    table = tidy_table(frame)
    assert table["file"].tolist() == ["results/a.csv"] and table.index.tolist() == ["runs"]


def test_methods_and_objectives_look_different():
    stf = Curve("STF, published", [0.1, 0.2], [30, 32], kind="published", method="stf")
    wacnn = Curve("WACNN, published", [0.1, 0.2], [30, 32], kind="published", method="wacnn")
    wacnn_ms = Curve("WACNN (MS-SSIM), published", [0.1, 0.2], [30, 32], kind="published", method="wacnn")
    assert marker("stf") != marker("wacnn")
    assert objective(wacnn_ms.label) == "ms-ssim" and objective(wacnn.label) == "mse"
    plain, ms = line_style(wacnn), line_style(wacnn_ms)
    assert plain["color"] == ms["color"] and plain["marker"] == ms["marker"]  # the same method ...
    assert plain["linestyle"] != ms["linestyle"] and ms.get("fillstyle") == "bottom"  # ... another objective
    assert line_style(stf)["marker"] != plain["marker"]
    assert marker("a method nobody listed") == marker("a method nobody listed")


def test_restyle_applies_the_styles_and_the_legend_follows():
    curves = [
        Curve("WACNN, published", [0.1, 0.2], [30, 32], kind="published", method="wacnn"),
        Curve("WACNN (MS-SSIM), published", [0.1, 0.2], [29, 31], kind="published", method="wacnn"),
    ]
    figure = Figure()
    ax = figure.subplots()
    for curve in curves:
        ax.plot(curve.bpp, curve.psnr, label=curve.label)
    ax.legend(loc="lower right")
    restyle(figure, curves)
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert lines["WACNN (MS-SSIM), published"].get_linestyle() == "-."
    assert lines["WACNN, published"].get_marker() == marker("wacnn")
    legend_styles = [handle.get_linestyle() for handle in ax.get_legend().legend_handles]
    assert "-." in legend_styles


def test_titles_say_what_is_plotted():
    curves = [
        Curve("BPG", [0.1, 0.2], [30, 32], kind="classical", method="bpg"),
        Curve("VTM, CompressAI", [0.1, 0.2], [31, 33], kind="published", method="vtm"),
    ]
    assert describe_curves(curves, ["paper"]) == "classical codecs run here + published points"
    assert "quick profile" in describe_curves(curves[:1], ["quick"])
