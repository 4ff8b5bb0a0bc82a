"""ndic.published beyond Kodak: Tecnick, CLIC Professional and KITTI Stereo points, checked against their sources."""

import numpy as np
import pytest

from ndic import published
from ndic.bd import bd_quality, bd_rate

# (dataset, source, method, objective) -> points per curve in the source file(s)
CURVES = {
    ("kitti_stereo", "neural-dsc", "ndic_bmshj18", "mse"): 14,  # _PSNR_BALLE18
    ("kitti_stereo", "neural-dsc", "ndic_bls17", "mse"): 15,  # _PSNR_BALLE17
    ("kitti_stereo", "neural-dsc", "ndic_bmshj18", "ms-ssim"): 14,  # _SSIM_BALLE18
    ("kitti_stereo", "neural-dsc", "ndic_bls17", "ms-ssim"): 9,  # _SSIM_BALLE17
    ("kitti_stereo", "neural-dsc", "cross_attention", "ms-ssim"): 7,  # _SSIM_NDIC_CAM
    ("clic_professional", "stf", "stf", "mse"): 6,
    ("clic_professional", "stf", "wacnn", "mse"): 6,
    ("clic_professional", "stf", "stf", "ms-ssim"): 6,
    ("clic_professional", "stf", "wacnn", "ms-ssim"): 6,
    ("kodak", "tensorflow-compression", "balle2018", "mse"): 8,
    ("kodak", "tensorflow-compression", "balle2018", "ms-ssim"): 8,
    ("tecnick", "tensorflow-compression", "balle2018", "mse"): 8,
    ("tecnick", "tensorflow-compression", "balle2018", "ms-ssim"): 8,
}


@pytest.mark.parametrize(("dataset", "source", "method", "objective"), list(CURVES))
def test_new_curves_load_with_their_sources_and_rising_rates(dataset, source, method, objective):
    curve = published.points(method, source, objective, dataset=dataset)
    assert len(curve) == CURVES[dataset, source, method, objective]
    assert curve.bpp.is_monotonic_increasing and curve.bpp.is_unique
    assert curve.commit.str.fullmatch(r"[0-9a-f]{40}").all() and (curve.citation.str.len() > 0).all()
    quality = curve.psnr if objective == "mse" else curve.ms_ssim_db
    assert quality.notna().all()
    # quality rises with rate: strictly for the published files, up to 0.02 dB of reading error in the transcription
    assert (np.diff(quality) > (-0.02 if source == "neural-dsc" else 0)).all()


def test_the_kitti_points_are_labelled_as_a_third_party_transcription():
    points = published.load("kitti_stereo")
    assert set(points.repository) == {"acnagle/neural-dsc"}
    assert points.label.str.contains("transcribed by neural-dsc").all()
    assert points.note.str.contains("third-party transcription").all()
    assert points.note.str.contains("estimated from the latent likelihoods").all()
    # NDIC-CAM beats both NDIC variants on MS-SSIM, as its paper reports
    cam = published.points("cross_attention", dataset="kitti_stereo")
    for method in ("ndic_bls17", "ndic_bmshj18"):
        ndic = published.points(method, objective="ms-ssim", dataset="kitti_stereo")
        assert bd_rate(ndic.bpp, ndic.ms_ssim_db, cam.bpp, cam.ms_ssim_db) < -20


def test_stf_clic_ms_ssim_file_is_stored_as_ms_ssim_db():
    stf = published.points("stf", objective="ms-ssim", dataset="clic_professional")
    assert stf.psnr.isna().all() and stf.ms_ssim_db.notna().all()
    assert stf.note.str.contains("key says psnr").all()
    # its values match WACNN's MS-SSIM curve (within 0.3 dB), and sit 15 dB below the PSNR curves
    wacnn_ms = published.points("wacnn", objective="ms-ssim", dataset="clic_professional")
    wacnn_mse = published.points("wacnn", objective="mse", dataset="clic_professional")
    assert abs(bd_quality(wacnn_ms.bpp, wacnn_ms.ms_ssim_db, stf.bpp, stf.ms_ssim_db)) < 0.3
    assert bd_quality(wacnn_mse.bpp, wacnn_mse.psnr, stf.bpp, stf.ms_ssim_db) < -10


def test_original_balle2018_matches_compressai_reimplementation():
    original = published.points("balle2018", objective="mse")
    compressai = published.points("bmshj2018-hyperprior", "compressai", "mse")
    # CompressAI's retrained hyperprior lands within a few percent of the paper's own models
    assert abs(bd_rate(original.bpp, original.psnr, compressai.bpp, compressai.psnr)) < 5
    assert np.allclose(original.ms_ssim_db, -10 * np.log10(1 - original.ms_ssim))
    assert original.path.str.count("; ").eq(1).all()  # PSNR file and MS-SSIM file of one curve
    tecnick = published.points("balle2018", objective="mse", dataset="tecnick")
    assert tecnick.psnr.iloc[0] == 29.234396 and tecnick.bpp.iloc[-1] == 1.262145  # first and last line of the files


def test_curves_of_the_datasets_do_not_mix():
    everything = published.load(None)
    assert {"kodak", "tecnick", "clic_professional", "kitti_stereo"} <= set(everything.dataset)
    for (dataset, label), rows in everything.groupby(["dataset", "label"]):
        assert rows[["source", "method", "objective"]].drop_duplicates().shape[0] == 1, (dataset, label)
