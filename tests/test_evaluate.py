"""ndic.evaluate: real rANS bitstreams against the likelihood estimate, result files, side images, CLI."""

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from ndic import data, metrics, results
from ndic.__main__ import main
from ndic.config import load_config
from ndic.evaluate import evaluate, evaluate_config, flatten_strings
from ndic.train import Trainer

SETTINGS = dict(profile="quick", resize=[64, 128], distortion="MSE", train_batch_size=2, deterministic=True,
                progress=False, verbose_period=0, val_split="none")  # fmt: skip


@pytest.fixture(scope="module")
def trained_bls17(tmp_path_factory):
    """bls17 (16 filters) after 60 steps on the embedded pairs: most latents are no longer zero, so the
    rate is a real one (an untrained model codes every image in the same number of bytes)."""
    out = tmp_path_factory.mktemp("bls17")
    settings = dict(SETTINGS, model="bls17", num_filters=16, lmbda=0.1, lr=2e-3, steps=60, out_dir=str(out))
    trainer = Trainer(load_config(None, **settings))
    trainer.fit()
    return trainer


def test_real_bpp_is_within_one_percent_of_the_estimate_on_kodak(trained_bls17, shared_data, tmp_path):
    config = trained_bls17.config.update({"dataset": "kodak", "root": str(shared_data / "kodak"), "save_image": True})
    out = tmp_path / "kodak.csv"
    frame = evaluate_config(config, model=trained_bls17.model, out=out, limit=2)

    assert list(frame["image"]) == ["kodim01", "kodim02"] and (frame[["height", "width"]].values == [512, 768]).all()
    gap = frame["bpp"] / frame["bpp_estimated"] - 1
    assert (gap.abs() < 0.01).all(), frame[["bpp", "bpp_estimated"]]
    assert frame["bytes"].nunique() == 2  # the two images cost different amounts: a real rate
    assert np.allclose(frame["bpp"], 8 * frame["bytes"] / (512 * 768))
    assert np.allclose(frame["ms_ssim_db"], -10 * np.log10(1 - frame["ms_ssim"]))
    assert (frame["psnr"] > 10).all() and (frame["encoding_time"] > 0).all() and (frame["decoding_time"] > 0).all()
    assert set(frame["quality"]) == {0.1} and set(frame["profile"]) == {"quick"} and set(frame["dataset"]) == {"kodak"}

    # the tidy CSV, its provenance and CompressAI's JSON layout
    again = results.read_rows(out)
    assert list(again.columns[: len(results.COLUMNS)]) == results.COLUMNS
    assert np.allclose(again["bpp"], frame["bpp"])
    assert json.loads(out.with_suffix(".meta.json").read_text())["profile"] == "quick"
    layout = json.loads(out.with_suffix(".json").read_text())
    assert layout["name"] == "bls17"
    assert set(layout["results"]) == {"bpp", "psnr-rgb", "ms-ssim-rgb", "encoding_time", "decoding_time"}
    assert layout["results"]["bpp"] == pytest.approx([frame["bpp"].mean()])
    assert layout["results"]["psnr-rgb"] == pytest.approx([frame["psnr"].mean()])

    # the PNG is the decoder's output, and the decoder reproduces the eval-mode forward
    model = trained_bls17.model.eval()
    x = data.load("kodak", "test", root=shared_data / "kodak")[0].unsqueeze(0)
    with torch.no_grad():
        encoded = model.compress(x)
        decoded = model.decompress(encoded["strings"], encoded["shape"])["x_hat"].clamp(0, 1)
        forward = model(x)["x_hat"].clamp(0, 1)
    png = np.asarray(Image.open(out.with_name("kodak_images") / "kodim01.png"))
    assert np.array_equal(png, metrics.to_uint8(decoded)[0].permute(1, 2, 0).byte().numpy())
    assert float((decoded - forward).abs().max()) < 1e-4
    assert sum(len(s) for s in flatten_strings(encoded["strings"])) == frame["bytes"][0]
    assert metrics.psnr(x, decoded) == pytest.approx(frame["psnr"][0])


def test_distributed_model_trains_and_decodes_with_the_side_image(tmp_path):
    config = load_config(None, **SETTINGS, model="ndic_bls17", num_filters=8, lmbda=0.05, lr=2e-3, steps=2,
                         alpha=0.5, beta=0.1, out_dir=str(tmp_path))  # fmt: skip
    trainer = Trainer(config)
    last = trainer.fit()
    assert last["bpp_loss"] > last["bpp"] > 0  # the side image's and w's rates are weighted in, not transmitted
    pairs = data.load("default", "test", size=(64, 128), stereo=True)
    frame = evaluate(trainer.model, pairs, limit=2, dataset_name="default", quality=0.05, progress=False)
    assert len(frame) == 2 and list(frame["image"]) == pairs.ids[:2]
    assert frame[["bpp", "bpp_estimated", "psnr", "encoding_time", "decoding_time"]].notna().all().all()
    assert (frame["bpp"] > 0).all() and frame["ms_ssim"].isna().all()  # 64 px is too small for MS-SSIM

    model = trainer.model.eval()
    x, y = (t.unsqueeze(0) for t in pairs[0])
    with torch.no_grad():
        encoded = model.compress(x)
        with_side = model.decompress(encoded["strings"], encoded["shape"], side=y)["x_hat"]
        other_side = model.decompress(encoded["strings"], encoded["shape"], side=torch.zeros_like(y))["x_hat"]
        forward = model(x, y)["x_hat"]
    assert float((with_side - forward.clamp(0, 1)).abs().max()) < 1e-4
    assert float((with_side - other_side).abs().max()) > 1e-3  # the decoder does use the side image

    single = data.load("default", "test", stereo=False)
    with pytest.raises(ValueError, match="side image"):
        evaluate(trainer.model, single, progress=False)


def test_command_line_train_then_evaluate(tmp_path, capsys):
    run = tmp_path / "run"
    # NDIC-CAM's flow: train, then test (test: True) with reconstructions saved (save_image: True)
    code = main(["train", "--profile", "quick", "--model", "bls17", "--num_filters", "8", "--resize", "64", "128",
                 "--distortion", "MSE", "--lambda", "0.02", "--steps", "3", "--batch-size", "2", "--out-dir", str(run),
                 "--progress", "false", "--val_split", "none", "--test", "--save_image",
                 "--experiment_name", "e"])  # fmt: skip
    assert code == 0 and (run / "checkpoint.pt").is_file() and (run / "config.yaml").is_file()
    tested = pd.read_csv(run / "results" / "e.csv")
    assert len(tested) == 6 and (run / "results" / "e.json").is_file()
    assert sorted(p.name for p in (run / "results" / "e_images").iterdir())[0] == "chelsea_synthetic0.png"
    out = tmp_path / "eval.csv"
    code = main(["evaluate", "--checkpoint", str(run / "checkpoint.pt"), "--limit", "2", "--out", str(out),
                 "--progress", "false", "--label", "bls17 (quick)"])  # fmt: skip
    assert code == 0
    frame = pd.read_csv(out)
    # the checkpoint's configuration says model, data and lambda: the default set's test pairs at 64x128
    assert list(frame["method"]) == ["bls17", "bls17"] and set(frame["label"]) == {"bls17 (quick)"}
    assert set(frame["quality"]) == {0.02} and set(frame["dataset"]) == {"default"}
    assert (frame["width"] == 128).all() and math.isfinite(frame["bpp"].mean())
    assert "real bpp" in capsys.readouterr().out
    assert main(["evaluate", "--dataset", "default"]) == 1  # nothing to evaluate: a clear error
    assert "give a checkpoint" in capsys.readouterr().err
