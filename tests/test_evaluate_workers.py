"""ndic.evaluate with worker threads: the same rows in the same order as one worker; the coder-capped estimate."""

import math

import pytest
import torch

from ndic import coding, data, models
from ndic.evaluate import ESTIMATE_CAPPED, evaluate

TIMES = ["encoding_time", "decoding_time"]


def _bmshj18(gain: float = 1.0) -> torch.nn.Module:
    """Untrained bmshj18 (16 filters) whose analysis output is ``gain`` times larger: latents that cost a real,
    image-dependent rate (an untrained model's are near zero), far into the tails for large gains."""
    torch.manual_seed(0)
    model = models.build("bmshj18", num_filters=16).eval()
    with torch.no_grad():
        model.g_a[-1].weight.mul_(gain)
    return model


def test_two_workers_give_the_rows_of_one_in_order(shared_data):
    kodak = data.load("kodak", "test", root=shared_data / "kodak", crop=160)
    model = _bmshj18(10)
    one = evaluate(model, kodak, limit=5, progress=False, workers=1)
    two = evaluate(model, kodak, limit=5, progress=False, workers=3)
    assert list(two["image"]) == ["kodim01", "kodim02", "kodim03", "kodim04", "kodim05"]
    assert one.drop(columns=TIMES).equals(two.drop(columns=TIMES))
    assert two["bytes"].nunique() > 1 and (two[TIMES] > 0).all().all()
    assert list(two.columns[-1:]) == [ESTIMATE_CAPPED]


def test_a_failing_image_stops_the_evaluation_with_its_error(shared_data):
    class Broken:
        ids = ["a", "b", "c", "d"]
        stereo = False

        def __len__(self):
            return 4

        def __getitem__(self, index):
            if index == 2:
                raise ValueError("image c cannot be read")
            return torch.rand(3, 64, 64)

    with pytest.raises(ValueError, match="image c cannot be read"):
        evaluate(_bmshj18(), Broken(), progress=False, workers=2)
    with pytest.raises(ValueError, match="at least 1"):
        list(coding.in_order(str, 3, workers=0))


def test_the_capped_estimate_charges_a_symbol_at_most_sixteen_bits():
    likelihoods = [torch.tensor([0.5, 1e-9, 2.0**-20]), torch.tensor([[0.25]])]
    assert coding.capped_bpp(likelihoods, 1, 2) == pytest.approx((1 + 16 + 16 + 2) / 2)
    plain = -sum(math.log2(p) for p in (0.5, 1e-9, 2.0**-20, 0.25)) / 2
    assert plain > coding.capped_bpp(likelihoods, 1, 2)


def test_the_real_rate_lies_between_the_capped_and_the_plain_estimate(shared_data):
    """Latents far in the tails: the plain estimate charges them up to ~30 bits, the coder at most 16 (plus
    escape codes for values beyond its tables), so the real rate falls between the two estimates."""
    kodak = data.load("kodak", "test", root=shared_data / "kodak", crop=128)
    frame = evaluate(_bmshj18(30), kodak, limit=2, progress=False, workers=1)
    assert (frame[ESTIMATE_CAPPED] < frame["bpp"]).all() and (frame["bpp"] < frame["bpp_estimated"]).all()
    assert (frame["bpp_estimated"] / frame["bpp"] > 1.1).all()  # the overstatement the capped column shows
