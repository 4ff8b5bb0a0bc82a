"""The claims table: verdicts computed from BD deltas of synthetic runs with known answers, and of the
published points (STF and WACNN against CompressAI's VTM)."""

import math

import numpy as np
import pytest

from ndic import bd, claims, published, results

RATES = np.array([0.1, 0.2, 0.4, 0.8])  # bpp of the reference curve, one per lambda
LAMBDAS = (3e-05, 6e-05, 0.00011, 0.00022)


def _claim(test: str, reference: str, metric: str = "psnr", stated: bool = False) -> claims.Claim:
    (found,) = [c for c in claims.CLAIMS if (c.test, c.reference, c.metric) == (test, reference, metric)
                and (c.stated_bd_rate is not None) == stated]  # fmt: skip
    return found


def _rows(method: str, factor: float, dataset: str, profile: str, qualities=LAMBDAS, images=("a", "b")) -> list:
    """Per-image rows of a curve with ``factor`` times the reference's rate at the same qualities: its
    BD-rate against the reference is exactly ``(factor - 1) * 100`` % (quality is linear in log-rate)."""
    rows = []
    for quality, rate in zip(qualities, RATES * factor, strict=False):
        psnr, db = 20 + 3 * np.log2(rate / factor), 10 + 2 * np.log2(rate / factor)
        for image in images:
            rows.append({"method": method, "label": method, "quality": quality, "dataset": dataset, "image": image,
                         "height": 64, "width": 64, "bytes": int(rate * 512), "bpp": rate, "bpp_estimated": rate,
                         "psnr": psnr, "ms_ssim": 1 - 10 ** (-db / 10), "ms_ssim_db": db, "encoding_time": 0.1,
                         "decoding_time": 0.1, "profile": profile})  # fmt: skip
    return rows


def _write(folder, method, factor, dataset="kitti_stereo", profile="cpu", **kwargs):
    rows = _rows(method, factor, dataset, profile, **kwargs)
    results.write_rows(rows, folder / f"{method}.csv", {"profile": profile, "of": len(kwargs.get("images", "ab"))})


def _stereo_runs(root, factors: dict, sets=("kitti_samples", "kitti_samples_gray", "middlebury"), **kwargs):
    for test_set in sets:
        for method, factor in factors.items():
            _write(root / "cpu" / test_set, method, factor, **kwargs)


def _cpu(found, claim, test_set):
    rows = found[(found["claim"] == claim.claim) & (found["kind"] == "CPU scale") & (found["test set"] == test_set)]
    assert len(rows) == 1
    return rows.iloc[0]


def test_the_ordering_holds_where_the_runs_show_it(tmp_path):
    _stereo_runs(tmp_path, {"bls17": 1.0, "ndic_bls17": 0.8, "cross_attention": 0.7})
    found = claims.evidence(tmp_path)
    for metric in ("ms_ssim_db", "psnr"):
        for test, reference, expected in (
            ("cross_attention", "ndic_bls17", 0.7 / 0.8 - 1),
            ("ndic_bls17", "bls17", -0.2),
        ):
            for test_set in ("kitti_samples", "kitti_samples_gray", "middlebury"):
                row = _cpu(found, _claim(test, reference, metric), test_set)
                assert row["status"] == claims.HOLDS
                assert row["BD-rate (%)"] == pytest.approx(100 * expected, abs=1e-6)
    # the PSNR claims are about MSE-trained models; the CPU plan trains these for MS-SSIM and says so
    assert "CPU models trained for MS-SSIM" in _cpu(found, _claim("ndic_bls17", "bls17"), "middlebury")["text"]
    table = claims.claims_table(tmp_path)
    verdict = table.loc[_claim("cross_attention", "ndic_bls17", "ms_ssim_db").claim, "verdict"]
    assert "CPU scale: holds on kitti_samples (-12.5 % < -1 %), kitti_samples_gray" in verdict


def test_the_ordering_does_not_hold_where_the_runs_do_not_show_it(tmp_path):
    # NDIC-CAM worse than NDIC by 10 %; NDIC saves 0.5 %, inside the 1 % margin: neither claim holds
    _stereo_runs(tmp_path, {"bls17": 1.0, "ndic_bls17": 0.995, "cross_attention": 1.0945})
    found = claims.evidence(tmp_path)
    worse = _cpu(found, _claim("cross_attention", "ndic_bls17", "ms_ssim_db"), "kitti_samples")
    assert worse["status"] == claims.FAILS and worse["BD-rate (%)"] == pytest.approx(10.0, abs=1e-6)
    tie = _cpu(found, _claim("ndic_bls17", "bls17", "ms_ssim_db"), "middlebury")
    assert tie["status"] == claims.FAILS and tie["BD-rate (%)"] == pytest.approx(-0.5, abs=1e-6)
    assert tie["why"] == "-0.5 % >= -1 %"


def test_missing_and_partial_runs_are_not_yet_run(tmp_path):
    _stereo_runs(tmp_path, {"bls17": 1.0}, sets=("kitti_samples",))
    _stereo_runs(tmp_path, {"ndic_bls17": 0.8}, sets=("kitti_samples",), qualities=LAMBDAS[:2])
    found = claims.evidence(tmp_path)
    claim = _claim("ndic_bls17", "bls17", "ms_ssim_db")
    partial = _cpu(found, claim, "kitti_samples")
    assert partial["status"] == claims.NOT_RUN and math.isnan(partial["BD-rate (%)"])
    assert "ndic_bls17 2 of 4 lambdas" in partial["why"] and "so far -20.0 % (pchip" in partial["why"]
    absent = _cpu(found, claim, "middlebury")
    assert absent["why"] == "ndic_bls17 0 of 4 lambdas, bls17 0 of 4 lambdas"
    row = claims.claims_table(tmp_path).loc[claim.claim]
    assert row["CPU scale"].startswith("kitti_samples: not yet run: ndic_bls17 2 of 4 lambdas")
    assert "kitti_samples_gray, middlebury: not yet run" in row["CPU scale"]
    assert row["paper profile"].startswith("not yet run: no paper-profile ndic_bls17 result")
    assert row["verdict"].endswith("paper profile: not yet run")


def test_an_empty_results_folder_leaves_every_run_not_yet_run_or_untestable(tmp_path):
    table = claims.claims_table(tmp_path / "absent")
    assert len(table) == len(claims.CLAIMS)
    assert list(table.columns) == ["paper", "source", "published figure", *claims.KINDS, "verdict"]
    assert table["paper profile"].str.startswith("not yet run").all()
    stf = table.loc[_claim("stf", "vtm", stated=True).claim]
    assert (
        stf["CPU scale"]
        == "not testable here: the CPU plan trains no stf (its budget of a few hours on 2 CPU cores holds no run of it)"
    )


def test_the_kodak_check_uses_the_classical_codecs_run_outside_results_cpu(tmp_path):
    _write(tmp_path / "cpu" / "kodak", "bmshj18", 0.5, dataset="kodak")
    _write(tmp_path / "kodak", "jpeg", 1.0, dataset="kodak", profile="paper")
    claim = _claim("bmshj18", "jpeg")
    (evidence,) = claims.cpu_evidence(claim, tmp_path).values()
    assert evidence.status == claims.HOLDS and evidence.bd_rate == pytest.approx(-50.0, abs=1e-6)
    assert "CPU models trained" not in evidence.text  # bmshj18 is trained for MSE, as the claim's models


def test_the_published_points_reproduce_the_stf_papers_headline():
    # STF and WACNN against CompressAI's VTM points on Kodak: about -4.5 % and -4.9 % (cubic), i.e. at least
    # the savings the paper states against its own VTM anchor
    for test, expected in (("stf", -4.45), ("wacnn", -4.92)):
        found = claims.published_evidence(_claim(test, "vtm", stated=True))
        assert found.status == claims.HOLDS
        assert found.bd_rate == pytest.approx(expected, abs=0.05)
        assert "vs compressai's vtm points" in found.text
    beats = claims.published_evidence(_claim("stf", "bmshj18"))
    assert beats.status == claims.HOLDS and beats.bd_rate < -20


def test_the_ndic_transcription_is_compared_on_its_estimated_rates():
    found = claims.published_evidence(_claim("cross_attention", "ndic_bls17", "ms_ssim_db"))
    ca = published.points("cross_attention", "neural-dsc", "ms-ssim", "kitti_stereo")
    nd = published.points("ndic_bls17", "neural-dsc", "ms-ssim", "kitti_stereo")
    assert found.bd_rate == pytest.approx(bd.bd_rate(nd.bpp, nd.ms_ssim_db, ca.bpp, ca.ms_ssim_db), rel=1e-12)
    assert found.status == claims.HOLDS and "likelihood-estimated rates" in found.text
    missing = claims.published_evidence(_claim("ndic_bls17", "bls17", "ms_ssim_db"))
    assert missing.status == claims.UNTESTABLE and "no bls17 (ms-ssim-trained) curve on kitti_stereo" in missing.why


def test_paper_profile_runs_are_measured_against_the_published_anchor(tmp_path):
    # paper-profile STF rows that are the published STF points must give the published points' BD-rate
    points = published.points("stf", "stf", "mse")
    template = _rows("stf", 1.0, "kodak", "paper", images=("kodim01",))[0]
    rows = [
        {**template, "quality": i, "bpp": bpp, "psnr": psnr}
        for i, (bpp, psnr) in enumerate(zip(points.bpp, points.psnr, strict=True))
    ]
    results.write_rows(rows, tmp_path / "kodak" / "stf.csv", {"profile": "paper", "of": 1})
    claim = _claim("stf", "vtm", stated=True)
    found = claims.paper_evidence(claim, tmp_path)
    assert found.bd_rate == pytest.approx(claims.published_evidence(claim).bd_rate, rel=1e-9)
    assert found.status == claims.HOLDS and "against the published vtm points (compressai)" in found.text
    # the hyperprior claim has no bmshj18 paper-profile run here: the published hyperprior stands in
    assert "bmshj2018-hyperprior" in claims.paper_evidence(_claim("stf", "bmshj18"), tmp_path).text


def test_verdicts_follow_the_margins():
    beats, figure = _claim("stf", "bmshj18"), _claim("stf", "vtm", stated=True)
    assert claims.judge(beats, -1.5, 0.0)[0] == claims.HOLDS
    assert claims.judge(beats, -0.5, 0.0)[0] == claims.FAILS
    assert claims.judge(beats, math.nan, 0.3) == (
        claims.HOLDS,
        "+0.30 dB > +0.10 dB (no common quality range: BD-quality)",
    )
    assert claims.judge(beats, math.nan, 0.05)[0] == claims.FAILS
    assert claims.judge(figure, -2.0, 0.0)[0] == claims.HOLDS  # -2.0 <= -2.48 + 1
    assert claims.judge(figure, -1.0, 0.0)[0] == claims.FAILS
    assert claims.judge(figure, math.nan, 0.5)[0] == claims.UNTESTABLE


def test_curves_without_a_common_range_are_refused():
    far = (np.array([4.0, 5.0, 6.0, 8.0]), np.array([50.0, 52.0, 54.0, 56.0]))
    near = (np.array([0.1, 0.2, 0.3, 0.4]), np.array([20.0, 22.0, 24.0, 26.0]))
    with pytest.raises(ValueError, match="do not overlap"):
        claims.compare(far, near)
    with pytest.raises(ValueError, match="1 point"):
        claims.compare((near[0][:1], near[1][:1]), near)
