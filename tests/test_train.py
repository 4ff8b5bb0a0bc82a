"""ndic.train and ndic.losses: the papers' loss numbers, learning, exact resumption, NaN stops, DDP."""

import hashlib
import math
import os
import socket

import numpy as np
import pytest
import torch
from pytorch_msssim import ms_ssim

import ndic.io
from conftest import spawn_pair
from ndic import models
from ndic.checkpoint import load_model
from ndic.config import Config, load_config
from ndic.losses import RateDistortionLoss
from ndic.optim import keep_entropy_models_fp32
from ndic.train import NonFiniteLossError, Trainer

# a small NDIC-CAM baseline on 64x128 crops of the embedded stereo pairs: fast, and it learns
SMALL = dict(profile="quick", model="bls17", num_filters=8, resize=[64, 128], distortion="MSE", lmbda=0.01,
             train_batch_size=2, deterministic=True, progress=False, verbose_period=0)  # fmt: skip

# the original's transmitted likelihoods (fixture output names) and ours
TRANSMITTED = {
    "bls17": {"y": "y_likelihoods"},
    "bmshj18": {"y": "y_likelihoods", "z": "z_likelihoods"},
    "ndic_bls17": {"hx": "hx_likelihoods"},
    "cross_attention": {"hx": "hx_likelihoods"},
    "ndic_bmshj18": {"hx": "hx_likelihoods", "zx": "zx_likelihoods"},
}


def small_config(tmp_path, **overrides) -> Config:
    return load_config(None, **dict(SMALL, out_dir=str(tmp_path), **overrides))


def fixture(shared_reference, name):
    return torch.load(shared_reference / "small" / f"{name}.pt", weights_only=True)


def bits_per_pixel(tensors, pixels):
    return sum(float(-np.log2(t.double().numpy()).sum()) for t in tensors) / pixels


# ---------------------------------------------------------------------------- losses
@pytest.mark.parametrize("name", sorted(TRANSMITTED))
def test_ndic_cam_loss_equals_the_originals_recorded_numbers(shared_reference, name):
    """lambda * 255**2 * (1 - MS-SSIM, win 7) + bpp, on the original's own outputs (base and stress)."""
    fx = fixture(shared_reference, name)
    for outputs, recorded in ((fx["outputs"], fx["metrics_original_formulas"]),
                              (fx["stress"]["outputs"], fx["stress"]["metrics_original_formulas"])):  # fmt: skip
        output = {"x_hat": outputs["x_hat"], "likelihoods": {k: outputs[v] for k, v in TRANSMITTED[name].items()}}
        msssim = RateDistortionLoss(3e-5, "MS-SSIM", msssim_scale=255**2, msssim_win_size=7)(output, fx["inputs"]["x"])
        mse = RateDistortionLoss(3e-5, "MSE")(output, fx["inputs"]["x"])
        assert float(msssim["loss"]) == pytest.approx(recorded["loss_msssim_lambda3e-5"], rel=1e-6)
        assert float(msssim["distortion"]) == pytest.approx(recorded["distortion_msssim(1-MS-SSIM,win7)"], rel=1e-6)
        assert float(msssim["bpp"]) == pytest.approx(recorded["bpp_transmitted"], rel=1e-6)
        assert float(mse["distortion"]) == pytest.approx(recorded["distortion_mse"], rel=1e-6)


@pytest.mark.parametrize("name", ["cnn", "stf"])
def test_stf_loss_equals_the_originals_recorded_numbers(shared_reference, name):
    """STF's RateDistortionLoss: lambda * 255**2 * MSE + bpp(y + z)."""
    fx = fixture(shared_reference, name)
    out, recorded = fx["outputs"], fx["metrics_original_formulas"]
    output = {"x_hat": out["x_hat"], "likelihoods": {"y": out["y_likelihoods"], "z": out["z_likelihoods"]}}
    losses = RateDistortionLoss(0.0035, "MSE")(output, fx["inputs"]["x"])
    assert float(losses["loss"]) == pytest.approx(recorded["loss_lambda0.0035"], rel=1e-6)
    assert float(losses["bpp_loss"]) == pytest.approx(recorded["bpp_loss"], rel=1e-6)
    assert float(losses["mse"]) == pytest.approx(recorded["mse_loss"], rel=1e-6)


def test_alpha_weighs_the_side_image_and_beta_the_common_information(shared_reference):
    fx = fixture(shared_reference, "ndic_bls17")
    out, x, y = fx["outputs"], fx["inputs"]["x"], fx["inputs"]["y"]
    output = {"x_hat": out["x_hat"], "side_hat": out["side_hat"], "likelihoods": {"hx": out["hx_likelihoods"]},
              "side_likelihoods": {"hy": out["hy_likelihoods"], "w": out["w_likelihoods"]}}  # fmt: skip
    alpha, beta, lmbda = 0.5, 0.25, 3e-5
    losses = RateDistortionLoss(lmbda, "MS-SSIM", alpha, beta, 255**2, 7)(output, x, y)
    pixels = 128 * 256
    rate = bits_per_pixel([out["hx_likelihoods"]], pixels)
    rate += alpha * bits_per_pixel([out["hy_likelihoods"]], pixels)
    rate += beta * bits_per_pixel([out["w_likelihoods"]], pixels)
    d_x = 1 - float(ms_ssim(x, out["x_hat"], data_range=1.0, win_size=7))
    d_y = 1 - float(ms_ssim(y, out["side_hat"], data_range=1.0, win_size=7))
    assert float(losses["bpp_loss"]) == pytest.approx(rate, rel=1e-5)
    assert float(losses["loss"]) == pytest.approx(lmbda * 255**2 * (d_x + alpha * d_y) + rate, rel=1e-5)
    assert float(losses["bpp"]) == pytest.approx(fx["metrics_original_formulas"]["bpp_transmitted"], rel=1e-6)


def test_msssim_on_too_small_images_is_a_clear_error():
    output = {"x_hat": torch.rand(1, 3, 64, 128), "likelihoods": {"y": torch.rand(1, 4, 4, 8)}}
    with pytest.raises(ValueError, match="larger than 96 pixels.*distortion_loss MSE"):
        RateDistortionLoss(1e-4, "MS-SSIM", msssim_win_size=7)(output, torch.rand(1, 3, 64, 128))


# ---------------------------------------------------------------------------- training
def test_a_few_steps_lower_the_loss_on_the_embedded_default(tmp_path):
    trainer = Trainer(small_config(tmp_path, steps=30, lr=2e-3))
    before = trainer.validate()
    after = trainer.fit()
    assert after["loss"] < 0.6 * before["loss"], (before, after)
    assert after["psnr"] > before["psnr"] + 2
    rows = (tmp_path / "train_log.csv").read_text().splitlines()
    assert rows[0].startswith("step,epoch,loss,bpp_loss,bpp") and len(rows) == 31
    assert (tmp_path / "checkpoint.pt").is_file() and (tmp_path / "best.pt").is_file()
    assert load_config(tmp_path / "config.yaml") == trainer.config  # the run's configuration, reusable as is
    model = load_model(tmp_path / "checkpoint.pt")
    reloaded, trained = model.state_dict(), trainer.model.state_dict()
    assert reloaded.keys() == trained.keys() and all(torch.equal(reloaded[k], trained[k]) for k in trained)


class Killed(Exception):
    pass


def test_resume_after_a_kill_reproduces_the_uninterrupted_run_exactly(tmp_path):
    # 20 training pairs in batches of 2: 10 steps per epoch, so the run crosses an epoch end
    # (validation, schedule step, best.pt) before and after the kill
    settings = dict(steps=14, checkpoint_every=4)
    whole = Trainer(small_config(tmp_path / "whole", **settings))
    whole.fit()

    def kill(trainer, metrics):
        if trainer.state.step == 7:  # checkpoints at 4 and 8: steps 5-7 are lost
            raise Killed

    first = Trainer(small_config(tmp_path / "killed", **settings))
    with pytest.raises(Killed):
        first.fit(kill)
    resumed = Trainer(small_config(tmp_path / "killed", resume=True, **settings))
    assert resumed.state.step == 4
    resumed.fit()

    ours, theirs = resumed.model.state_dict(), whole.model.state_dict()
    assert ours.keys() == theirs.keys()
    for key in ours:
        assert torch.equal(ours[key], theirs[key]), key
    assert resumed.optimizer.state_dict()["state"][0]["exp_avg"].equal(
        whole.optimizer.state_dict()["state"][0]["exp_avg"]
    )
    assert resumed.state == whole.state

    def log(path):  # the step log without the throughput column
        return [line.rsplit(",", 1)[0] for line in path.read_text().splitlines()]

    assert log(tmp_path / "killed" / "train_log.csv") == log(tmp_path / "whole" / "train_log.csv")
    assert (tmp_path / "killed" / "val_log.csv").read_text() == (tmp_path / "whole" / "val_log.csv").read_text()


def test_a_new_run_in_an_old_folder_starts_new_logs(tmp_path):
    Trainer(small_config(tmp_path, steps=3, val_split="none")).fit()
    Trainer(small_config(tmp_path, steps=2, val_split="none")).fit()  # not resumed: the old rows go
    steps = [line.split(",")[0] for line in (tmp_path / "train_log.csv").read_text().splitlines()]
    assert steps == ["step", "1", "2"]


def test_nan_loss_stops_with_a_clear_message_and_keeps_the_last_checkpoint(tmp_path):
    saved = {}

    def poison(trainer, metrics):
        if trainer.state.step == 3:  # after the checkpoint of step 2
            saved["bytes"] = (tmp_path / "checkpoint.pt").read_bytes()
            with torch.no_grad():
                next(trainer.model.parameters()).fill_(math.nan)

    trainer = Trainer(small_config(tmp_path, steps=10, checkpoint_every=2))
    with pytest.raises(NonFiniteLossError, match=r"non-finite at step 4.*checkpoint.pt \(step 2\), left intact"):
        trainer.fit(poison)
    assert (tmp_path / "checkpoint.pt").read_bytes() == saved["bytes"]
    ckpt = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert ckpt["step"] == 2 and all(torch.isfinite(t).all() for t in ckpt["state_dict"].values())
    assert len((tmp_path / "train_log.csv").read_text().splitlines()) == 1 + 3


def test_weights_that_blow_up_are_never_checkpointed(tmp_path):
    """An optimiser step can leave inf/NaN weights while its own loss was finite: that checkpoint is refused."""
    trainer = Trainer(small_config(tmp_path, steps=10, checkpoint_every=1, val_split="none"))
    step = trainer.optimizer.step

    def blow_up(*args, **kwargs):
        result = step(*args, **kwargs)
        if trainer.state.step == 2:  # inside the third step, after its (finite) loss was computed
            with torch.no_grad():
                next(trainer.model.parameters()).fill_(math.inf)
        return result

    trainer.optimizer.step = blow_up
    with pytest.raises(NonFiniteLossError, match=r"weights became non-finite at step 3.*checkpoint.pt \(step 2\)"):
        trainer.fit()
    ckpt = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert ckpt["step"] == 2 and all(torch.isfinite(t).all() for t in ckpt["state_dict"].values())


def test_resume_applies_a_new_learning_rate_and_records_it(tmp_path, capsys):
    first = Trainer(small_config(tmp_path, steps=2, val_split="none"))
    first.fit()
    for group in first.optimizer.param_groups:  # as the plateau schedule would have lowered it
        group["lr"] = 3e-4
    first.save_checkpoint()
    same = Trainer(small_config(tmp_path, steps=2, val_split="none", resume=True))
    assert {g["lr"] for g in same.optimizer.param_groups} == {3e-4}  # unchanged lr: the schedule's rate stays
    assert "that run is over (2 steps done): raise steps or epochs" in capsys.readouterr().out  # nothing to train

    resumed = Trainer(small_config(tmp_path, steps=4, val_split="none", resume=True, lr=2e-5))
    assert {g["lr"] for g in resumed.optimizer.param_groups} == {2e-5}
    assert "learning rate 2e-05 replaces the checkpoint's 0.0003" in capsys.readouterr().out
    resumed.fit()
    rows = [line.split(",") for line in (tmp_path / "train_log.csv").read_text().splitlines()]
    lr = rows[0].index("lr")
    assert [float(row[lr]) for row in rows[1:]] == [1e-3, 1e-3, 2e-5, 2e-5]
    assert load_config(tmp_path / "config.yaml").lr == 2e-5
    assert torch.load(tmp_path / "checkpoint.pt", weights_only=True)["config"]["lr"] == 2e-5


def test_the_non_finite_advice_names_a_lower_learning_rate(tmp_path):
    def poison(trainer, metrics):
        with torch.no_grad():
            next(trainer.model.parameters()).fill_(math.nan)

    trainer = Trainer(small_config(tmp_path, steps=3, checkpoint_every=1, lr=1e-3, val_split="none"))
    with pytest.raises(NonFiniteLossError, match=r"continue with --resume --lr 0\.0001"):
        trainer.fit(poison)


def test_a_checkpoint_file_is_never_partial(tmp_path, monkeypatch):
    trainer = Trainer(small_config(tmp_path, steps=2, checkpoint_every=1))
    trainer.fit()
    good = (tmp_path / "checkpoint.pt").read_bytes()

    def crash(fd):  # the machine dies after the bytes are written, before the rename
        raise OSError("power cut")

    monkeypatch.setattr(ndic.io.os, "fsync", crash)
    trainer.state.step += 1
    with pytest.raises(OSError, match="power cut"):
        trainer.save_checkpoint()
    assert (tmp_path / "checkpoint.pt").read_bytes() == good
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_amp_bf16_channels_last_on_cpu_keeps_entropy_models_in_float32(tmp_path):
    model = models.build("bls17", num_filters=8)
    keep_entropy_models_fp32(model)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(torch.rand(1, 3, 64, 64))
    assert out["x_hat"].dtype == torch.bfloat16 and out["likelihoods"]["y"].dtype == torch.float32
    trainer = Trainer(small_config(tmp_path, steps=2, amp=True, channels_last=True))
    metrics = trainer.fit()
    assert math.isfinite(metrics["loss"]) and trainer.amp_dtype == torch.bfloat16


def test_original_ndic_cam_weights_load_through_load_model(tmp_path, shared_reference, monkeypatch):
    """A main.py checkpoint ({'model_state_dict', ...}) evaluates like the original."""
    monkeypatch.syspath_prepend(str(shared_reference))
    from fixture_utils import materialize_state_dict

    fx = fixture(shared_reference, "bls17")
    path = tmp_path / "original.pt"
    torch.save({"model_state_dict": materialize_state_dict(fx, "base"), "optimizer_state_dict": {}}, path)
    model = load_model(path, Config(model="bls17", num_filters=32, resize=[128, 256])).eval()
    with torch.no_grad():
        x_hat = model(fx["inputs"]["x"])["x_hat"]
    assert float((x_hat - fx["outputs"]["x_hat"]).abs().max()) < 2e-4
    with pytest.raises(ValueError, match="not an ndic checkpoint"):
        load_model(path)


# ---------------------------------------------------------------------------- DDP (gloo, CPU)
def _ddp_worker(rank: int, world: int, runs: list[tuple[int, str, dict]]) -> None:
    torch.set_num_threads(1)
    for port, out_dir, overrides in runs:
        # what torchrun sets for each process
        os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1",
                          MASTER_PORT=str(port))  # fmt: skip
        settings = dict(SMALL, out_dir=out_dir, steps=3, device="cpu", train_batch_size=2, **overrides)
        trainer = Trainer(load_config(None, **settings))
        trainer.fit()  # raises if the replicas differ at the end
        digest = hashlib.sha256(b"".join(p.detach().numpy().tobytes() for p in trainer.model.parameters()))
        with open(os.path.join(out_dir, f"rank{rank}.sha256"), "w") as f:
            f.write(digest.hexdigest())
        trainer.close()


# bls17: NDIC-CAM's recipe; wacnn: STF's, whose entropy bottleneck quantiles enter the forward (medians)
# and are trained by both the main loss and the aux loss
DDP_CASES = {
    "bls17": {},
    "wacnn": dict(model="wacnn", model_config={"N": 16, "M": 40}, resize=None, crop=64, recipe="stf", val_split="none"),
}


@pytest.fixture(scope="module")
def ddp_runs(tmp_path_factory):
    """Both recipes trained by two processes set up exactly as torchrun sets them (env://).

    Spawned, not forked: forking a process whose OpenMP pool already ran can deadlock the child. One
    pair of processes runs both cases, so the imports are paid once.
    """
    folders = {case: tmp_path_factory.mktemp(f"ddp_{case}") for case in DDP_CASES}
    spawn_pair(_ddp_worker, DDP_CASES, folders)
    return folders


@pytest.mark.parametrize("case", sorted(DDP_CASES))
def test_ddp_with_gloo_on_two_processes(ddp_runs, case):
    tmp_path = ddp_runs[case]
    digests = {(tmp_path / f"rank{r}.sha256").read_text() for r in range(2)}
    assert len(digests) == 1  # identical replicas, quantiles included
    ckpt = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert ckpt["world_size"] == 2 and len(ckpt["rng"]) == 2 and ckpt["step"] == 3
    assert not torch.equal(ckpt["rng"][0]["torch"], ckpt["rng"][1]["torch"])  # each rank its own noise
    assert len((tmp_path / "train_log.csv").read_text().splitlines()) == 1 + 3  # rank 0 logs alone
    if case == "wacnn":  # STF's recipe: Adam + clipping, and the aux Adam moved the quantiles off their init
        assert ckpt["config"]["clip_max_norm"] == 1.0 and ckpt["aux_optimizer"]["state"]
        quantiles = [v for k, v in ckpt["state_dict"].items() if k.endswith(".quantiles")]
        initial = torch.tensor([-10.0, 0.0, 10.0])  # CompressAI's init (init_scale 10)
        assert quantiles and not torch.equal(quantiles[0][:, 0], initial.expand_as(quantiles[0][:, 0]))


def test_a_new_trainer_removes_checkpoint_temporaries_of_a_killed_run(tmp_path):
    import subprocess
    import sys

    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    host = "".join(c if c.isalnum() or c == "-" else "-" for c in socket.gethostname())[:40] or "host"
    orphan = tmp_path / f".checkpoint.pt.{host}.{int(ended.stdout)}.abc123.tmp"
    orphan.write_bytes(b"half a checkpoint")
    unrelated = tmp_path / "notes.tmp"
    unrelated.write_text("kept")
    Trainer(small_config(tmp_path, steps=1))
    assert not orphan.exists() and unrelated.exists()
