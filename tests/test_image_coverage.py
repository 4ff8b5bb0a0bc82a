"""Partial result sets (``--limit``, a subset of images) never pass for full ones: result files record how many
images of their dataset they cover, curves on part of the images say so, a curve whose points average different
images is refused, and no BD table is written from a folder whose CSVs cover different images."""

import json
import math

import pandas as pd
import pytest

from ndic import plot, results
from ndic.results import COLUMNS

QUALITIES = [1, 2, 3, 4]
RATES = [0.1, 0.2, 0.4, 0.8]
PSNRS = [27.0, 30.0, 33.0, 36.0]


def _rows(method, label, images, scale=1.0, dataset="kodak", qualities=None):
    """Per-image rows of ``images`` at four qualities: bpp scale * RATES, PSNR PSNRS (image-independent)."""
    rows = []
    for quality, bpp, psnr in zip(QUALITIES, RATES, PSNRS, strict=True):
        for image in (qualities or {}).get(quality, images):
            row = dict.fromkeys(COLUMNS, math.nan)
            row.update(method=method, label=label, quality=quality, dataset=dataset, image=image, height=512,
                       width=768, bytes=bpp * scale * 512 * 768 / 8, bpp=bpp * scale, psnr=psnr,
                       ms_ssim=1 - 10 ** (-psnr / 20), ms_ssim_db=psnr / 2, profile="paper")  # fmt: skip
            rows.append(row)
    return rows


KODAK = [f"kodim{i:02d}" for i in range(1, 25)]


def test_result_files_record_how_many_images_of_the_dataset_they_cover(tmp_path):
    csv = results.write_rows(_rows("bpg", "BPG", KODAK[:2]), tmp_path / "bpg.csv", meta={"of": 24})
    meta = results.read_meta(csv)
    assert (meta["images"], meta["of"]) == (2, 24)
    # an evaluation without a limit covers its dataset; one with a limit does not say how large the dataset is
    frame = pd.DataFrame(_rows("stf", "STF", KODAK[:3]))
    for limit, of in ((None, 3), (3, None)):
        evaluated = {"model": "stf", "images": 3, "limit": limit}
        path = results.write_result_set(frame, tmp_path / f"stf_{limit}.csv", "d", {"evaluated": evaluated})
        assert (results.read_meta(path)["images"], results.read_meta(path)["of"]) == (3, of)
    with pytest.raises(ValueError, match="cover 3 images but meta says the dataset has 2"):
        results.write_rows(frame, tmp_path / "wrong.csv", meta={"of": 2})
    loaded = results.load_results(tmp_path).set_index("source")
    assert loaded.loc["bpg.csv", results.DATASET_IMAGES].iloc[0] == 24
    assert math.isnan(loaded.loc["stf_3.csv", results.DATASET_IMAGES].iloc[0])


def test_a_curve_on_part_of_the_images_says_so():
    frame = pd.DataFrame(_rows("bpg", "BPG", KODAK[:2]) + _rows("jpeg", "JPEG", KODAK[:4], 2.0))
    labels = {curve.method: curve.label for curve in plot.curves_from_results(frame)}
    assert labels == {"bpg": "BPG (2 of 4 images)", "jpeg": "JPEG"}  # 4: all the images the rows know
    # with the dataset's size from the result files, a curve on 4 of Kodak's 24 images is partial too
    labels = {c.method: c.label for c in plot.curves_from_results(frame.assign(dataset_images=24))}
    assert labels == {"bpg": "BPG (2 of 24 images)", "jpeg": "JPEG (4 of 24 images)"}
    # the same images everywhere, of a dataset of unknown size: nothing to say
    same = pd.DataFrame(_rows("bpg", "BPG", KODAK[:2]) + _rows("jpeg", "JPEG", KODAK[:2], 2.0))
    assert {c.label for c in plot.curves_from_results(same)} == {"BPG", "JPEG"}
    # equally many images, but other ones: neither curve covers what the other does
    other = pd.DataFrame(_rows("bpg", "BPG", KODAK[:2]) + _rows("jpeg", "JPEG", KODAK[2:4], 2.0))
    assert {c.label for c in plot.curves_from_results(other)} == {"BPG (2 of 4 images)", "JPEG (2 of 4 images)"}
    # summarised rows carry the count only
    summary = results.summarize(frame.assign(dataset_images=24))
    assert {c.coverage for c in plot.curves_from_results(summary)} == {"2 of 24 images", "4 of 24 images"}


def test_a_curve_whose_points_average_different_images_is_refused():
    mixed = pd.DataFrame(_rows("bpg", "BPG", KODAK, qualities={1: KODAK[:2]}))  # quality 1 on 2 images, others 24
    with pytest.raises(ValueError, match=r"curve 'BPG' averages different images at different qualities \(2 to 24"):
        plot.curves_from_results(mixed)


def test_bd_tables_name_partial_curves_and_note_the_difference():
    frame = pd.DataFrame(_rows("bpg", "BPG", KODAK) + _rows("jpeg", "JPEG", KODAK[:2], 1.5))
    frame = frame.assign(dataset_images=24)
    table = plot.bd_tables(frame, "kodak", reference="BPG").set_index(["metric", "curve"])
    row = table.loc[("psnr", "JPEG (2 of 24 images)")]
    assert row["BD-rate pchip (%)"] == pytest.approx(50.0, abs=0.5)  # 1.5 x the rate at equal PSNR
    assert "measured on 2 of 24 images, the reference on all" in row["note"]
    # the reference is found by its label with or without the coverage it is shown with
    table = plot.bd_tables(frame, "kodak", reference="JPEG").set_index(["metric", "curve"])
    assert table.loc[("psnr", "BPG"), "BD-rate pchip (%)"] == pytest.approx(100 * (1 / 1.5 - 1), abs=0.5)


def test_no_bd_table_from_a_folder_whose_csvs_cover_different_images(tmp_path):
    results.write_rows(_rows("bpg", "BPG", KODAK[:2]), tmp_path / "bpg.csv", meta={"of": 24})
    results.write_rows(_rows("jpeg", "JPEG", KODAK, 2.0), tmp_path / "jpeg.csv", meta={"of": 24})
    results.write_rows(_rows("webp", "WebP", KODAK, 1.5), tmp_path / "webp.csv", meta={"of": 24})
    with pytest.raises(ValueError) as error:
        plot.write_bd_rates(tmp_path, "kodak", {"command": "test"})
    message = str(error.value)
    assert "\n" not in message and "cover different images" in message
    assert "bpg.csv: 2 of 24 images; jpeg.csv, webp.csv: 24 of 24 images" in message
    assert "without --limit" in message and "--out" in message
    assert not (tmp_path / "bd_rates.csv").exists()


def test_a_bd_table_of_a_partial_folder_says_its_curves_are_partial(tmp_path):
    results.write_rows(_rows("bpg", "BPG", KODAK[:2]), tmp_path / "bpg.csv", meta={"of": 24})
    results.write_rows(_rows("jpeg", "JPEG", KODAK[:2], 2.0), tmp_path / "jpeg.csv", meta={"of": 24})
    path = plot.write_bd_rates(tmp_path, "kodak", {"command": "test"})
    table = pd.read_csv(path)
    ours = set(table["curve"]) - {"VTM (4:4:4), CompressAI", "BPG (4:4:4), CompressAI"}
    assert ours == {"BPG (2 of 24 images)", "JPEG (2 of 24 images)"}
    assert table.loc[table["curve"] == "JPEG (2 of 24 images)", "note"].str.contains("2 of 24 images").all()
    assert json.loads(path.with_suffix(".meta.json").read_text())["command"] == "test"


def test_a_limited_baselines_run_says_it_covers_part_of_the_dataset(shared_data, tmp_path, capsys):
    from ndic.cli import main

    out = tmp_path / "kodak"
    args = ["baselines", "--data", str(shared_data / "kodak"), "--dataset", "kodak", "--codecs", "jpeg",
            "--limit", "1", "--workers", "1", "--no-cache", "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert f"{out / 'jpeg.csv'} (1 of 24 images: not comparable with full-set curves):" in printed
    meta = results.read_meta(out / "jpeg.csv")
    assert (meta["images"], meta["of"]) == (1, 24)
    assert json.loads((out / "jpeg.json").read_text())["description"].endswith("real bitstreams, 1 of 24 images")
    assert pd.read_csv(out / "bd_rates.csv")["curve"].str.endswith("(1 of 24 images)").any()
