"""The CPU-scale reproduction: both papers' claims tested with small models that 2 CPU cores train in hours.

It is never a paper reproduction (the ``cpu`` profile says so on every row): the papers' architectures at
reduced widths (:data:`ndic.recipes.SETUPS` ``["cpu"]`` and each model's ``cpu_config``), trained on real
photographs and stereo pairs that ``make photos`` installs (``photos``, ``stereo_train``), evaluated on real
test images that no training set contains: the KITTI sample pairs (both directions) and Middlebury for the
distributed models and their single-image baselines, Kodak for the single-image models.

Data flow: :data:`PLAN` lists the runs (model, objective, lambdas, the lambda trained from scratch, training
set, test sets); :func:`jobs` expands it into one :class:`Job` per lambda: first each model's run from scratch
(:data:`ndic.recipes.CPU_STEPS`), then every lambda of its curve, each starting from that run's best weights
(:data:`ndic.recipes.CPU_FINETUNE_STEPS`; at the run's own lambda, its continuation), so that all points of a
curve share one budget; the run from scratch is the notebooks' model and its results stay with its training
record (:meth:`Job.result`); :func:`commands` writes each job as ``python -m ndic train`` then
``python -m ndic evaluate`` lines (``train`` resumes a killed run; ``evaluate`` rewrites an identical result
and refuses a different one). ``python -m ndic sweep --profile cpu`` prints them, ``--run`` runs them in turn
and skips the jobs whose results are all present, so an interrupted sweep continues where it stopped.
"""

from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

from .cpu_test_sets import (  # noqa: F401  (REFERENCE_*: part of this module's interface, as the sweep's)
    DATA,
    REFERENCE_CODECS,
    REFERENCE_RESULTS,
    REFERENCE_TESTS,
    STEREO_TESTS,
    TEST_SETS,
    THREADS,
    reference_commands,
    references_done,
)
from .paths import TRAINING_RECORDS
from .recipes import CPU_FINETUNE_STEPS

RUNS = Path("runs") / "cpu"  # training folders (git-ignored)
CHECKPOINT_EVERY = 100  # steps: a killed run loses at most this much work
RESULTS = Path("results") / "cpu"  # the committed per-image results, one folder per test set
CHECKPOINTS = Path("checkpoints") / "cpu"  # the committed weights the notebooks show (MANIFEST.json says how made)
NOTEBOOK_MODELS = ("bls17", "ndic_bls17", "cross_attention")  # their runs from scratch: ~19 MB together

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
        continued = "_continued" if self.start_from is not None and self.lmbda == self.start_from.lmbda else ""
        return f"{self.model}_{self.train_set}_{self.distortion}_{self.lmbda:g}{continued}"

    def folder(self, runs: Path = RUNS) -> Path:
        return Path(runs) / self.name

    def result(self, test: str, results: Path = RESULTS) -> Path:
        """A curve point's result ``<results>/<test>/<job>.csv``; that of a run from scratch (no curve point: its
        continuation is) is kept, under the same file name, with its training record."""
        if self.start_from is None:
            return record_folder(self, results) / test / f"{self.name}.csv"
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
    (one trained model of each kind as early as possible), then each model's lambdas, each one from the weights
    of the run from scratch, its own lambda included: every point of a curve has had the same training."""
    scratch, finetuned = [], []
    for model, distortion, lambdas, first, train_set, tests, overrides in PLAN:
        if models is None or model in models:
            base = Job(model, distortion, first, train_set, tests, overrides)
            scratch.append(base)
            finetuned += [Job(model, distortion, lmbda, train_set, tests, overrides, start_from=base)
                          for lmbda in lambdas]  # fmt: skip
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
        train += ["--load_weight", "true", "--weight_path", str(start_weights(job, runs)),
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


def record_folder(job: Job, results: Path = RESULTS) -> Path:
    """Where ``job``'s training record (configuration and logs) is kept beside its results."""
    return Path(results) / TRAINING_RECORDS / job.name


def keep_training_record(job: Job, runs: Path = RUNS, results: Path = RESULTS) -> Path:
    """Copy the run's configuration and logs to ``results/cpu/training/<job>/``: the committed results then say
    how their weights were trained (the checkpoints themselves stay in the git-ignored run folder)."""
    from .io import atomic_write_bytes

    target = record_folder(job, results)
    for name in TRAINING_RECORD:
        source = job.folder(runs) / name
        if source.is_file():
            atomic_write_bytes(target / name, source.read_bytes())
    return target


def start_weights(job: Job, runs: Path = RUNS, checkpoints: Path = CHECKPOINTS) -> Path:
    """The weights a fine-tuned job starts from: its base run's ``best.pt`` in ``runs``, or, where that run
    folder is absent (a fresh clone: runs/ is not committed), the base's committed checkpoint."""
    base = job.start_from
    if base is None:
        raise ValueError(f"{job.name} trains from scratch: it starts from no weights")
    trained = base.folder(runs) / "best.pt"
    committed = checkpoint_path(base.model, checkpoints)
    if not trained.is_file() and _manifest_entry(committed).get("job") == base.name:
        return committed
    return trained


DIVERGED = 2.0  # a run whose last validation loss is this many times its best one has collapsed


def diverged(folder: Path) -> str | None:
    """Why the run in ``folder`` collapsed (its last validation loss :data:`DIVERGED` times its best), or None.

    Its ``best.pt`` predates the collapse, but its curve's lambdas and its comparison with the other models would
    then rest on a model trained for fewer steps than theirs: the sweep stops and says so instead."""
    from .logs import read_logs

    val_log = read_logs(folder)[1]
    if len(val_log) < 2:
        return None
    best = val_log.loc[val_log["loss"].idxmin()]
    last = val_log.iloc[-1]
    if not last["loss"] > DIVERGED * best["loss"]:
        return None
    return (
        f"diverged: validation loss {last['loss']:.4g} at step {int(last['step'])}, {last['loss'] / best['loss']:.1f}x "
        f"its best ({best['loss']:.4g} at step {int(best['step'])}); lower the profile's lr (ndic/recipes.py) "
        f"and delete {folder} to train it again"
    )


def _weightless(job: Job, runs: Path, results: Path) -> bool:
    """Whether ``job`` still has to run from the weights of a finished base that has none here (runs/ is not
    committed, and only the notebooks' models are): that base is trained again, deterministically."""
    base = job.start_from
    pending = base is not None and done(base, results) and not done(job, results)
    return pending and not start_weights(job, runs).is_file()


def reference_tests(selected: list[Job]) -> tuple[str, ...]:
    """The test sets of ``selected`` that JPEG and BPG run on, in the jobs' order."""
    return tuple(dict.fromkeys(t for job in selected for t in job.tests if t in REFERENCE_TESTS))


def with_bases(selected: list[Job], runs: Path = RUNS, results: Path = RESULTS) -> list[Job]:
    """``selected``, each fine-tuned job preceded by its run from scratch unless that run is finished (its
    results written) with its weights at hand: a fine-tune never starts from a base that is still training."""
    out: list[Job] = []
    for job in selected:
        base = job.start_from
        missing = base is not None and (not done(base, results) or _weightless(job, runs, results))
        if missing and base not in out and base not in selected:
            out.append(base)
        out.append(job)
    return out


def run(
    selected: list[Job],
    runs: Path = RUNS,
    results: Path = RESULTS,
    data: Path = DATA,
    checkpoints: Path | None = CHECKPOINTS,
    references: Path | None = REFERENCE_RESULTS,
) -> int:
    """Run the jobs in turn (a fine-tuned job's run from scratch first when its weights are missing), skipping
    those whose results are all present; stops at the first failure. First, JPEG and BPG on the jobs' test sets
    where ``references`` lacks them (None: none run). A finished run from scratch of :data:`NOTEBOOK_MODELS` is
    also exported to ``checkpoints`` (None: not exported)."""
    import subprocess
    import time

    selected = with_bases(selected, runs, results)
    retrain = {job.start_from for job in selected if _weightless(job, runs, results)}  # its evaluation: identical
    for job in selected:
        if checkpoints is not None:
            _check_no_stale_checkpoint(job, results, checkpoints)
    lines = reference_commands(data, references, reference_tests(selected)) if references is not None else {}
    for test, line in lines.items():  # the references first: minutes
        if references_done(test, references):  # the committed folders: codecs do not vary
            continue
        print(f"[references] {line}", flush=True)
        status = subprocess.run(line, shell=True).returncode
        if status:
            print(f"stopped: the references of {test} failed with exit status {status}", file=sys.stderr)
            return status
    for i, job in enumerate(selected, 1):
        if done(job, results) and job not in retrain:
            print(f"[{i}/{len(selected)}] {job.name}: results present, skipped", flush=True)
            _finish(job, runs, results, checkpoints, repair_only=True)  # a sweep killed after the last evaluation
            continue
        start = time.perf_counter()
        for k, line in enumerate(commands(job, runs, results, data)):
            print(f"[{i}/{len(selected)}] {line}", flush=True)
            status = subprocess.run(line, shell=True).returncode
            if status:
                print(f"stopped: {job.name} failed with exit status {status}", file=sys.stderr)
                return status
            collapse = diverged(job.folder(runs)) if k == 0 else None  # after training: never evaluate a collapse
            if collapse:
                print(f"stopped: {job.name} {collapse}", file=sys.stderr)
                return 1
        _finish(job, runs, results, checkpoints)
        print(f"[{i}/{len(selected)}] {job.name}: done in {time.perf_counter() - start:.0f} s", flush=True)
    return 0


def _finish(job: Job, runs: Path, results: Path, checkpoints: Path | None, repair_only: bool = False) -> None:
    """Keep the training record beside the results and export a notebook model's weights. Both are idempotent,
    so a sweep killed between the last evaluation and these steps completes them when it runs again
    (``repair_only``: only what is missing, never comparing weights already exported)."""
    if job.folder(runs).is_dir():
        keep_training_record(job, runs, results)
    exports = checkpoints is not None and job.start_from is None and job.model in NOTEBOOK_MODELS
    if not exports or not (job.folder(runs) / "best.pt").is_file():
        return
    if repair_only and _manifest_entry(checkpoint_path(job.model, checkpoints)):
        return
    print(f"weights for the notebooks: {export_checkpoint(job, runs, results, checkpoints)}", flush=True)


# ----------------------------------------------------------------------------- the notebooks' checkpoints
MANIFEST = "MANIFEST.json"


def portable(line: str) -> str:
    """A command line of :func:`commands` as anyone runs it: ``python`` for this interpreter's path."""
    words = shlex.split(line)
    if words[:1] == ["env"]:
        words = words[1:]
    return shlex.join(["python" if word == sys.executable else word for word in words])


def checkpoint_path(model: str, checkpoints: Path = CHECKPOINTS) -> Path:
    """The committed weights of ``model``'s run from scratch (what the notebooks load)."""
    return Path(checkpoints) / f"{model}.pt"


def _check_no_stale_checkpoint(job: Job, results: Path, checkpoints: Path) -> None:
    """Refuse to retrain a run whose weights are committed while its results are not: the two would disagree."""
    target = checkpoint_path(job.model, checkpoints)
    if job.start_from is None and job.model in NOTEBOOK_MODELS and target.is_file() and not done(job, results):
        raise ValueError(
            f"{target} holds committed weights of {job.name}, whose results are missing: remove {target} "
            f"(and its {MANIFEST} entry) to train the run again, or restore its results"
        )


def export_checkpoint(job: Job, runs: Path = RUNS, results: Path = RESULTS, checkpoints: Path = CHECKPOINTS) -> Path:
    """Copy ``job``'s ``best.pt`` to ``checkpoints/<model>.pt`` and record in ``MANIFEST.json`` its SHA-256,
    size, the command that trained it and the provenance of its results. An identical file is left as it is;
    different weights under the same name are refused (never replaced silently)."""
    import hashlib
    import json

    from .io import atomic_write_bytes, atomic_write_text
    from .results import read_meta

    data = (job.folder(runs) / "best.pt").read_bytes()
    target = checkpoint_path(job.model, checkpoints)
    if target.is_file() and target.read_bytes() != data:
        raise ValueError(f"{target} already holds other weights of {job.model}: move it away to export {job.name}")
    atomic_write_bytes(target, data)
    meta = read_meta(job.result(job.tests[0], results))
    manifest_path = Path(checkpoints) / MANIFEST
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    manifest[target.name] = {
        "sha256": hashlib.sha256(data).hexdigest(),
        "bytes": len(data),
        "job": job.name,
        "model": job.model,
        "lambda": job.lmbda,
        "distortion": job.distortion,
        "command": portable(commands(job)[0]),  # as the sweep runs it, from the checkout's root
        "git_commit": meta.get("git_commit"),
        "machine": meta.get("machine"),
        "results": [str(job.result(test, results)) for test in job.tests],
    }
    atomic_write_text(manifest_path, json.dumps(dict(sorted(manifest.items())), indent=2) + "\n")
    return target


def _manifest_entry(path: Path) -> dict:
    """The ``MANIFEST.json`` entry of a checkpoint in a committed folder ({} when there is none)."""
    import json

    manifest = Path(path).parent / MANIFEST
    return json.loads(manifest.read_text()).get(Path(path).name, {}) if manifest.is_file() else {}


def verify_checkpoint(path: str | Path) -> None:
    """Refuse a checkpoint of a committed folder (one with a ``MANIFEST.json``) that the manifest does not list,
    or whose bytes are not those it lists; a file elsewhere passes: it is the user's own."""
    import hashlib

    path = Path(path)
    manifest = path.parent / MANIFEST
    if not manifest.is_file():
        return
    entry = _manifest_entry(path)
    if not entry:
        raise ValueError(f"{path} is not listed in {manifest}: export it with the sweep, or keep it in another folder")
    if not path.is_file():
        raise ValueError(f"{path} is listed in {manifest} but missing: check out the repository's {path.parent}/ again")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != entry["sha256"]:
        size = path.stat().st_size
        hint = " (a Git LFS pointer? run `git lfs pull`)" if size < 1024 else ""
        raise ValueError(
            f"{path} is not the committed file: SHA-256 {digest[:12]}... of {size} bytes, {MANIFEST} lists "
            f"{entry['sha256'][:12]}... of {entry['bytes']} bytes{hint}; restore it with git checkout -- {path}"
        )
