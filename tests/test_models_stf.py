"""WACNN and STF (Zou et al., CVPR 2022): faithfulness to the original code and the real codec.

The reference tests load the original's weights and compare with its recorded outputs and
bitstreams (../shared/reference); the codec tests use small widths on real and random images.
"""

import json
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from ndic import models
from ndic.models.stf import STF
from ndic.models.wacnn import WACNN

SMALL = {
    "wacnn": {"N": 32, "M": 80},
    "stf": {"embed_dim": 16, "depths": (2, 2, 2, 2), "num_heads": (2, 2, 4, 4), "num_slices": 8},
}
ORIGINAL_NAME = {"wacnn": "cnn", "stf": "stf"}


# bitwise comparisons need a fixed thread count (conftest.one_thread)
pytestmark = pytest.mark.usefixtures("one_thread")


def bits(likelihoods) -> float:
    return float(sum((-torch.log2(t.double())).sum() for t in likelihoods.values()))


def small_model(name: str, gain: float = 2.0):
    """A small-width model; conv/linear weights scaled by ``gain`` so that most latents are non-zero."""
    model = models.build(name, **SMALL[name]).eval()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (torch.nn.Conv2d, torch.nn.ConvTranspose2d, torch.nn.Linear)):
                module.weight.mul_(gain)
    return model


# -- registry ----------------------------------------------------------------------------------


def test_registry_names_alias_and_config():
    assert {"wacnn", "stf"} <= set(models.names())
    assert models.get("cnn") is models.get("wacnn") is WACNN
    assert models.get("stf") is STF
    net = models.build("cnn", **SMALL["wacnn"])
    assert isinstance(net, WACNN) and not net.distributed
    assert net.config == {"N": 32, "M": 80}
    stf = models.build("stf", embed_dim=16, depths=[2, 2, 2, 2], num_heads=[2, 2, 4, 4], num_slices=8)
    config = json.loads(json.dumps(stf.config))  # JSON-serialisable, defaults filled in
    assert config["window_size"] == 4 and config["drop_path_rate"] == 0.2 and config["depths"] == [2, 2, 2, 2]


def test_bad_configurations_are_named():
    with pytest.raises(ValueError, match="equal slices"):
        models.build("wacnn", N=32, M=72)  # 72 channels cannot make 10 slices
    with pytest.raises(ValueError, match="one entry per stage"):
        models.build("stf", depths=(2, 2, 6, 2), num_heads=(3, 6, 12))
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        models.build("wacnn", **SMALL["wacnn"])(torch.rand(1, 1, 64, 64))


# -- faithfulness to the original ----------------------------------------------------------------


@pytest.mark.parametrize("name", ["wacnn", "stf"])
def test_matches_original_outputs_and_bitstreams(name, shared_reference):
    sys.path.insert(0, str(shared_reference))
    from fixture_utils import materialize_state_dict

    original = ORIGINAL_NAME[name]
    fx = torch.load(shared_reference / "small" / f"{original}.pt", weights_only=True)
    manifest = json.loads((shared_reference / "manifests" / f"{original}.json").read_text())
    for case in ("base", "stress"):
        state_dict = materialize_state_dict(fx, case, verify=case == "base")  # same recipes twice
        state_dict.update(fx["codec"]["updated_buffers"])  # the original's coder tables
        model = models.load_reference(name, state_dict, **fx["config"]).eval()
        if case == "base":  # the paper's default width
            assert sum(p.numel() for p in model.parameters()) == manifest["num_parameters"]
        ref, ref_codec = (
            (fx["outputs"], fx["codec"]) if case == "base" else (fx["stress"]["outputs"], fx["stress"]["codec"])
        )
        x = fx["inputs"]["x"]
        with torch.no_grad():
            out = model(x)
        assert (out["x_hat"] - ref["x_hat"]).abs().max() < 1e-4
        for latent in ("y", "z"):
            ours, theirs = out["likelihoods"][latent], ref[f"{latent}_likelihoods"]
            assert ours.shape == theirs.shape
            assert bits({latent: ours}) == pytest.approx(bits({latent: theirs}), rel=1e-5)

        enc = model.compress(x)
        assert enc["strings"] == ref_codec["strings"]  # byte for byte, [[y], [z]]
        assert tuple(enc["shape"]) == (*ref_codec["shape"], *x.shape[-2:])
        dec = model.decompress(ref_codec["strings"], enc["shape"])  # the original's own bytes
        assert (dec["x_hat"] - ref_codec["x_hat"]).abs().max() < 1e-4
        assert torch.equal(dec["x_hat"], out["x_hat"].clamp(0, 1))


def test_from_reference_is_strict():
    model = models.build("wacnn", **SMALL["wacnn"])
    state_dict = model.state_dict()
    again = WACNN.from_reference(state_dict, **SMALL["wacnn"])
    assert all(torch.equal(a, b) for a, b in zip(again.state_dict().values(), state_dict.values(), strict=True))
    state_dict.pop("g_s.0.conv_b.0.attn.qkv.weight")
    with pytest.raises(ValueError, match=r"missing 1 key.*g_s\.0\.conv_b\.0\.attn\.qkv\.weight"):
        WACNN.from_reference(state_dict, **SMALL["wacnn"])


# -- the codec -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["wacnn", "stf"])
def test_round_trip_equals_forward_on_odd_sizes(name):
    model = small_model(name)
    model.update(force=True)
    x = torch.rand(2, 3, 70, 100)  # not a multiple of the stride (64): padded and cropped back
    with torch.no_grad():
        out = model(x)
    enc = model.compress(x)
    assert enc["shape"] == (2, 2, 70, 100)
    assert [len(s) for s in enc["strings"]] == [2, 2]  # [y per image], [z per image]
    dec = model.decompress(enc["strings"], enc["shape"])
    assert out["x_hat"].shape == dec["x_hat"].shape == x.shape
    assert torch.equal(dec["x_hat"], out["x_hat"].clamp(0, 1))
    assert not torch.equal(dec["x_hat"][0], dec["x_hat"][1])
    assert out["likelihoods"]["y"].shape[-2:] == (8, 8) and out["likelihoods"]["z"].shape[-2:] == (2, 2)


def kodak_crop(shared_data, height=256, width=384) -> torch.Tensor:
    image = np.array(Image.open(shared_data / "kodak" / "kodim23.png").convert("RGB"))
    return torch.from_numpy(image[:height, :width]).permute(2, 0, 1).float().div(255).unsqueeze(0)


def calibrate_scales(model, x):
    """Set each slice's Gaussian scales to the RMS of its residuals y - mu on ``x`` (per channel).

    A random-weight model's scales bear no relation to its latents: its estimate is dominated by
    the 1e-9 likelihood floor (real bits come out ~20% below it). Training makes the scales fit
    the residuals; this does so in closed form (each scale transform's last conv outputs a constant).
    """
    seen = {}
    hooks = [
        t.register_forward_hook(lambda m, i, o, k=k: seen.__setitem__(k, o))
        for k, t in enumerate(model.cc_mean_transforms)
    ]
    hooks.append(model.g_a.register_forward_hook(lambda m, i, o: seen.__setitem__("y", o)))
    with torch.no_grad():
        model(x)
        for k, y_slice in enumerate(seen["y"].chunk(model.num_slices, dim=1)):
            last = model.cc_scale_transforms[k][-1]
            last.weight.zero_()
            last.bias.copy_((y_slice - seen[k]).pow(2).mean(dim=(0, 2, 3)).sqrt())
    for hook in hooks:
        hook.remove()


@pytest.mark.parametrize("name", ["wacnn", "stf"])
def test_real_bits_within_one_percent_of_estimate(name, shared_data):
    x = kodak_crop(shared_data)
    model = small_model(name)
    calibrate_scales(model, x)
    model.update(force=True)
    with torch.no_grad():
        estimated = bits(model(x)["likelihoods"])
    enc = model.compress(x)
    real = 8 * sum(len(s) for strings in enc["strings"] for s in strings)
    assert estimated > 20_000  # most latents are coded, not a few z bits
    assert real == pytest.approx(estimated, rel=0.01)


@pytest.fixture(scope="module")
def coded():
    model = small_model("wacnn")
    model.update(force=True)
    x = torch.rand(1, 3, 64, 64)
    enc = model.compress(x)
    assert len(enc["strings"][0][0]) > 1000 and len(enc["strings"][1][0]) > 20
    return model, enc


def damaged(string: bytes, how: str) -> bytes:
    if how == "truncated":
        return string[: len(string) // 2]
    if how == "last word cut":
        return string[:-4]
    if how == "empty":
        return b""
    flipped = bytearray(string)
    flipped[len(string) // 3] ^= 0x5A
    return bytes(flipped)


@pytest.mark.parametrize("how", ["truncated", "last word cut", "empty", "flipped byte"])
@pytest.mark.parametrize("latent", ["y", "z"])
def test_damaged_streams_are_detected(coded, latent, how):
    model, enc = coded
    (y,), (z,) = enc["strings"]
    strings = [[damaged(y, how)], [z]] if latent == "y" else [[y], [damaged(z, how)]]
    with pytest.raises(ValueError, match=f"the {latent} stream of image 0 .* is corrupted or truncated"):
        model.decompress(strings, enc["shape"])


def test_malformed_codec_input_is_named(coded):
    model, enc = coded
    strings, shape = enc["strings"], enc["shape"]
    with pytest.raises(ValueError, match=r"\[y_strings, z_strings\]"):
        model.decompress(strings[0], shape)
    with pytest.raises(ValueError, match="one of each per image"):
        model.decompress([strings[0] * 2, strings[1]], shape)
    with pytest.raises(ValueError, match="inconsistent shape"):
        model.decompress(strings, (1, 1, 200, 64))
    with pytest.raises(ValueError, match="shape must be"):
        model.decompress(strings, shape[:2])
    with pytest.raises(ValueError, match="update"):
        models.build("wacnn", **SMALL["wacnn"]).compress(torch.rand(1, 3, 64, 64))


def test_training_step_reaches_every_transform():
    model = models.build("stf", **SMALL["stf"]).train()
    x = torch.rand(2, 3, 64, 64)
    out = model(x)
    bpp = sum(torch.log2(t).sum() for t in out["likelihoods"].values()) / (-2 * 64 * 64)
    loss = 0.0035 * 255**2 * torch.mean((out["x_hat"] - x) ** 2) + bpp  # train.py's RD loss
    loss.backward()
    parts = (
        "g_a",
        "g_s",
        "h_a",
        "h_mean_s",
        "h_scale_s",
        "cc_mean_transforms",
        "cc_scale_transforms",
        "lrp_transforms",
    )
    for part in parts:
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in getattr(model, part).parameters()), part
    assert torch.isfinite(model.aux_loss())
