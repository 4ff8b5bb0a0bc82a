"""The paper profile's training protocol: stopping rules, the lr step-down, the global batch under DDP, best.pt."""

import json
import math
import os
from pathlib import Path

import pytest
import torch

from conftest import spawn_pair
from ndic.config import Config, ConfigError, load_config
from ndic.logs import VAL_COLUMNS
from ndic.recipes import RECIPES
from ndic.train import Trainer

# a tiny NDIC-CAM baseline on 64x128 crops of the embedded stereo pairs (20 training pairs)
SMALL = dict(profile="quick", model="bls17", num_filters=8, resize=[64, 128], distortion="MSE", lmbda=0.01,
             train_batch_size=2, deterministic=True, progress=False, verbose_period=0, workers=0)  # fmt: skip
ROOT = Path(__file__).resolve().parents[1]


def small_config(tmp_path, **overrides) -> Config:
    return load_config(None, **dict(SMALL, out_dir=str(tmp_path), **overrides))


# ---------------------------------------------------------------------------- 11.5: when a paper run stops
def test_paper_profile_follows_each_papers_stopping_rule_not_the_nominal_epochs():
    stf = Config(model="stf", profile="paper").resolved()
    # STF's author: 1.4-1.8M iterations of batch 16, lr 1e-4 then 1e-5 for the last ~20 of ~100 epochs
    assert 1_400_000 <= stf.steps <= 1_800_000 and stf.steps < stf.epochs * 300_000 // stf.train_batch_size
    assert math.isclose(stf.lr_drop_to, stf.lr / 10) and math.isclose(stf.lr_drop_at, 0.8 * stf.steps)
    ndic = Config(model="cross_attention", profile="paper").resolved()
    # NDIC-CAM: the plateau schedule runs out (one patience window at min_lr), under a cap far below 50,000 epochs
    assert ndic.stop_at_min_lr and ndic.stop_patience == ndic.lr_patience + 1 and ndic.min_lr > 0
    assert ndic.steps < ndic.epochs * 1576 / 10  # KITTI Stereo has 1576 training pairs
    quick = Config(model="stf", profile="quick").resolved()
    assert not quick.lr_drop_at and not quick.stop_patience  # the quick profile keeps its own step budget


@pytest.mark.parametrize(
    "values, message",
    [
        (dict(stop_patience=-1), "stop_patience must be 0 .off. or a positive number"),
        (dict(lr_drop_at=-5), "lr_drop_at must be 0"),
        (dict(lr_drop_to=0.0), "lr_drop_to must be .*positive"),
        (dict(lr_drop_to=float("nan")), "lr_drop_to must be .*positive"),
    ],
)
def test_stopping_fields_are_validated(values, message):
    with pytest.raises(ConfigError, match=message):
        Config(model="bls17", **values).resolved()


def test_a_step_down_needs_its_learning_rate(tmp_path):
    with pytest.raises(ConfigError, match="lr_drop_at is 3 but lr_drop_to is not set"):
        Trainer(small_config(tmp_path, steps=4, lr_drop_at=3))


def _lrs(path: Path) -> list[float]:
    rows = (path / "train_log.csv").read_text().splitlines()
    column = rows[0].split(",").index("lr")
    return [float(row.split(",")[column]) for row in rows[1:]]


class Killed(Exception):
    pass


def test_lr_steps_down_at_the_given_step_and_a_resumed_run_keeps_it(tmp_path):
    # 10 steps per epoch: the run crosses an epoch end after the drop
    settings = dict(steps=14, lr=2e-3, lr_drop_at=6, lr_drop_to=2e-5, checkpoint_every=4)
    whole = Trainer(small_config(tmp_path / "whole", **settings))
    whole.fit()
    lrs = _lrs(tmp_path / "whole")
    assert lrs == [2e-3] * 6 + [2e-5] * 8  # the 7th step is the first at the lower rate

    def kill(trainer, metrics):
        if trainer.state.step == 7:  # the last checkpoint is at step 4, before the drop
            raise Killed

    with pytest.raises(Killed):
        Trainer(small_config(tmp_path / "killed", **settings)).fit(kill)
    resumed = Trainer(small_config(tmp_path / "killed", resume=True, **settings))
    resumed.fit()
    assert _lrs(tmp_path / "killed") == lrs
    assert all(torch.equal(a, b) for a, b in zip(resumed.model.parameters(), whole.model.parameters(), strict=True))


class Images(torch.utils.data.Dataset):
    def __init__(self, n: int) -> None:
        self.images = torch.rand(n, 3, 64, 64, generator=torch.Generator().manual_seed(0))

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.images[index]


def scripted_trainer(tmp_path, losses: list[float], **settings) -> Trainer:
    """One step per epoch; validation returns ``losses`` in turn (the schedule and the rules see only them)."""
    trainer = Trainer(small_config(tmp_path, epochs=len(losses), **settings), train_set=Images(2), val_set=Images(1))
    scripted = iter(losses)
    trainer.validate = lambda: dict.fromkeys(VAL_COLUMNS, 0.0) | {"loss": next(scripted), "ms_ssim": math.nan}
    return trainer


def test_a_fixed_step_down_replaces_the_plateau_schedule(tmp_path):
    settings = dict(lr=1e-3, lr_factor=0.1, lr_patience=0, lr_drop_to=1e-5)
    fixed = scripted_trainer(tmp_path / "fixed", [5, 6, 7], lr_drop_at=1000, **settings)
    fixed.fit()
    assert fixed.optimizer.param_groups[0]["lr"] == 1e-3  # worse every epoch, and not cut: the drop comes later
    plateau = scripted_trainer(tmp_path / "plateau", [5, 6, 7], lr_drop_at=0, **settings)
    plateau.fit()
    assert math.isclose(plateau.optimizer.param_groups[0]["lr"], 1e-5)


def test_patience_stops_after_epochs_without_a_new_best(tmp_path):
    trainer = scripted_trainer(tmp_path, [5, 4, 4.5, 4.2, 4.1, 3], stop_patience=3, lr_patience=100)
    trainer.fit()
    assert trainer.state.epoch == 5 and trainer.state.step == 5  # epochs 3-5 made no new best
    assert trainer.stop_reason() == "no new best validation loss in 3 epochs"
    assert torch.load(tmp_path / "best.pt", weights_only=True)["epoch"] == 1  # best.pt: the epoch of loss 4


def test_at_min_lr_only_epochs_at_the_minimum_rate_count(tmp_path):
    # lr 1e-3, cut tenfold after every bad epoch (patience 0) down to 1e-5: the epochs at 1e-3 and 1e-4 do
    # not count, the two at 1e-5 do
    settings = dict(lr=1e-3, lr_factor=0.1, lr_patience=0, min_lr=1e-5, stop_patience=2, stop_at_min_lr=True)
    trainer = scripted_trainer(tmp_path, [5, 6, 6, 6, 6, 6, 6], **settings)
    trainer.fit()
    assert trainer.state.epoch == 5 and math.isclose(trainer.optimizer.param_groups[0]["lr"], 1e-5)
    assert "at the minimum learning rate 1e-05" in trainer.stop_reason()
    plain = scripted_trainer(tmp_path / "plain", [5, 6, 6, 6, 6, 6, 6], **dict(settings, stop_at_min_lr=False))
    plain.fit()
    assert plain.state.epoch == 3  # without the condition the two cuts count as well


# ---------------------------------------------------------------------------- 11.7: the global batch under DDP
def _batch_worker(rank: int, world: int, runs: list[tuple[int, str, dict]]) -> None:
    torch.set_num_threads(1)
    for port, out_dir, overrides in runs:
        os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1",
                          MASTER_PORT=str(port))  # fmt: skip
        report = {}
        try:
            trainer = Trainer(load_config(None, **dict(SMALL, out_dir=out_dir, device="cpu", epochs=1, **overrides)))
            seen = []
            trainer.train_step = _recording(trainer.train_step, seen)
            trainer.fit()
            report = dict(steps=trainer.state.step, batch=trainer.batch_size, images=seen)
            trainer.close()
        except ConfigError as error:
            report = dict(error=str(error))
            if torch.distributed.is_initialized():
                torch.distributed.destroy_process_group()
        Path(out_dir, f"rank{rank}.json").write_text(json.dumps(report))


def _recording(step, seen: list):
    def recorded(batch):
        seen.append(int((batch[0] if isinstance(batch, (list, tuple)) else batch).shape[0]))
        return step(batch)

    return recorded


BATCH_CASES = {
    "global": dict(train_batch_size=4),
    "per_process": dict(train_batch_size=4, batch_per_process=True),
    "indivisible": dict(train_batch_size=3),
}


@pytest.fixture(scope="module")
def batch_runs(tmp_path_factory):
    """Two processes set up as torchrun sets them (gloo, env://), one epoch of the 20 embedded pairs per case."""
    folders = {case: tmp_path_factory.mktemp(f"batch_{case}") for case in BATCH_CASES}
    spawn_pair(_batch_worker, BATCH_CASES, folders)
    return {case: [json.loads((folders[case] / f"rank{r}.json").read_text()) for r in range(2)] for case in folders}


def test_train_batch_size_is_the_global_batch_split_over_processes(batch_runs):
    # 20 pairs, 10 per rank: global batch 4 = 2 per process, 5 steps; as in DataParallel, 4 images per step
    for report in batch_runs["global"]:
        assert report["batch"] == 2 and report["images"] == [2] * 5 and report["steps"] == 5


def test_batch_per_process_keeps_the_batch_on_each_process(batch_runs):
    for report in batch_runs["per_process"]:  # 10 pairs per rank in batches of 4: 4, 4, 2
        assert report["batch"] == 4 and report["images"] == [4, 4, 2] and report["steps"] == 3


def test_an_indivisible_global_batch_is_a_clear_error(batch_runs):
    for report in batch_runs["indivisible"]:
        assert report["error"].startswith("train_batch_size 3 is the global batch and does not divide over 2")
        assert "batch_per_process: True" in report["error"]


def test_the_recipes_global_batches_are_the_originals():
    # NDIC-CAM main.py: batch 1 on one GPU; STF train.py: --batch-size 16 through nn.DataParallel
    assert (RECIPES["ndic_cam"]["train_batch_size"], RECIPES["stf"]["train_batch_size"]) == (1, 16)
    assert not Config(model="stf").resolved().batch_per_process


# ---------------------------------------------------------------------------- 11.6: the evaluated checkpoint
def test_the_evaluation_notebook_points_at_best_pt():
    cells = json.loads((ROOT / "notebooks" / "03_evaluate.ipynb").read_text())["cells"]
    [parameters] = [c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    line = next(line for line in parameters["source"] if line.startswith("checkpoint ="))
    assert "best.pt" in line and "checkpoint.pt" not in line


def test_the_gpu_hour_estimate_from_counted_operations(tmp_path):
    from ndic import gpu_estimate

    table = tmp_path / "flops.csv"
    table.write_text("model,input,forward_gflop_per_image\nstf,256x256 crop,50.0\n")
    # 1000 steps x 16 images x 3 passes x 50 GFLOP = 2.4e15 FLOP; at 20 TFLOP/s: 120 s = 0.033 h
    assert gpu_estimate.forward_gflop("stf", table) == 50.0
    text = gpu_estimate.gpu_hours("stf", 1_000_000, 16, table)
    assert text.startswith("about 33 GPU-hours") and "assumed 20 TFLOP/s" in text
    assert gpu_estimate.gpu_hours("stf", 1_000_000, 1, table).startswith("at least 2 GPU-hours")
    assert gpu_estimate.gpu_hours("wacnn", 1000, 16, table) is None
