"""How faithfully the models here reproduce the original implementations: the reference check, per model.

The project's reference fixtures (recorded by running ipc-lab/NDIC-CAM and Googolxx/STF unmodified) come
with ``check_reference.py``, which rebuilds every model, loads the original's weights and compares
reconstructions, transmitted bits and (WACNN, STF) bitstream bytes. This module turns its report into
one row per model:

    check_reference.py ──► its stdout ──► parse() ──► rows ──► write() ──► results/reference_check.csv
                                                         └──► table() (the models chapter)      + .meta.json

:func:`load` runs the check where the fixtures exist (``$NDIC_REFERENCE``, default ``../shared/reference``
beside the checkout) and reads the committed result file otherwise, so the book shows the check on every
machine. ``python -m ndic.fidelity`` runs it and rewrites the committed file.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from .paths import display, project_root, resolve

__all__ = ["RESULT", "load", "parse", "read", "reference_dir", "run", "table", "write"]

RESULT = "results/reference_check.csv"
SCRIPT = "check_reference.py"
# the originals' names -> this package's registry names
OURS = {"cnn": "wacnn"}
TIMEOUT_S = 1800  # seven models at the papers' widths take well under a minute on two cores

_LINE = re.compile(r"^(?P<name>\S+)\s+(?P<status>MATCH|DIFFERS)\s+(?P<facts>.*)$")
_SUMMARY = re.compile(r"^(\d+)/(\d+) models match the originals")
_PARAMS = re.compile(r"params ([\d,]+) vs original ([\d,]+)")
_NUMBER = r"([-+]?[\d.]+(?:e[-+]?\d+)?)"
_XHAT = re.compile(rf"(base|stress): x_hat max diff {_NUMBER}, bits {_NUMBER} vs {_NUMBER}")
_SIDE = re.compile(rf"(base|stress): side_hat max diff {_NUMBER}")
_BYTES = re.compile(r"(base|stress): (\d+) bytes, identical to original: (True|False)")
_REAL = re.compile(r"(base|stress): real (\d+) bytes vs estimated (\d+)")

COLUMNS = [
    "model",  # registry name here
    "original",  # the original's name
    "status",  # the check's verdict: MATCH or DIFFERS
    "params",  # parameters of ndic.models.build(model) at the paper's width
    "params_original",
    "params_equal",
    "x_hat_max_diff",  # max |x_hat - original x_hat| over both weight sets (images in [0, 1])
    "side_hat_max_diff",  # distributed models: the side image's reconstruction
    "bits",  # transmitted bits (likelihoods), base weights
    "bits_original",
    "bits_stress",  # the same with every conv/linear weight doubled
    "bits_stress_original",
    "bits_equal",
    "bytes",  # real bitstream bytes here, base weights
    "bytes_identical",  # WACNN/STF: equal to the original's bytes; NaN: the original has no entropy coder
    "bytes_estimated",  # NDIC-CAM family: the original's likelihood estimate of the same stream, in bytes
    "problems",
]


def reference_dir() -> Path:
    """The reference fixtures: ``$NDIC_REFERENCE``, else ``shared/reference`` beside the checkout."""
    given = os.environ.get("NDIC_REFERENCE")
    return Path(given).expanduser() if given else project_root().parent / "shared" / "reference"


def run(reference: str | os.PathLike | None = None, timeout: float = TIMEOUT_S) -> tuple[str, int, float]:
    """Run ``check_reference.py`` with this interpreter from the checkout: (stdout, exit status, seconds).

    Exit status 1 means a model differs; its report is still returned, to be shown.
    """
    folder = Path(reference) if reference is not None else reference_dir()
    script = folder / SCRIPT
    if not script.is_file():
        raise FileNotFoundError(
            f"no {SCRIPT} in {display(folder)}: set NDIC_REFERENCE to the reference fixtures' folder, "
            f"or read the committed result with ndic.fidelity.read()"
        )
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, str(script)], cwd=project_root(), env=env, capture_output=True, text=True, timeout=timeout
    )
    seconds = time.perf_counter() - start
    last = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    if done.returncode not in (0, 1) or not _SUMMARY.search(last):
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"{SCRIPT} failed (exit status {done.returncode}): {tail[0]}")
    return done.stdout, done.returncode, seconds


def _floats(pattern: re.Pattern, facts: str) -> dict[str, tuple[str, ...]]:
    return {m.group(1): m.groups()[1:] for m in pattern.finditer(facts)}


def parse(report: str) -> pd.DataFrame:
    """One row per model (:data:`COLUMNS`) from ``check_reference.py``'s report; ValueError if it has none."""
    rows: list[dict] = []
    for line in report.splitlines():
        if line.startswith("    - ") and rows:  # a problem of the model above
            rows[-1]["problems"] = "; ".join(filter(None, [rows[-1]["problems"], line[6:].strip()]))
            continue
        match = _LINE.match(line)
        if match is None:
            continue
        facts, name = match["facts"], match["name"]
        row = dict.fromkeys(COLUMNS, float("nan")) | {"original": name, "model": OURS.get(name, name)}
        row.update(status=match["status"], problems="")
        params = _PARAMS.search(facts)
        if params:
            row["params"], row["params_original"] = (int(v.replace(",", "")) for v in params.groups())
            row["params_equal"] = row["params"] == row["params_original"]
        recon = _floats(_XHAT, facts)
        if recon:
            row["x_hat_max_diff"] = max(float(v[0]) for v in recon.values())
            for case, prefix in (("base", "bits"), ("stress", "bits_stress")):
                if case in recon:
                    row[prefix], row[f"{prefix}_original"] = float(recon[case][1]), float(recon[case][2])
        side = _floats(_SIDE, facts)
        if side:
            row["side_hat_max_diff"] = max(float(v[0]) for v in side.values())
        coded = _floats(_BYTES, facts)
        if coded:
            row["bytes"] = int(coded.get("base", next(iter(coded.values())))[0])
            row["bytes_identical"] = all(v[1] == "True" for v in coded.values())
        real = _floats(_REAL, facts)
        if real:
            base = real.get("base", next(iter(real.values())))
            row["bytes"], row["bytes_estimated"] = int(base[0]), int(base[1])
        rows.append(row)
    if not rows:
        raise ValueError(f"no model line in the report of {SCRIPT} (is it the reference check's output?)")
    for row in rows:
        printed = [(row["bits"], row["bits_original"]), (row["bits_stress"], row["bits_stress_original"])]
        same = all(a == b for a, b in printed if a == a)  # NaN (not reported) is skipped
        row["bits_equal"] = same and "transmitted bits" not in row["problems"]
    return pd.DataFrame(rows, columns=COLUMNS).sort_values("model", ignore_index=True)


def _fixtures(folder: Path) -> dict[str, str]:
    """SHA-256 of every fixture the check read (which recordings the numbers are about)."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted((folder / "small").glob("*.pt"))}


def _originals(folder: Path) -> dict[str, str]:
    """The original repositories and commits the fixtures were recorded from, as their README states them."""
    readme = folder / "README.md"
    text = readme.read_text(encoding="utf-8") if readme.is_file() else ""
    return dict(re.findall(r"([\w.-]+/[\w.-]+)\s+at\s+commit\s+([0-9a-f]{7,40})", text))


def write(path: str | os.PathLike = RESULT, reference: str | os.PathLike | None = None) -> Path:
    """Run the check and commit its rows as ``path`` with a ``.meta.json`` (command, machine, fixtures)."""
    from .io import atomic_write_text
    from .results import provenance

    folder = Path(reference) if reference is not None else reference_dir()
    report, status, seconds = run(folder)
    frame = parse(report)
    meta = provenance("reference", f"python -m ndic.fidelity --out {display(resolve(path))}")
    meta.update(
        check=f"$NDIC_REFERENCE/{SCRIPT}",
        exit_status=status,
        seconds=round(seconds, 1),
        summary=report.strip().splitlines()[-1],
        originals=_originals(folder),
        fixtures=_fixtures(folder),
        date=time.strftime("%Y-%m-%d", time.gmtime()),
    )
    target = resolve(path)
    csv = frame.to_csv(index=False, lineterminator="\n")
    meta["files"] = {target.name: hashlib.sha256(csv.encode()).hexdigest()}
    atomic_write_text(target, csv)
    atomic_write_text(target.with_suffix(".meta.json"), json.dumps(meta, indent=2) + "\n")  # the meta last
    return target


def read(path: str | os.PathLike = RESULT) -> tuple[pd.DataFrame, dict]:
    """The committed rows and their ``.meta.json``; FileNotFoundError naming the command that writes them."""
    from .results import read_meta

    path = resolve(path)
    if not path.is_file():
        raise FileNotFoundError(f"no reference check result at {display(path)}: run python -m ndic.fidelity")
    frame = pd.read_csv(path)
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"{display(path)} is not a reference check result (no {', '.join(missing)} columns)")
    for column in ("params_equal", "bits_equal", "bytes_identical"):
        frame[column] = frame[column].map(lambda v: v if v != v else str(v) == "True")
    frame["problems"] = frame["problems"].fillna("")
    return frame, read_meta(path)


def load(reference: str | os.PathLike | None = None, path: str | os.PathLike = RESULT) -> tuple[pd.DataFrame, str]:
    """The check's rows and where they come from: run now where the fixtures exist, else the committed file."""
    folder = Path(reference) if reference is not None else reference_dir()
    if (folder / SCRIPT).is_file():
        report, _, seconds = run(folder)
        return parse(report), f"run while this page was built ({seconds:.0f} s)"
    frame, meta = read(path)
    when = meta.get("date", "an unrecorded date")
    return frame, (
        f"read from {display(resolve(path))} (the reference fixtures are not on this machine; that file was "
        f"written on {when} at commit {meta.get('git_commit', 'unknown')}, {meta.get('machine', 'machine unknown')})"
    )


def _yes_no(value) -> str:
    if value != value:  # NaN: not applicable
        return "n/a"
    return "yes" if value else "NO"


def table(frame: pd.DataFrame) -> pd.DataFrame:
    """The fidelity table as the book prints it: one row per model, verdicts as yes / NO / n/a."""
    out = pd.DataFrame(index=pd.Index(frame["model"], name="model"))
    out["original's name"] = frame["original"].to_numpy()
    out["parameters"] = [f"{int(v):,}" if v == v else "" for v in frame["params"]]
    out["parameters equal"] = [_yes_no(v) for v in frame["params_equal"]]
    out["max |x_hat difference|"] = [f"{v:.1e}" for v in frame["x_hat_max_diff"]]
    out["bits (base / stress)"] = [
        f"{a:,.1f} / {b:,.1f}" if a == a else "" for a, b in zip(frame["bits"], frame["bits_stress"], strict=True)
    ]
    out["bits equal"] = [_yes_no(v) for v in frame["bits_equal"]]
    out["bytes identical"] = [
        _yes_no(same) if same == same else f"n/a ({int(real):,} real vs {int(est):,} estimated)"
        for same, real, est in zip(frame["bytes_identical"], frame["bytes"], frame["bytes_estimated"], strict=True)
    ]
    out["verdict"] = frame["status"].to_numpy()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ndic.fidelity", description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=RESULT, help=f"result CSV (default: {RESULT})")
    parser.add_argument("--reference", default=None, help="the fixtures' folder (default: $NDIC_REFERENCE)")
    args = parser.parse_args(argv)
    try:
        path = write(args.out, args.reference)
    except (FileNotFoundError, RuntimeError, ValueError) as error:
        print(f"python -m ndic.fidelity: error: {error}", file=sys.stderr)
        return 2
    frame, _ = read(path)
    print(f"{display(path)}: {int((frame['status'] == 'MATCH').sum())}/{len(frame)} models match the originals")
    return 0


if __name__ == "__main__":
    sys.exit(main())
