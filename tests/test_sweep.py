"""The sweep writes one runnable papermill line per paper lambda."""

import shlex
import subprocess
import sys

import pytest

from ndic import sweep


def test_ndic_cam_kitti_stereo_lambdas_are_the_readme_list():
    lines = sweep.commands(
        "cross_attention", "kitti_stereo", "MS-SSIM", sweep.paper_lambdas("cross_attention", "kitti_stereo", "MS-SSIM")
    )
    assert len(lines) == 7
    first = shlex.split(lines[0].split("&&")[1])
    assert first[:2] == ["papermill", "notebooks/02_train.ipynb"]
    params = {first[i + 1]: first[i + 2] for i, token in enumerate(first) if token == "-p"}
    assert params["lmbda"] == "3e-05" and params["model"] == "cross_attention"
    # evaluation reads the checkpoint the training run writes
    evaluate = shlex.split(lines[0].split("&&")[2])
    assert evaluate[evaluate.index("checkpoint") + 1].endswith(
        "cross_attention_kitti_stereo_MS-SSIM_3e-05/checkpoint.pt"
    )


def test_stf_uses_compressai_lambdas():
    assert sweep.paper_lambdas("stf", "images", "MSE") == [0.0018, 0.0035, 0.0067, 0.0130, 0.0250, 0.0483]


@pytest.mark.parametrize(
    "args, message",
    [
        (("cross_attention", "kodak", "MS-SSIM"), "NDIC-CAM gives lambdas"),
        (("cross_attention", "kitti_stereo", "MSE"), "MS-SSIM loss"),
        (("wacnn", "images", "L1"), "distortion must be one of"),
        (("unknown", "images", "MSE"), "pass --lambdas"),
    ],
)
def test_unknown_combinations_explain_themselves(args, message):
    with pytest.raises(ValueError, match=message):
        sweep.paper_lambdas(*args)


def test_cli_prints_one_line_per_lambda():
    out = subprocess.run(
        [sys.executable, "-m", "ndic", "sweep", "--model", "stf", "--dataset", "images", "--lambdas", "0.01,0.02"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert len(out) == 2 and "-p lmbda 0.01 " in out[0] and "-p lmbda 0.02 " in out[1]
