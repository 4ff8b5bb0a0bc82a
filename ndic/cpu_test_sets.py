"""The CPU-scale reproduction's test sets, and the classical codecs run on them as its references.

Real test images beside the checkout (``../shared/data``, see README) that no training set contains: the KITTI
sample pairs in colour and grey and the Middlebury pairs for the distributed models (each view in turn, the
other as side image), Kodak for the single-image models. JPEG and BPG run on the stereo sets' same views
(``python -m ndic baselines --both-directions``) into ``results/<test set>/``.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

DATA = Path("..") / "shared" / "data"  # the real test images beside the checkout (see README)
THREADS = 2  # torch threads of every command: float sums, hence the numbers, depend on it

# test set -> (ndic.data name, folder under DATA, the dataset name of its rows); stereo sets are resized to
# the models' 128x256. The KITTI samples are not KITTI Stereo's test split: their rows say kitti_samples.
TEST_SETS = {
    "kitti_samples": ("kitti_stereo", "kitti_samples/color", "kitti_samples"),
    "kitti_samples_gray": ("kitti_stereo", "kitti_samples/gray", "kitti_samples_gray"),
    "middlebury": ("middlebury", "middlebury", "middlebury"),
    "kodak": ("kodak", "kodak", "kodak"),
}
STEREO_TESTS = ("kitti_samples", "kitti_samples_gray", "middlebury")

# Classical references run on the stereo test sets (Kodak's are the full sweeps in results/kodak/): the same
# images as the learned models' rows (each view in turn, same ids), written to results/<test set>/. Their sweeps
# start below each codec's default, where the small models' curves lie (else no BD-rate has a common range).
REFERENCE_CODECS = ("jpeg", "bpg")
REFERENCE_LOW = {"jpeg": (1, 2, 3, 4), "bpg": (51, 49)}  # JPEG quality, BPG QP: lowest rate first
REFERENCE_RESULTS = Path("results")


def reference_sweep(codec: str) -> tuple[float, ...]:
    """The qualities ``codec`` is run at on the stereo test sets: :data:`REFERENCE_LOW`, then its default sweep."""
    from .codecs import get

    return (*REFERENCE_LOW[codec], *get(codec).qualities)


def reference_commands(data: Path = DATA, results: Path = REFERENCE_RESULTS) -> dict[Path, str]:
    """``{result folder: python -m ndic baselines lines}`` of JPEG then BPG on each stereo test set."""
    python = ["env", f"OMP_NUM_THREADS={THREADS}", sys.executable, "-m", "ndic"]
    lines = {}
    for test in STEREO_TESTS:
        name, sub, label = TEST_SETS[test]
        out = Path(results) / label
        words = [*python, "baselines", "--data", name, "--root", str(Path(data) / sub), "--both-directions",
                 "--dataset", label, "--out", str(out), "--profile", "cpu", "--workers", str(THREADS)]  # fmt: skip
        per_codec = [
            [*words, "--codecs", codec, "--qualities", *map(str, reference_sweep(codec))] for codec in REFERENCE_CODECS
        ]
        lines[out] = " && ".join(map(shlex.join, per_codec))
    return lines


def references_done(folder: Path) -> bool:
    """Whether ``folder`` holds every reference codec's result (with its provenance) over its whole sweep."""
    import csv

    for codec in REFERENCE_CODECS:
        path = Path(folder) / f"{codec}.csv"
        if not (path.is_file() and path.with_suffix(".meta.json").is_file()):
            return False
        with open(path, newline="") as rows:
            measured = {float(row["quality"]) for row in csv.DictReader(rows)}
        if not {float(q) for q in reference_sweep(codec)} <= measured:
            return False
    return True
