"""``python -m ndic sweep``: the commands (train, then evaluate ``best.pt``) for every lambda of a paper.

Prints a runnable script (comments ``# ...`` before each command in the paper profile), writes it as a
SLURM job array (``--slurm FILE``) or runs it here (``--run``). Every run is checked before anything
is printed: model, dataset (with a training split), distortion, lambdas, GPUs per node.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from .. import models
from ..io import atomic_write_text
from ..recipes import RECIPES
from ..sweep import Options, StepTime, command, describe, measured_step_time, plan, slurm_script


def add_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    parser.add_argument("--model", default=None, help="registry name, e.g. cross_attention or stf")
    parser.add_argument(
        "--dataset", default=None, help="a dataset with a training split: kitti_stereo, cityscape, images, ..."
    )
    parser.add_argument("--distortion", default=None, help="MS-SSIM or MSE (default: NDIC-CAM MS-SSIM, STF MSE)")
    parser.add_argument(
        "--profile",
        default="paper",
        choices=["paper", "cpu", "quick"],
        help="cpu: the CPU-scale reproduction of both papers (its own plan; --model selects some of its models)",
    )
    parser.add_argument(
        "--lambdas",
        default=None,
        help="comma-separated lambdas instead of the paper's (--profile cpu: the plan's lambdas to run)",
    )
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--out-dir", default="runs", help="training folders (--profile cpu: <out-dir>/cpu/<job>)")
    parser.add_argument(
        "--data-root",
        default=None,
        help="the dataset's folder (default: $NDIC_DATA/<dataset>; --profile cpu: the folder holding the test "
        "sets, default ../shared/data)",
    )
    parser.add_argument(
        "--gpus-per-node",
        type=int,
        default=1,
        help="GPUs per run: more than 1 trains with torchrun, the global batch split over them",
    )
    parser.add_argument("--resume", action="store_true", help="continue each run from its checkpoint.pt")
    parser.add_argument(
        "--finetune",
        action="store_true",
        help="MS-SSIM models of STF/WACNN as CompressAI: fine-tune the MSE model of the same "
        "quality at lr 1e-5 (trained first when its run is not finished)",
    )
    parser.add_argument("--mse-lambdas", default=None, help="with --finetune and --lambdas: the MSE lambdas, in order")
    parser.add_argument(
        "--seconds-per-step",
        type=float,
        default=None,
        help="seconds per training step measured on your GPU, for the GPU-hour estimate",
    )
    parser.add_argument("--measured-on", default="your GPU", help="the GPU --seconds-per-step was measured on")
    parser.add_argument("--slurm", metavar="FILE", default=None, help="write an sbatch job array script instead")
    parser.add_argument(
        "--sbatch",
        action="append",
        default=[],
        metavar="OPTION",
        help="an extra #SBATCH line for --slurm, e.g. --sbatch=--partition=gpu (repeatable)",
    )
    parser.add_argument("--run", action="store_true", help="run the commands here, one after another")
    parser.add_argument(
        "--results-dir",
        default=None,
        help="--profile cpu: write the results here instead of results/cpu; a --run then compares them with "
        "the committed ones (the reproduction check: give a fresh --out-dir too, or the finished runs are reused)",
    )


def run(args: argparse.Namespace, name: str) -> int:
    if args.profile == "cpu":
        return _cpu(args)
    if args.results_dir:
        raise ValueError("--results-dir is the CPU-scale reproduction's (--profile cpu); the paper profile's "
                         "evaluations write next to each run (--out-dir)")  # fmt: skip
    if args.model is None or args.dataset is None:
        raise ValueError("sweep needs --model and --dataset (or --profile cpu, the CPU-scale reproduction's plan)")
    cls = models.get(args.model)
    distortion = _distortion(args.distortion or cls.paper_distortion)
    runs = plan(args.model, args.dataset, distortion, _floats(args.lambdas, "--lambdas"), gpus=args.gpus_per_node,
                finetune=args.finetune, mse_lambdas=_floats(args.mse_lambdas, "--mse-lambdas"))  # fmt: skip
    opts = Options(args.profile, args.device, args.out_dir, "notebooks", args.data_root, args.gpus_per_node,
                   args.resume or bool(args.slurm))  # fmt: skip
    lines = [command(r, opts) for r in runs]
    comments = [[] for _ in runs]
    if args.profile == "paper":
        timing = _timing(args, RECIPES[cls.recipe]["train_batch_size"])
        comments = [describe(r, opts, i, len(runs), timing) for i, r in enumerate(runs, 1)]
    if args.slurm:
        return _write_slurm(args, cls, f"ndic_{args.model}_{args.dataset}_{distortion}", lines, comments)
    if not args.run:
        print("\n".join(text for c, line in zip(comments, lines, strict=True) for text in (*c, line)))
        return 0
    for i, line in enumerate(lines, 1):
        print("\n".join(comments[i - 1] + [f"[{i}/{len(lines)}] {line}"]), flush=True)
        status = subprocess.run(line, shell=True).returncode
        if status:
            print(f"stopped: command {i} failed with exit status {status}", file=sys.stderr)
            return status
    return 0


def _write_slurm(args: argparse.Namespace, cls, job_name: str, lines: list[str], comments: list[list[str]]) -> int:
    log_dir = Path(args.out_dir) / "slurm"
    log_dir.mkdir(parents=True, exist_ok=True)  # sbatch does not create the folder of its logs
    gpus = args.gpus_per_node if args.device.startswith("cuda") else 0
    cpus = (RECIPES[cls.recipe]["workers"] + 1) * max(gpus, 1)  # the data loader's workers and the trainer
    script = slurm_script(lines, job_name=job_name, workdir=Path.cwd(), log_dir=log_dir, gpus=gpus, cpus=cpus,
                          comments=comments, sbatch_options=tuple(args.sbatch))  # fmt: skip
    atomic_write_text(args.slurm, script)
    print(f"wrote {args.slurm}: {len(lines)} array tasks, logs in {log_dir}/; submit with: sbatch {args.slurm}")
    return 0


def _timing(args: argparse.Namespace, batch: int) -> StepTime | None:
    if args.seconds_per_step is not None:
        if not args.seconds_per_step > 0:
            raise ValueError(f"--seconds-per-step must be positive, got {args.seconds_per_step}")
        return StepTime(args.seconds_per_step, f"{args.measured_on} (--seconds-per-step)", True)
    return measured_step_time(args.model, batch)


def _distortion(value: str) -> str:
    from ..config import Config

    return Config(distortion_loss=value).distortion_loss  # ConfigError naming MSE and MS-SSIM


def _floats(text: str | None, flag: str) -> list[float] | None:
    if not text:
        return None
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ValueError(f"{flag} takes comma-separated numbers, e.g. 0.0018,0.0035; got {text!r}") from None


def _cpu(args: argparse.Namespace) -> int:
    """The CPU-scale reproduction (:mod:`ndic.cpu_reproduction`): print its commands, or run them; with
    ``--results-dir`` elsewhere than the committed results, a rerun compared with them afterwards."""
    from .. import cpu_reproduction as cpu

    if args.dataset or args.slurm:
        raise ValueError("--profile cpu runs its own plan: drop --dataset and --slurm (--model and --lambdas select)")
    selected = cpu.jobs(tuple(args.model.split(",")) if args.model else None)
    if args.lambdas:
        wanted = _floats(args.lambdas, "--lambdas")
        same = lambda job, value: abs(job.lmbda / value - 1) < 1e-9  # noqa: E731
        unknown = [value for value in wanted if not any(same(job, value) for job in selected)]
        if unknown:
            known = ", ".join(sorted({f"{job.lmbda:g}" for job in selected}))
            missing = ", ".join(f"{value:g}" for value in unknown)
            raise ValueError(f"--lambdas: {missing} not in the cpu plan; the lambdas of these models are {known}")
        selected = [job for job in selected if any(same(job, value) for value in wanted)]
    data = Path(args.data_root) if args.data_root else cpu.DATA
    runs = Path(args.out_dir) / "cpu"
    results = Path(args.results_dir) if args.results_dir else cpu.RESULTS
    rerun = results.resolve() != cpu.RESULTS.resolve()
    if args.run and rerun and runs.resolve() == cpu.RUNS.resolve():
        raise ValueError(
            "a reproduction check trains again: give a fresh --out-dir (e.g. runs/recheck), or the finished runs "
            "of runs/cpu would only be evaluated again"
        )
    if args.run:
        status = cpu.run(selected, runs, results, data, checkpoints=None if rerun else cpu.CHECKPOINTS)
        if status or not rerun:
            return status
        from .. import cpu_results

        check = cpu_results.reproduction_check(selected, results)
        if check.empty:
            print(f"nothing to compare: {cpu.RESULTS} holds no committed result of these jobs")
            return 0
        print(check.round(4).to_string(index=False))
        verdict = "reproduced" if check["reproduced"].all() else "NOT reproduced"
        bounds = f"{100 * cpu_results.REPRODUCED_BPP:g} % bpp and {cpu_results.REPRODUCED_DB:g} dB"
        print(f"{verdict}: within {bounds} of the committed results")
        for path in cpu_results.write_reproduction_check(check, results):
            print(f"recorded in {path}")
        return 0 if check["reproduced"].all() else 1
    for test, line in cpu.reference_commands(data, tests=cpu.reference_tests(selected)).items():
        print(f"# JPEG and BPG on {test}" + (" (results present)" if cpu.references_done(test) else ""))
        print(line)
    for job in cpu.with_bases(selected, runs, results):
        print(f"# {job.name}" + (" (results present)" if cpu.done(job, results) else ""))
        print("\n".join(cpu.commands(job, runs, results, data)))
    return 0
