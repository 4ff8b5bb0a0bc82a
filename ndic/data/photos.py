"""Training data from real photographs: ``photos`` (single images) and ``stereo_train`` (pairs).

Both read what ``python -m data_prep.photos`` writes: photographs from Debian packages and
scikit-image under ``ROOT/<package>/`` and ``ROOT/manifest.csv`` naming each file's split
(train/val, by photograph). Test sets are elsewhere (Kodak; KITTI and Middlebury for pairs) and
none of their images is in these folders (``tests/test_photos.py`` checks the installed data).

``photos``: the photographs of a split, read whole; training takes random ``crop`` x ``crop``
crops (256, as STF/WACNN), as the ``images`` dataset.

``stereo_train``: pairs at NDIC-CAM's 128x256 with a known disparity, made from the photographs
of the split with the slanted-plane warp of :func:`ndic.data.embedded.slanted_pair` (a window of
the photograph, resized; the right view shifted row by row), then made a little less perfect, as
two real cameras are: the right view is moved by ``s`` in {-1, 0, 1} rows (edge row repeated) and
scaled by a gain ``g`` in [0.95, 1.05]. So the left pixel ``(r, c)`` is at ``(r + s, c - d[r])``
in the right view. :meth:`StereoTrainPairs.disparity` and :meth:`StereoTrainPairs.truth` give
``d``, ``s`` and ``g`` of the pair as stored (before the training flip, which mirrors both views
and so negates the disparity). Every draw comes from ``numpy.random.default_rng`` seeded with
``(seed, k, hash of the file name)``: the same pairs on every machine, whatever else is in the
folder. The train split adds the real pairs of stereodemo (OAK-D, 640x480 grayscale, rectified,
both directions; ``python -m data_prep.stereodemo``): the rows and columns its calibration marks
valid are kept, then the pair is cropped to 1:2 and resized like the others; their disparity is
unknown (None).
"""

from __future__ import annotations

import csv
import functools
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import embedded
from .datasets import DatasetNotFoundError, ImageDataset, PairDataset
from .decode import read_rgb
from .transforms import NDIC_SIZE, PairTransform

MANIFEST = "manifest.csv"
MANIFEST_FIELDS = (
    "file", "split", "package", "version", "source_path", "licence", "licence_source", "author",
    "sha256", "bytes", "width", "height",
)  # fmt: skip
STEREODEMO_FOLDER = "stereodemo"  # under the data home, beside the photographs
STEREODEMO_CALIBRATION = "calibration.json"
MAX_VERTICAL_SHIFT = 1  # rows
GAIN_RANGE = (0.95, 1.05)
SPLITS = ("train", "val")


def _fix(root: Path) -> str:
    return f"python -m data_prep.photos --root {root}"


def read_manifest(root: Path) -> list[dict[str, str]]:
    """The rows of ``root/manifest.csv``; :class:`DatasetNotFoundError` naming the command that makes it."""
    path = Path(root) / MANIFEST
    if not path.is_file():
        raise DatasetNotFoundError("photos", path, _fix(root))
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def photo_files(root: Path, split: str) -> list[Path]:
    """The photographs of ``split`` (files checked to exist), in manifest order."""
    if split not in SPLITS:
        raise ValueError(f"the photographs have the splits {list(SPLITS)}, not {split!r} (test on Kodak/KITTI)")
    root = Path(root)
    files = [root / row["file"] for row in read_manifest(root) if row["split"] == split]
    missing = [f for f in files if not f.is_file()]
    if missing:
        raise DatasetNotFoundError("photos", missing[0], _fix(root), f"and {len(missing) - 1} more of {MANIFEST}")
    if not files:
        raise DatasetNotFoundError("photos", root / MANIFEST, _fix(root), f"no {split} photographs listed")
    return files


def _photo_id(path: Path) -> str:
    return f"{path.parent.name}/{path.stem}"


def photos(split: str, root: Path, transform) -> ImageDataset:
    files = photo_files(root, split)
    return ImageDataset(files, [_photo_id(f) for f in files], transform, name="photos", split=split, root=root)


@functools.lru_cache(maxsize=8)  # the two views and the truth of one pair are asked for one after the other
def synthetic_pair(path: Path, k: int, seed: int, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, dict]:
    """Pair ``k`` of photograph ``path``: left view, right view (uint8, read-only) and its truth.

    Truth: ``disparity`` (int per row), ``shift`` (rows the right view is moved down) and ``gain``.
    """
    name = f"{path.parent.name}/{path.name}".encode()
    words = np.frombuffer(hashlib.sha256(name).digest()[:8], dtype=np.uint32)
    rng = np.random.default_rng([seed, k, *words.tolist()])
    x, y, disparity = embedded.slanted_pair(read_rgb(path), rng, size)
    shift = int(rng.integers(-MAX_VERTICAL_SHIFT, MAX_VERTICAL_SHIFT + 1))
    gain = float(rng.uniform(*GAIN_RANGE))
    rows = np.clip(np.arange(size[0]) - shift, 0, size[0] - 1)  # new row r shows old row r - shift
    y = np.clip(np.rint(y[rows].astype(np.float32) * gain), 0, 255).astype(np.uint8)
    x = np.ascontiguousarray(x)
    for array in (x, y, disparity):
        array.setflags(write=False)
    return x, y, {"disparity": disparity, "shift": shift, "gain": gain}


@dataclass(frozen=True)
class SyntheticView:
    """A picklable reference to one view of a synthetic pair (DataLoader workers may be spawned)."""

    path: Path
    k: int
    seed: int
    size: tuple[int, int]
    view: int

    def __call__(self) -> np.ndarray:
        return synthetic_pair(self.path, self.k, self.seed, self.size)[self.view]


@dataclass(frozen=True)
class CroppedView:
    """An image file cut to ``box = (left, upper, right, lower)`` (stereodemo's valid region)."""

    path: Path
    box: tuple[int, int, int, int]

    def __call__(self) -> np.ndarray:
        left, upper, right, lower = self.box
        return np.ascontiguousarray(read_rgb(self.path)[upper:lower, left:right])


def stereodemo_pairs(root: Path) -> tuple[list[tuple[CroppedView, CroppedView]], list[str]]:
    """stereodemo's rectified pairs (``root/left``, ``root/right``) in both directions, cut to the valid region."""
    fix = "python -m data_prep.stereodemo"
    calibration = Path(root) / STEREODEMO_CALIBRATION
    if not calibration.is_file():
        raise DatasetNotFoundError("stereo_train", calibration, f"{fix} --root {root} (or pass stereodemo=False)")
    meta = json.loads(calibration.read_text())
    width, height = meta["width"], meta["height"]
    x0, y0, x1, y1 = meta.get("left_image_rect_normalized", (0, 0, 1, 1))
    # the same box in both views keeps the rows aligned and the disparities unchanged
    box = (round(x0 * width), round(y0 * height), round(x1 * width), round(y1 * height))
    lefts = sorted((Path(root) / "left").glob("*.png"))
    if not lefts:
        raise DatasetNotFoundError("stereo_train", Path(root) / "left/*.png", f"{fix} --root {root}")
    pairs, ids = [], []
    for left in lefts:
        right = Path(root) / "right" / left.name
        if not right.is_file():
            raise DatasetNotFoundError("stereo_train", right, f"{fix} --root {root}", f"the right view of {left}")
        a, b = CroppedView(left, box), CroppedView(right, box)
        pairs += [(a, b), (b, a)]
        ids += [f"stereodemo/{left.stem}:left>right", f"stereodemo/{left.stem}:right>left"]
    return pairs, ids


class StereoTrainPairs(PairDataset):
    """Synthetic pairs from the photographs of ``split`` (+ stereodemo's real pairs in train); see the module."""

    def __init__(
        self,
        split: str,
        root: Path,
        size: tuple[int, int] = NDIC_SIZE,
        seed: int = 0,
        pairs_per_photo: int = 4,
        stereodemo: Path | None = None,
        train: bool = False,
    ):
        if pairs_per_photo < 1:
            raise ValueError(f"pairs_per_photo must be at least 1, not {pairs_per_photo}")
        self.size, self.seed = tuple(size), seed
        pairs, ids, self._truth = [], [], []
        for path in photo_files(root, split):
            for k in range(pairs_per_photo):
                pairs.append(tuple(SyntheticView(path, k, seed, self.size, view) for view in (0, 1)))
                ids.append(f"{_photo_id(path)}:synthetic{k}")
                self._truth.append((path, k))
        if split == "train" and stereodemo is not None:
            real, real_ids = stereodemo_pairs(stereodemo)
            pairs += real
            ids += real_ids
            self._truth += [None] * len(real)
        # synthetic views already have the output size; stereodemo's are cropped to 1:2 and resized
        transform = PairTransform(self.size, crop="aspect", train=train)
        super().__init__(pairs, ids, transform, name="stereo_train", split=split, root=root, stereodemo=stereodemo)

    def truth(self, index: int) -> dict | None:
        """``disparity`` (per row, int), ``shift`` (rows) and ``gain`` of pair ``index``; None for real pairs."""
        truth = self._truth[index]
        return None if truth is None else synthetic_pair(truth[0], truth[1], self.seed, self.size)[2]

    def disparity(self, index: int) -> np.ndarray | None:
        """True disparity of pair ``index`` at the output size: (H, W) float per left-view pixel; None if unknown."""
        truth = self.truth(index)
        if truth is None:
            return None
        return np.repeat(truth["disparity"].astype(np.float64)[:, None], self.size[1], axis=1)

    def vertical_shift(self, index: int) -> int | None:
        """Rows the right view is moved down relative to the left one (None if unknown)."""
        truth = self.truth(index)
        return None if truth is None else truth["shift"]
