"""BD tables: the BD-rate and BD-quality of every curve against a reference curve, and their sentences."""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd

from ..bd import bd_quality, bd_rate
from ..io import atomic_write_text
from ..results import DATASET_IMAGES
from .rd import Curve, curves_from_published, curves_from_results, published_curves, result_columns


def bd_table(
    curves: Iterable[Curve],
    reference: Curve | str,
    metric: str = "psnr",
    methods: Sequence[str] = ("cubic", "pchip"),
) -> pd.DataFrame:
    """BD-rate (%) and BD-quality (dB) of every curve against ``reference`` (a curve or a label).

    Curves that cannot be compared (too few points, no overlap, no ``metric`` values) get NaN and a
    ``note`` saying why.
    """
    curves = list(curves)
    if isinstance(reference, str):
        matches = [c for c in curves if _named(c, reference)]
        if not matches:
            raise ValueError(f"reference {reference!r} is not among the curves: {[c.label for c in curves]}")
        reference = matches[0]
    ref_values = reference.values(metric)
    if ref_values is None:
        raise ValueError(f"reference {reference.label!r} has no {metric} values")
    quality = "PSNR" if metric == "psnr" else "MS-SSIM"
    rows = []
    for curve in curves:
        if curve is reference or curve.label == reference.label:
            continue
        row, notes = {"curve": curve.label, "kind": curve.kind}, []
        for method in methods:
            rate_key, quality_key = f"BD-rate {method} (%)", f"BD-{quality} {method} (dB)"
            try:
                values = curve.values(metric)
                if values is None:
                    raise ValueError(f"no {metric} values")
                args = (reference.bpp, ref_values, curve.bpp, values)
                row[rate_key], row[quality_key] = bd_rate(*args, method=method), bd_quality(*args, method=method)
            except ValueError as reason:
                row[rate_key] = row[quality_key] = math.nan
                notes.append(f"{method}: {reason}")
        if curve.coverage != reference.coverage:  # BD over different images: a difference of image sets too
            ours, theirs = curve.coverage or "all images", reference.coverage or "all"
            notes.append(f"measured on {ours}, the reference on {theirs}")
        row["note"] = "; ".join(dict.fromkeys(notes))
        rows.append(row)
    table = pd.DataFrame(rows).set_index("curve") if rows else pd.DataFrame()
    table.attrs.update({"reference": reference.label, "metric": metric})
    return table


def _named(curve: Curve, label: str | None) -> bool:
    """Whether ``label`` names ``curve``: as given, or as shown with its image coverage ("JPEG (2 of 24 images)")."""
    return label in (curve.label, curve.label.replace(f" ({curve.coverage})", ""))


# a BD-rate needs a curve on each side: 2 points for PCHIP (4 for the cubic fit, which says so in its note)
BD_MIN_POINTS = 2


def _drop_short_curves(curves: Sequence[Curve], keep: str | None = None) -> tuple[list[Curve], dict[str, int]]:
    """``curves`` without those of fewer than :data:`BD_MIN_POINTS` points (but ``keep``, the reference),
    and the labels left out with their numbers of points."""
    kept, short = [], {}
    for curve in curves:
        if len(curve.bpp) < BD_MIN_POINTS and not _named(curve, keep):
            short[curve.label] = len(curve.bpp)
        else:
            kept.append(curve)
    return kept, short


def describe_short_curves(table: pd.DataFrame) -> str:
    """One sentence naming the curves that :func:`bd_tables` or :func:`bd_against_codecs` left out for having
    too few points (``table.attrs["too_few_points"]``); "" when none was."""
    short = table.attrs.get("too_few_points") or {}
    if not short:
        return ""
    named = ", ".join(f"{label} ({count} point{'s' * (count != 1)})" for label, count in short.items())
    return f"No BD-rate yet for {named}: a curve needs at least {BD_MIN_POINTS} points (4 for the cubic fit)."


# published curves in the BD tables: the anchors (VTM, BPG as CompressAI ran them) and the STF paper's own
# STF and WACNN curves, whose BD-rate against VTM is that paper's headline
BD_PUBLISHED = ("vtm", "bpg", "stf", "wacnn")


def bd_tables(
    frame: pd.DataFrame,
    dataset: str,
    reference: str | None = None,
    metric_names: Sequence[str] = ("psnr", "ms_ssim_db"),
) -> pd.DataFrame:
    """BD-rate / BD-quality of every curve on ``dataset`` against ``reference`` (a curve label).

    Default reference: the published VTM curve when the dataset has one, else the VVC curve run here,
    else BPG; without any of them the table is empty. Both BD methods (cubic, PCHIP), one block of rows
    per metric. Curves of fewer than :data:`BD_MIN_POINTS` points are left out and named in
    ``attrs["too_few_points"]`` (see :func:`describe_short_curves`).
    """

    rows = frame[frame["dataset"] == dataset]
    curves = curves_from_results(result_columns(rows)) + published_curves(dataset, list(BD_PUBLISHED))
    reference = reference or _default_reference(curves)
    if reference is None:
        return pd.DataFrame()
    curves, short = _drop_short_curves(curves, keep=reference)
    tables = []
    for metric in metric_names:
        # a published curve without this metric (STF's MSE models have no MS-SSIM) is left out, not a NaN row
        compared = [c for c in curves if c.kind != "published" or c.values(metric) is not None]
        table = bd_table(compared, reference, metric)
        if not table.empty:
            # BD-PSNR / BD-MS-SSIM columns under one name, so that both metrics stack in one table
            table = table.rename(columns=lambda c: re.sub(r"^BD-(PSNR|MS-SSIM) ", "BD-quality ", c))
            tables.append(table.reset_index().assign(metric=metric, reference=reference))
    first = ["metric", "reference", "curve"]
    out = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=[*first, "kind"])
    out = out[first + [c for c in out.columns if c not in first]]
    out.attrs["too_few_points"] = short
    return out


def bd_against_codecs(
    frame: pd.DataFrame, dataset: str, codecs: Sequence[str] = ("jpeg", "bpg"), profile: str | None = "cpu"
) -> pd.DataFrame:
    """BD-rate (cubic and PCHIP, %) of every learned curve on ``dataset`` (of ``profile`` rows only, when given)
    against each classical codec of ``codecs`` run here, on PSNR and MS-SSIM (dB): one row per (curve, metric),
    the BD-rates and the note (why a comparison cannot be made) of each codec in its own columns. Empty
    without learned rows or without any of the codecs; learned curves of fewer than :data:`BD_MIN_POINTS`
    points are left out and named in ``attrs["too_few_points"]``."""
    rows = frame[frame["dataset"] == dataset]
    learned = rows[~rows["method"].isin(codecs)]
    learned = learned if profile is None else learned[learned["profile"] == profile]
    references = rows[rows["method"].isin(codecs)]
    if learned.empty or references.empty:
        return pd.DataFrame()
    curves = curves_from_results(result_columns(pd.concat([learned, references])))
    learned_curves, short = _drop_short_curves([c for c in curves if c.kind == "learned"])
    curves = [c for c in curves if c.kind != "learned"] + learned_curves
    if not learned_curves:
        empty = pd.DataFrame()
        empty.attrs["too_few_points"] = short
        return empty
    per_codec = []
    for codec in dict.fromkeys(references["method"]):  # in the order the rows give them
        label = str(references.loc[references["method"] == codec, "label"].iloc[0])
        metrics = [
            bd_table(curves, label, metric).reset_index().assign(metric=metric) for metric in ("psnr", "ms_ssim_db")
        ]
        table = pd.concat(metrics, ignore_index=True)
        table = table[table["kind"] == "learned"].set_index(["curve", "metric"])
        wanted = [c for c in ("BD-rate cubic (%)", "BD-rate pchip (%)", "note") if c in table.columns]
        per_codec.append(table[wanted].rename(columns=lambda c, label=label: f"vs {label}: {c}"))
    out = pd.concat(per_codec, axis=1)
    out.attrs["too_few_points"] = short
    return out


def describe_bd(table: pd.DataFrame) -> list[str]:
    """One sentence per row of :func:`bd_tables` with a BD-rate: the rate change for equal quality."""
    quality = {"psnr": "PSNR", "ms_ssim_db": "MS-SSIM"}
    sentences = []
    for row in table.to_dict("records"):
        cubic, pchip = row.get("BD-rate cubic (%)", math.nan), row.get("BD-rate pchip (%)", math.nan)
        if math.isnan(cubic) and math.isnan(pchip):
            continue
        sentences.append(
            f"{row['curve']}: {cubic:+.1f} % rate (PCHIP: {pchip:+.1f} %) for the same "
            f"{quality.get(row['metric'], row['metric'])} as {row['reference']}"
        )
    return sentences


def _default_reference(curves: Sequence) -> str | None:
    for kind, method in (("published", "vtm"), ("classical", "vvenc"), ("classical", "vtm"), ("classical", "bpg")):
        for curve in curves:
            if curve.kind == kind and curve.method == method:
                return curve.label
    return None


def write_bd_rates(out_dir: str | os.PathLike, dataset: str, meta: dict | None = None) -> Path | None:
    """``<out_dir>/bd_rates.csv``: every result CSV in ``out_dir`` against the published VTM and BPG curves.

    Both BD methods, on PSNR and on MS-SSIM (dB) (``metric``; ``BD-quality`` is in dB of that metric).
    None when nothing was published for ``dataset``. The CSVs must cover the same images (ValueError naming
    them otherwise: one table must not mix a ``--limit`` run with full ones); curves on part of the dataset
    say so in their names ("(2 of 24 images)").
    """
    from .. import published
    from ..results import read_meta

    try:
        references = [
            curves_from_published(published.points(m, "compressai", dataset=dataset))[0] for m in ("vtm", "bpg")
        ]
    except ValueError:
        return None
    files = sorted(p for p in Path(out_dir).glob("*.csv") if p.name != "bd_rates.csv")
    if not files:
        return None
    frames = [pd.read_csv(p).assign(**{DATASET_IMAGES: read_meta(p).get("of") or math.nan}) for p in files]
    _refuse_mixed_image_sets(Path(out_dir), files, frames)
    ours = curves_from_results(pd.concat(frames, ignore_index=True))
    tables = []
    for reference in references:
        for metric in ("psnr", "ms_ssim_db"):
            table = bd_table([reference, *ours], reference, metric).reset_index()
            table.columns = [re.sub(r"^BD-(PSNR|MS-SSIM) ", "BD-quality ", c) for c in table.columns]
            tables.append(table.assign(reference=reference.label, metric=metric))
    frame = pd.concat(tables, ignore_index=True)
    first = ["curve", "reference", "metric"]
    frame = frame[first + [c for c in frame.columns if c not in first and c != "kind"]]
    path = atomic_write_text(Path(out_dir) / "bd_rates.csv", frame.to_csv(index=False, float_format="%.4f"))
    if meta is not None:
        sources = {
            r.label: "InterDigitalInc/CompressAI results/image/kodak (ndic/published_rd.csv)" for r in references
        }
        atomic_write_text(path.with_suffix(".meta.json"), json.dumps({**meta, "references": sources}, indent=2) + "\n")
    return path


def _refuse_mixed_image_sets(folder: Path, files: Sequence[Path], frames: Sequence[pd.DataFrame]) -> None:
    """ValueError (one line) when the result CSVs of ``folder`` do not all average the same images."""
    from ..paths import display

    groups: dict[frozenset, list[str]] = {}
    for path, frame in zip(files, frames, strict=True):
        groups.setdefault(frozenset(frame["image"].astype(str)), []).append(path.name)
    if len(groups) <= 1:
        return
    known = pd.concat([f[DATASET_IMAGES] for f in frames]).max()
    total = max(len(frozenset().union(*groups)), int(known) if math.isfinite(known) else 0)
    described = "; ".join(
        f"{', '.join(names)}: {len(images)} of {total} images"
        for images, names in sorted(groups.items(), key=lambda item: len(item[0]))
    )
    raise ValueError(
        f"{display(folder)}: its result CSVs cover different images ({described}), so no BD table is written "
        "from them; re-run the partial ones on every image (without --limit), or write partial runs to another "
        "folder (--out)"
    )
