"""The conventions of the published numbers, pinned with hand-computed examples."""

import math

import pandas as pd
import pytest
import torch

from ndic import metrics, results


def _rows(ms_ssims):
    rows = []
    for i, value in enumerate(ms_ssims):
        row = dict.fromkeys(results.COLUMNS, math.nan)
        row.update(method="m", label="m", quality=1.0, dataset="d", image=f"i{i}", height=8, width=8, bytes=8,
                   bpp=1.0, psnr=30.0, ms_ssim=value, profile="paper")  # fmt: skip
        row["ms_ssim_db"] = metrics.ms_ssim_db(value)
        rows.append(row)
    return pd.DataFrame(rows)


def test_a_curve_point_is_the_db_of_the_mean_ms_ssim():
    # 0.9 and 0.99 are 10 dB and 20 dB: their mean is 0.945, i.e. -10 log10(0.055) = 12.596 dB, not 15 dB
    frame = _rows([0.9, 0.99])
    assert list(frame["ms_ssim_db"]) == pytest.approx([10.0, 20.0])  # per-image rows keep their own dB
    point = results.summarize(frame).iloc[0]
    assert point["ms_ssim"] == pytest.approx(0.945)
    assert point["ms_ssim_db"] == pytest.approx(12.5964, abs=1e-4)
    curve = results.to_compressai_json(frame, "m")["results"]
    assert curve["ms-ssim-rgb"] == pytest.approx([0.945])


def test_psnr_conventions_by_name():
    x = torch.zeros(1, 3, 4, 4)
    below_half_a_level = torch.full_like(x, 0.3 / 255)
    assert metrics.psnr(x, below_half_a_level) == math.inf  # rounds to the same 8-bit image
    assert metrics.psnr(x, below_half_a_level, "clamped") == pytest.approx(20 * math.log10(255 / 0.3))
    over = torch.full_like(x, 1.2)
    assert metrics.psnr(x, over, "float") == pytest.approx(-10 * math.log10(1.44))  # NDIC-CAM: unclamped
    assert metrics.psnr(x, over, "clamped") == pytest.approx(0.0)  # STF: clamped to 1
    assert metrics.psnr(x, over) == pytest.approx(0.0)
    with pytest.raises(ValueError, match="convention must be one of"):
        metrics.psnr(x, over, "yuv")
