"""ndic.results' files: a result set (CSV, CompressAI JSON, .meta.json) is committed as a unit, readers see
whole sets only, concurrent writers never mix or silently replace each other, and the provenance names the
code that ran (the ndic package's own commit and versions), not the folder it ran from."""

import hashlib
import json
import multiprocessing
import subprocess
from pathlib import Path

import pandas as pd
import pytest

import ndic
from ndic import results
from ndic.results import COLUMNS

PACKAGE = Path(ndic.__file__).resolve().parent


def _frame(label: str, images=("a", "b"), psnr: float = 30.0) -> pd.DataFrame:
    rows = []
    for index, image in enumerate(images):
        row = dict.fromkeys(COLUMNS, float("nan"))
        row.update(method="m", label=label, quality=0.1, dataset="synthetic", image=image, height=8, width=8,
                   bytes=8 + index, bpp=1.0 + index, psnr=psnr + index, ms_ssim=0.9, ms_ssim_db=10.0,
                   encoding_time=0.1, decoding_time=0.1, profile="quick")  # fmt: skip
        rows.append(row)
    return pd.DataFrame(rows, columns=COLUMNS)


def _git(folder: Path, *args: str) -> str:
    command = ["git", "-C", str(folder), "-c", "user.name=t", "-c", "user.email=t@example.org", *args]
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip()


# ---------------------------------------------------------------------------- provenance (issue 13, item 4)
def test_provenance_names_the_package_commit_from_any_folder(tmp_path, monkeypatch):
    import compressai
    import torch

    expected = _git(PACKAGE, "rev-parse", "--short", "HEAD")
    status = _git(PACKAGE, "status", "--porcelain", "--untracked-files=all", "--", ":/").splitlines()
    dirty = any(line.strip() and not line[3:].startswith(results.OUTPUT_FOLDERS) for line in status)
    other = tmp_path / "other_repository"
    other.mkdir()
    _git(other, "init", "-q")
    (other / "f.txt").write_text("x")
    _git(other, "add", "f.txt")
    _git(other, "commit", "-q", "-m", "another project")
    outside = tmp_path / "no_repository"
    outside.mkdir()
    for folder in (other, outside):  # run from another repository, then from no repository at all
        monkeypatch.chdir(folder)
        meta = results.provenance("quick", "test")
        assert meta["git_commit"] == expected + ("-dirty" if dirty else ""), folder
        assert meta["git_dirty"] is dirty
    assert meta["ndic"] == ndic.__version__
    assert meta["torch"] == torch.__version__ and meta["compressai"] == compressai.__version__


def test_a_package_outside_a_checkout_has_an_unknown_commit(tmp_path):
    loose = tmp_path / "site-packages" / "ndic"  # e.g. an installed copy
    loose.mkdir(parents=True)
    (loose / "__init__.py").write_text("")
    assert results.code_commit(loose) == ("unknown (not a git checkout)", None)

    # inside another repository, but not part of it (an ignored virtual environment in a project)
    repository = tmp_path / "project"
    package = repository / ".venv" / "ndic"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    _git(repository, "init", "-q")
    (repository / ".gitignore").write_text(".venv/\n")
    _git(repository, "add", ".gitignore")
    _git(repository, "commit", "-q", "-m", "project")
    assert results.code_commit(package) == ("unknown (not a git checkout)", None)

    # a tracked copy is a checkout: its repository's commit, dirty once a file changes
    vendored = repository / "lib" / "ndic"
    vendored.mkdir(parents=True)
    (vendored / "__init__.py").write_text("")
    _git(repository, "add", "lib")
    _git(repository, "commit", "-q", "-m", "vendor ndic")
    head = _git(repository, "rev-parse", "--short", "HEAD")
    assert results.code_commit(vendored) == (head, False)
    (repository / "results" / "cpu").mkdir(parents=True)  # outputs being written are not code changes
    (repository / "results" / "cpu" / "run.csv").write_text("a\n")
    (repository / "benchmarks" / "results").mkdir(parents=True)
    (repository / "benchmarks" / "results" / "flops.csv").write_text("a\n")
    assert results.code_commit(vendored) == (head, False)
    (repository / "benchmarks" / "bench.py").write_text("code = True\n")  # code beside the outputs is code
    assert results.code_commit(vendored) == (head, True)
    (repository / "benchmarks" / "bench.py").unlink()
    (vendored / "__init__.py").write_text("changed = True\n")
    assert results.code_commit(vendored) == (head, True)


# ---------------------------------------------------------------------------- one set, one unit (item 3)
def test_the_meta_file_commits_a_set_and_readers_skip_incomplete_sets(tmp_path):
    csv = results.write_result_set(_frame("one"), tmp_path / "one.csv", "test set", {"command": "test"})
    meta = json.loads(csv.with_suffix(".meta.json").read_text())
    assert meta["files"]["one.csv"] == hashlib.sha256(csv.read_bytes()).hexdigest()
    assert meta["files"]["one.json"] == hashlib.sha256(csv.with_suffix(".json").read_bytes()).hexdigest()
    assert results.find_results(tmp_path) == [csv]
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]  # no temporary left behind

    # a writer that died after renaming its CSV, before its .meta.json: the meta names another hash
    committed = csv.read_bytes()
    csv.write_bytes(_frame("two", psnr=20).to_csv(index=False).encode())
    with pytest.warns(UserWarning, match="one.csv"):
        assert results.find_results(tmp_path) == []
    csv.write_bytes(committed)
    assert results.find_results(tmp_path) == [csv]

    # a set whose JSON is missing, and a CSV without any .meta.json, are not results yet
    csv.with_suffix(".json").unlink()
    bare = tmp_path / "bare.csv"
    bare.write_text(_frame("bare").to_csv(index=False))
    with pytest.warns(UserWarning, match="bare.csv"):
        assert results.find_results(tmp_path) == []
        assert results.load_results(tmp_path).empty


def test_an_existing_different_result_is_never_replaced_silently(tmp_path):
    path = tmp_path / "r.csv"
    first = results.write_result_set(_frame("one"), path, "d", {"command": "first"})
    # the same evaluation again (new timings): rewritten
    again = _frame("one")
    again["encoding_time"] = 0.5
    results.write_result_set(again, path, "d", {"command": "again"})
    assert results.read_rows(first)["encoding_time"].eq(0.5).all()
    # another evaluation under the same name: refused in one line that names the way out
    with pytest.raises(FileExistsError, match="--overwrite") as refused:
        results.write_result_set(_frame("one", images=("a", "c")), path, "d", {"command": "other"})
    assert "\n" not in str(refused.value)
    assert list(results.read_rows(path)["image"]) == ["a", "b"]
    assert json.loads(path.with_suffix(".meta.json").read_text())["command"] == "again"
    results.write_result_set(_frame("one", images=("a", "c")), path, "d", {"command": "other"}, overwrite=True)
    assert list(results.read_rows(path)["image"]) == ["a", "c"]


def _write_in_a_process(barrier, folder: str, label: str, psnr: float, rounds: int, outcomes) -> None:
    """Each round: write this writer's own evaluation to ``other.csv``, then the evaluation both writers
    share to ``same.csv``, the two writers starting together each time."""
    import os
    import time

    replace = os.replace

    def slow_replace(source, target):  # widen the window between a writer's check and its last rename
        time.sleep(0.05)
        replace(source, target)

    os.replace = slow_replace  # in this spawned process only
    for _ in range(rounds):
        for name, frame in (("other.csv", _frame(label, psnr=psnr)), ("same.csv", _frame("same"))):
            barrier.wait()
            try:
                results.write_result_set(frame, Path(folder) / name, str(frame["label"][0]), {"command": label})
                outcomes.put((name, label, "written"))
            except FileExistsError:
                outcomes.put((name, label, "refused"))


def _assert_one_whole_set(csv: Path) -> pd.DataFrame:
    meta = json.loads(csv.with_suffix(".meta.json").read_text())
    frame = results.read_rows(csv)
    assert meta["files"][csv.name] == hashlib.sha256(csv.read_bytes()).hexdigest()
    layout = json.loads(csv.with_suffix(".json").read_text())
    assert layout["name"] == frame["label"].iloc[0]  # CSV and JSON from one writer
    assert layout["results"]["psnr-rgb"] == pytest.approx([frame["psnr"].mean()])
    return meta


def test_two_processes_writing_one_name_never_mix_their_files(tmp_path):
    context = multiprocessing.get_context("spawn")  # no fork of a process that holds torch's threads
    barrier, outcomes, rounds = context.Barrier(2), context.Queue(), 3
    writers = [("left", 30.0), ("right", 20.0)]
    processes = [context.Process(target=_write_in_a_process, args=(barrier, str(tmp_path), label, psnr, rounds,
                                                                   outcomes)) for label, psnr in writers]  # fmt: skip
    for process in processes:
        process.start()
    done = [outcomes.get(timeout=120) for _ in range(2 * rounds * len(writers))]
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]

    # two different evaluations: the first to commit keeps the name, the other is refused every time
    meta = _assert_one_whole_set(tmp_path / "other.csv")
    winner = meta["command"]
    assert results.read_rows(tmp_path / "other.csv")["label"].eq(winner).all()  # the meta is the winner's too
    assert {outcome for name, label, outcome in done if name == "other.csv" and label == winner} == {"written"}
    assert {outcome for name, label, outcome in done if name == "other.csv" and label != winner} == {"refused"}
    # the same evaluation from both: each run replaces the set, which stays whole
    assert {outcome for name, _, outcome in done if name == "same.csv"} == {"written"}
    _assert_one_whole_set(tmp_path / "same.csv")
