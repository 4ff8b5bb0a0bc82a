"""The CPU-scale reproduction's test sets, and the classical codecs run on them as its references.

Real test images beside the checkout (``../shared/data``, see README) that no training set contains: the KITTI
sample pairs in colour and grey and the Middlebury pairs for the distributed models (each view in turn, the
other as side image), Kodak for the single-image models. JPEG and BPG run on the same images
(``python -m ndic baselines``; ``--both-directions`` on the stereo sets) into ``results/<test set>/``, and at
the low rates of the small models on Kodak into ``results/kodak_low_rates/``.
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

# Classical references run here on the test sets, at the same images as the learned models' rows (on stereo
# sets each view in turn, same ids). A stereo set gets each codec's whole sweep in results/<test set>/; Kodak's
# default sweeps are the paper profile's in results/kodak/, so it gets only the low end, in its own folder (the
# rows say dataset "kodak" and the codec's own label: each codec stays one curve). The sweeps start below each
# codec's default, where the small models' curves lie (else no BD-rate has a common range).
REFERENCE_CODECS = ("jpeg", "bpg")
REFERENCE_LOW = {"jpeg": (1, 2, 3, 4), "bpg": (51, 49)}  # JPEG quality, BPG QP: lowest rate first
REFERENCE_RESULTS = Path("results")
REFERENCE_TESTS = (*STEREO_TESTS, "kodak")
KODAK_LOW_RATES = "kodak_low_rates"  # the folder of Kodak's low end under REFERENCE_RESULTS


def reference_sweep(codec: str, test: str) -> tuple[float, ...]:
    """The qualities ``codec`` is run at on ``test``: :data:`REFERENCE_LOW`, then, on a stereo set, its default
    sweep (Kodak's is in ``results/kodak/``)."""
    from .codecs import get

    return (*REFERENCE_LOW[codec], *(get(codec).qualities if test in STEREO_TESTS else ()))


def reference_folder(test: str, results: Path = REFERENCE_RESULTS) -> Path:
    """Where the references of ``test`` are written."""
    if test not in REFERENCE_TESTS:
        raise ValueError(f"no classical reference is run on {test!r}; the test sets with one: {REFERENCE_TESTS}")
    return Path(results) / (KODAK_LOW_RATES if test == "kodak" else TEST_SETS[test][2])


def reference_commands(
    data: Path = DATA, results: Path = REFERENCE_RESULTS, tests: tuple[str, ...] = REFERENCE_TESTS
) -> dict[str, str]:
    """``{test set: python -m ndic baselines lines}`` of JPEG then BPG on each of ``tests``."""
    python = ["env", f"OMP_NUM_THREADS={THREADS}", sys.executable, "-m", "ndic"]
    lines = {}
    for test in tests:
        name, sub, label = TEST_SETS[test]
        views = ["--both-directions"] if test in STEREO_TESTS else []  # stereo: each view in turn
        out = reference_folder(test, results)
        words = [*python, "baselines", "--data", name, "--root", str(Path(data) / sub), *views, "--dataset", label,
                 "--out", str(out), "--profile", "cpu", "--workers", str(THREADS)]  # fmt: skip
        per_codec = [
            [*words, "--codecs", codec, "--qualities", *map(str, reference_sweep(codec, test))]
            for codec in REFERENCE_CODECS
        ]
        lines[test] = " && ".join(map(shlex.join, per_codec))
    return lines


def references_done(test: str, results: Path = REFERENCE_RESULTS) -> bool:
    """Whether every reference codec's result of ``test`` (with its provenance) covers its whole sweep."""
    import csv

    for codec in REFERENCE_CODECS:
        path = reference_folder(test, results) / f"{codec}.csv"
        if not (path.is_file() and path.with_suffix(".meta.json").is_file()):
            return False
        with open(path, newline="") as rows:
            measured = {float(row["quality"]) for row in csv.DictReader(rows)}
        if not {float(q) for q in reference_sweep(codec, test)} <= measured:
            return False
    return True
