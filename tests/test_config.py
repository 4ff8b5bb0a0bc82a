# ruff: noqa: E501  (NDIC-CAM's README YAML is typed in verbatim, long comment lines included)
"""ndic.config: NDIC-CAM's YAML as it is, STF's flags, papermill strings, profiles, clear errors."""

import argparse
import re

import pytest
import torch

from conftest import deadline
from ndic.cli.config_args import config_from_args
from ndic.cli.train import add_arguments
from ndic.config import Config, ConfigError, known_keys, load_config

# The configuration blocks of NDIC-CAM's README (ipc-lab/NDIC-CAM, "Configurations"), typed in as printed,
# in order: Dataset, Model, Training, Weight parameters, Test.
README_DATASET = """\
dataset_name: 'KITTI_Stereo' # the name of the dataset. it can be either KITTI_Stereo, KITTI_General or Cityscape
dataset_path: '.' # for KITTI_Stereo or KITTI_General it's the txt files containing the real path of the images, and for Cityscape it's the path
                  # to the directory that contains leftImg8bit and rightImg8bit folders
resize: [128, 256]
"""
README_MODEL = """\
model: 'cross_attention' # acceptable values are: "bls17" for End-to-end Optimized Image Compression by Ballé, et al.,
                        #                        "bmshj18" for Variational image compression with a scale hyperprior by Ballé, et al.,
                        #                        "ndic_bls17" for NDIC model with Balle2017 baseline,
                        #                        "ndic_bmshj18" for NDIC model with Balle2018 baseline, and
                        #                        "cross_attention" for the Cross Attention model with Balle2017 baseline.
num_filters: 192 # number of filters used in the baseline model network
cuda: True
load_weight: False
weight_path: './pretrained_weights/model.pt' # weight path for loading
"""
README_TRAINING = """\
train: True
epochs: 50000
train_batch_size: 1
lr: 0.0001
lambda: 0.00003 # the lambda value in rate-distortion equation
alpha: 0
beta: 0
distortion_loss: 'MS-SSIM' # can be MS-SSIM or MSE. selects the method by which the distortion is calculated during training
verbose_period: 50 # non-positive value indicates no verbose
"""
# printed in the README with a stray closing quote: "experiment_name: '...:3e-05''"
README_WEIGHTS_AS_PRINTED = """\
save_weights: True
save_output_path: './outputs' # path where results and weights will be saved
experiment_name: 'cross_attention_MS-SSIM_lambda:3e-05''
"""
README_TEST = """\
test: True
save_image: True
experiment_name: 'cross_attention_MS-SSIM_lambda:3e-05'
"""
# the README's "Inference" changes
README_INFERENCE = """\
resize: [128, 256] # we used this crop size for our inference
dataset_path: '.'
train: False
load_weight: True
test: True
save_output_path: './inference'
save_image: True
weight_path: './pretrained_weights/...'  # load a specified pre-trained weight
experiment_name: '...' # a handle for the saved results of the inference
"""


def readme_yaml(weights_block: str) -> str:
    return README_DATASET + "\n" + README_MODEL + "\n" + README_TRAINING + "\n" + weights_block + "\n" + README_TEST


def test_ndic_cam_readme_yaml_is_accepted(tmp_path):
    fixed = README_WEIGHTS_AS_PRINTED.replace("3e-05''", "3e-05'")
    path = tmp_path / "config.yaml"
    path.write_text(readme_yaml(fixed))
    config = load_config(path)
    assert config.model == "cross_attention" and config.num_filters == 192
    assert config.lmbda == pytest.approx(3e-5) and config.lr == pytest.approx(1e-4)
    assert (config.epochs, config.train_batch_size, config.verbose_period) == (50000, 1, 50)
    assert config.distortion_loss == "MS-SSIM" and config.resize == [128, 256]
    assert config.cuda is True and config.train and config.test and config.save_image and config.save_weights
    assert config.experiment_name == "cross_attention_MS-SSIM_lambda:3e-05"
    resolved = config.resolved()
    assert resolved.dataset_name == "kitti_stereo" and resolved.dataset_path == "."
    assert resolved.model_kwargs() == {"num_filters": 192, "image_size": [128, 256]}
    assert resolved.recipe == "ndic_cam" and resolved.msssim_scale == 255**2 and resolved.msssim_win_size == 7
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="cuda: True"):
            resolved.resolve_device()


def test_readme_yaml_trains_until_the_data_is_missing_and_names_the_fix(tmp_path):
    from ndic.data import DatasetNotFoundError
    from ndic.train import Trainer

    path = tmp_path / "config.yaml"
    path.write_text(readme_yaml(README_WEIGHTS_AS_PRINTED.replace("3e-05''", "3e-05'")))
    config = load_config(path, cuda=False, dataset_path=str(tmp_path / "kitti"), save_output_path=str(tmp_path))
    with pytest.raises(DatasetNotFoundError, match="data_prep"):
        Trainer(config)


def test_readme_yaml_as_printed_gives_the_line_of_its_typo(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(readme_yaml(README_WEIGHTS_AS_PRINTED))
    with pytest.raises(ConfigError, match=r"not valid YAML at line \d+"):
        load_config(path)


def test_readme_inference_settings(tmp_path):
    path = tmp_path / "inference.yaml"
    path.write_text(README_INFERENCE)
    config = load_config(path, model="bls17")
    assert not config.train and config.load_weight and config.test
    assert config.weight_path == "./pretrained_weights/..." and config.save_output_path == "./inference"


def test_unknown_key_is_named_with_the_known_ones():
    with pytest.raises(ConfigError) as error:
        Config.from_dict({"lamda": 0.1})
    message = str(error.value)
    assert "'lamda'" in message and "did you mean 'lambda'" in message
    for key in ("dataset_name", "train_batch_size", "save_output_path", "lambda", "learning_rate"):
        assert key in message
    assert "dataset_name" in known_keys()


def test_papermill_strings_and_aliases_are_coerced():
    config = Config.from_dict(
        {"lambda": "3e-05", "batch_size": "8", "amp": "true", "dataset": "Cityscape", "size": "[64, 128]"}
    )
    assert config.lmbda == 3e-5 and config.train_batch_size == 8 and config.amp is True
    assert config.resize == [64, 128]
    assert config.resolved().dataset_name == "cityscape"
    with pytest.raises(ConfigError, match="train_batch_size must be a whole number, got 'eight'"):
        Config(train_batch_size="eight")
    with pytest.raises(ConfigError, match="twice"):
        Config.from_dict({"lambda": 0.1, "lmbda": 0.2})
    with pytest.raises(ConfigError, match="distortion_loss"):
        Config(distortion_loss="SSIM")


def test_paper_profiles_follow_each_papers_recipe():
    ndic_cam = Config(model="cross_attention").resolved()
    assert (ndic_cam.lr, ndic_cam.amsgrad, ndic_cam.clip_max_norm) == (1e-4, True, 0.0)
    assert (ndic_cam.lr_factor, ndic_cam.lr_patience, ndic_cam.min_lr) == (0.1, 10, 1e-7)
    assert (ndic_cam.train_batch_size, ndic_cam.epochs, ndic_cam.lmbda) == (1, 50000, 3e-5)
    assert ndic_cam.dataset_name == "kitti_stereo" and ndic_cam.val_split == "val"
    stf = Config(model="stf").resolved()
    assert (stf.lr, stf.aux_lr, stf.clip_max_norm, stf.amsgrad) == (1e-4, 1e-3, 1.0, False)
    assert (stf.lr_factor, stf.lr_patience, stf.train_batch_size, stf.crop) == (0.3, 4, 16, 256)
    assert stf.distortion_loss == "MSE" and stf.msssim_scale == 1.0 and stf.recipe == "stf"
    assert stf.experiment_name == "stf_images_MSE_lambda0.0035"


def test_quick_profile_and_explicit_values():
    quick = Config(model="wacnn", profile="quick").resolved()
    assert quick.dataset_name == "default" and quick.steps is not None and quick.model_config["N"] < 192
    # an explicit value beats the profile; an explicit recipe swaps the optimisation settings only
    mine = Config(model="bls17", profile="quick", num_filters=16, lr=5e-4, recipe="stf").resolved()
    assert mine.num_filters == 16 and mine.lr == 5e-4 and mine.clip_max_norm == 1.0 and mine.dataset_name == "default"
    with pytest.raises(ConfigError, match="profile"):
        Config(profile="fast").resolved()


def test_cli_flags_stf_spellings_and_yaml_precedence(tmp_path):
    parser = argparse.ArgumentParser()
    add_arguments(parser, "train")
    path = tmp_path / "c.yaml"
    path.write_text("model: stf\nlambda: 0.0067\nepochs: 5\n")
    args = parser.parse_args(
        ["--config", str(path), "-e", "7", "--learning-rate", "2e-4", "--batch-size", "8", "--patch-size", "192",
         "192", "--aux-learning-rate", "1e-3", "--cuda", "false", "--model-config", "depths=[1,1,1,1]",
         "--clip_max_norm", "0.5", "--resume"]
    )  # fmt: skip
    config = config_from_args(args)
    assert config.model == "stf" and config.lmbda == 0.0067  # from the YAML
    assert (config.epochs, config.lr, config.train_batch_size, config.crop) == (7, 2e-4, 8, 192)
    assert config.cuda is False and config.clip_max_norm == 0.5 and config.resume is True
    assert config.model_config == {"depths": [1, 1, 1, 1]}
    with pytest.raises(SystemExit):
        parser.parse_args(["--lamda", "1"])


def test_an_image_folder_as_dataset_is_stf_style(tmp_path):
    config = Config(model="stf", dataset_name=str(tmp_path)).resolved()
    assert config.dataset_name == "images" and config.dataset_path == str(tmp_path)


# ---------------------------------------------------------------------------- values refused in words
@pytest.mark.parametrize(
    ("values", "words"),
    [
        ({"crop": 0}, "crop must be a positive size"),
        ({"crop": [256, -1]}, "crop must be a positive size"),
        ({"checkpoint_every": -1}, "checkpoint_every must be 0 (only at the end of each epoch) or positive"),
        ({"val_every": -3}, "val_every must be 0 (only at the end of each epoch) or positive"),
        ({"lr": float("inf")}, "lr must be a finite positive number, got inf"),
        ({"aux_lr": float("nan")}, "aux_lr must be a finite positive number, got nan"),
        ({"alpha": float("nan")}, "alpha must be a finite non-negative number, got nan"),
        ({"beta": -1}, "beta must be a finite non-negative number, got -1"),
        ({"lambda": float("-inf")}, "lambda (lmbda) must be a finite positive number, got -inf"),
        ({"clip_max_norm": float("inf")}, "clip_max_norm must be a finite number, 0 (no clipping) or positive"),
    ],
)
def test_values_that_cannot_work_are_refused_in_words(values, words):
    with pytest.raises(ConfigError) as error:
        Config.from_dict(dict(values, model="bls17")).resolved()
    assert words in str(error.value)


def test_yaml_values_are_checked_where_they_are_written(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("lr: .inf\n")
    with pytest.raises(ConfigError, match="lr must be a finite positive number, got inf"):
        load_config(path).resolved()
    path.write_text("lr: [1e-4]\n")  # a list where a number belongs: the file and the key are named
    with pytest.raises(ConfigError, match=re.escape(f"{path}: lr must be a number, got ['1e-4']")):
        load_config(path)
    with pytest.raises(ConfigError, match=r"^the command line: lambda must be a number, got 'abc'$"):
        Config.from_dict({"lambda": "abc"}, "the command line")


# ---------------------------------------------------------------------------- YAML alias bombs
BILLION_LAUGHS = "model_config:\n  a0: &a0 [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"  a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 10)
)


def test_a_yaml_alias_bomb_is_refused_before_it_expands(tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text(BILLION_LAUGHS)  # 9**10 values once its aliases are expanded: hours and gigabytes
    with deadline(20), pytest.raises(ConfigError, match=r"expands through its aliases .* more than 100000 values"):
        load_config(path).to_dict()  # to_dict copies every value, as writing the run's config.yaml does
    path.write_text("model_config: &loop {depths: *loop}\n")
    with pytest.raises(ConfigError, match="refers to itself"):
        load_config(path)


def test_yaml_aliases_of_reasonable_size_still_work(tmp_path):
    path = tmp_path / "anchors.yaml"
    path.write_text("resize: &size [64, 128]\nmodel_config: {image_size: *size}\n")
    config = load_config(path)
    assert config.resize == [64, 128] and config.model_config == {"image_size": [64, 128]}


def test_default_run_folder_is_under_the_checkouts_runs():
    from ndic.paths import RUNS, project_root

    config = Config(model="bls17", profile="quick").resolved()
    assert config.out_dir == project_root() / RUNS / config.experiment_name
    assert Config(model="bls17", save_output_path="elsewhere").resolved().out_dir.name == "elsewhere"
