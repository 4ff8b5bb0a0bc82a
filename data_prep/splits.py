"""Write NDIC-CAM's KITTI split lists into a KITTI folder.

``python -m data_prep.splits --root data/kitti``:

- ``KITTI_stereo_{train,val,test}.txt`` are generated from the folder by NDIC-CAM's rule
  (:mod:`ndic.data.splits`); on a complete KITTI tree they equal the published lists byte for byte,
  which is checked (SHA-256) and reported;
- ``KITTI_general_{train,val,test}.txt`` are random draws that no rule regenerates: they are fetched
  from their publication (pinned commits; val/test checked by SHA-256, train by its git blob id) or
  copied from ``--lists-from DIR`` (same checks), then checked against the KITTI General rule and
  the files present;
- ``--general-train-substitute`` writes, instead of the published train list, this project's
  stand-in drawn by the same rule (:func:`ndic.data.splits.kitti_general_sample`, ``--seed``), for
  machines that cannot fetch it; ``KITTI_general_train.README`` beside it says it is not the paper's.
  A later run without the flag replaces it by the published list.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the project's packages importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from data_prep.download import ChecksumError, download, verify
from ndic.data import default_root
from ndic.data import splits as rules
from ndic.io import atomic_write_bytes, atomic_write_text


def _published_status(name: str, text: str) -> str:
    published = rules.PUBLISHED_LISTS[name]
    if hashlib.sha256(text.encode()).hexdigest() == published.sha256:
        return "identical to the published list"
    pairs = text.count("\n") // 2
    return f"DIFFERS from the published list ({pairs} pairs here, {published.pairs} published: incomplete tree?)"


def write_stereo_lists(root: Path, out: Path) -> dict[str, str]:
    """Generate the three KITTI Stereo lists; returns ``{file name: status}``."""
    report = {}
    for split in rules.KITTI_STEREO_RULE:
        name = rules.list_name("stereo", split)
        pairs = rules.kitti_stereo_list(root, split)
        if not pairs:
            report[name] = "not written: no KITTI frames for it under the root"
            continue
        text = rules.format_list(pairs)
        atomic_write_text(out / name, text)
        report[name] = f"{len(pairs)} pairs, {_published_status(name, text)}"
    return report


GENERAL_SPLITS = ("train", "val", "test")
SUBSTITUTE_NOTE = "KITTI_general_train.README"  # its presence marks KITTI_general_train.txt as the substitute
GENERAL_TRAIN_NOTE = """KITTI_general_train.txt is NOT the published list: it is this project's substitute, written by
`python -m data_prep.splits --general-train-substitute --seed {seed}`.
NDIC-CAM (and DSIN before it) published their KITTI General train list; `python -m data_prep.splits`
fetches it (and replaces this file). This one follows the rule of the published val/test lists (two
cameras of one scene, 1..3 frames apart) on the training sets: every image once, with one random
partner. Results trained on it are not the paper's setup.
"""


def _fetch_list(name: str, target: Path, lists_from: Path | None, progress: bool) -> None:
    """Put the published list ``name`` at ``target``: copied from ``lists_from`` or downloaded, checked either way."""
    published = rules.PUBLISHED_LISTS[name]
    checks = {"sha256": published.sha256, "git_blob": published.git_blob}
    if lists_from is None:
        download(published.url, target, progress=progress, **checks)
        return
    source = lists_from / name
    if not source.is_file():
        raise FileNotFoundError(f"--lists-from {lists_from} has no {name}")
    verify(source, **checks)
    atomic_write_bytes(target, source.read_bytes())


def fetch_general_lists(
    root: Path, out: Path, lists_from: Path | None = None, progress: bool = True, splits=GENERAL_SPLITS
) -> tuple[dict[str, str], bool]:
    """Fetch (or copy from ``lists_from``) the published KITTI General lists of ``splits`` and check them.

    Returns ``({file name: status}, every list written)``. A list that cannot be fetched or fails
    its checksum is reported and left out; the others are still written.
    """
    report, complete = {}, True
    for split in splits:
        name = rules.list_name("general", split)
        target = out / name
        # the published list supersedes this project's substitute, which stays until it has arrived
        substitute = split == "train" and (out / SUBSTITUTE_NOTE).is_file()
        fetched = out / f"{name}.published" if substitute else target
        try:
            _fetch_list(name, fetched, lists_from, progress)
            if substitute:
                os.replace(fetched, target)
                (out / SUBSTITUTE_NOTE).unlink()
        except (OSError, RuntimeError, ChecksumError) as error:
            if isinstance(error, ChecksumError):
                fix = "It is not the published file; a copy already there is kept: delete it to fetch the list again"
            else:
                fix = "Offline? Rerun with --lists-from DIR holding the published lists"
            if split == "train":
                fix += ", or write the labelled substitute with --general-train-substitute"
            report[name] = f"not written: {error}. {fix}."
            complete = False
            continue
        pairs = rules.read_list(target)
        problems = rules.check_kitti_general(pairs)
        missing = rules.missing_files(root, pairs)
        status = f"{len(pairs)} pairs, the published list"
        if substitute:
            status += "; replaces this project's substitute"
        if problems:
            status += f"; {len(problems)} pairs break the val/test rule, e.g. {problems[0]}"
        if missing:
            status += f"; {len(missing)} images missing under {root}, e.g. {missing[0]}"
        report[name] = status
    return report, complete


def write_general_train(root: Path, out: Path, seed: int) -> str:
    """Write this project's substitute KITTI General train list, labelled by ``KITTI_general_train.README``."""
    pairs = rules.kitti_general_sample(root, "training", seed)
    if not pairs:
        return "not written: no KITTI training frames under the root"
    atomic_write_text(out / "KITTI_general_train.txt", rules.format_list(pairs))
    atomic_write_text(out / SUBSTITUTE_NOTE, GENERAL_TRAIN_NOTE.format(seed=seed))
    return f"{len(pairs)} pairs, SUBSTITUTE drawn by this project (seed {seed}), not the published list"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, default=None, help="folder for the lists (default: the root)")
    p.add_argument("--lists-from", type=Path, default=None, help="folder with the published KITTI General lists")
    p.add_argument("--no-general", action="store_true", help="skip the KITTI General lists")
    p.add_argument(
        "--general-train-substitute",
        action="store_true",
        help="fallback: write this project's labelled stand-in for the published KITTI General train list",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the substitute train list (default: 0)")


def run(args: argparse.Namespace) -> int:
    root = args.root
    if not any((root / archive).is_dir() for archive in rules.ARCHIVES):
        print(f"error: no {' or '.join(rules.ARCHIVES)} under {root}; run python -m data_prep.kitti --root {root}")
        return 2
    out = args.out or root
    report = write_stereo_lists(root, out)
    status = 0
    if not args.no_general:
        splits = GENERAL_SPLITS[1:] if args.general_train_substitute else GENERAL_SPLITS
        fetched, complete = fetch_general_lists(root, out, args.lists_from, not args.quiet, splits)
        report.update(fetched)
        status = 0 if complete else 2  # a list is missing or failed its checksum: the report says which
    if args.general_train_substitute:
        report["KITTI_general_train.txt"] = write_general_train(root, out, args.seed)
    for name, line in report.items():
        print(f"{out / name}: {line}")
    return status


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m data_prep.splits", description=__doc__.splitlines()[0])
    p.add_argument("--root", type=Path, default=default_root("kitti_stereo"), help="KITTI folder (%(default)s)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    add_arguments(p)
    return run(p.parse_args(argv))


if __name__ == "__main__":
    from data_prep._common import run_command

    sys.exit(run_command(main, "splits"))
