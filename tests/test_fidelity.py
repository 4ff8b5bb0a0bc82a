"""The reference check as the book shows it: its report parsed per model, the committed result file
consistent with the models as they are built now, and a clear error where neither exists."""

import pytest
import torch

from ndic import fidelity, models

DIFFERS = """\
bls17            MATCH  params 3,937,155 vs original 3,937,155; base: x_hat max diff 0.0e+00, bits 22025.1 vs 22025.1; \
base: real 2760 bytes vs estimated 2753; stress: x_hat max diff 0.0e+00, bits 22047.3 vs 22047.3; stress: real 2760 \
bytes vs estimated 2756
stf              DIFFERS  params 99,855,639 vs original 99,855,638; base: x_hat max diff 3.1e-03, bits 259496.1 vs \
259400.0; base: 27472 bytes, identical to original: False; stress: x_hat max diff 1.0e-06, bits 475934.3 vs 475934.3; \
stress: 46720 bytes, identical to original: True
    - parameter count 99,855,639 differs from the original's 99,855,638 by 0.00%
    - base: transmitted bits 259496.10 vs original 259400.00 (rel 3.7e-04)
1/2 models match the originals; differ: stf
"""


def test_parse_reads_every_verdict_of_a_report():
    frame = fidelity.parse(DIFFERS).set_index("model")
    assert list(frame.index) == ["bls17", "stf"]
    bls, stf = frame.loc["bls17"], frame.loc["stf"]
    assert bls["status"] == "MATCH" and bls["params_equal"] and bls["bits_equal"]
    assert bls["bytes"] == 2760 and bls["bytes_estimated"] == 2753
    assert bls["bytes_identical"] != bls["bytes_identical"]  # NaN: the original has no entropy coder
    assert stf["status"] == "DIFFERS" and not stf["params_equal"] and not stf["bits_equal"]
    assert stf["x_hat_max_diff"] == pytest.approx(3.1e-3)  # the worse of the two weight sets
    assert not stf["bytes_identical"]  # one of the two cases differs
    assert "transmitted bits" in stf["problems"] and "parameter count" in stf["problems"]
    shown = fidelity.table(frame.reset_index()).loc["stf"]
    assert shown["parameters equal"] == "NO" and shown["bytes identical"] == "NO" and shown["verdict"] == "DIFFERS"


def test_parse_refuses_what_is_not_a_report():
    with pytest.raises(ValueError, match="no model line"):
        fidelity.parse("Traceback (most recent call last):\n  ...\nImportError: no module named ndic\n")


def test_committed_result_matches_the_models_built_now():
    frame, meta = fidelity.read()
    assert sorted(frame["model"]) == sorted(models.names())
    assert (frame["status"] == "MATCH").all() and meta["exit_status"] == 0
    for row in frame.to_dict("records"):
        net = models.build(row["model"])
        assert sum(p.numel() for p in net.parameters()) == row["params"], row["model"]
        del net
    # byte-identical streams are claimed exactly where the original has an entropy coder
    coded = frame[frame["bytes_identical"] == frame["bytes_identical"]]
    assert sorted(coded["model"]) == ["stf", "wacnn"] and coded["bytes_identical"].all()


def test_missing_reference_and_result_say_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="NDIC_REFERENCE"):
        fidelity.run(tmp_path)
    with pytest.raises(FileNotFoundError, match="python -m ndic.fidelity"):
        fidelity.read(tmp_path / "none.csv")
    frame, origin = fidelity.load(reference=tmp_path)  # no fixtures here: the committed file
    assert len(frame) == 7 and origin.startswith("read from results/reference_check.csv")


@pytest.mark.skipif(not (fidelity.reference_dir() / fidelity.SCRIPT).is_file(), reason="no reference fixtures")
def test_the_check_run_now_agrees_with_the_committed_file():
    threads = torch.get_num_threads()
    report, status, _ = fidelity.run()
    torch.set_num_threads(threads)
    now, committed = fidelity.parse(report), fidelity.read()[0]
    assert status == 0
    columns = ["model", "status", "params", "params_equal", "bits", "bits_original", "bits_equal", "bytes"]
    assert now[columns].astype(str).equals(committed[columns].astype(str))
