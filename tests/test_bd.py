"""Bjøntegaard deltas (ndic.bd) on hand-checkable curves and on published Kodak results, and the
published RD points (ndic.published) they come from."""

import math

import numpy as np
import pytest
from scipy.integrate import quad

from ndic import published
from ndic.bd import METHODS, bd_quality, bd_rate

# a realistic curve: PSNR rising ~4.3 dB per doubling of rate, and a little curvature
RATE = np.array([0.1, 0.2, 0.4, 0.8, 1.6])
PSNR = np.array([27.0, 29.8, 32.9, 36.1, 39.5])


@pytest.mark.parametrize("method", METHODS)
def test_identical_curves_give_zero(method):
    assert bd_rate(RATE, PSNR, RATE, PSNR, method) == pytest.approx(0, abs=1e-9)
    assert bd_quality(RATE, PSNR, RATE, PSNR, method) == pytest.approx(0, abs=1e-9)


@pytest.mark.parametrize("method", METHODS)
def test_every_rate_times_0_9_saves_ten_percent(method):
    assert bd_rate(RATE, PSNR, 0.9 * RATE, PSNR, method) == pytest.approx(-10.0, abs=1e-9)
    assert bd_rate(RATE, PSNR, 1.25 * RATE, PSNR, method) == pytest.approx(25.0, abs=1e-9)


@pytest.mark.parametrize("method", METHODS)
def test_quality_shift_on_a_log_linear_curve(method):
    # Q = 30 + 6 ln R: shifting Q by +0.5 dB is the same curve at rate R exp(-0.5/6)
    rate = np.array([0.1, 0.25, 0.5, 1.0, 2.0])
    quality = 30 + 6 * np.log(rate)
    assert bd_quality(rate, quality, rate, quality + 0.5, method) == pytest.approx(0.5, abs=1e-9)
    expected = (math.exp(-0.5 / 6) - 1) * 100
    assert bd_rate(rate, quality, rate, quality + 0.5, method) == pytest.approx(expected, abs=1e-9)


def test_cubic_matches_direct_integration_of_the_fits():
    """VCEG-M33 by another route: numerical integration of the two cubic fits over the overlap."""
    rate_test, psnr_test = RATE * np.array([0.8, 0.85, 0.9, 0.95, 1.0]), PSNR + np.array([0.0, 0.1, 0.0, -0.2, 0.1])
    fit_ref, fit_test = np.polyfit(PSNR, np.log(RATE), 3), np.polyfit(psnr_test, np.log(rate_test), 3)
    low, high = max(PSNR.min(), psnr_test.min()), min(PSNR.max(), psnr_test.max())
    area, _ = quad(lambda q: np.polyval(fit_test, q) - np.polyval(fit_ref, q), low, high)
    expected = (math.exp(area / (high - low)) - 1) * 100
    assert bd_rate(RATE, PSNR, rate_test, psnr_test, "cubic") == pytest.approx(expected, rel=1e-9)


def test_point_order_does_not_matter():
    order = [3, 0, 4, 1, 2]
    for method in METHODS:
        assert bd_rate(RATE[order], PSNR[order], 0.9 * RATE, PSNR, method) == pytest.approx(-10.0, abs=1e-9)


def test_bad_curves_are_refused_with_reasons():
    with pytest.raises(ValueError, match="do not overlap"):
        bd_rate(RATE, PSNR, RATE, PSNR + 20)
    with pytest.raises(ValueError, match="at least 4"):
        bd_rate(RATE[:3], PSNR[:3], RATE, PSNR, "cubic")
    assert bd_rate(RATE[:3], PSNR[:3], 0.9 * RATE[:3], PSNR[:3], "pchip") == pytest.approx(-10.0, abs=1e-9)
    with pytest.raises(ValueError, match="non-positive"):
        bd_rate(-RATE, PSNR, RATE, PSNR)
    with pytest.raises(ValueError, match="unknown BD method"):
        bd_rate(RATE, PSNR, RATE, PSNR, "linear")
    with pytest.raises(ValueError, match="equal length"):
        bd_rate(RATE, PSNR[:4], RATE, PSNR)
    with pytest.raises(ValueError, match="non-finite"):
        bd_rate(RATE, np.r_[PSNR[:4], np.nan], RATE, PSNR)
    with pytest.raises(ValueError, match="distinct"):
        bd_rate(RATE, np.r_[PSNR[:4], PSNR[3]], RATE, PSNR, "pchip")


# --- published figures -------------------------------------------------------------------------
# Points typed into ndic/published_rd.csv from InterDigitalInc/CompressAI results/image/kodak/
# (vtm.json, bpg_444_x265_ycbcr.json, compressai-bmshj2018-hyperprior_mse_cuda.json) and
# Googolxx/STF results/stf_mse_Kodak.json, cnn_mse_Kodak.json.


def _bd_against_vtm(method, source, metric="psnr", bd="cubic"):
    vtm, test = published.points("vtm", "compressai"), published.points(method, source, "mse")
    return bd_rate(vtm.bpp, vtm[metric], test.bpp, test[metric], bd)


def test_published_hyperprior_against_vtm_is_about_plus_30_percent():
    # CompressAI's bmshj2018-hyperprior costs ~30% more rate than VTM on Kodak (PSNR)
    assert _bd_against_vtm("bmshj2018-hyperprior", "compressai") == pytest.approx(30.1, abs=0.5)
    assert _bd_against_vtm("bmshj2018-hyperprior", "compressai", bd="pchip") == pytest.approx(30.1, abs=1.0)


def test_published_stf_against_vtm_is_about_minus_4_5_percent():
    # STF saves ~4.5% against VTM on Kodak (PSNR); WACNN a little more on this comparison
    assert _bd_against_vtm("stf", "stf") == pytest.approx(-4.5, abs=0.5)
    assert _bd_against_vtm("stf", "stf", bd="pchip") == pytest.approx(-4.5, abs=0.6)
    assert _bd_against_vtm("wacnn", "stf") == pytest.approx(-4.9, abs=0.5)


def test_published_ms_ssim_in_db_orders_the_curves():
    # on MS-SSIM (dB) VTM beats BPG, and an MSE-trained hyperprior beats BPG at equal rate
    bpg, vtm = published.points("bpg"), published.points("vtm")
    hyper = published.points("bmshj2018-hyperprior")
    assert bd_rate(bpg.bpp, bpg.ms_ssim_db, vtm.bpp, vtm.ms_ssim_db) < 0
    assert bd_quality(bpg.bpp, bpg.ms_ssim_db, hyper.bpp, hyper.ms_ssim_db) > 0


def test_published_points_carry_their_sources():
    frame = published.load()
    assert {"vtm", "bpg", "bmshj2018-factorized", "bmshj2018-hyperprior", "mbt2018", "cheng2020-anchor", "stf",
            "wacnn"} <= set(frame.method)  # fmt: skip
    for column in ("repository", "path", "commit", "citation"):
        assert frame[column].notna().all() and (frame[column].str.len() > 0).all(), column
    assert frame.commit.str.fullmatch(r"[0-9a-f]{40}").all()
    with_ms_ssim = frame[frame.ms_ssim.notna()]
    assert np.allclose(with_ms_ssim.ms_ssim_db, -10 * np.log10(1 - with_ms_ssim.ms_ssim))
    assert (frame.psnr.notna() | frame.ms_ssim_db.notna()).all()  # STF's files give one metric each
    vtm = published.points("vtm")
    assert len(vtm) == 8 and vtm.bpp.is_monotonic_increasing and vtm.psnr.is_monotonic_increasing


def test_published_lookup_errors_name_the_choices():
    with pytest.raises(ValueError, match="compressai/vtm"):
        published.points("vvc")
    with pytest.raises(ValueError, match="2 "):
        published.points("stf")  # MSE and MS-SSIM curves: say which
    with pytest.raises(ValueError, match="no published points"):
        published.load("clic")
