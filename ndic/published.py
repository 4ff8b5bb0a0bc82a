"""Published rate-distortion points, typed in from their sources, to plot beside this project's.

``published_rd.csv`` (package data) holds one row per point with its source file, repository,
commit, citation and a ``note`` on what the numbers are. Only numbers were copied:

- ``kodak``: CompressAI's results (bmshj2018-factorized, bmshj2018-hyperprior, mbt2018 and
  cheng2020-anchor trained for MSE; VTM and BPG 4:4:4 as CompressAI ran them), the STF / WACNN
  points published with the STF paper (Googolxx/STF, ``results/``) and the original Ballé 2018
  hyperprior (``balle2018``: the paper's own TensorFlow models, from tensorflow/compression);
- ``tecnick``: the original Ballé 2018 hyperprior (tensorflow/compression);
- ``clic_professional``: STF and WACNN on the CLIC Professional validation set (Googolxx/STF);
- ``kitti_stereo``: NDIC (Ballé17 and Ballé18 variants) and NDIC-CAM (``cross_attention``) as
  acnagle/neural-dsc transcribed them from the papers' figure: read off a plot by a third party,
  with likelihood-estimated rates, so a guide rather than published numbers (the labels say so).

A curve is a ``label``; ``path`` lists both files where its PSNR and MS-SSIM come from two (``; ``).
Where a source gives MS-SSIM, ``ms_ssim_db`` is derived from it here; STF's MS-SSIM files and the
NDIC transcription give the dB value only.
"""

from __future__ import annotations

from importlib import resources

import numpy as np
import pandas as pd

DATA_FILE = "published_rd.csv"


def load(dataset: str | None = "kodak") -> pd.DataFrame:
    """Every published point (of one dataset unless ``dataset`` is None), ``ms_ssim_db`` filled in."""
    with resources.files("ndic").joinpath(DATA_FILE).open("r", encoding="utf-8") as f:
        frame = pd.read_csv(f, keep_default_na=True)
    frame["objective"] = frame["objective"].fillna("")
    frame["note"] = frame["note"].fillna("")
    derived = -10 * np.log10(1 - frame["ms_ssim"])
    frame["ms_ssim_db"] = frame["ms_ssim_db"].fillna(derived)
    if dataset is not None:
        frame = frame[frame["dataset"] == dataset]
        if frame.empty:
            raise ValueError(f"no published points for dataset {dataset!r}")
    return frame.reset_index(drop=True)


def methods(dataset: str | None = "kodak") -> list[str]:
    """``source/method/objective`` keys of the published curves."""
    frame = load(dataset)
    return sorted({_key(r) for r in frame.itertuples()})


def points(
    method: str, source: str | None = None, objective: str | None = None, dataset: str = "kodak"
) -> pd.DataFrame:
    """The points of one published curve, ordered by rate.

    ``method`` is the name in the CSV (``"vtm"``, ``"bpg"``, ``"bmshj2018-hyperprior"``, ``"stf"``,
    ...); ``objective`` ("mse" or "ms-ssim") picks between a model's two trained curves.
    """
    frame = load(dataset)
    chosen = frame[frame["method"] == method]
    if source is not None:
        chosen = chosen[chosen["source"] == source]
    if objective is not None:
        chosen = chosen[chosen["objective"] == objective]
    labels = chosen["label"].unique()
    if len(labels) != 1:
        found = ", ".join(methods(dataset))
        problem = "no" if len(labels) == 0 else f"{len(labels)} ({', '.join(labels)})"
        raise ValueError(f"{problem} published curves match method={method!r} objective={objective!r}; known: {found}")
    return chosen.sort_values("bpp").reset_index(drop=True)


def _key(row) -> str:
    return "/".join(x for x in (row.source, row.method, row.objective) if x)
