"""What the CPU-scale reproduction's committed files say: its plan as the book shows it, the training records
of its runs, and a rerun compared with the committed results (the reproduction check).

Reads what :mod:`ndic.cpu_reproduction` writes; writes only the reproduction check's record
(:func:`write_reproduction_check`).
"""

from __future__ import annotations

import json
from pathlib import Path

from .cpu_reproduction import CPU_FINETUNE_STEPS, PLAN, RESULTS, Job, done, jobs, record_folder
from .paths import resolve

# A rerun reproduces a committed run when its mean rate and quality on every test set are this close
REPRODUCED_BPP = 0.01  # relative
REPRODUCED_DB = 0.1  # PSNR and MS-SSIM in dB
# <results>/reproduction/<job>.csv (+ .meta.json): a rerun of that job compared with its committed results
CHECKS = "reproduction"


def plan_table(results: Path = RESULTS):
    """The plan as the book shows it: one row per model with its objective, lambdas, the lambda trained from
    scratch, steps, training and test sets, and how many of its runs have committed results."""
    import pandas as pd

    from .recipes import CPU_STEPS

    results = resolve(results)  # the book runs its pages from book/: the checkout's results, wherever from
    rows = []
    for model, distortion, lambdas, first, train_set, tests, overrides in PLAN:
        model_jobs = jobs((model,))
        rows.append({
            "model": model,
            "objective": distortion,
            "lambdas": ", ".join(f"{value:g}" for value in lambdas),
            "from scratch": f"lambda {first:g}, {CPU_STEPS} steps",
            "each lambda's point": f"from its weights, {CPU_FINETUNE_STEPS} more steps",
            "training set": train_set + "".join(f" ({key} {value})" for key, value in overrides),
            "test sets": ", ".join(tests),
            "runs with results": f"{sum(done(job, results) for job in model_jobs)} of {len(model_jobs)}",
        })  # fmt: skip
    return pd.DataFrame(rows).set_index("model")


def training_folders(results: Path = RESULTS, scratch_only: bool = True) -> dict[str, Path]:
    """``{job name: committed training record}`` of the runs with one (runs from scratch only by default)."""
    results = resolve(results)
    return {job.name: record_folder(job, results) for job in jobs()
            if (record_folder(job, results) / "val_log.csv").is_file()
            and (job.start_from is None or not scratch_only)}  # fmt: skip


def step_seconds(results: Path = RESULTS) -> dict[str, float]:
    """``{job name: seconds}`` that the optimiser steps of each committed run take, data loading included: its
    median logged step time (``batch / images_per_s`` of ``train_log.csv``) times its steps (the median: a run
    paused or killed between two steps logs one long step). Validation, checkpoints and the evaluations come
    on top; a run that shared its machine throughout counts its slower steps."""
    import pandas as pd
    import yaml

    results, out = resolve(results), {}
    for job in jobs():
        folder = record_folder(job, results)
        if (folder / "train_log.csv").is_file() and (folder / "config.yaml").is_file():
            batch = yaml.safe_load((folder / "config.yaml").read_text())["train_batch_size"]
            log = pd.read_csv(folder / "train_log.csv")
            out[job.name] = float((batch / log["images_per_s"]).median() * log["step"].max())
    return out


def reproduction_check(selected: list[Job], reproduced: Path, committed: Path = RESULTS):
    """Mean bpp, PSNR and MS-SSIM (dB) per job and test set of a rerun (``reproduced``) beside the committed
    results, with the differences and whether they are within :data:`REPRODUCED_BPP` and :data:`REPRODUCED_DB`."""
    import pandas as pd

    from .results import read_rows, summarize

    rows = []
    for job in selected:
        for test in job.tests:
            paths = job.result(test, committed), job.result(test, reproduced)
            if not all(p.is_file() for p in paths):
                continue
            before, after = (summarize(read_rows(p)).iloc[0] for p in paths)
            row = {"job": job.name, "test set": test}
            for column, name in (("bpp", "bpp"), ("psnr", "PSNR (dB)"), ("ms_ssim_db", "MS-SSIM (dB)")):
                row[f"{name} committed"], row[f"{name} rerun"] = before[column], after[column]
            row["bpp difference (%)"] = 100 * (after["bpp"] / before["bpp"] - 1)
            row["PSNR difference (dB)"] = after["psnr"] - before["psnr"]
            row["MS-SSIM difference (dB)"] = after["ms_ssim_db"] - before["ms_ssim_db"]
            row["reproduced"] = bool(
                abs(row["bpp difference (%)"]) <= 100 * REPRODUCED_BPP
                and abs(row["PSNR difference (dB)"]) <= REPRODUCED_DB
                and abs(row["MS-SSIM difference (dB)"]) <= REPRODUCED_DB
            )
            rows.append(row)
    return pd.DataFrame(rows)


def write_reproduction_check(check, reproduced: Path, committed: Path = RESULTS) -> list[Path]:
    """Record each job of ``check`` (:func:`reproduction_check`) as ``<committed>/reproduction/<job>.csv``,
    with a ``.meta.json`` giving the check's provenance and the commit, machine and command of the result
    files on both sides. The same numbers again leave a record as it is; different ones are refused
    (FileExistsError), so that no check replaces another silently."""
    from .io import atomic_write_text
    from .results import ndic_command, provenance, read_meta

    def sources(folder: Path, job: Job) -> dict:
        metas = {test: read_meta(job.result(test, folder)) for test in job.tests}
        return {test: {key: meta.get(key) for key in ("git_commit", "machine", "command")}
                for test, meta in metas.items() if meta}  # fmt: skip

    written = []
    for name, rows in check.groupby("job", sort=False):
        job = next(job for job in jobs() if job.name == name)
        path = committed / CHECKS / f"{name}.csv"
        text = rows.round(6).to_csv(index=False)
        if path.is_file():
            if path.read_text() == text:
                continue
            raise FileExistsError(
                f"{path}: a reproduction check of {name} with other numbers is recorded there; move it aside "
                "to record this one"
            )
        meta = {**provenance("cpu", ndic_command()), "rerun": sources(reproduced, job)}
        meta["committed"] = sources(committed, job)
        meta["bounds"] = {"bpp (relative)": REPRODUCED_BPP, "PSNR and MS-SSIM (dB)": REPRODUCED_DB}
        atomic_write_text(path.with_suffix(".meta.json"), json.dumps(meta, indent=2) + "\n")
        written.append(atomic_write_text(path, text))
    return written


def reproduction_records(committed: Path = RESULTS):
    """Every recorded reproduction check (:func:`write_reproduction_check`), one row per job and test set,
    with the commit and machine of the rerun; empty when none is recorded."""
    import pandas as pd

    from .results import read_meta

    frames = []
    for path in sorted((resolve(committed) / CHECKS).glob("*.csv")):
        meta = read_meta(path)
        rerun = next(iter(meta.get("rerun", {}).values()), {})
        frames.append(pd.read_csv(path).assign(rerun_commit=rerun.get("git_commit"), machine=rerun.get("machine")))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
