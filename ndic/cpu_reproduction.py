"""The CPU-scale reproduction: both papers' claims tested with small models that 2 CPU cores train in hours.

It is never a paper reproduction (the ``cpu`` profile says so on every row): the papers' architectures at
reduced widths (:data:`ndic.recipes.SETUPS` ``["cpu"]`` and each model's ``cpu_config``), trained on real
photographs and stereo pairs that ``make photos`` installs (``photos``, ``stereo_train``), evaluated on real
test images that no training set contains: the KITTI sample pairs (both directions) and Middlebury for the
distributed models and their single-image baselines, Kodak for the single-image models.

Data flow: :data:`PLAN` lists the runs (model, objective, lambdas, the lambda trained from scratch, training
set, test sets); :func:`jobs` expands it into one :class:`Job` per lambda: first each model's run from scratch
(:data:`ndic.recipes.CPU_STEPS`), then its other lambdas, each starting from that run's best weights
(:data:`ndic.recipes.CPU_FINETUNE_STEPS`); :func:`commands` writes each job as ``python -m ndic train`` then
``python -m ndic evaluate`` lines (``train`` resumes a killed run; ``evaluate`` rewrites an identical result
and refuses a different one). ``python -m ndic sweep --profile cpu`` prints them, ``--run`` runs them in turn
and skips the jobs whose results are all present, so an interrupted sweep continues where it stopped.
"""

from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

from .recipes import CPU_FINETUNE_STEPS

RUNS = Path("runs") / "cpu"  # training folders (git-ignored)
CHECKPOINT_EVERY = 100  # steps: a killed run loses at most this much work
THREADS = 2  # torch threads of every command: float sums, hence the numbers, depend on it
RESULTS = Path("results") / "cpu"  # the committed per-image results, one folder per test set
DATA = Path("..") / "shared" / "data"  # the real test images beside the checkout (see README)

# test set -> (ndic.data name, folder under DATA, the dataset name of its rows); stereo sets are resized to
# the models' 128x256. The KITTI samples are not KITTI Stereo's test split: their rows say kitti_samples.
TEST_SETS = {
    "kitti_samples": ("kitti_stereo", "kitti_samples/color", "kitti_samples"),
    "kitti_samples_gray": ("kitti_stereo", "kitti_samples/gray", "kitti_samples_gray"),
    "middlebury": ("middlebury", "middlebury", "middlebury"),
    "kodak": ("kodak", "kodak", "kodak"),
}
STEREO_TESTS = ("kitti_samples", "kitti_samples_gray", "middlebury")
# NDIC-CAM's KITTI Stereo lambdas (MS-SSIM), four of the seven; CompressAI's MSE lambdas for Kodak
NDIC_CAM_LAMBDAS = (3e-05, 6e-05, 0.00011, 0.00022)
KODAK_LAMBDAS = (0.0035, 0.0067, 0.013, 0.025)


@dataclass(frozen=True)
class Job:
    """One trained model of the reproduction and the test sets it is evaluated on."""

    model: str
    distortion: str
    lmbda: float
    train_set: str
    tests: tuple[str, ...]
    overrides: tuple[tuple[str, str], ...] = ()
    start_from: Job | None = None  # the run whose best weights this one starts from (None: from scratch)

    @property
    def name(self) -> str:
        return f"{self.model}_{self.train_set}_{self.distortion}_{self.lmbda:g}"

    def folder(self, runs: Path = RUNS) -> Path:
        return Path(runs) / self.name

    def result(self, test: str, results: Path = RESULTS) -> Path:
        return Path(results) / test / f"{self.name}.csv"


# (model, objective, lambdas, the lambda trained from scratch, training set, test sets, further `train` flags).
# The one from scratch is a middle-to-high rate: its reconstructions are the ones the notebooks show.
PLAN = (
    ("bls17", "MS-SSIM", NDIC_CAM_LAMBDAS, 0.00011, "stereo_train", STEREO_TESTS, ()),
    ("ndic_bls17", "MS-SSIM", NDIC_CAM_LAMBDAS, 0.00011, "stereo_train", STEREO_TESTS, ()),
    ("cross_attention", "MS-SSIM", NDIC_CAM_LAMBDAS, 0.00011, "stereo_train", STEREO_TESTS, ()),
    # NDIC-CAM's single-image baseline trained on photographs and tested on Kodak, against JPEG and BPG run here
    ("bmshj18", "MSE", KODAK_LAMBDAS, 0.013, "photos", ("kodak",), (("crop", "192"),)),
)


def jobs(models: tuple[str, ...] | None = None) -> list[Job]:
    """Every job of :data:`PLAN` (of ``models`` only, when given): the runs from scratch first, in plan order
    (one trained model of each kind as early as possible), then each model's other lambdas."""
    scratch, finetuned = [], []
    for model, distortion, lambdas, first, train_set, tests, overrides in PLAN:
        if models is None or model in models:
            base = Job(model, distortion, first, train_set, tests, overrides)
            scratch.append(base)
            finetuned += [Job(model, distortion, lmbda, train_set, tests, overrides, start_from=base)
                          for lmbda in lambdas if lmbda != first]  # fmt: skip
    out = scratch + finetuned
    if not out:
        known = ", ".join(dict.fromkeys(entry[0] for entry in PLAN))
        raise ValueError(f"the cpu plan has no run of {', '.join(models or ())}; its models are {known}")
    return out


def done(job: Job, results: Path = RESULTS) -> bool:
    """Whether every test set's result of ``job`` is written (with its provenance)."""
    return all(job.result(t, results).is_file() and job.result(t, results).with_suffix(".meta.json").is_file()
               for t in job.tests)  # fmt: skip


def commands(job: Job, runs: Path = RUNS, results: Path = RESULTS, data: Path = DATA) -> list[str]:
    """The shell lines of one job: train (resumable), then evaluate ``best.pt`` on each test set."""
    python = ["env", f"OMP_NUM_THREADS={THREADS}", sys.executable, "-m", "ndic"]
    folder = job.folder(runs)
    train = [*python, "train", "--profile", "cpu", "--model", job.model, "--dataset", job.train_set,
             "--lambda", f"{job.lmbda:g}", "--distortion", job.distortion, "--out-dir", str(folder),
             "--resume", "true", "--deterministic", "true", "--progress", "false",
             "--checkpoint_every", str(CHECKPOINT_EVERY)]  # fmt: skip
    if job.start_from is not None:  # a new run from the weights of the model trained from scratch
        train += ["--load_weight", "true", "--weight_path", str(job.start_from.folder(runs) / "best.pt"),
                  "--steps", str(CPU_FINETUNE_STEPS), "--lr_drop_at", str(CPU_FINETUNE_STEPS * 4 // 5)]  # fmt: skip
    for key, value in job.overrides:
        train += [f"--{key}", value]
    lines = [shlex.join(train)]
    for test in job.tests:
        name, sub, label = TEST_SETS[test]
        evaluate = [*python, "evaluate", "--checkpoint", str(folder / "best.pt"), "--dataset", name,
                    "--dataset_label", label,
                    "--root", str(Path(data) / sub), "--profile", "cpu", "--progress", "false",
                    "--out", str(job.result(test, results))]  # fmt: skip
        if name != "kodak":
            evaluate += ["--test_both_directions", "true"]  # each view compressed with the other as side image
        lines.append(shlex.join(evaluate))
    return lines


TRAINING_RECORD = ("config.yaml", "train_log.csv", "val_log.csv")  # small, committed beside the results


def keep_training_record(job: Job, runs: Path = RUNS, results: Path = RESULTS) -> Path:
    """Copy the run's configuration and logs to ``results/cpu/training/<job>/``: the committed results then say
    how their weights were trained (the checkpoints themselves stay in the git-ignored run folder)."""
    from .io import atomic_write_bytes

    target = Path(results) / "training" / job.name
    for name in TRAINING_RECORD:
        source = job.folder(runs) / name
        if source.is_file():
            atomic_write_bytes(target / name, source.read_bytes())
    return target


def run(selected: list[Job], runs: Path = RUNS, results: Path = RESULTS, data: Path = DATA) -> int:
    """Run the jobs in turn, skipping those whose results are all present; stops at the first failure."""
    import subprocess
    import time

    for i, job in enumerate(selected, 1):
        if done(job, results):
            print(f"[{i}/{len(selected)}] {job.name}: results present, skipped", flush=True)
            continue
        start = time.perf_counter()
        for line in commands(job, runs, results, data):
            print(f"[{i}/{len(selected)}] {line}", flush=True)
            status = subprocess.run(line, shell=True).returncode
            if status:
                print(f"stopped: {job.name} failed with exit status {status}", file=sys.stderr)
                return status
        keep_training_record(job, runs, results)
        print(f"[{i}/{len(selected)}] {job.name}: done in {time.perf_counter() - start:.0f} s", flush=True)
    return 0
