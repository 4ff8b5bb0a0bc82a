"""Result files shared by learned-model evaluation and classical codecs: writing, finding, reading.

One tidy CSV row per (method, quality point, dataset, image); the same numbers aggregated into
CompressAI's JSON layout so that curves from here and from CompressAI's published files plot
together. Every file carries its provenance (command, profile, the ndic package's git commit, versions,
hardware) beside it, in ``<name>.meta.json``; :func:`machine_info` gives benchmarks the same columns.

A result set (CSV, CompressAI JSON, ``.meta.json``) is written as one unit (:func:`write_result_set`):
every file goes to a temporary first, then, under the folder's lock, the temporaries are renamed with the
``.meta.json`` last. The meta records the SHA-256 of the set's files, so it is the commit marker: the
readers (:func:`find_results`, :func:`load_results`) skip a CSV without one, or whose meta names other
bytes (a writer that died between renames, or one still renaming).

Why this module is long: writing a set, finding whole sets and reading them back share one rule (what a
committed set is); split apart, the writer's and the readers' halves of that rule could drift.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import platform
import re
import secrets
import subprocess
import sys
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from .io import _host_tag, atomic_write_bytes, atomic_write_text
from .paths import TRAINING_RECORDS, display, resolve

# columns of a per-image result row, in file order
COLUMNS = [
    "method",  # registry name of a model, or codec name
    "label",  # the curve's label in plots (truthful: "VVC (vvenc 1.x, 4:2:0)", not "VTM")
    "quality",  # lambda of a learned model or the codec's quality parameter
    "dataset",
    "image",
    "height",
    "width",
    "bytes",
    "bpp",  # from the real bitstream's byte count
    "bpp_estimated",  # from likelihoods (learned models only; NaN for classical codecs)
    "psnr",  # RGB, 8-bit rounded, peak 255
    "ms_ssim",
    "ms_ssim_db",
    "encoding_time",  # seconds
    "decoding_time",
    "profile",  # "quick", "cpu" (CPU-scale models) or "paper"
]


# column load_results adds: how many images the rows' dataset has (their meta's "of"), to tell partial sets
DATASET_IMAGES = "dataset_images"

UNKNOWN_COMMIT = "unknown (not a git checkout)"


OUTPUT_FOLDERS = ("results/", "benchmarks/results/", "checkpoints/")  # outputs, not code (see code_commit)


def code_commit(folder: str | os.PathLike | None = None) -> tuple[str, bool | None]:
    """(short commit, dirty) of the git checkout that tracks ``folder`` (default: the ndic package itself).

    The code that ran is the package, wherever the command ran from: the commit of the current folder
    (another project, or none) says nothing about it. A package folder git does not track (an installed
    copy, a copy inside another project's ignored folder) gives ``(UNKNOWN_COMMIT, None)``. Dirty: the
    checkout has changes, untracked files included, against that commit, outside :data:`OUTPUT_FOLDERS`
    (results, benchmark records and the exported checkpoints: what commands write, not code).
    """
    folder = str(folder or Path(__file__).resolve().parent)

    def git(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", "-C", folder, *args], capture_output=True, text=True, timeout=10)

    try:
        if git("ls-files", "--error-unmatch", "__init__.py").returncode != 0:
            return UNKNOWN_COMMIT, None
        commit = git("rev-parse", "--short", "HEAD")
        if commit.returncode != 0:  # a repository without a commit yet
            return UNKNOWN_COMMIT, None
        # results/, benchmarks/results/ and checkpoints/ hold outputs, not code: outputs being written (by this
        # run or the one before it) do not make the code that writes them dirty
        status = git("status", "--porcelain", "--untracked-files=all", "--", ":/").stdout
        changed = [line for line in status.splitlines() if line.strip()]
        return commit.stdout.strip(), any(not line[3:].lstrip('"').startswith(OUTPUT_FOLDERS) for line in changed)
    except (OSError, subprocess.SubprocessError):  # no git on this machine
        return UNKNOWN_COMMIT, None


def ndic_command() -> str | None:
    """This process's command line as ``python -m ndic ...`` when it is ndic's command line interface (never
    this machine's path to it); None otherwise (:func:`provenance` then names the program)."""
    program = Path(sys.argv[0]) if sys.argv and sys.argv[0] else Path()
    ours = program.name == "ndic" or program.parts[-2:] == ("ndic", "__main__.py")
    return " ".join(["python -m ndic", *sys.argv[1:]]) if ours else None


def provenance(profile: str, command: str | None = None) -> dict:
    """Where a result came from: command line, profile, the ndic package's commit and versions, machine."""
    import compressai
    import torch

    from . import __version__

    commit, dirty = code_commit()
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    return {
        "command": command or " ".join([os.path.basename(sys.argv[0]), *sys.argv[1:]]),
        "profile": profile,
        "git_commit": commit + ("-dirty" if dirty else ""),
        "git_dirty": dirty,
        "ndic": __version__,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, {device}",
        "torch": torch.__version__,
        "compressai": compressai.__version__,
        "python": platform.python_version(),
    }


def write_rows(rows: list[dict], path: str | os.PathLike, meta: dict | None = None) -> Path:
    """Per-image rows as CSV and their provenance as ``<path>.meta.json``, committed as one set.

    An earlier set of this name is replaced (the classical codecs' sweeps re-run as a whole); use
    :func:`write_result_set` for a set that must not replace another evaluation.
    """
    path, frame = Path(path), pd.DataFrame(rows)
    meta = dict(meta or {})
    _commit_set(path, {path: _csv_bytes(frame)}, {**meta, **image_coverage(frame, meta)})
    return path


def image_coverage(frame: pd.DataFrame, meta: Mapping[str, Any]) -> dict[str, int | None]:
    """``{"images": n, "of": N}``: how many distinct images the rows average, of how many the dataset has.

    ``N`` is ``meta["of"]`` (the writer counted its source), else the image count of ``meta["evaluated"]``
    when that evaluation had no limit; None when unknown. A set with ``n < N`` is partial (``--limit``, or
    images a codec cannot code): :mod:`ndic.plot` labels or refuses curves that mix it with other sets.
    """
    images = int(frame["image"].nunique()) if "image" in frame.columns else 0
    of = meta.get("of")
    evaluated = meta.get("evaluated")
    if of is None and isinstance(evaluated, Mapping) and not evaluated.get("limit"):
        of = evaluated.get("images")
    if of is not None and int(of) < images:
        raise ValueError(f"the rows cover {images} images but meta says the dataset has {of} (meta['of'])")
    return {"images": images, "of": None if of is None else int(of)}


def _csv_bytes(frame: pd.DataFrame) -> bytes:
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"result rows lack columns {missing}")
    extra = [c for c in frame.columns if c not in COLUMNS]
    return frame[COLUMNS + extra].to_csv(index=False).encode("utf-8")


def read_rows(*paths: str | os.PathLike) -> pd.DataFrame:
    """Concatenate result CSVs written by :func:`write_rows`."""
    if not paths:
        raise ValueError("no result files given")
    return pd.concat([pd.read_csv(p) for p in paths], ignore_index=True)


def summarize(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean over images of every metric, one row per (method, label, dataset, quality).

    ``ms_ssim_db`` of a curve point is the dB of the mean MS-SSIM, ``-10 log10(1 - mean)``, the
    convention of CompressAI's and STF's published points (not the mean of per-image dB values, which
    is 0.2-0.3 dB higher on Kodak); the per-image rows keep their own dB values.
    """
    keys = ["method", "label", "dataset", "quality"]
    metrics = ["bpp", "bpp_estimated", "psnr", "ms_ssim", "encoding_time", "decoding_time"]
    # dropna=False: a quality of NaN (e.g. evaluate(quality=None)) is still a curve point
    out = frame.groupby(keys, sort=False, dropna=False)[metrics].mean().reset_index()
    out["ms_ssim_db"] = [_db(value) for value in out["ms_ssim"]]
    out["images"] = frame.groupby(keys, sort=False, dropna=False).size().to_numpy()
    if DATASET_IMAGES in frame.columns:  # how many images the dataset has (load_results; NaN: unknown)
        out[DATASET_IMAGES] = frame.groupby(keys, sort=False, dropna=False)[DATASET_IMAGES].max().to_numpy()
    return out.sort_values(["method", "bpp"]).reset_index(drop=True)


def _db(mean_ms_ssim: float) -> float:
    if not math.isfinite(mean_ms_ssim):
        return math.nan
    return math.inf if mean_ms_ssim >= 1 else -10 * math.log10(1 - mean_ms_ssim)


def to_compressai_json(frame: pd.DataFrame, name: str, description: str = "") -> dict:
    """CompressAI's results layout: one list entry per quality point, ordered by rate."""
    summary = summarize(frame)
    if summary["method"].nunique() != 1 or summary["dataset"].nunique() != 1:
        raise ValueError("a CompressAI JSON file holds one method on one dataset")
    return {
        "name": name,
        "description": description,
        "results": {
            "bpp": summary["bpp"].tolist(),
            "psnr-rgb": summary["psnr"].tolist(),
            "ms-ssim-rgb": summary["ms_ssim"].tolist(),
            "encoding_time": summary["encoding_time"].tolist(),
            "decoding_time": summary["decoding_time"].tolist(),
        },
    }


def write_compressai_json(frame: pd.DataFrame, path: str | os.PathLike, name: str, description: str = "") -> Path:
    return atomic_write_text(path, json.dumps(to_compressai_json(frame, name, description), indent=2) + "\n")


def write_result_set(
    frame: pd.DataFrame, path: str | os.PathLike, description: str, meta: Mapping[str, Any], overwrite: bool = False
) -> Path:
    """Per-image rows (``path``, CSV), CompressAI's JSON (``.json``) and ``.meta.json``, committed as one unit.

    The set under ``path`` may be replaced by the same evaluation run again (:func:`result_identity`
    equal: new timings, new provenance); a set of another evaluation is refused (FileExistsError, one
    line) unless ``overwrite``. The check and the renames happen under the folder's lock, so of two
    concurrent writers of one name either both write the same evaluation or one is refused.
    """
    path = Path(path)
    layout = to_compressai_json(frame, str(frame["label"].iloc[0]), description)
    contents = {path: _csv_bytes(frame), path.with_suffix(".json"): (json.dumps(layout, indent=2) + "\n").encode()}
    _commit_set(path, contents, {**meta, **image_coverage(frame, meta)}, result_identity(meta, frame), overwrite)
    return path


def result_name(evaluated: Mapping[str, Any]) -> str:
    """``<model>_w<weights>_<dataset>-<split>_lambda<lambda | -unknown>[_first<N>]``: a file name saying what
    was evaluated (``meta["evaluated"]``), so that no other evaluation lands on it."""
    dataset = evaluated["dataset"]
    if dataset == "images" and evaluated.get("root"):  # a folder of images: which one
        dataset += "." + Path(evaluated["root"]).name
    quality = "-unknown" if evaluated["quality"] is None else f"{evaluated['quality']:g}"
    name = f"{evaluated['model']}_w{evaluated['weights'][:8]}_{dataset}-{evaluated['split']}_lambda{quality}"
    name += f"_first{evaluated['limit']}" if evaluated.get("limit") else ""
    return re.sub(r"[^A-Za-z0-9_.=+-]+", "_", name)


def describe_evaluation(evaluated: Mapping[str, Any]) -> str:
    """A CompressAI JSON's description of ``meta["evaluated"]``: profile, weights, lambda, data."""
    quality = "unknown (released weights, no --lambda)" if evaluated["quality"] is None else f"{evaluated['quality']:g}"
    weights = f"{evaluated['checkpoint']['kind']} {evaluated['weights'][:8]}"
    data = f"{evaluated['dataset']} {evaluated['split']} split, {evaluated['images']} images"
    return f"{evaluated['profile']} profile, {weights}, lambda {quality}, {data}"


# keys of meta["evaluated"] that say where the inputs lay, not what was evaluated
_WHERE_FROM = ("checkpoint", "root")


def result_identity(meta: Mapping[str, Any], frame: pd.DataFrame | None = None) -> dict[str, Any]:
    """What makes two result sets the same evaluation, timings and provenance aside.

    ``meta["evaluated"]`` (model, weights, data, split, images, quality, label; see
    :func:`ndic.evaluate.evaluation_record`) without where the files lay; without it, the rows' methods,
    labels, datasets, qualities, images and profiles.
    """
    evaluated = meta.get("evaluated")
    if isinstance(evaluated, Mapping):
        return json.loads(json.dumps({k: v for k, v in evaluated.items() if k not in _WHERE_FROM}))
    if frame is None:
        raise ValueError("a result's identity needs meta['evaluated'] or its rows")
    keys = ("method", "label", "dataset", "quality", "image", "profile")
    return {key: sorted(frame[key].astype(str).unique()) for key in keys}


def check_free(path: str | os.PathLike, meta: Mapping[str, Any], overwrite: bool = False) -> None:
    """Raise FileExistsError if ``path`` holds a set of another evaluation than ``meta`` describes.

    :func:`write_result_set` checks again when it commits; checking first refuses before a long evaluation.
    """
    if not overwrite:
        _refuse_other_evaluation(Path(path), result_identity(meta))


def _refuse_other_evaluation(path: Path, identity: dict[str, Any]) -> None:
    if incomplete_reason(path) is not None:  # nothing committed (or a torso nobody reads): free
        return
    existing = read_meta(path).get("identity")
    if existing == identity:
        return
    if isinstance(existing, Mapping):
        keys = sorted(k for k in existing.keys() | identity.keys() if existing.get(k) != identity.get(k))
        what = "its " + ", ".join(f"{k} is {existing.get(k)!r}, not {identity.get(k)!r}" for k in keys)
    else:
        what = "written without a record of what it evaluated"
    raise FileExistsError(
        f"{display(path)} holds another evaluation ({what}); pass --overwrite (overwrite=True) to replace it, "
        "or write elsewhere (--out)"
    )


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _commit_set(
    path: Path,
    contents: Mapping[Path, bytes],
    meta: dict[str, Any],
    identity: dict[str, Any] | None = None,
    overwrite: bool = True,
) -> None:
    """Write ``contents`` and ``<path>.meta.json`` to temporaries, then rename them, the meta last."""
    meta = {**meta, "files": {target.name: _sha256(data) for target, data in contents.items()}}
    if identity is not None:
        meta["identity"] = identity
    files = [*contents.items(), (path.with_suffix(".meta.json"), (json.dumps(meta, indent=2) + "\n").encode())]
    staged: list[tuple[Path, Path]] = []
    try:
        for target, data in files:  # the slow part (and a full disk) happens before anything is replaced
            staged.append((atomic_write_bytes(_temporary_name(target), data), target))
        with _folder_lock(path.parent):
            if not overwrite and identity is not None:
                _refuse_other_evaluation(path, identity)
            for temporary, target in staged:
                os.replace(temporary, target)
    finally:
        for temporary, _ in staged:
            if temporary.exists():
                temporary.unlink()


def _temporary_name(target: Path) -> Path:
    """``.<name>.<host>.<pid>.<random>.tmp``: ndic.io's naming, so remove_stale_temporaries knows the writer."""
    return target.with_name(f".{target.name}.{_host_tag()}.{os.getpid()}.{secrets.token_hex(6)}.tmp")


@contextlib.contextmanager
def _folder_lock(folder: Path) -> Iterator[None]:
    """An exclusive ``flock`` on the folder itself (no lock file to leave behind), released on exit or death.

    Where flock does not exist (Windows) or the file system refuses it, writers are not serialised: each
    file is still replaced atomically, and readers still check a set's hashes.
    """
    try:
        import fcntl
    except ImportError:
        yield
        return
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        with contextlib.suppress(OSError):
            fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)  # closing releases the lock


def cpu_name() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux)."""
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.is_file() else []
    names = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
    return names[0] if names else platform.processor() or platform.machine()


def machine_info(device: Any = None, profile: str = "") -> dict[str, Any]:
    """Provenance plus what a timing depends on: CPU, cores, threads, GPU, versions and date (benchmarks)."""
    from datetime import UTC, datetime

    import torch

    device = torch.device(device or "cpu")
    return {
        **provenance(profile),  # versions of ndic, torch and compressai included
        "cpu": cpu_name(),
        "cpu_cores": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else "",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }


# ---------------------------------------------------------------------------- finding and reading results
def read_meta(csv_path: str | os.PathLike) -> dict[str, Any]:
    """The provenance beside a result or benchmark CSV (``<name>.meta.json``), or {} when absent."""
    path = Path(csv_path).with_suffix(".meta.json")
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def is_result_csv(path: str | os.PathLike) -> bool:
    """Whether a CSV holds per-image result rows (:data:`ndic.results.COLUMNS`)."""
    try:
        with open(path, encoding="utf-8") as f:
            header = f.readline().strip().split(",")
    except (OSError, UnicodeDecodeError):
        return False
    return all(column in header for column in COLUMNS)


def incomplete_reason(csv_path: str | os.PathLike) -> str | None:
    """Why the set of ``csv_path`` is not a committed result (None: it is).

    A set names its files and their SHA-256 in its ``.meta.json``; the CSV must have exactly those bytes
    and the other files must exist (the JSON is derived from the rows, and ``ndic baselines
    --summaries-only`` rewrites it). A meta without hashes was written before sets were committed as
    units and is taken as it is.
    """
    path = Path(csv_path)
    if not path.is_file():
        return "no CSV"
    meta_path = path.with_suffix(".meta.json")
    if not meta_path.is_file():
        return "no .meta.json"
    files = read_meta(path).get("files")
    if files is None:
        return None if read_meta(path) else "unreadable .meta.json"
    if files.get(path.name) != _sha256(path.read_bytes()):
        return "its .meta.json names other content"
    missing = sorted(name for name in files if not (path.parent / name).is_file())
    return f"{', '.join(missing)} missing" if missing else None


def find_results(results_dir: str | os.PathLike) -> list[Path]:
    """Every committed per-image result CSV under ``results_dir`` (recursively, but not inside its
    :data:`ndic.paths.TRAINING_RECORDS` folders), sorted.

    Incomplete sets (being written, or left by a writer that died) are skipped with a warning naming them.
    """
    root = resolve(results_dir)
    if not root.is_dir():
        return []
    found, skipped = [], []
    csvs = (p for p in root.rglob("*.csv") if TRAINING_RECORDS not in p.relative_to(root).parts[:-1])
    for path in sorted(p for p in csvs if is_result_csv(p)):
        reason = incomplete_reason(path)
        if reason is None:
            found.append(path)
        else:
            skipped.append(f"{path.relative_to(root)} ({reason})")
    if skipped:
        warnings.warn(f"skipped incomplete result sets (being written, or a writer died): {'; '.join(skipped)}",
                      stacklevel=2)  # fmt: skip
    return found


def load_results(results_dir: str | os.PathLike) -> pd.DataFrame:
    """Every committed result row under ``results_dir`` with its file (``source``), provenance columns
    (``machine``, ``git_commit``, ``command``) and ``dataset_images`` (how many images the dataset has, from the
    meta's ``of``; NaN: not recorded); empty when there is none."""
    frames = []
    root = resolve(results_dir)
    for path in find_results(root):
        frame = pd.read_csv(path)
        meta = read_meta(path)
        frame["source"] = str(path.relative_to(root))
        frame["machine"] = meta.get("machine", "unknown (not recorded)")
        frame["git_commit"] = meta.get("git_commit", "")
        frame["command"] = meta.get("command", "")
        frame[DATASET_IMAGES] = meta.get("of") if meta.get("of") is not None else math.nan
        frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=[*COLUMNS, "source"])


def provenance_table(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per result file: dataset, methods, images, profile, machine and git commit."""
    columns = ["file", "dataset", "methods", "images", "profile", "machine", "commit"]
    if frame.empty:
        return pd.DataFrame(columns=columns).set_index("file")
    rows = []
    for source, group in frame.groupby("source", sort=True):
        rows.append(
            {
                "file": source,
                "dataset": ", ".join(sorted(group["dataset"].astype(str).unique())),
                "methods": ", ".join(sorted(group["label"].astype(str).unique())),
                "images": group["image"].nunique(),
                "profile": ", ".join(sorted(group["profile"].astype(str).unique())),
                "machine": group["machine"].iloc[0],
                "commit": group["git_commit"].iloc[0],
            }
        )
    return pd.DataFrame(rows, columns=columns).set_index("file")


def commands_markdown(frame: pd.DataFrame) -> str:
    """The commands that wrote the result files, as a Markdown list (each with the files it wrote)."""
    if frame.empty:
        return "No result file, so no command to list."
    lines = []
    for command, group in frame.groupby("command", sort=True):
        files = ", ".join(f"`{name}`" for name in sorted(group["source"].unique()))
        lines.append(f"- `{command or 'unknown (no .meta.json)'}`: {files}")
    return "\n".join(lines)


def describe_origin(frame: pd.DataFrame) -> str:
    """ "<profiles> profile, <machines>": what a figure or table of these rows says it came from."""
    profiles = sorted(frame["profile"].astype(str).unique())
    machines = sorted(frame["machine"].astype(str).unique()) if "machine" in frame else []
    text = " + ".join(profiles) + " profile"
    if "quick" in profiles or "cpu" in profiles:
        text += " (not a paper reproduction)"
    return text + (f"; {'; '.join(machines)}" if machines else "")


def read_benchmark(name: str, folder: str | os.PathLike = "benchmarks/results") -> tuple[pd.DataFrame | None, str]:
    """A benchmark CSV (``<folder>/<name>.csv``) and its origin as Markdown (or None and why not)."""
    path = resolve(folder) / f"{name}.csv"
    if not path.is_file():
        return None, f"`{Path(folder) / (name + '.csv')}` is absent: run the benchmark named in the protocol chapter."
    frame = pd.read_csv(path)
    meta = read_meta(path)
    origin = []
    for key in ("profile", "machine", "cpu", "cpu_cores", "gpu", "threads", "torch", "git_commit", "date", "command"):
        value = meta.get(key)
        if value in (None, "") and key in frame and frame[key].nunique() == 1:
            value = frame[key].iloc[0]
        if value not in (None, "") and not (isinstance(value, float) and math.isnan(value)):
            origin.append(f"{key} `{value}`")
    return frame, "; ".join(origin) or "no provenance recorded"
