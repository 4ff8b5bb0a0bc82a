"""compress_with_likelihoods: the estimated rate from the latents compress() codes, without a forward pass.

Every family's override must return compress()'s own strings and, bit for bit, the likelihoods of the eval
forward (what ``bpp_estimated`` was computed from before), on real images at small widths; the default
falls back to that forward; concurrent calls keep their records apart.
"""

import threading

import pytest
import torch

from ndic import data, metrics, models
from ndic.data.transforms import PairTransform
from ndic.models.base import compress_then_forward

SMALL = {
    "bls17": {"num_filters": 16},
    "bmshj18": {"num_filters": 16},
    "ndic_bls17": {"num_filters": 16},
    "ndic_bmshj18": {"num_filters": 16},
    "cross_attention": {"num_filters": 16},
    "wacnn": {"N": 32, "M": 80},
    "stf": {"embed_dim": 24, "depths": [1, 1, 1, 1], "num_heads": [1, 2, 4, 8]},
}


@pytest.fixture(scope="module")
def images(shared_data):
    """A Kodak crop (not a multiple of any stride) and a KITTI pair at NDIC-CAM's 128x256."""
    kodak = data.read_rgb(shared_data / "kodak" / "kodim23.png")
    x = torch.from_numpy(kodak[100:300, 200:450].copy()).permute(2, 0, 1)[None].float() / 255
    name = "kitti15_training_000046_10.png"
    left, right = (data.read_rgb(shared_data / "kitti_samples" / "color" / f"image_{i}" / name) for i in (2, 3))
    pair = PairTransform((128, 256), crop="kitti")(left, right)
    return x, pair[0][None], pair[1][None]


def _model(name: str) -> torch.nn.Module:
    torch.manual_seed(0)
    model = models.build(name, **SMALL[name]).eval()
    with torch.no_grad():  # livelier latents than the initialisation's, so that the rate is not trivial
        for parameter in model.parameters():
            parameter.mul_(1.5)
    model.update(force=True)
    return model


@pytest.mark.parametrize("name", list(SMALL))
def test_likelihoods_of_what_compress_coded_equal_the_forwards(name, images):
    model = _model(name)
    x, pair_x, pair_y = images
    # the distributed models and cross_attention (tied to 128x256) on the pair, the others on the Kodak crop
    inputs = (pair_x, pair_y) if model.distributed else (x,)
    encoded, likelihoods = model.compress_with_likelihoods(*inputs)
    again = model.compress(inputs[0])
    assert encoded["strings"] == again["strings"] and encoded["shape"] == again["shape"]
    with torch.no_grad():
        expected = list(model(*inputs)["likelihoods"].values())
    found = likelihoods()
    assert len(found) == len(expected) == len(encoded["strings"])
    for ours, forward in zip(found, expected, strict=True):
        assert ours.shape == forward.shape and torch.equal(ours, forward)
    height, width = inputs[0].shape[-2:]
    estimate = metrics.bpp_from_likelihoods(found, height, width)
    assert estimate == metrics.bpp_from_likelihoods(expected, height, width) and estimate > 0.01


def test_the_default_runs_a_forward_and_needs_the_side_image_of_distributed_models(images):
    x, pair_x, pair_y = images
    model = _model("bmshj18")
    encoded, likelihoods = compress_then_forward(model, x)
    assert encoded["strings"] == model.compress(x)["strings"]
    with torch.no_grad():
        expected = list(model(x)["likelihoods"].values())
    assert all(torch.equal(a, b) for a, b in zip(likelihoods(), expected, strict=True))
    with pytest.raises(ValueError, match="pass side=y"):
        compress_then_forward(_model("ndic_bls17"), pair_x)


def test_concurrent_calls_keep_their_records_apart(images):
    x, _, _ = images
    model = _model("bmshj18")
    crops = [x[..., :128, :128], x[..., 64:, 100:]]
    with torch.no_grad():
        expected = [metrics.bpp_from_likelihoods(model(c)["likelihoods"], *c.shape[-2:]) for c in crops]
    found: dict[int, list[float]] = {0: [], 1: []}

    def work(i: int) -> None:
        with torch.no_grad():
            for _ in range(3):
                _, likelihoods = model.compress_with_likelihoods(crops[i])
                found[i].append(metrics.bpp_from_likelihoods(likelihoods(), *crops[i].shape[-2:]))

    threads = [threading.Thread(target=work, args=(i,)) for i in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert found == {0: [expected[0]] * 3, 1: [expected[1]] * 3}
