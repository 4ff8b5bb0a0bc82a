"""The papers' headline claims, and whether the numbers at hand bear them out.

Data flow: :data:`CLAIMS` (one :class:`Claim` per headline claim: the two curves it compares, on which
data and metric, its source and the figure the paper states) -> three kinds of evidence per claim, each
a Bjøntegaard delta of the claim's curve against its reference (:mod:`ndic.bd`):

- ``published points``: the papers' own points (``ndic/published_rd.csv``, :mod:`ndic.published`);
- ``CPU scale``: the small models of :mod:`ndic.cpu_reproduction`, one result folder per test set
  (``results/cpu/<test set>/``), with classical references from ``results/<test set>/``;
- ``paper profile``: paper-profile rows anywhere under ``results/`` (GPU runs), against a published
  anchor (CompressAI's VTM) where the reference is not run here

-> :class:`Evidence` (status, BD-rate, words) -> :func:`evidence` (one row per claim and evidence, numbers)
-> :func:`claims_table` (one row per claim, words, for the book).

A verdict is computed, never typed: a claim that one curve beats another holds when its BD-rate is below
``-BD_RATE_MARGIN`` (or, where the curves share no quality range, its BD-quality above
``BD_QUALITY_MARGIN``); a claim of a stated BD-rate holds when the BD-rate measured is at most
``FIGURE_TOLERANCE`` points above it. Rates are the real bitstream's for runs here and whatever the
source gives for published points (the NDIC transcriptions: likelihood estimates, said in the words).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from . import bd, codecs, cpu_reproduction, published
from .paths import resolve
from .results import load_results, summarize

BD_RATE_MARGIN = 1.0  # %: "beats" means saving more than this much rate at equal quality
BD_QUALITY_MARGIN = 0.1  # dB: the same on the quality axis, when the curves share no quality range
FIGURE_TOLERANCE = 1.0  # percentage points a measured BD-rate may fall short of a stated one

HOLDS, FAILS, UNTESTABLE, NOT_RUN = "holds", "does not hold", "not testable here", "not yet run"
QUALITY = {"psnr": "PSNR", "ms_ssim_db": "MS-SSIM"}


@dataclass(frozen=True)
class Published:
    """One curve of ``ndic/published_rd.csv`` (see :func:`ndic.published.points`)."""

    method: str
    source: str | None = None
    objective: str | None = None
    dataset: str = "kodak"


@dataclass(frozen=True)
class Claim:
    """A headline claim: ``test`` against ``reference`` in ``metric`` at equal rate, or at a stated BD-rate.

    ``test``/``reference`` are names of models or codecs run here (result rows' ``method``); ``anchor`` is
    a published curve that stands for ``reference`` in paper-profile runs when it was not run here.
    """

    paper: str
    claim: str
    source: str
    stated: str  # the published figure, as the paper states it
    test: str
    reference: str
    metric: str  # "psnr" or "ms_ssim_db"
    dataset: str  # the dataset of the paper-profile result rows
    objective: str  # what the claim's models are trained for: "MSE" or "MS-SSIM"
    published_test: Published | None = None
    published_reference: Published | None = None
    anchor: Published | None = None
    stated_bd_rate: float | None = None  # %: the claim is this BD-rate, not merely "beats"


@dataclass
class Evidence:
    """One kind of evidence on one claim: its status, the numbers in words (``text``), the reason for the
    status (``why``: the comparison with the margin, or what is missing), BD-rate (%) and BD-quality (dB)."""

    status: str
    text: str
    why: str = ""
    bd_rate: float = math.nan
    bd_quality: float = math.nan


def _missing(status: str, why: str) -> Evidence:
    return Evidence(status, f"{status}: {why}" if why else status, why)


NDIC_CAM = "NDIC-CAM (Mital et al., WACV 2023)"
STF = "STF/WACNN (Zou et al., CVPR 2022)"
CHECK = "check of this pipeline (no paper's claim)"
_NDIC_CAM_SOURCE = "Mital et al., WACV 2023 (arXiv:2207.08489): abstract; KITTI Stereo RD figures"
_NDIC_SOURCE = "Mital et al., DCC 2022 (arXiv:2106.11723) and WACV 2023: abstracts; KITTI Stereo RD figures"
_NO_NUMBER_CAM = ("no number in the text indexed here (the abstract): the decoder uses the side information more "
                  "efficiently than previous work (NDIC among it); shown as RD curves")  # fmt: skip
_NO_NUMBER_NDIC = ("no number in the text indexed here (the abstracts): NDIC exploits the decoder-only side "
                   "information, above the single-image model; shown as RD curves")  # fmt: skip
_STF_VTM_SOURCE = ("Zou et al., CVPR 2022 (arXiv:2203.08450), Kodak BD-rate vs VTM as sotaverified.org lists the "
                   "paper's claim (papers/the-devil-is-in-the-details-window-based); the indexed paper text is its "
                   "abstract only and the Googolxx/STF README states no BD-rate")  # fmt: skip
_STF_BEATS = ("no number against the hyperprior in the text indexed here: the abstract says the method outperforms "
              "the state of the art; Kodak RD figure")  # fmt: skip


def _stereo(test: str, reference: str, metric: str, objective: str, claim: str, source: str, stated: str) -> Claim:
    transcribed = "ms-ssim" if objective == "MS-SSIM" else "mse"
    return Claim(
        NDIC_CAM, f"{claim} at equal rate on KITTI Stereo, {QUALITY[metric]}", source, stated, test, reference,
        metric, "kitti_stereo", objective,
        published_test=Published(test, "neural-dsc", transcribed, "kitti_stereo"),
        published_reference=Published(reference, "neural-dsc", transcribed, "kitti_stereo"),
    )  # fmt: skip


def _kodak(test: str, reference: Published, claim: str, stated: str, bd_rate: float | None = None):
    source = _STF_VTM_SOURCE if bd_rate is not None else "Zou et al., CVPR 2022 (arXiv:2203.08450): abstract"
    return Claim(
        STF, claim, source, stated, test, "vtm" if reference.method == "vtm" else "bmshj18", "psnr", "kodak", "MSE",
        published_test=Published(test, "stf", "mse"), published_reference=reference, anchor=reference,
        stated_bd_rate=bd_rate,
    )  # fmt: skip


_HYPERPRIOR = Published("bmshj2018-hyperprior", "compressai", "mse")
_VTM = Published("vtm", "compressai")

CLAIMS: tuple[Claim, ...] = (
    *(_stereo("cross_attention", "ndic_bls17", metric, objective, "NDIC-CAM (cross_attention) beats NDIC (ndic_bls17)",
              _NDIC_CAM_SOURCE, _NO_NUMBER_CAM) for metric, objective in (("ms_ssim_db", "MS-SSIM"), ("psnr", "MSE"))),
    *(_stereo("ndic_bls17", "bls17", metric, objective, "NDIC (ndic_bls17) beats the single-image model (bls17)",
              _NDIC_SOURCE, _NO_NUMBER_NDIC) for metric, objective in (("ms_ssim_db", "MS-SSIM"), ("psnr", "MSE"))),
    _kodak("stf", _HYPERPRIOR, "STF beats the hyperprior (bmshj2018-hyperprior) on Kodak, PSNR", _STF_BEATS),
    _kodak("wacnn", _HYPERPRIOR, "WACNN beats the hyperprior (bmshj2018-hyperprior) on Kodak, PSNR",
           _STF_BEATS),
    _kodak("stf", _VTM, "STF's BD-rate against VTM on Kodak, PSNR", "-2.48 % BD-rate vs VTM", -2.48),
    _kodak("wacnn", _VTM, "WACNN's BD-rate against VTM on Kodak, PSNR", "-2.95 % BD-rate vs VTM", -2.95),
    Claim(CHECK, "the hyperprior baseline (bmshj18) beats JPEG on Kodak, PSNR",
          "Ballé et al., ICLR 2018: Kodak RD figures (the single-image baseline of both papers)",
          "no number: RD curves", "bmshj18", "jpeg", "psnr", "kodak", "MSE",
          published_test=_HYPERPRIOR, published_reference=Published("jpeg", "compressai")),
)  # fmt: skip


# ---------------------------------------------------------------------------- curves and their deltas
def _published_curve(curve: Published, metric: str) -> tuple[np.ndarray, np.ndarray, bool]:
    """(bpp, quality, rate is a likelihood estimate) of a published curve; ValueError naming what is missing."""
    try:
        points = published.points(curve.method, curve.source, curve.objective, curve.dataset)
    except ValueError:
        trained = f" ({curve.objective}-trained)" if curve.objective else ""
        raise ValueError(f"ndic/published_rd.csv has no {curve.method}{trained} curve on {curve.dataset}") from None
    quality = points[metric].to_numpy(dtype=float)
    kept = np.isfinite(quality)
    if not kept.any():
        raise ValueError(f"the published {curve.method} curve has no {QUALITY[metric]} values")
    estimated = points["note"].str.contains("estimated", case=False).any()
    return points["bpp"].to_numpy(dtype=float)[kept], quality[kept], bool(estimated)


def _run_curve(rows: pd.DataFrame, method: str, objective: str, metric: str) -> tuple[np.ndarray, np.ndarray] | None:
    """(bpp, quality) of ``method``'s points in result rows (mean over images), None when it has none.

    A method with several curves (labels) is taken by the one whose label names ``objective``."""
    rows = rows[rows["method"] == method] if len(rows) else rows
    if rows.empty:
        return None
    labels = sorted(rows["label"].astype(str).unique())
    if len(labels) > 1:
        named = [label for label in labels if objective.lower() in label.lower().replace("_", "-")]
        if len(named) != 1:
            raise ValueError(f"{method} has {len(labels)} curves ({', '.join(labels)}); none names {objective} alone")
        rows = rows[rows["label"] == named[0]]
    points = summarize(rows).sort_values("bpp")
    points = points[np.isfinite(points[metric].to_numpy(dtype=float))]
    return points["bpp"].to_numpy(dtype=float), points[metric].to_numpy(dtype=float)


def compare(test: tuple, reference: tuple) -> tuple[float, float, str]:
    """(BD-rate %, BD-quality dB, BD method) of ``test`` (bpp, quality) against ``reference``.

    The cubic fit of the papers when both curves have 4 points or more, else PCHIP; a delta the curves do
    not support (no common quality or rate range) is NaN; ValueError when neither can be computed."""
    fewest = min(len(test[0]), len(reference[0]))
    if fewest < 2:
        raise ValueError(f"a curve has {fewest} point(s); a BD-rate needs at least 2")
    method = "cubic" if fewest >= 4 else "pchip"
    deltas, reasons = [], []
    for delta in (bd.bd_rate, bd.bd_quality):
        try:
            deltas.append(delta(reference[0], reference[1], test[0], test[1], method=method))
        except ValueError as reason:
            deltas.append(math.nan)
            reasons.append(str(reason))
    if all(math.isnan(d) for d in deltas):
        raise ValueError(reasons[0])
    return deltas[0], deltas[1], method


def judge(claim: Claim, bd_rate: float, bd_quality: float) -> tuple[str, str]:
    """(status, why) of ``claim`` given a BD-rate (%) and BD-quality (dB) of its test curve."""
    if claim.stated_bd_rate is not None:
        if math.isnan(bd_rate):
            return UNTESTABLE, "no BD-rate: the curves share no quality range"
        bound = claim.stated_bd_rate + FIGURE_TOLERANCE
        sign = "<=" if bd_rate <= bound else ">"
        return (HOLDS if bd_rate <= bound else FAILS), f"{bd_rate:+.1f} % {sign} {bound:+.2f} % (stated + tolerance)"
    if not math.isnan(bd_rate):
        sign = "<" if bd_rate < -BD_RATE_MARGIN else ">="
        return (HOLDS if bd_rate < -BD_RATE_MARGIN else FAILS), f"{bd_rate:+.1f} % {sign} {-BD_RATE_MARGIN:+.0f} %"
    sign = ">" if bd_quality > BD_QUALITY_MARGIN else "<="
    why = f"{bd_quality:+.2f} dB {sign} {BD_QUALITY_MARGIN:+.2f} dB (no common quality range: BD-quality)"
    return (HOLDS if bd_quality > BD_QUALITY_MARGIN else FAILS), why


def _measured(claim: Claim, test: tuple, reference: tuple, notes: list[str]) -> Evidence:
    """The BD deltas of ``test`` against ``reference`` (bpp, quality), in words, with the claim's verdict."""
    try:
        rate, quality, method = compare(test, reference)
    except ValueError as reason:
        return _missing(UNTESTABLE, str(reason))
    status, why = judge(claim, rate, quality)
    if math.isnan(rate):
        number, what = f"{quality:+.2f} dB", f"{method} BD-quality at equal rate"
    else:
        number, what = f"{rate:+.1f} %", f"{method} BD-rate at equal {QUALITY[claim.metric]}"
    return Evidence(status, f"{number} ({'; '.join([what, *notes])})", why, rate, quality)


# ---------------------------------------------------------------------------- the three kinds of evidence
def published_evidence(claim: Claim) -> Evidence:
    """The claim on the published points of both curves."""
    if claim.published_test is None or claim.published_reference is None:
        return _missing(UNTESTABLE, "no published curve named for this claim")
    try:
        *test, test_estimated = _published_curve(claim.published_test, claim.metric)
        *reference, reference_estimated = _published_curve(claim.published_reference, claim.metric)
    except ValueError as reason:
        return _missing(UNTESTABLE, str(reason))
    ref = claim.published_reference
    notes = [f"vs {ref.source}'s {ref.method} points" if ref.source else f"vs the published {ref.method} points"]
    notes += ["likelihood-estimated rates"] if test_estimated or reference_estimated else []
    return _measured(claim, tuple(test), tuple(reference), notes)


def _planned(model: str) -> tuple[str, tuple[str, ...], int] | None:
    """(objective, test sets, number of lambdas) of ``model`` in the CPU plan, None when it is not planned."""
    for name, objective, lambdas, _first, _train, tests, _flags in cpu_reproduction.PLAN:
        if name == model:
            return objective, tuple(tests), len(lambdas)
    return None


def _load(folder: Path, cache: dict | None) -> pd.DataFrame:
    """``load_results(folder)``, read once per ``cache`` (one table's worth of claims)."""
    if cache is None:
        return load_results(folder)
    if folder not in cache:
        cache[folder] = load_results(folder)
    return cache[folder]


def cpu_evidence(claim: Claim, results: str | Path = "results", cache: dict | None = None) -> dict[str, Evidence]:
    """The claim on each CPU-scale test set that evaluates its test model ({"": why} when none can).

    Learned models' rows come from ``<results>/cpu/<test set>/``; a classical reference's from
    ``<results>/<test set>/`` (codecs are run once per dataset, at their full sweeps)."""
    root = resolve(results)
    classical = set(codecs.names())
    plans = {model: _planned(model) for model in (claim.test, claim.reference) if model not in classical}
    # STF and WACNN are left out of the plan: four lambdas of each do not fit its budget of hours on 2 cores
    why = " (its budget of a few hours on 2 CPU cores holds no run of it)"
    if plans.get(claim.test) is None:
        return {"": _missing(UNTESTABLE, f"the CPU plan trains no {claim.test}{why}")}
    if claim.reference in plans and plans[claim.reference] is None:
        return {"": _missing(UNTESTABLE, f"the CPU plan trains no {claim.reference}{why}")}
    notes = sorted({f"CPU models trained for {plan[0]}" for plan in plans.values() if plan[0] != claim.objective})
    out = {}
    for test_set in plans[claim.test][1]:
        frames = [_load(root / "cpu" / test_set, cache)]
        if claim.reference in classical:
            frames.append(_load(root / test_set, cache))
        rows = pd.concat([f for f in frames if len(f)] or frames[:1], ignore_index=True)
        try:
            curves = {
                model: _run_curve(rows, model, claim.objective, claim.metric) for model in (claim.test, claim.reference)
            }
        except ValueError as reason:
            out[test_set] = _missing(UNTESTABLE, str(reason))
            continue
        counts = {model: 0 if curve is None else len(curve[0]) for model, curve in curves.items()}
        short = [
            f"{model} {counts[model]} of {plan[2]} lambdas" for model, plan in plans.items() if counts[model] < plan[2]
        ]
        short += [f"no {model} rows" for model in curves if model not in plans and not counts[model]]
        if not short:
            out[test_set] = _measured(claim, curves[claim.test], curves[claim.reference], notes)
            continue
        why = ", ".join(short)
        if all(curve is not None and len(curve[0]) >= 2 for curve in curves.values()):
            so_far = _measured(claim, curves[claim.test], curves[claim.reference], notes)
            why += f"; so far {so_far.text}" if so_far.status != UNTESTABLE else ""
        out[test_set] = _missing(NOT_RUN, why)
    return out


def paper_evidence(claim: Claim, results: str | Path = "results", cache: dict | None = None) -> Evidence:
    """The claim on paper-profile rows under ``results`` (against ``claim.anchor`` when the reference is not run)."""
    rows = _load(resolve(results), cache)
    if len(rows):
        rows = rows[(rows["profile"].astype(str) == "paper") & (rows["dataset"].astype(str) == claim.dataset)]
    try:
        test = _run_curve(rows, claim.test, claim.objective, claim.metric)
        reference = _run_curve(rows, claim.reference, claim.objective, claim.metric)
    except ValueError as reason:
        return _missing(UNTESTABLE, str(reason))
    if test is None:
        return _missing(NOT_RUN, f"no paper-profile {claim.test} result on {claim.dataset} (needs GPU runs)")
    notes = []
    if reference is None and claim.anchor is not None:
        bpp, quality, _ = _published_curve(claim.anchor, claim.metric)
        reference = (bpp, quality)
        notes.append(f"against the published {claim.anchor.method} points ({claim.anchor.source})")
    if reference is None:
        return _missing(NOT_RUN, f"no paper-profile {claim.reference} result on {claim.dataset}")
    return _measured(claim, test, reference, notes)


# ---------------------------------------------------------------------------- tables
KINDS = ("published points", "CPU scale", "paper profile")


def evidence(results: str | Path = "results", claims: tuple[Claim, ...] = CLAIMS) -> pd.DataFrame:
    """One row per claim and piece of evidence: claim, kind, test set (CPU scale), status, why, BD-rate (%),
    BD-quality (dB) and the numbers in words (text)."""
    rows, cache = [], {}
    for claim in claims:
        found = [("published points", "", published_evidence(claim))]
        found += [("CPU scale", test_set, item) for test_set, item in cpu_evidence(claim, results, cache).items()]
        found.append(("paper profile", "", paper_evidence(claim, results, cache)))
        for kind, test_set, item in found:
            rows.append({"claim": claim.claim, "kind": kind, "test set": test_set, "status": item.status,
                         "why": item.why, "BD-rate (%)": item.bd_rate, "BD-quality (dB)": item.bd_quality,
                         "text": item.text})  # fmt: skip
    return pd.DataFrame(rows)


def _verdict(kind: str, items: pd.DataFrame) -> str:
    """``kind: status on set (why), ...`` of one kind of evidence, its test sets grouped by status."""
    parts = []
    for status, group in items.groupby("status", sort=False):
        if status == NOT_RUN:
            sets = [s for s in group["test set"] if s]
            parts.append(status + (f" on {', '.join(sets)}" if sets else ""))
            continue
        reasons = [f"{s} ({why})" if s else f"({why})" for s, why in zip(group["test set"], group["why"], strict=True)]
        on = " on" if any(group["test set"]) else ""
        parts.append(f"{status}{on} {', '.join(reasons)}")
    return f"{kind}: {'; '.join(parts)}"


def _cell(items: pd.DataFrame) -> str:
    """The texts of one kind of evidence, test sets with the same text named together."""
    sets: dict[str, list[str]] = {}
    for test_set, text in zip(items["test set"], items["text"], strict=True):
        sets.setdefault(text, []).append(test_set)
    return "; ".join(f"{', '.join(names)}: {text}" if any(names) else text for text, names in sets.items())


def claims_table(results: str | Path = "results", claims: tuple[Claim, ...] = CLAIMS) -> pd.DataFrame:
    """One row per claim: its paper and source, the stated figure, the three kinds of evidence in words,
    and the verdict of each (computed from the numbers by :func:`judge`)."""
    found = evidence(results, claims)
    rows = []
    for claim in claims:
        mine = found[found["claim"] == claim.claim]
        row = {"claim": claim.claim, "paper": claim.paper, "source": claim.source, "published figure": claim.stated}
        row.update({kind: _cell(mine[mine["kind"] == kind]) for kind in KINDS})
        row["verdict"] = ". ".join(_verdict(kind, mine[mine["kind"] == kind]) for kind in KINDS)
        rows.append(row)
    return pd.DataFrame(rows).set_index("claim")
