"""What the notebooks call: round trips and side-image swaps (evaluate), figures (plot), result discovery
(results), paths and notebook glue (paths, notebook)."""

import json
import math
import shlex

import numpy as np
import pandas as pd
import pytest
import torch

import ndic  # noqa: F401  (before compressai)
from conftest import ROOT
from ndic import evaluate, models, notebook, paths, plot, results
from ndic.codecs import runner
from ndic.config import Config
from ndic.models.cross_attention import attention_summary, patch_attention
from ndic.results import COLUMNS, write_rows


# ---------------------------------------------------------------------------- cross-attention
@pytest.fixture(scope="module")
def cross_attention():
    torch.manual_seed(0)
    return models.build("cross_attention", num_filters=8).eval()


def test_the_attention_hook_reproduces_the_module_output(cross_attention):
    """softmax(q k^T / sqrt(d)) from the public hook, applied to the values, gives the module's output."""
    module = cross_attention.align[1]  # 16x32 features at 128x256: 4x8-pixel patches
    torch.manual_seed(1)
    x, y = torch.randn(1, 8, 32, 64), torch.randn(1, 8, 32, 64)
    with torch.no_grad():
        aligned = module(x, y)[:, 8:]  # the module returns cat(x, aligned y)
        weights = module.attention(x, y)
        inner = module.heads * module.dim
        values = torch.nn.functional.linear(
            module.norm(module.embed_y(module._tokens(y))), module.to_qkv_y.weight[2 * inner :]
        )
        attended = (weights @ module._heads(values)).transpose(1, 2).flatten(2)
        mine = module._image(module.unembed(module.proj(attended)), 8)
    assert weights.shape == (1, 8, 8 * 16, 8 * 16)
    torch.testing.assert_close(weights.sum(-1), torch.ones(1, 8, 128))
    torch.testing.assert_close(mine, aligned, atol=1e-5, rtol=1e-4)


def test_patch_attention_matches_a_loop():
    torch.manual_seed(2)
    grid, channels, heads = 2, 3, 2
    tokens = channels * grid * grid
    weights = torch.rand(1, heads, tokens, tokens).softmax(-1)
    got = patch_attention(weights, grid)[0]
    expected = torch.zeros(4, 4)
    for p in range(4):
        for r in range(4):
            # token index = channel * grid**2 + patch
            total = sum(
                weights[0, h, c * 4 + p, k * 4 + r]
                for h in range(heads)
                for c in range(channels)
                for k in range(channels)
            )
            expected[p, r] = total / (heads * channels)
    torch.testing.assert_close(got, expected)
    torch.testing.assert_close(got.sum(1), torch.ones(4))


def test_attention_maps_remove_their_hooks_and_restore_the_mode(cross_attention):
    x, y = torch.rand(1, 3, 128, 256), torch.rand(1, 3, 128, 256)
    cross_attention.train()
    maps = [m[0] for m in cross_attention.attention_maps(x, y)]
    assert cross_attention.training
    cross_attention.eval()
    assert len(maps) == 3 and all(m.shape == (16, 16) for m in maps)
    for m in maps:
        torch.testing.assert_close(m.sum(1), torch.ones(16))
    assert all(not module._forward_hooks for module in cross_attention.align)
    summary = attention_summary(maps)
    assert list(summary.index) == ["align[0]", "align[1]", "align[2]"]
    assert summary["uniform: same patch"].eq(1 / 16).all()


# ---------------------------------------------------------------------------- coding
@pytest.fixture(scope="module")
def ndic_model():
    torch.manual_seed(0)
    return models.build("ndic_bls17", num_filters=8).eval()


def test_decode_with_sides_codes_once_and_the_true_side_matches_reconstruct(ndic_model):
    torch.manual_seed(3)
    x, y = torch.rand(3, 128, 256), torch.rand(3, 128, 256)
    table = evaluate.decode_with_sides(ndic_model, x, {"true": y, "grey": torch.full_like(y, 0.5)})
    assert table["bytes"].nunique() == 1 and table["bytes"].iloc[0] > 0
    assert table["bpp"].iloc[0] == pytest.approx(8 * table["bytes"].iloc[0] / (128 * 256))
    x_hat = evaluate.reconstruct(ndic_model, x, y)
    assert table.loc["true", "PSNR (dB)"] == pytest.approx(ndic.metrics.psnr(x[None], x_hat))
    with pytest.raises(ValueError, match="single-image model"):
        evaluate.decode_with_sides(models.build("bls17", num_filters=8), x, {"y": y})


def test_roundtrip_counts_the_bytes_of_the_file(tmp_path, ndic_model):
    torch.manual_seed(4)
    x_png = evaluate.save_png(torch.rand(3, 128, 256), tmp_path / "x.png")
    y_png = evaluate.save_png(torch.rand(3, 128, 256), tmp_path / "y.png")
    result = evaluate.roundtrip(ndic_model, x_png, tmp_path / "x.ndic", side_path=y_png)
    assert result["file bytes"] == (tmp_path / "x.ndic").stat().st_size
    assert result["header bytes"] + result["payload bytes"] == result["file bytes"]
    decoded = ndic.decompress_file(ndic_model, tmp_path / "x.ndic", side=y_png).clamp(0, 1)
    torch.testing.assert_close(result["x_hat"], decoded)
    assert result["real bpp (payload)"] == pytest.approx(8 * result["payload bytes"] / (128 * 256))
    assert math.isfinite(result["estimated bpp"]) and result["estimated bpp"] > 0


def test_error_map_is_the_mean_absolute_difference_in_8_bit_levels():
    x = torch.zeros(3, 4, 4)
    x_hat = x.clone()
    x_hat[0, 0, 0] = 30 / 255
    values = plot.error_map(x, x_hat)
    assert values.shape == (4, 4)
    assert values[0, 0] == pytest.approx(10.0) and values.sum() == pytest.approx(10.0)


# ---------------------------------------------------------------------------- small helpers
def test_spread_keeps_both_ends():
    assert runner.spread([47, 42, 37, 32, 27, 22], 3) == [47, 37, 22]
    assert runner.spread([1, 2, 3], None) == [1, 2, 3]
    assert runner.spread([1, 2, 3], 5) == [1, 2, 3]
    assert runner.spread([1, 2, 3, 4, 5], 1) == [3]
    with pytest.raises(ValueError):
        runner.spread([1, 2, 3], 0)


def test_codec_images_of_any_dataset_are_cropped_to_even_sizes():
    images = runner.load_images("default", limit=2, crop=101)
    assert [name for name, _ in images] == ["chelsea", "motorcycle_left"]
    assert all(image.shape == (100, 100, 3) and image.dtype == np.uint8 for _, image in images)
    full = runner.load_images("default", limit=1)
    assert full[0][1].shape == (300, 450, 3)  # 300x451: one column dropped for 4:2:0


def test_resolve_falls_back_to_the_checkout(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert paths.resolve("_toc.yml") == ROOT / "_toc.yml"
    (tmp_path / "here.txt").write_text("x")
    assert paths.resolve("here.txt").resolve() == tmp_path / "here.txt"
    assert paths.resolve(tmp_path / "absent") == tmp_path / "absent"


def test_notebook_config_quick_budget_and_paper_recipe(tmp_path):
    quick = notebook.notebook_config("bls17", out_dir=tmp_path, dataset="default", lmbda=None).resolved()
    assert (quick.steps, quick.train_batch_size) == (notebook.NOTEBOOK_QUICK_STEPS, notebook.NOTEBOOK_QUICK_BATCH)
    assert quick.lmbda == 1e-4 and quick.progress is True and quick.out_dir == tmp_path
    paper = notebook.notebook_config("bls17", profile="paper", out_dir=tmp_path, lmbda=3e-5).resolved()
    assert paper.train_batch_size == 1 and paper.lmbda == 3e-5 and paper.num_filters == 192
    assert paper.steps == Config(model="bls17", profile="paper").resolved().steps  # the paper profile's stopping cap


def test_papermill_command_round_trips_through_a_shell():
    line = notebook.papermill_command("04_baselines", {"dataset": "my data", "limit": None, "codecs": ["bpg", "vvc"]})
    words = shlex.split(line)
    assert words[:3] == ["papermill", "notebooks/04_baselines.ipynb", "04_baselines.out.ipynb"]
    assert words[3:6] == ["-p", "dataset", "my data"]
    assert words[6] == "-y" and json.loads(words[7]) == {"codecs": ["bpg", "vvc"]}
    assert "limit" not in line


def test_plot_training_reads_the_logs(tmp_path):
    pd.DataFrame({"step": [1, 2, 3], "loss": [3.0, 2.0, 1.5], "bpp": [1.0, 0.9, 0.8], "psnr": [10, 12, 13]}).to_csv(
        tmp_path / "train_log.csv", index=False
    )
    figure = plot.plot_training(tmp_path, "run")
    assert len(figure.axes) == 3
    assert list(figure.axes[0].lines[0].get_ydata()) == [3.0, 2.0, 1.5]
    empty = plot.plot_training(tmp_path / "absent")
    assert all(not ax.lines for ax in empty.axes)


# ---------------------------------------------------------------------------- result files
def _rows(method, label, qualities, rates, psnrs, profile="paper", dataset="synthetic"):
    rows = []
    for quality, bpp, psnr in zip(qualities, rates, psnrs, strict=True):
        row = dict.fromkeys(COLUMNS, math.nan)
        row.update(method=method, label=label, quality=quality, dataset=dataset, image="a", height=8, width=8,
                   bytes=bpp * 8, bpp=bpp, psnr=psnr, ms_ssim=1 - 10 ** (-psnr / 20), ms_ssim_db=psnr / 2,
                   profile=profile)  # fmt: skip
        rows.append(row)
    return rows


def test_load_results_reads_provenance_and_skips_other_csvs(tmp_path):
    rates = [0.1, 0.2, 0.4, 0.8]
    write_rows(_rows("bpg", "BPG", [47, 42, 37, 32], rates, [28, 30, 32, 34]), tmp_path / "a" / "bpg.csv",
               meta={"machine": "test machine", "git_commit": "abc", "command": "make it"})  # fmt: skip
    write_rows(_rows("bls17", "bls17 (quick)", [1, 2, 3, 4], [r * 0.9 for r in rates], [28, 30, 32, 34], "quick"),
               tmp_path / "b.csv")  # fmt: skip
    (tmp_path / "bd_rates.csv").write_text("curve,reference\nx,y\n")
    frame = results.load_results(tmp_path)
    assert sorted(frame["source"].unique()) == ["a/bpg.csv", "b.csv"]
    assert frame.loc[frame["method"] == "bpg", "machine"].iloc[0] == "test machine"
    assert frame.loc[frame["method"] == "bls17", "machine"].iloc[0].startswith("unknown")
    table = results.provenance_table(frame)
    assert table.loc["a/bpg.csv", "commit"] == "abc" and table.loc["b.csv", "profile"] == "quick"
    assert "`make it`: `a/bpg.csv`" in results.commands_markdown(frame)
    assert "not a paper reproduction" in results.describe_origin(frame)
    assert results.load_results(tmp_path / "absent").empty

    # the same quality for 10 % fewer bits: BD-rate -10 % with both interpolations
    bd = plot.bd_tables(frame, "synthetic").set_index(["metric", "curve"])
    for metric in ("psnr", "ms_ssim_db"):
        assert bd.loc[(metric, "bls17 (quick)"), "BD-rate cubic (%)"] == pytest.approx(-10.0)
        assert bd.loc[(metric, "bls17 (quick)"), "BD-rate pchip (%)"] == pytest.approx(-10.0)
    assert bd["reference"].eq("BPG").all()
    sentences = plot.describe_bd(bd.reset_index())
    assert sentences[0].startswith("bls17 (quick): -10.0 % rate")

    figure = plot.rd_figure(frame, "synthetic", path=tmp_path / "rd")
    assert "quick" in figure._suptitle.get_text()
    assert (tmp_path / "rd.png").stat().st_size > 0 and (tmp_path / "rd.svg").is_file()
    with pytest.raises(ValueError, match="no result rows"):
        plot.rd_figure(frame, "kodak")


def test_benchmark_reports_absence_and_origin(tmp_path):
    frame, why = results.read_benchmark("models", tmp_path)
    assert frame is None and "absent" in why
    pd.DataFrame({"model": ["a"], "threads": [2]}).to_csv(tmp_path / "models.csv", index=False)
    (tmp_path / "models.meta.json").write_text(json.dumps({"machine": "box"}))
    frame, origin = results.read_benchmark("models", tmp_path)
    assert list(frame["model"]) == ["a"]
    assert "machine `box`" in origin and "threads `2`" in origin


def test_the_codec_runner_takes_a_stereo_dataset_and_codes_the_image_x_of_each_pair(shared_data):
    from ndic import data

    pairs = data.load("middlebury", "test", root=shared_data / "middlebury")
    images = runner.load_images("middlebury", limit=1, root=shared_data / "middlebury")
    x = (pairs[0][0].clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
    assert images[0][0] == pairs.ids[0]
    height, width = images[0][1].shape[:2]
    assert (height, width) == (x.shape[0] - x.shape[0] % 2, x.shape[1] - x.shape[1] % 2)
    top, left = (x.shape[0] - height) // 2, (x.shape[1] - width) // 2
    assert np.array_equal(images[0][1], x[top : top + height, left : left + width])


def test_describe_model_says_profile_steps_and_lambda_of_a_loaded_checkpoint():
    net = models.build("bls17", num_filters=8)
    net.checkpoint_info = {"step": 1800, "lmbda": 0.00011, "config": {"profile": "cpu", "distortion_loss": "MS-SSIM",
                                                                       "dataset_name": "stereo_train"}}  # fmt: skip
    line = notebook.describe_model(net)
    assert line.startswith("bls17, lambda 0.00011 (MS-SSIM), trained 1800 steps on stereo_train; cpu profile")
    assert "not a paper reproduction" in line
    net.checkpoint_info = {"lmbda": 0.0018, "config": {"profile": "quick"}}
    assert notebook.describe_model(net) == f"bls17, lambda 0.0018; {notebook.QUICK_WARNING}"


def test_weights_without_a_recorded_profile_are_never_called_the_papers(tmp_path):
    net = models.build("bls17", num_filters=8)
    net.checkpoint_info = {"lmbda": 0.0018, "config": {}}
    assert notebook.describe_model(net) == "bls17, lambda 0.0018; unknown profile"
    with pytest.raises(FileNotFoundError, match="does not exist: train it .* set the notebook's checkpoint parameter"):
        notebook.load_trained(tmp_path / "missing.pt")
