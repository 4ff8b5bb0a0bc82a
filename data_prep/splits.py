"""Write NDIC-CAM's KITTI split lists into a KITTI folder.

``python -m data_prep.splits --root data/kitti``:

- ``KITTI_stereo_{train,val,test}.txt`` are generated from the folder by NDIC-CAM's rule
  (:mod:`ndic.data.splits`); on a complete KITTI tree they equal the published lists byte for byte,
  which is checked (SHA-256) and reported;
- ``KITTI_general_{val,test}.txt`` are random draws that no rule regenerates: they are fetched from
  their publication (pinned commit, SHA-256 checked) or copied from ``--lists-from DIR``, and
  checked against the KITTI General rule and the files present;
- ``--general-train`` writes this project's substitute for the unpublished KITTI General train list
  (:func:`ndic.data.splits.kitti_general_sample`, ``--seed``) and says so in
  ``KITTI_general_train.README``.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the project's packages importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from data_prep.download import ChecksumError, download, verify
from ndic.data import default_root
from ndic.data import splits as rules
from ndic.io import atomic_write_text


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


def fetch_general_lists(root: Path, out: Path, lists_from: Path | None = None, progress: bool = True) -> dict[str, str]:
    """Fetch (or copy from ``lists_from``) the published KITTI General val/test lists and check them."""
    report = {}
    for split in ("val", "test"):
        name = rules.list_name("general", split)
        published = rules.PUBLISHED_LISTS[name]
        target = out / name
        if lists_from is not None:
            source = lists_from / name
            verify(source, sha256=published.sha256)
            atomic_write_text(target, source.read_text())
        else:
            download(published.url, target, sha256=published.sha256, progress=progress)
        pairs = rules.read_list(target)
        problems = rules.check_kitti_general(pairs)
        missing = rules.missing_files(root, pairs)
        status = f"{len(pairs)} pairs, the published list"
        if problems:
            status += f"; {len(problems)} pairs break the rule, e.g. {problems[0]}"
        if missing:
            status += f"; {len(missing)} images missing under {root}, e.g. {missing[0]}"
        report[name] = status
    return report


GENERAL_TRAIN_NOTE = """KITTI_general_train.txt was written by
`python -m data_prep.splits --general-train --seed {seed}`.
NDIC-CAM (and DSIN before it) never published their KITTI General train list. This one follows
the rule of the published val/test lists (two cameras of one scene, 1..3 frames apart) on the
training sets: every image once, with one random partner. Results trained on it are not the
paper's setup.
"""


def write_general_train(root: Path, out: Path, seed: int) -> str:
    pairs = rules.kitti_general_sample(root, "training", seed)
    if not pairs:
        return "not written: no KITTI training frames under the root"
    atomic_write_text(out / "KITTI_general_train.txt", rules.format_list(pairs))
    atomic_write_text(out / "KITTI_general_train.README", GENERAL_TRAIN_NOTE.format(seed=seed))
    return f"{len(pairs)} pairs, this project's substitute (seed {seed}; the paper's list is unpublished)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, default=None, help="folder for the lists (default: the root)")
    p.add_argument("--lists-from", type=Path, default=None, help="folder with the published KITTI General lists")
    p.add_argument("--no-general", action="store_true", help="skip the KITTI General lists")
    p.add_argument("--general-train", action="store_true", help="also write a substitute KITTI General train list")
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
        try:
            report.update(fetch_general_lists(root, out, args.lists_from, progress=not args.quiet))
        except (OSError, RuntimeError, ChecksumError) as error:
            report["KITTI_general_{val,test}.txt"] = (
                f"not written: {error}. Offline? Rerun with --lists-from DIR holding the two published lists."
            )
            status = 1
    if args.general_train:
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
    sys.exit(main())
