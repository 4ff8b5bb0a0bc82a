"""Tables as the book shows them: readable headings with units, no empty columns, integers as integers,
and no path of the machine that built the book.

``frame`` (package column names, e.g. ``psnr_views_db``) -> :func:`tidy_table` -> a frame for display
(e.g. ``PSNR y vs x (dB)``). Text cells and index values go through :func:`hide_local_paths`, which
prints checkout paths relative to the checkout and data folders as ``$NDIC_DATA/...``.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

import pandas as pd

from .paths import project_root

__all__ = ["DATA_PLACEHOLDER", "HEADINGS", "hide_local_paths", "tidy_table"]

DATA_PLACEHOLDER = "$NDIC_DATA"  # the data folder (``ndic.data.data_home``), whatever machine ran the command

# package column -> heading with its unit (columns not listed keep their name)
HEADINGS = {
    # images and stereo pairs (ndic.data.stats)
    "id": "item",
    "height": "height (px)",
    "width": "width (px)",
    "mean": "mean (0-1)",
    "std": "std (0-1)",
    "saturated": "saturated (share)",
    "disparity_median": "disparity, median (px)",
    "disparity_abs_p95": "|disparity|, 95th pct. (px)",
    "overlap": "overlap (share of x)",
    "psnr_views_db": "PSNR y vs x (dB)",
    "psnr_aligned_db": "PSNR aligned y vs x (dB)",
    # result rows (ndic.results)
    "label": "method",
    "bpp": "bpp",
    "bpp_estimated": "estimated bpp",
    "psnr": "PSNR (dB)",
    "ms_ssim": "MS-SSIM",
    "ms_ssim_db": "MS-SSIM (dB)",
    "encoding_time": "encoding (s/image)",
    "decoding_time": "decoding (s/image)",
    # benchmarks (benchmarks/results)
    "forward_s": "forward (s)",
    "compress_s": "compress (s)",
    "decompress_s": "decompress (s)",
    "encode_s": "encode (s)",
    "decode_s": "decode (s)",
    "step_s": "step (s)",
    "images_per_s": "images/s",
}

# columns whose numbers mix scales (a codec's integer quality, a model's lambda of 0.0018): printed with
# the shortest exact form instead of a fixed number of decimals
GENERAL_FORMAT = ("quality",)


def _data_folders() -> list[Path]:
    """The folders printed as ``$NDIC_DATA``: the data home and the evaluation data beside the checkout."""
    folders = [project_root().parent / "shared" / "data"]
    home = os.environ.get("NDIC_DATA")
    folders.append(Path(home) if home else project_root() / "data")
    return folders


def hide_local_paths(text: str) -> str:
    """``text`` without paths of this machine: data folders become ``$NDIC_DATA``, paths inside the
    checkout become relative to it, the home folder becomes ``~``."""
    root = project_root().resolve()
    replacements = []
    for folder in _data_folders():
        replacements += [(str(folder.resolve()), DATA_PLACEHOLDER), (str(folder), DATA_PLACEHOLDER)]
    # the shared data as commands run from the checkout name it (../shared/data/kodak)
    replacements.append(("../shared/data", DATA_PLACEHOLDER))
    replacements.append((str(root) + os.sep, ""))
    replacements.append((str(root), "."))
    home = str(Path.home())
    if home not in ("/", ""):
        replacements.append((home, "~"))
    for old, new in sorted(set(replacements), key=lambda pair: -len(pair[0])):
        # whole path components only: /work/main must not eat /work/main2
        end = "" if old.endswith(os.sep) else r"(?=$|[/\s'\"`),;:\]])"
        text = re.sub(re.escape(old) + end, lambda _, new=new: new, text)
    return text


def _is_empty(column: pd.Series) -> bool:
    return bool(column.map(lambda v: v is None or (isinstance(v, float) and math.isnan(v)) or v == "").all())


def _general(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return f"{value:g}" if isinstance(value, (int, float)) else str(value)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _tidy_column(column: pd.Series, digits: int, general: bool) -> pd.Series:
    if pd.api.types.is_bool_dtype(column):
        return column
    if column.dtype == object and len(column.dropna()) and column.dropna().map(_is_number).all():
        column = column.astype(float)  # numbers that a transpose or a concat left as objects
    if pd.api.types.is_numeric_dtype(column):
        values = column.dropna()
        finite = values[values.map(math.isfinite)] if len(values) else values
        if len(values) == len(finite) and (finite == finite.round()).all():
            return column.round().astype("Int64")  # 2576, not 2576.0000
        return column.map(_general) if general else column.round(digits)
    return column.map(lambda v: hide_local_paths(v) if isinstance(v, str) else v)


def tidy_table(
    frame: pd.DataFrame,
    columns: Iterable[str] | None = None,
    headings: Mapping[str, str] | None = None,
    digits: int = 3,
) -> pd.DataFrame:
    """``frame`` for display: the ``columns`` given (default: all) without empty ones, integral numbers as
    integers, other floats rounded to ``digits``, headings from :data:`HEADINGS` (updated by ``headings``)
    on columns and index levels, and no local paths in text cells or index values.
    """
    names = {**HEADINGS, **(headings or {})}
    if columns is not None:
        frame = frame[[name for name in columns if name in frame.columns]]
    kept = [name for name in frame.columns if not _is_empty(frame[name])]
    table = pd.DataFrame(
        {name: _tidy_column(frame[name], digits, name in GENERAL_FORMAT) for name in kept}, index=frame.index
    )
    # index levels get the same treatment as columns (a quality of 22.0 prints as 22)
    levels = [
        _tidy_column(pd.Series(table.index.get_level_values(i)), digits, table.index.names[i] in GENERAL_FORMAT)
        for i in range(table.index.nlevels)
    ]
    level_names = [names.get(name, name) for name in table.index.names]
    if isinstance(table.index, pd.MultiIndex):
        table.index = pd.MultiIndex.from_arrays(levels, names=level_names)
    else:
        table.index = pd.Index(levels[0], name=level_names[0])
    table.columns = [names.get(name, name) for name in table.columns]
    table.attrs = dict(frame.attrs)
    return table
