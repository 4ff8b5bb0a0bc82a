"""The sweep: one checked, runnable command per paper lambda, its cost comments, and the SLURM job array."""

import csv
import math
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from ndic import data, sweep
from ndic.cli.config_args import add_config_arguments, config_from_args
from ndic.config import Config
from ndic.recipes import FINETUNE

PAPERMILL = Path(sys.executable).parent / "papermill"


def params(tokens: list[str]) -> dict[str, str]:
    return {tokens[i + 1]: tokens[i + 2] for i, token in enumerate(tokens) if token == "-p"}


def parts(line: str) -> list[list[str]]:
    """The commands of one sweep line, tokenised."""
    return [shlex.split(part) for part in line.split(" && ")]


def cli(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ndic", "sweep", *args], capture_output=True, text=True, cwd=cwd)


def test_ndic_cam_kitti_stereo_lambdas_are_the_readme_list():
    lines = sweep.commands(
        "cross_attention", "kitti_stereo", "MS-SSIM", sweep.paper_lambdas("cross_attention", "kitti_stereo", "MS-SSIM")
    )
    assert len(lines) == 7
    train = parts(lines[0])[1]
    assert train[1] == "notebooks/02_train.ipynb"
    assert params(train)["lmbda"] == "3e-05" and params(train)["model"] == "cross_attention"


def test_commands_run_this_environments_papermill_and_evaluate_best_pt():
    train, evaluate = parts(sweep.commands("stf", "images", "MSE", [0.0035])[0])[1:]
    expected = [str(PAPERMILL)] if PAPERMILL.is_file() else [sys.executable, "-m", "papermill"]
    assert train[: len(expected)] == expected and evaluate[: len(expected)] == expected
    # the weights with the lowest validation loss, as both originals keep (not the last checkpoint.pt)
    assert params(evaluate)["checkpoint"] == "runs/stf_images_MSE_0.0035/best.pt"
    assert params(evaluate)["out_dir"] == params(train)["out_dir"] == "runs/stf_images_MSE_0.0035"


def test_stf_uses_compressai_lambdas():
    assert sweep.paper_lambdas("stf", "images", "MSE") == [0.0018, 0.0035, 0.0067, 0.0130, 0.0250, 0.0483]


@pytest.mark.parametrize(
    "args, message",
    [
        (("cross_attention", "kodak", "MS-SSIM"), "gives MS-SSIM lambdas for cityscape, kitti_general"),
        (("cross_attention", "kitti_stereo", "MSE"), "without naming the distortion .* give --lambdas"),
        (("wacnn", "images", "L1"), "gives no L1 lambdas"),
        (("unknown", "images", "MSE"), "unknown model 'unknown'"),
    ],
)
def test_unknown_combinations_explain_themselves(args, message):
    with pytest.raises((ValueError, KeyError), match=message):
        sweep.paper_lambdas(*args)


@pytest.mark.parametrize("dataset", sweep.EVALUATION_ONLY)
def test_evaluation_sets_are_refused_with_the_fix(dataset):
    with pytest.raises(ValueError, match=f"{dataset} has no training split.*evaluate the checkpoint on {dataset}"):
        sweep.plan("stf", dataset, "MSE", [0.01])
    # the list agrees with ndic.data: these sets have only a test split
    with pytest.raises(ValueError, match="only split is 'test'"):
        data.load(dataset, "train")


@pytest.mark.parametrize(
    "args, message",
    [
        (("stf", "images", "MSE", [0.01, -0.02]), r"positive numbers, got \[-0.02\]"),
        (("stf", "images", "MSE", [0.0, float("nan")]), "positive numbers"),
        (("stf", "images", "L1", [0.01]), "distortion must be one of MSE, MS-SSIM"),
        (("stf", "no_such_set", "MSE", [0.01]), "unknown dataset 'no_such_set'; datasets to train on: cityscape"),
        (("cross_attention", "images", "MS-SSIM", [0.01]), "distributed model and trains on stereo pairs"),
    ],
)
def test_every_run_is_checked_before_anything_is_written(args, message):
    with pytest.raises(ValueError, match=message):
        sweep.commands(*args)


def test_data_root_reaches_both_notebooks():
    train, evaluate = parts(sweep.commands("wacnn", "images", "MSE", [0.0067], data_root="/data/openimages")[0])[1:]
    assert params(train)["root"] == params(evaluate)["root"] == "/data/openimages"


def test_ndic_cam_mse_sweep_takes_the_given_lambdas():
    lines = sweep.commands("bls17", "kitti_stereo", "MSE", [0.0018, 0.0067])
    assert [params(parts(line)[1])["distortion"] for line in lines] == ["MSE", "MSE"]
    assert [params(parts(line)[1])["lmbda"] for line in lines] == ["0.0018", "0.0067"]


def test_multi_gpu_nodes_train_with_torchrun_on_a_split_batch():
    line = sweep.commands("stf", "images", "MSE", [0.0035], gpus=4)[0]
    train = parts(line)[1]
    assert "--nproc_per_node=4" in train and train[train.index("-m") + 1 : train.index("-m") + 3] == ["ndic", "train"]
    config = _parsed_config(train)  # the flags the line gives make the run the sweep describes
    assert (config.model, config.lmbda, config.save_output_path) == ("stf", 0.0035, "runs/stf_images_MSE_0.0035")
    with pytest.raises(ValueError, match="global batch of 16, which does not split over 3 GPUs; use --gpus-per-node 1"):
        sweep.plan("stf", "images", "MSE", [0.0035], gpus=3)
    with pytest.raises(ValueError, match="global batch of 1"):
        sweep.plan("cross_attention", "kitti_stereo", "MS-SSIM", None, gpus=2)


def _parsed_config(tokens: list[str]) -> Config:
    """The configuration ``python -m ndic train`` builds from a command's flags."""
    import argparse

    parser = argparse.ArgumentParser()
    add_config_arguments(parser)
    return config_from_args(parser.parse_args(tokens[tokens.index("train") + 1 :])).resolved()


def test_finetune_chains_the_mse_run_and_compressai_fine_tuning():
    lines = sweep.commands("wacnn", "images", "MS-SSIM", None, finetune=True)
    assert len(lines) == 6
    mkdir, mkdir_mse, train_mse, finetune, evaluate = parts(lines[1])
    # the MSE run of the same quality (CompressAI's second lambdas: 0.0035 and 4.58), resumed when it exists
    assert params(train_mse)["lmbda"] == "0.0035" and params(train_mse)["distortion"] == "MSE"
    assert params(train_mse)["resume"] == "True" and mkdir_mse[-1] == params(train_mse)["out_dir"]
    config = _parsed_config(finetune)
    assert config.load_weight and config.weight_path == "runs/wacnn_images_MSE_0.0035/best.pt"
    assert (config.distortion_loss, config.lmbda, config.lr, config.aux_lr) == ("MS-SSIM", 4.58, 1e-5, 1e-5)
    assert config.steps == FINETUNE["steps"] and not config.lr_drop_at
    assert params(evaluate)["checkpoint"] == f"{config.save_output_path}/best.pt" != config.weight_path
    with pytest.raises(ValueError, match="--finetune is CompressAI's recipe for MS-SSIM models"):
        sweep.plan("wacnn", "images", "MSE", None, finetune=True)
    with pytest.raises(ValueError, match="2 MS-SSIM lambdas but 6 MSE lambdas"):
        sweep.plan("wacnn", "images", "MS-SSIM", [2.4, 4.58], finetune=True)


def test_step_time_prefers_a_gpu_measurement(tmp_path):
    columns = ["model", "device", "amp", "channels_last", "batch", "step_s", "profile", "gpu", "cpu", "cpu_cores",
               "threads", "date"]  # fmt: skip
    rows = [
        ["stf", "cpu", "fp32", "False", "16", "34.1", "paper", "", "x86_64", "2", "2", "2026-11-22T10:00"],
        ["stf", "cuda:0", "bf16", "False", "16", "0.2", "paper", "NVIDIA H200", "x86_64", "16", "16", "2026-11-23"],
        ["stf", "cuda:0", "fp32", "False", "16", "0.4", "paper", "NVIDIA H200", "x86_64", "16", "16", "2026-11-23"],
        ["stf", "cuda:0", "fp32", "False", "8", "0.1", "paper", "NVIDIA H200", "x86_64", "16", "16", "2026-11-23"],
    ]
    path = tmp_path / "train.csv"
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows([columns, *rows])
    measured = sweep.measured_step_time("stf", 16, path)
    assert measured.gpu and measured.seconds == 0.4 and "NVIDIA H200" in measured.source  # fp32 at batch 16
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows([columns, rows[0]])
    measured = sweep.measured_step_time("stf", 16, path)
    assert not measured.gpu and measured.seconds == 34.1 and "2-core x86_64 CPU" in measured.source
    assert sweep.measured_step_time("wacnn", 16, path) is None
    assert sweep.measured_step_time("stf", 16, tmp_path / "absent.csv") is None


def test_paper_profile_prints_steps_rule_checkpoint_and_gpu_hours_before_each_command(tmp_path):
    result = cli("--model", "cross_attention", "--dataset", "kitti_stereo", "--seconds-per-step", "0.05",
                 "--measured-on", "an A100", "--gpus-per-node", "1")  # fmt: skip
    assert result.returncode == 0, result.stderr
    out = result.stdout.splitlines()
    commands = [line for line in out if not line.startswith("#")]
    assert len(commands) == 7 and len(out) == 7 * 6  # five comment lines before each command
    resolved = Config(model="cross_attention", profile="paper").resolved()
    first = "\n".join(out[:5])
    assert f"at most {resolved.steps:,} steps of a global batch of 1" in first
    assert f"stop after {resolved.stop_patience} epochs without a new best validation loss at min_lr" in first
    assert "# evaluated: runs/cross_attention_kitti_stereo_MS-SSIM_3e-05/best.pt" in first
    hours = resolved.steps * 0.05 / 3600
    assert (
        f"# estimated GPU-hours: at most {hours:,.1f} ({resolved.steps:,} steps x 0.05 s/step measured on an A100"
        in first
    )
    script = tmp_path / "sweep.sh"
    script.write_text(result.stdout)
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0  # still a runnable script


def test_stf_paper_profile_states_the_authors_budget():
    [comments] = [
        sweep.describe(run, sweep.Options(), 1, 1, None) for run in sweep.plan("stf", "images", "MSE", [0.0035])
    ]
    text = "\n".join(comments)
    assert "1,800,000 steps of a global batch of 16" in text and "Googolxx/STF issues #3 and #27" in text
    assert "until step 1,440,000, then 1e-05" in text
    assert "estimated GPU-hours: unknown" in text


def test_cli_refuses_a_training_job_on_an_evaluation_set_in_one_line():
    result = cli("--model", "stf", "--dataset", "kodak")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "kodak has no training split" in result.stderr


def test_cli_prints_one_command_per_lambda():
    result = cli("--model", "stf", "--dataset", "images", "--lambdas", "0.01,0.02", "--profile", "quick")
    out = result.stdout.splitlines()
    assert len(out) == 2 and "-p lmbda 0.01 " in out[0] and "-p lmbda 0.02 " in out[1]


def test_slurm_script_is_a_resumable_job_array(tmp_path):
    script = tmp_path / "sweep.sbatch"
    result = cli("--model", "stf", "--dataset", "images", "--gpus-per-node", "2", "--slurm", str(script),
                 "--out-dir", str(tmp_path / "runs"), "--sbatch=--partition=gpu", cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    text = script.read_text()
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    directives = [line for line in text.splitlines() if line.startswith("#SBATCH")]
    assert "#SBATCH --array=0-5" in directives and "#SBATCH --gpus-per-node=2" in directives
    assert f"#SBATCH --chdir={tmp_path}" in directives and "#SBATCH --partition=gpu" in directives
    assert f"#SBATCH --output={tmp_path / 'runs' / 'slurm'}/%x_%A_%a.out" in directives
    assert (tmp_path / "runs" / "slurm").is_dir()  # sbatch needs the log folder to exist
    tasks = [line.strip() for line in text.splitlines() if re.match(r"\s+\d+\) ", line)]
    assert len(tasks) == 6
    for task, lmbda in zip(tasks, sweep.paper_lambdas("stf", "images", "MSE"), strict=True):
        train = parts(task.split(") ", 1)[1].removesuffix(" ;;"))[1]
        assert "--nproc_per_node=2" in train and train[train.index("--resume") + 1] == "true"
        assert math.isclose(float(train[train.index("--lambda") + 1]), lmbda)
