"""ndic.evaluate: real rANS bitstreams against the likelihood estimate, result files, side images, CLI."""

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from ndic import data, metrics, models, results
from ndic.__main__ import main
from ndic.bitstream import weights_hash
from ndic.checkpoint import load_model, stored_config
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
    # the result is named after what was evaluated (model, weights, data, split, lambda), not the experiment
    (tested_csv,) = results.find_results(run / "results")
    tested = pd.read_csv(tested_csv)
    weights = _coding_hash(load_model(run / "checkpoint.pt"))
    assert tested_csv.name == f"bls17_w{weights[:8]}_default-test_lambda0.02.csv"
    assert len(tested) == 6 and tested_csv.with_suffix(".json").is_file()
    assert json.loads(tested_csv.with_suffix(".meta.json").read_text())["experiment"] == "e"
    images = tested_csv.with_name(f"{tested_csv.stem}_images")
    assert sorted(p.name for p in images.iterdir())[0] == "chelsea_synthetic0.png"
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
    assert main(["evaluate", "--dataset", "default"]) == 2  # nothing to evaluate: one clear line, status 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("ndic evaluate: error: nothing to evaluate") and "\n" not in error
    assert "give a checkpoint" in error


# ---------------------------------------------------------------------------- result names (issue 13)
@pytest.fixture(scope="module")
def run_12_steps(tmp_path_factory):
    """A tiny bls17 run of 12 steps (10 per epoch): ``best.pt`` at step 10, ``checkpoint.pt`` at step 12."""
    run = tmp_path_factory.mktemp("run12")
    code = main(["train", "--profile", "quick", "--model", "bls17", "--num_filters", "8", "--resize", "64", "128",
                 "--distortion", "MSE", "--lambda", "0.02", "--steps", "12", "--batch-size", "2", "--out-dir", str(run),
                 "--progress", "false", "--val_split", "none"])  # fmt: skip
    assert code == 0 and (run / "best.pt").is_file() and (run / "checkpoint.pt").is_file()
    return run


def _released(shared_reference, case, path):
    """The original NDIC-CAM bls17's weights (32 filters; ``case`` "base" or "stress") as its main.py saves them."""
    import sys

    sys.path.insert(0, str(shared_reference))
    try:
        from fixture_utils import materialize_state_dict
    finally:
        sys.path.remove(str(shared_reference))
    fixture = torch.load(shared_reference / "small" / "bls17.pt", weights_only=True)
    state = materialize_state_dict(fixture, case)
    torch.save({"model_state_dict": state}, path)
    return path, _coding_hash(models.load_reference("bls17", state, num_filters=32))[:8]


def _coding_hash(model):
    """The hash of the weights with the coder tables they code with (rebuilt, as evaluation rebuilds them)."""
    model.update(force=True)
    return weights_hash(model)


def test_evaluations_never_replace_each_other(run_12_steps, shared_data, shared_reference, tmp_path, capsys):
    run, out = run_12_steps, tmp_path / "results"
    kodak = ["--dataset", "kodak", "--root", str(shared_data / "kodak")]
    released = ["--model", "bls17", "--num_filters", "32", "--resize", "64", "128", "--profile", "quick"]

    def evaluate_cli(weights, *args):
        argv = ["evaluate", "--checkpoint", str(weights), "--limit", "1", "--progress", "false",
                "--out-dir", str(tmp_path), *args]  # fmt: skip
        return main(argv)

    last, best = run / "checkpoint.pt", run / "best.pt"
    (release_a, hash_a), (release_b, hash_b) = (_released(shared_reference, case, tmp_path / f"{case}.pth")
                                                for case in ("base", "stress"))  # fmt: skip
    assert evaluate_cli(last) == 0  # the run's own test split
    assert evaluate_cli(last, *kodak) == 0  # the same weights on another dataset
    assert evaluate_cli(best) == 0  # the best weights of the same run
    assert evaluate_cli(release_a, *released) == 0 and evaluate_cli(release_b, *released) == 0  # no --lambda
    capsys.readouterr()

    hashes = {w: _coding_hash(load_model(w))[:8] for w in (last, best)}
    names = {
        "last": f"bls17_w{hashes[last]}_default-test_lambda0.02_first1.csv",
        "kodak": f"bls17_w{hashes[last]}_kodak-test_lambda0.02_first1.csv",
        "best": f"bls17_w{hashes[best]}_default-test_lambda0.02_first1.csv",
        "release a": f"bls17_w{hash_a}_default-test_lambda-unknown_first1.csv",
        "release b": f"bls17_w{hash_b}_default-test_lambda-unknown_first1.csv",
    }
    assert hashes[last] != hashes[best] and sorted(p.name for p in results.find_results(out)) == sorted(names.values())
    frame = results.load_results(out).set_index("source")
    assert len(frame) == 5 and set(frame["dataset"]) == {"default", "kodak"}
    # released weights evaluated without a lambda: quality unknown (NaN), never the profile's default
    assert frame.loc[[names["release a"], names["release b"]], "quality"].isna().all()
    assert frame.loc[[names["last"], names["kodak"], names["best"]], "quality"].eq(0.02).all()

    def evaluated(name):
        return json.loads((out / name).with_suffix(".meta.json").read_text())["evaluated"]

    assert evaluated(names["last"])["checkpoint"] == {"path": str(last), "kind": "checkpoint.pt (last saved)",
                                                       "step": 12}  # fmt: skip
    assert evaluated(names["best"])["checkpoint"] == {"path": str(best), "kind": "best.pt (best weights of the run)",
                                                       "step": 10}  # fmt: skip
    assert evaluated(names["release b"])["checkpoint"]["kind"] == "released weights (not an ndic checkpoint)"
    assert evaluated(names["release b"])["quality"] is None and evaluated(names["kodak"])["split"] == "test"
    assert "lambda unknown" in json.loads((out / names["release a"]).with_suffix(".json").read_text())["description"]

    # the same evaluation again is rewritten; a different one under the same name is refused in one line
    assert evaluate_cli(last) == 0
    assert evaluate_cli(last, "--label", "another curve") == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("ndic evaluate: error: ") and "--overwrite" in error and "\n" not in error
    assert set(results.read_rows(out / names["last"])["label"]) == {"bls17"}
    assert evaluate_cli(last, "--label", "another curve", "--overwrite") == 0
    assert set(results.read_rows(out / names["last"])["label"]) == {"another curve"}


def test_two_concurrent_evaluations_into_one_folder_keep_their_rows(run_12_steps, shared_data, tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    checkpoint = run_12_steps / "checkpoint.pt"
    config = stored_config(checkpoint).update({"progress": False, "save_output_path": str(tmp_path)})
    jobs = [config, config.update({"dataset": "kodak", "root": str(shared_data / "kodak")})]
    with ThreadPoolExecutor(2) as pool:
        frames = list(pool.map(lambda c: evaluate_config(c, checkpoint=checkpoint, limit=1), jobs))
    found = results.load_results(tmp_path / "results")
    assert len(results.find_results(tmp_path / "results")) == 2
    assert sorted(found["image"]) == sorted(f["image"].iloc[0] for f in frames)
    assert set(found["dataset"]) == {"default", "kodak"}
