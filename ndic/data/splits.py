"""NDIC-CAM's KITTI split lists: the rule behind them, generated from a folder layout.

A split list is a text file of relative image paths; line ``2i`` is the image to compress and line
``2i + 1`` its decoder-side image (NDIC-CAM's ``dataset/PairKitti.py``, inherited from DSIN, Ayzik &
Avidan 2020). Paths are relative to the KITTI root, which holds the two multi-view archives unpacked
as the NDIC-CAM README says::

    <root>/data_scene_flow_multiview/{training,testing}/image_{2,3}/<scene>_<frame>.png   (KITTI 2015)
    <root>/data_stereo_flow_multiview/{training,testing}/image_{2,3}/<scene>_<frame>.png  (KITTI 2012)

KITTI 2012 names its colour cameras ``colored_0`` / ``colored_1``; the lists call them ``image_2`` /
``image_3`` like KITTI 2015, and both spellings are accepted on disk (:func:`resolve`).

**KITTI Stereo** (reproduced line for line by :func:`kitti_stereo_list`): the two views of one
frame, in both directions. train = the ``training`` sets, frames 10 and 11; val = the ``testing``
sets, frame 11; test = the ``testing`` sets, frame 10. Order: KITTI 2015 before KITTI 2012; within
an archive all left->right pairs (image_2 compressed, image_3 side information) by file name, then
all right->left pairs. That gives 2 x (200 + 194) x 2 = 1576 train pairs and 2 x (200 + 195) = 790
val and test pairs.

**KITTI General** (not reproducible by a rule): pairs of *different* frames of one scene seen by
*different* cameras, at most 3 frames apart, from 20 scenes of the ``testing`` sets
(:data:`KITTI_GENERAL_SCENES`). Those 20 scenes give 4560 such ordered pairs
(:func:`kitti_general_candidates`); the published val list is a random 912 of them (20 %) and the
test list a random 3607 of the other 3648, both in random order, with no seed published. The exact
lists therefore come from their publication (:data:`PUBLISHED_LISTS`, checked by SHA-256), and
:func:`check_kitti_general` verifies any list against the rule. The KITTI General *train* list is
published too, in NDIC-CAM's repository (``dataset/data_paths/KITTI_general_train.txt``, the same
file as in DSIN's); it is pinned by its git blob id, the only digest the repository gives.
:func:`kitti_general_sample` draws a labelled substitute by the same rule from the ``training`` sets
for those who cannot fetch it (this project's list, not the paper's).
"""

from __future__ import annotations

import os
import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

ARCHIVES = ("data_scene_flow_multiview", "data_stereo_flow_multiview")  # KITTI 2015, KITTI 2012 (list order)
LEFT, RIGHT = "image_2", "image_3"
# KITTI 2012's own names for the colour cameras.
CAMERA_ALIASES = {LEFT: "colored_0", RIGHT: "colored_1"}

# split -> (part of the archives, frames used)
KITTI_STEREO_RULE = {"train": ("training", ("10", "11")), "val": ("testing", ("11",)), "test": ("testing", ("10",))}

# The 20 testing scenes of KITTI General (read off the published val and test lists).
KITTI_GENERAL_SCENES = {
    "data_scene_flow_multiview": (29, 79, 85, 100, 105, 110, 129, 150, 158, 175),
    "data_stereo_flow_multiview": (4, 33, 41, 44, 49, 52, 122, 158, 166, 167),
}
KITTI_GENERAL_MAX_GAP = 3  # frames
_NAME = re.compile(r"^(\d{6})_(\d{2})\.png$")


@dataclass(frozen=True)
class PublishedList:
    """Where a list is published and how it is checked: SHA-256 and/or git's blob id (None: not known)."""

    url: str
    sha256: str | None
    pairs: int | None
    git_blob: str | None = None


_DSIN = "https://raw.githubusercontent.com/ayziksha/DSIN"
_NDIC_CAM = "https://raw.githubusercontent.com/ipc-lab/NDIC-CAM"
# The lists as published (NDIC-CAM ships the same files as DSIN, the paper that introduced them).
PUBLISHED_LISTS = {
    # NDIC-CAM's commit 7aafef4 holds the list; git blob 23ef51db is the same file in DSIN's repository.
    "KITTI_general_train.txt": PublishedList(
        f"{_NDIC_CAM}/7aafef46bdd26acf28b434344c54a4a38dd2585b/dataset/data_paths/KITTI_general_train.txt",
        None,
        None,
        git_blob="23ef51dbb6e10ed93ed545609f7a47e59416fc1c",
    ),
    "KITTI_stereo_train.txt": PublishedList(
        f"{_DSIN}/a29d1791c5ba16f25c294d6a6a62be5f66999932/data_paths/KITTI_stereo_train.txt",
        "a0e71c08bdb278b9f688dd326f8bd5faf50cc43edd1e6187003a9b46a39f30dc",
        1576,
    ),
    "KITTI_stereo_val.txt": PublishedList(
        f"{_DSIN}/a29d1791c5ba16f25c294d6a6a62be5f66999932/data_paths/KITTI_stereo_val.txt",
        "06f00c0c30d13fa7eefe916d73fa6fc47036f6d16816bb840c620ef5407a093f",
        790,
    ),
    "KITTI_stereo_test.txt": PublishedList(
        f"{_DSIN}/a29d1791c5ba16f25c294d6a6a62be5f66999932/data_paths/KITTI_stereo_test.txt",
        "abab44a4fc24e72b5137449628cda5c6bbe34c336b29bee75e946ba879167a08",
        790,
    ),
    "KITTI_general_val.txt": PublishedList(
        f"{_DSIN}/a29d1791c5ba16f25c294d6a6a62be5f66999932/data_paths/KITTI_general_val.txt",
        "1d95d675497c3b29887102171d256c86e598ea4dd9fb5e9d224f567fb36ff0e2",
        912,
    ),
    "KITTI_general_test.txt": PublishedList(
        f"{_DSIN}/b4fcd56feadec3b2f17c57e94b3afa10f96296b2/src/data_paths/KITTI_general_test.txt",
        "ae3b6910a5d2a2563521fbe088f2d8ae3864980cc0462facf52bb61c0cfd374e",
        3607,
    ),
}


def list_name(kind: str, split: str) -> str:
    """File name of a list: ``list_name("stereo", "train") == "KITTI_stereo_train.txt"``."""
    if kind not in ("stereo", "general"):
        raise ValueError(f"kind must be 'stereo' or 'general', not {kind!r}")
    return f"KITTI_{kind}_{split}.txt"


def resolve(root: str | os.PathLike, relative: str) -> Path:
    """The file a list entry names, accepting KITTI 2012's ``colored_0/1`` for ``image_2/3``."""
    path = Path(root) / relative
    if path.exists():
        return path
    parts = relative.split("/")
    if len(parts) == 4 and parts[2] in CAMERA_ALIASES:
        alias = Path(root, parts[0], parts[1], CAMERA_ALIASES[parts[2]], parts[3])
        if alias.exists():
            return alias
    return path


def _camera_dir(root: Path, archive: str, part: str, camera: str) -> Path | None:
    for name in (camera, CAMERA_ALIASES[camera]):
        if (root / archive / part / name).is_dir():
            return root / archive / part / name
    return None


def scan_frames(root: str | os.PathLike, archive: str, part: str) -> list[str]:
    """Sorted file names ``<scene>_<frame>.png`` present for both colour cameras."""
    root = Path(root)
    dirs = [_camera_dir(root, archive, part, camera) for camera in (LEFT, RIGHT)]
    if None in dirs:
        return []
    left, right = ({n for n in os.listdir(d) if _NAME.match(n)} for d in dirs)
    return sorted(left & right)


def pairs_to_lines(pairs: Iterable[tuple[str, str]]) -> list[str]:
    return [path for pair in pairs for path in pair]


def lines_to_pairs(lines: Sequence[str]) -> list[tuple[str, str]]:
    if len(lines) % 2:
        raise ValueError(f"a split list needs an even number of lines (image, side image), got {len(lines)}")
    return list(zip(lines[0::2], lines[1::2], strict=True))


def read_list(path: str | os.PathLike) -> list[tuple[str, str]]:
    """Pairs of relative paths of a split list file."""
    lines = [line.strip() for line in Path(path).read_text().splitlines() if line.strip()]
    try:
        return lines_to_pairs(lines)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from error


def format_list(pairs: Iterable[tuple[str, str]]) -> str:
    """The text of a list file, byte-compatible with the published ones (``\\n`` after every line)."""
    return "".join(f"{line}\n" for line in pairs_to_lines(pairs))


def kitti_stereo_list(root: str | os.PathLike, split: str) -> list[tuple[str, str]]:
    """NDIC-CAM's KITTI Stereo pairs of ``split`` for the tree at ``root`` (see the module docstring)."""
    if split not in KITTI_STEREO_RULE:
        raise ValueError(f"KITTI Stereo splits are {sorted(KITTI_STEREO_RULE)}, not {split!r}")
    part, frames = KITTI_STEREO_RULE[split]
    pairs = []
    for archive in ARCHIVES:
        names = [n for n in scan_frames(root, archive, part) if _NAME.match(n).group(2) in frames]
        for x_camera, y_camera in ((LEFT, RIGHT), (RIGHT, LEFT)):
            pairs += [(f"{archive}/{part}/{x_camera}/{n}", f"{archive}/{part}/{y_camera}/{n}") for n in names]
    return pairs


def _parse(relative: str) -> tuple[str, str, str, int, int]:
    archive, part, camera, name = relative.split("/")
    match = _NAME.match(name)
    if match is None:
        raise ValueError(f"not a KITTI multi-view image name: {relative}")
    return archive, part, camera, int(match.group(1)), int(match.group(2))


def _general_pair_ok(x: str, y: str, max_gap: int) -> bool:
    xa, xp, xc, xs, xf = _parse(x)
    ya, yp, yc, ys, yf = _parse(y)
    return (xa, xp, xs) == (ya, yp, ys) and {xc, yc} == {LEFT, RIGHT} and 1 <= abs(xf - yf) <= max_gap


def _general_partners(names: Sequence[str], max_gap: int) -> dict[str, list[str]]:
    """Per image name, the names of the same scene at most ``max_gap`` (and at least 1) frames away."""
    by_scene: dict[str, dict[int, str]] = {}
    for name in names:
        scene, frame = _NAME.match(name).groups()
        by_scene.setdefault(scene, {})[int(frame)] = name
    partners = {}
    for frames in by_scene.values():
        for frame, name in frames.items():
            partners[name] = [frames[g] for g in sorted(frames) if 1 <= abs(g - frame) <= max_gap]
    return partners


def kitti_general_candidates(
    root: str | os.PathLike,
    part: str = "testing",
    scenes: dict[str, Sequence[int]] | None = KITTI_GENERAL_SCENES,
    max_gap: int = KITTI_GENERAL_MAX_GAP,
) -> list[tuple[str, str]]:
    """Every ordered KITTI General pair the tree allows: same scene, other camera, 1..max_gap frames apart.

    ``scenes=None`` takes every scene of ``part``. The order is deterministic (archive, scene, frame).
    """
    pairs = []
    for archive in ARCHIVES:
        names = scan_frames(root, archive, part)
        if scenes is not None:
            keep = {f"{s:06d}" for s in scenes.get(archive, ())}
            names = [n for n in names if n[:6] in keep]
        partners = _general_partners(names, max_gap)
        for name in names:
            for x_camera, y_camera in ((LEFT, RIGHT), (RIGHT, LEFT)):
                x = f"{archive}/{part}/{x_camera}/{name}"
                pairs += [(x, f"{archive}/{part}/{y_camera}/{other}") for other in partners[name]]
    return pairs


def check_kitti_general(pairs: Iterable[tuple[str, str]], max_gap: int = KITTI_GENERAL_MAX_GAP) -> list[str]:
    """Problems of a KITTI General list (empty when every pair follows the rule and none repeats)."""
    problems, seen = [], set()
    for i, (x, y) in enumerate(pairs):
        try:
            ok = _general_pair_ok(x, y, max_gap)
        except ValueError as error:
            problems.append(f"pair {i}: {error}")
            continue
        if not ok:
            problems.append(f"pair {i}: {x} -> {y} is not two cameras of one scene 1..{max_gap} frames apart")
        if (x, y) in seen:
            problems.append(f"pair {i}: {x} -> {y} repeats")
        seen.add((x, y))
    return problems


def kitti_general_sample(
    root: str | os.PathLike, part: str = "training", seed: int = 0, max_gap: int = KITTI_GENERAL_MAX_GAP
) -> list[tuple[str, str]]:
    """A KITTI General-style list drawn from ``part``: every image once, with one random partner by the rule.

    This project's stand-in for the published KITTI General train list, for use only where that list
    cannot be fetched (results trained on it are not the paper's); ``seed`` fixes it.
    """
    rng = random.Random(seed)
    pairs = []
    for archive in ARCHIVES:
        names = scan_frames(root, archive, part)
        partners = _general_partners(names, max_gap)
        for name in names:
            for x_camera, y_camera in ((LEFT, RIGHT), (RIGHT, LEFT)):
                if partners[name]:
                    other = rng.choice(partners[name])
                    pairs.append((f"{archive}/{part}/{x_camera}/{name}", f"{archive}/{part}/{y_camera}/{other}"))
    rng.shuffle(pairs)
    return pairs


def missing_files(root: str | os.PathLike, pairs: Iterable[tuple[str, str]]) -> list[str]:
    """Entries of ``pairs`` with no file under ``root`` (after :func:`resolve`)."""
    return sorted({p for pair in pairs for p in pair if not resolve(root, p).is_file()})
