"""Every training run behind a paper's curve, as papermill commands.

``python -m ndic sweep --profile paper --model cross_attention --dataset kitti_stereo`` prints one
line per lambda of the paper (train, then real-bitstream evaluation of the checkpoint it wrote),
ready for a job array (``sed -n "${SLURM_ARRAY_TASK_ID}p" commands.txt | bash``); ``--run`` runs
them in turn here instead.

Lambdas are the papers' own: NDIC-CAM lists them per dataset in its README (MS-SSIM loss); STF and
WACNN use CompressAI's six MSE and six MS-SSIM lambdas (paper, Sec. 4.1).
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
from pathlib import Path

# NDIC-CAM README, "Lambda Values" (used with distortion_loss MS-SSIM)
NDIC_CAM_LAMBDAS = {
    "kitti_stereo": [3e-05, 4.5e-05, 6e-05, 0.00011, 0.00018, 0.00022, 0.0003],
    "kitti_general": [3e-05, 4.5e-05, 8e-05, 0.00011, 0.00016, 0.00022, 0.00032, 0.00042, 0.00046],
    "cityscape": [4.5e-05, 6e-05, 0.0001, 0.00016, 0.00022, 0.00032, 0.0004, 0.00044, 0.0005, 0.00062],
}
# STF/WACNN (Zou et al. 2022, Sec. 4.1), CompressAI's lambdas
STF_LAMBDAS = {
    "MSE": [0.0018, 0.0035, 0.0067, 0.0130, 0.0250, 0.0483],
    "MS-SSIM": [2.40, 4.58, 8.73, 16.64, 31.73, 60.50],
}
NDIC_CAM_MODELS = ("bls17", "bmshj18", "ndic_bls17", "ndic_bmshj18", "cross_attention")
STF_MODELS = ("wacnn", "cnn", "stf")


def paper_lambdas(model: str, dataset: str, distortion: str) -> list[float]:
    """The lambdas a paper trained ``model`` with on ``dataset`` for ``distortion``."""
    if model in NDIC_CAM_MODELS:
        if dataset not in NDIC_CAM_LAMBDAS:
            raise ValueError(f"NDIC-CAM gives lambdas for {sorted(NDIC_CAM_LAMBDAS)}, not {dataset!r}")
        if distortion != "MS-SSIM":
            raise ValueError("NDIC-CAM's published lambdas are for the MS-SSIM loss; pass --lambdas for MSE")
        return list(NDIC_CAM_LAMBDAS[dataset])
    if model in STF_MODELS:
        if distortion not in STF_LAMBDAS:
            raise ValueError(f"distortion must be one of {sorted(STF_LAMBDAS)}, got {distortion!r}")
        return list(STF_LAMBDAS[distortion])
    raise ValueError(f"no paper lambdas known for model {model!r}; pass --lambdas")


def commands(
    model: str,
    dataset: str,
    distortion: str,
    lambdas: list[float],
    profile: str = "paper",
    device: str = "cuda",
    out_dir: str = "runs",
    notebooks: str = "notebooks",
) -> list[str]:
    """One shell line per lambda: train with 02_train, then evaluate the checkpoint with 03_evaluate."""
    lines = []
    for lmbda in lambdas:
        run = Path(out_dir) / f"{model}_{dataset}_{distortion}_{lmbda:g}"
        train = [
            "papermill", f"{notebooks}/02_train.ipynb", str(run / "02_train.ipynb"),
            "-p", "model", model, "-p", "dataset", dataset, "-p", "lmbda", f"{lmbda:g}",
            "-p", "distortion", distortion, "-p", "profile", profile, "-p", "device", device,
            "-p", "out_dir", str(run),
        ]  # fmt: skip
        evaluate = [
            "papermill", f"{notebooks}/03_evaluate.ipynb", str(run / "03_evaluate.ipynb"),
            "-p", "checkpoint", str(run / "checkpoint.pt"), "-p", "dataset", dataset,
            "-p", "profile", profile, "-p", "device", device, "-p", "out_dir", str(run),
        ]  # fmt: skip
        lines.append(f"mkdir -p {shlex.quote(str(run))} && {shlex.join(train)} && {shlex.join(evaluate)}")
    return lines


def add_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    parser.add_argument("--model", required=True, help="registry name, e.g. cross_attention or stf")
    parser.add_argument("--dataset", required=True, help="e.g. kitti_stereo, cityscape, images")
    parser.add_argument("--distortion", default=None, help="MS-SSIM or MSE (default: NDIC-CAM MS-SSIM, STF MSE)")
    parser.add_argument("--profile", default="paper", choices=["paper", "quick"])
    parser.add_argument("--lambdas", default=None, help="comma-separated lambdas instead of the paper's")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--out-dir", default="runs")
    parser.add_argument("--run", action="store_true", help="run the commands here, one after another")


def run(args: argparse.Namespace, name: str) -> int:
    distortion = args.distortion or ("MS-SSIM" if args.model in NDIC_CAM_MODELS else "MSE")
    if args.lambdas:
        lambdas = [float(v) for v in args.lambdas.split(",")]
    else:
        lambdas = paper_lambdas(args.model, args.dataset, distortion)
    lines = commands(args.model, args.dataset, distortion, lambdas, args.profile, args.device, args.out_dir)
    if not args.run:
        print("\n".join(lines))
        return 0
    for i, line in enumerate(lines, 1):
        print(f"[{i}/{len(lines)}] {line}", flush=True)
        status = subprocess.run(line, shell=True).returncode
        if status:
            print(f"stopped: command {i} failed with exit status {status}", file=sys.stderr)
            return status
    return 0
