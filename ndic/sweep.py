"""Every training run behind a paper's curve, as shell commands, checked before they are written.

``python -m ndic sweep --profile paper --model cross_attention --dataset kitti_stereo`` prints one
command per lambda of the paper: train (``notebooks/02_train.ipynb`` through papermill, or ``torchrun
-m ndic train`` on a multi-GPU node), then evaluate on real bitstreams the run's ``best.pt``, the
weights with the lowest validation loss, which both originals keep. In the paper profile, comment
lines before each command say how many steps it trains, when it stops, what it evaluates and about
how long it takes (:func:`describe`). ``--slurm FILE`` writes the same commands as a job array
(:func:`slurm_script`), ``--run`` runs them here one after another.

Data flow: :func:`plan` checks the request and makes one :class:`Run` per lambda; :func:`command`
turns a run into a shell line, :func:`describe` into comments; the CLI prints them or writes the script.

Lambdas are the papers' own, declared by each model (``paper_lambdas``, :mod:`ndic.models.base`):
NDIC-CAM's README lists them per dataset without naming the distortion (its configuration trains with
MS-SSIM, so they are taken as MS-SSIM lambdas; an MSE sweep gives its own); STF and WACNN use
CompressAI's six MSE and six MS-SSIM lambdas. ``finetune`` trains an MS-SSIM model as CompressAI
does, from the MSE model of the same quality at lr 1e-5 (:data:`ndic.recipes.FINETUNE`).
"""

from __future__ import annotations

import csv
import math
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

from .recipes import DISTORTIONS, FINETUNE, RECIPES

# ndic.data sets that have no training split (evaluation only), and those that give stereo pairs to train on
EVALUATION_ONLY = ("kodak", "middlebury", "clic_professional", "tecnick")
PAIR_TRAINING_SETS = ("kitti_stereo", "kitti_general", "cityscape", "stereo_train", "default")
STEP_TIMES = Path("benchmarks") / "results" / "train.csv"  # bench_train.py's measurements, in the checkout


@dataclass(frozen=True)
class Run:
    """One training run of a sweep; ``finetune_from``: the MSE lambda whose run it starts from."""

    model: str
    dataset: str
    distortion: str
    lmbda: float
    finetune_from: float | None = None

    def folder(self, out_dir: str | Path) -> Path:
        name = f"{self.model}_{self.dataset}_{self.distortion}_{self.lmbda:g}"
        return Path(out_dir) / (name + ("_finetuned" if self.finetune_from is not None else ""))

    def mse_run(self) -> Run:
        """The MSE run a fine-tuned run starts from."""
        return Run(self.model, self.dataset, "MSE", self.finetune_from)


def paper_lambdas(model: str, dataset: str, distortion: str | None = None) -> list[float]:
    """The lambdas a paper trained ``model`` with on ``dataset`` for ``distortion`` (the model declares them)."""
    from . import models

    cls = models.get(model)
    try:
        return cls.lambdas(dataset, distortion)
    except ValueError as error:
        if cls.recipe == "ndic_cam" and distortion == "MSE":
            raise ValueError(
                f"{error.args[0]}. NDIC-CAM's README lists its lambdas without naming the distortion and its "
                "configuration trains with MS-SSIM; for an MSE sweep give --lambdas"
            ) from None
        raise


def plan(
    model: str,
    dataset: str,
    distortion: str,
    lambdas: list[float] | None = None,
    *,
    gpus: int = 1,
    finetune: bool = False,
    mse_lambdas: list[float] | None = None,
) -> list[Run]:
    """The runs of a sweep (``lambdas`` None: the paper's), every one checked; a ValueError names the fix."""
    from . import models

    cls = models.get(model)  # KeyError naming the known models
    if distortion not in DISTORTIONS:
        raise ValueError(f"distortion must be one of {', '.join(DISTORTIONS)}, got {distortion!r}")
    _check_dataset(cls, dataset)
    lambdas = paper_lambdas(model, dataset, distortion) if lambdas is None else list(lambdas)
    _check_lambdas(lambdas, "--lambdas")
    if gpus < 1:
        raise ValueError(f"--gpus-per-node must be at least 1, got {gpus}")
    batch = RECIPES[cls.recipe]["train_batch_size"]
    if batch % gpus:
        raise ValueError(
            f"{model} trains with a global batch of {batch}, which does not split over {gpus} GPUs; use "
            f"--gpus-per-node {math.gcd(batch, gpus)} (the lambdas' array tasks run side by side)"
        )
    if not finetune:
        return [Run(model, dataset, distortion, v) for v in lambdas]
    if distortion != "MS-SSIM" or cls.recipe != "stf":
        raise ValueError("--finetune is CompressAI's recipe for MS-SSIM models of STF and WACNN: use it with "
                         "--distortion MS-SSIM and --model stf or wacnn")  # fmt: skip
    mse_lambdas = paper_lambdas(model, dataset, "MSE") if mse_lambdas is None else list(mse_lambdas)
    _check_lambdas(mse_lambdas, "--mse-lambdas")
    if len(mse_lambdas) != len(lambdas):
        raise ValueError(
            f"{len(lambdas)} MS-SSIM lambdas but {len(mse_lambdas)} MSE lambdas to fine-tune from; give "
            "--mse-lambdas with one MSE lambda per MS-SSIM lambda (same quality, same order)"
        )
    return [Run(model, dataset, distortion, v, m) for v, m in zip(lambdas, mse_lambdas, strict=True)]


def _check_dataset(cls, dataset: str) -> None:
    from . import data

    if dataset not in data.names():
        training = [name for name in data.names() if name not in EVALUATION_ONLY]
        raise ValueError(f"unknown dataset {dataset!r}; datasets to train on: {', '.join(training)}")
    if dataset in EVALUATION_ONLY:
        raise ValueError(
            f"{dataset} has no training split (it is an evaluation set); train on "
            f"{'kitti_stereo, kitti_general or cityscape' if cls.recipe == 'ndic_cam' else 'images'} and "
            f"evaluate the checkpoint on {dataset} with 03_evaluate (-p dataset {dataset})"
        )
    if cls.distributed and dataset not in PAIR_TRAINING_SETS:
        raise ValueError(
            f"{cls.registry_name} is a distributed model and trains on stereo pairs, which {dataset} does not "
            f"give; use one of {', '.join(PAIR_TRAINING_SETS)}"
        )


def _check_lambdas(lambdas: list[float], flag: str) -> None:
    if not lambdas:
        raise ValueError(f"{flag} is empty; give at least one lambda")
    bad = [v for v in lambdas if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0)]
    if bad:
        raise ValueError(f"lambdas must be positive numbers, got {bad} in {flag}")


# ---------------------------------------------------------------------------- commands
def tool(script: str, module: str) -> list[str]:
    """This environment's ``script`` (next to ``sys.executable``), else ``python -m module``."""
    path = Path(sys.executable).parent / script
    return [str(path)] if path.is_file() else [sys.executable, "-m", module]


@dataclass(frozen=True)
class Options:
    """How the commands run: profile, device, folders, data root, GPUs per node, resumption."""

    profile: str = "paper"
    device: str = "cuda"
    out_dir: str = "runs"
    notebooks: str = "notebooks"
    data_root: str | None = None
    gpus: int = 1
    resume: bool = False


def command(run: Run, opts: Options) -> str:
    """One shell line: make the run folder, train (fine-tuning: the MSE run first), evaluate ``best.pt``."""
    folder = run.folder(opts.out_dir)
    steps = [f"mkdir -p {shlex.quote(str(folder))}"]
    if run.finetune_from is None:
        steps.append(_train(run, opts, folder, resume=opts.resume))
    else:  # CompressAI's recipe: the MSE model of the same quality (resumed: a finished run is reused), then
        mse = run.mse_run()
        steps.append(f"mkdir -p {shlex.quote(str(mse.folder(opts.out_dir)))}")
        steps.append(_train(mse, opts, mse.folder(opts.out_dir), resume=True))
        steps.append(_finetune(run, opts, folder))
    steps.append(_evaluate(run, opts, folder))
    return " && ".join(steps)


def commands(
    model: str,
    dataset: str,
    distortion: str,
    lambdas: list[float] | None,
    profile: str = "paper",
    device: str = "cuda",
    out_dir: str = "runs",
    notebooks: str = "notebooks",
    *,
    data_root: str | None = None,
    gpus: int = 1,
    resume: bool = False,
    finetune: bool = False,
    mse_lambdas: list[float] | None = None,
) -> list[str]:
    """One shell line per lambda (``None``: the paper's), see :func:`plan` and :func:`command`."""
    runs = plan(model, dataset, distortion, lambdas, gpus=gpus, finetune=finetune, mse_lambdas=mse_lambdas)
    opts = Options(profile, device, out_dir, notebooks, data_root, gpus, resume)
    return [command(run, opts) for run in runs]


def _train(run: Run, opts: Options, folder: Path, resume: bool) -> str:
    if opts.gpus > 1:
        return shlex.join(_torchrun(run, opts, folder, resume))
    params = dict(model=run.model, dataset=run.dataset, lmbda=f"{run.lmbda:g}", distortion=run.distortion,
                  profile=opts.profile, device=opts.device, out_dir=str(folder))  # fmt: skip
    if opts.data_root:
        params["root"] = opts.data_root
    if resume:
        params["resume"] = "True"
    return shlex.join(_papermill("02_train", folder, opts, params))


def _finetune(run: Run, opts: Options, folder: Path) -> str:
    extra = ["--load_weight", "true", "--weight_path", str(run.mse_run().folder(opts.out_dir) / "best.pt")]
    for key, value in FINETUNE.items():
        extra += [f"--{key}", f"{value:g}" if isinstance(value, float) else str(value)]
    extra += ["--experiment_name", f"{run.model}_{run.dataset}_{run.distortion}_lambda{run.lmbda:g}_finetuned"]
    return shlex.join(_torchrun(run, opts, folder, opts.resume) + extra)


def _torchrun(run: Run, opts: Options, folder: Path, resume: bool) -> list[str]:
    """``python -m ndic train`` (one process) or ``torchrun --nproc_per_node N -m ndic train`` (N GPUs)."""
    if opts.gpus > 1:
        head = tool("torchrun", "torch.distributed.run") + ["--standalone", f"--nproc_per_node={opts.gpus}", "-m"]
    else:
        head = [sys.executable, "-m"]
    args = head + ["ndic", "train", "--model", run.model, "--dataset", run.dataset, "--lambda", f"{run.lmbda:g}",
                   "--distortion", run.distortion, "--profile", opts.profile, "--device", opts.device,
                   "--out-dir", str(folder), "--progress", "false"]  # fmt: skip
    if opts.data_root:
        args += ["--root", opts.data_root]
    return args + (["--resume", "true"] if resume else [])


def _evaluate(run: Run, opts: Options, folder: Path) -> str:
    params = dict(checkpoint=str(folder / "best.pt"), dataset=run.dataset, profile=opts.profile,
                  device=opts.device, out_dir=str(folder))  # fmt: skip
    if opts.data_root:
        params["root"] = opts.data_root
    return shlex.join(_papermill("03_evaluate", folder, opts, params))


def _papermill(notebook: str, folder: Path, opts: Options, params: dict[str, str]) -> list[str]:
    args = tool("papermill", "papermill") + [f"{opts.notebooks}/{notebook}.ipynb", str(folder / f"{notebook}.ipynb")]
    for key, value in params.items():
        args += ["-p", key, value]
    return args


# ---------------------------------------------------------------------------- what each run costs
# Where each recipe's stopping rule comes from (paper profile; see ndic.recipes.STOPPING and FINETUNE)
RULE_SOURCES = {
    "stf": "the budget and step-down STF's author describes in Googolxx/STF issues #3 and #27",
    "ndic_cam": "NDIC-CAM's own schedule, run until it has nothing left to try; the cap is this project's",
    "finetune": "CompressAI's MS-SSIM fine-tuning at lr 1e-5, its docs/source/zoo.rst; the length is this project's",
}


@dataclass(frozen=True)
class StepTime:
    """Seconds per optimiser step at the recipe's global batch on one device, and where they were measured."""

    seconds: float
    source: str
    gpu: bool


def measured_step_time(model: str, batch: int, path: str | Path | None = None) -> StepTime | None:
    """The step time ``benchmarks/bench_train.py`` measured for ``model`` (fp32, the paper's batch): a GPU
    row when there is one, else a CPU row; None without a measurement (e.g. an installed package)."""
    from .paths import display, project_root

    path = Path(path) if path is not None else project_root() / STEP_TIMES
    if not path.is_file():
        return None
    with open(path, newline="") as f:
        rows = [r for r in csv.DictReader(f) if r.get("model") == model and r.get("profile") == "paper"]
    rows = [r for r in rows if r.get("batch") == str(batch) and r.get("amp") == "fp32" and r.get("step_s")]
    gpu = [r for r in rows if r.get("device", "").startswith("cuda") and r.get("channels_last") != "True"]
    cpu = [r for r in rows if r.get("device") == "cpu"]
    if not (gpu or cpu):
        return None
    row = (gpu or cpu)[-1]  # the latest measurement
    when = row.get("date", "")[:10]
    if gpu:
        where = f"{row.get('gpu') or 'a GPU'} ({row['device']}, fp32, {when})"
    else:
        cores, threads = row.get("cpu_cores", "?"), row.get("threads", "?")
        where = f"a {cores}-core {row.get('cpu', '')} CPU, {threads} threads ({when})"
    return StepTime(float(row["step_s"]), f"{where}, {display(path)}", bool(gpu))


def training_configs(run: Run, opts: Options) -> list:
    """The resolved configuration of each training stage of ``run`` (fine-tuning: the MSE run, then the fine-tuning)."""
    from .config import Config

    def config(r: Run, **extra):
        return Config(model=r.model, dataset_name=r.dataset, distortion_loss=r.distortion, lmbda=r.lmbda,
                      profile=opts.profile, dataset_path=opts.data_root, **extra).resolved()  # fmt: skip

    if run.finetune_from is None:
        return [config(run)]
    weights = str(run.mse_run().folder(opts.out_dir) / "best.pt")
    return [config(run.mse_run()), config(run, load_weight=True, weight_path=weights, **FINETUNE)]


def stopping_rule(config, finetune: bool = False) -> str:
    """One sentence: the schedule, the stopping rule and the cap of a resolved configuration."""
    parts = []
    if config.lr_drop_at:
        drop = f"until step {config.lr_drop_at:,}, then {config.lr_drop_to:g}"
        parts.append(f"lr {config.lr:g} {drop} (no plateau schedule)")
    else:
        plateau = f"factor {config.lr_factor:g}, patience {config.lr_patience}, min_lr {config.min_lr:g}"
        parts.append(f"lr {config.lr:g} under ReduceLROnPlateau({plateau}) on the {config.val_split} split's loss")
    if config.stop_patience:
        at = " at min_lr" if config.stop_at_min_lr else ""
        parts.append(f"stop after {config.stop_patience} epochs without a new best validation loss{at}")
    caps = ([f"{config.steps:,} steps"] if config.steps else []) + [f"{config.epochs:,} epochs"]
    parts.append("hard cap " + " or ".join(caps) + ", whichever comes first")
    source = RULE_SOURCES.get("finetune" if finetune else config.recipe)
    return "; ".join(parts) + (f" ({source})" if source and config.profile == "paper" else "")


def describe(run: Run, opts: Options, index: int, total: int, timing: StepTime | None) -> list[str]:
    """Comment lines for one run: its steps, stopping rule, evaluated checkpoint and estimated GPU-hours."""
    folder = run.folder(opts.out_dir)
    stages = training_configs(run, opts)
    lines = [f"# run {index}/{total}: {run.model} on {run.dataset}, {run.distortion}, lambda {run.lmbda:g} -> {folder}"]
    for number, config in enumerate(stages):
        finetune = number == 1
        what = "fine-tuning" if finetune else (f"MSE run lambda {run.finetune_from:g} (reused when finished)"
                                               if len(stages) > 1 else "training")  # fmt: skip
        lines.append(f"# {what}: {_steps(config, opts.gpus)}")
        lines.append(f"# stopping rule: {stopping_rule(config, finetune)}")
    lines.append(f"# evaluated: {folder / 'best.pt'} (the lowest validation loss, as both originals keep)")
    lines.append("# " + _estimate(sum(c.steps or 0 for c in stages), timing, opts.gpus, stages[0]))
    return lines


def _steps(config, gpus: int) -> str:
    bound = "at most " if config.stop_patience else ""
    split = f", {config.train_batch_size // gpus} per GPU on {gpus} GPUs" if gpus > 1 else ""
    steps = f"{bound}{config.steps:,} steps" if config.steps else f"{config.epochs:,} epochs"
    return f"{steps} of a global batch of {config.train_batch_size}{split}"


def _estimate(steps: int, timing: StepTime | None, gpus: int, config) -> str:
    bound = "at most " if config.stop_patience else ""
    if not steps or timing is None:
        missing = "no step cap" if not steps else f"no step time measured for {config.model}"
        return f"estimated GPU-hours: unknown ({missing}); give --seconds-per-step measured on your GPU"
    hours = steps * timing.seconds / 3600
    how = f"{steps:,} steps x {timing.seconds:.3g} s/step measured on {timing.source}"
    if not timing.gpu:
        from .gpu_estimate import gpu_hours

        counted = gpu_hours(config.model, steps, config.train_batch_size) or "unknown (no operation count)"
        fix = "measure with benchmarks/bench_train.py --device cuda, or give --seconds-per-step"
        return f"estimated GPU-hours: {counted}; on a CPU {bound}{hours:,.0f} h ({how}); {fix}"
    wall = f"; about {hours / gpus:,.1f} h of wall time on {gpus} GPUs if they scale perfectly" if gpus > 1 else ""
    return f"estimated GPU-hours: {bound}{hours:,.1f} ({how}, training only){wall}"


# ---------------------------------------------------------------------------- SLURM
def slurm_script(
    lines: list[str],
    *,
    job_name: str,
    workdir: str | Path,
    log_dir: str | Path,
    gpus: int = 0,
    cpus: int | None = None,
    comments: list[list[str]] | None = None,
    sbatch_options: tuple[str, ...] = (),
) -> str:
    """An ``sbatch`` job array: array task ``i`` runs ``lines[i]``, writes its own log in ``log_dir``
    (``<job>_<array job id>_<task>.out``) and is requeued when preempted (lines given ``resume`` continue
    from their last checkpoint). ``log_dir`` must exist before ``sbatch`` (it does not create it)."""
    head = [
        "#!/bin/bash",
        "# written by python -m ndic sweep --slurm: one array task per lambda",
        f"#SBATCH --job-name={job_name}",
        f"#SBATCH --array=0-{len(lines) - 1}",
        "#SBATCH --nodes=1",
        "#SBATCH --ntasks=1",
        f"#SBATCH --chdir={workdir}",
        f"#SBATCH --output={log_dir}/%x_%A_%a.out",
        "#SBATCH --requeue",
    ]
    head += [f"#SBATCH --gpus-per-node={gpus}"] if gpus else []
    head += [f"#SBATCH --cpus-per-task={cpus}"] if cpus else []
    head += [f"#SBATCH {option}" for option in sbatch_options]
    task = "${SLURM_ARRAY_TASK_ID}"
    body = ["", "set -uo pipefail", f'echo "array task {task} of job ${{SLURM_ARRAY_JOB_ID}} on $(hostname)"']
    body.append(f'case "{task}" in')
    for i, line in enumerate(lines):
        body += [f"  {c}" for c in (comments[i] if comments else [])]
        body.append(f"  {i}) {line} ;;")
    body += [f'  *) echo "no command for array task {task}" >&2; exit 2 ;;', "esac", ""]
    return "\n".join(head + body)
