"""The NDIC-CAM family: bls17, bmshj18, ndic_bls17, ndic_bmshj18, cross_attention.

Faithfulness is checked against the original implementation's recorded outputs (../shared/reference),
the bitstreams by round trips, and every error path by what it raises.
"""

from __future__ import annotations

import json
import sys

import pytest
import torch
import torch.nn.functional as F

import ndic  # noqa: F401  (before compressai)
from ndic import models
from ndic.models._ndic_layers import OriginalEntropyBottleneck
from ndic.models.cross_attention import CrossAttentionAlignment

NAMES = ["bls17", "bmshj18", "ndic_bls17", "ndic_bmshj18", "cross_attention"]
DISTRIBUTED = {"ndic_bls17", "ndic_bmshj18", "cross_attention"}
# transmitted likelihoods: ours -> the original's outputs
TRANSMITTED = {
    "bls17": {"y": "y_likelihoods"},
    "bmshj18": {"y": "y_likelihoods", "z": "z_likelihoods"},
    "ndic_bls17": {"hx": "hx_likelihoods"},
    "ndic_bmshj18": {"hx": "hx_likelihoods", "zx": "zx_likelihoods"},
    "cross_attention": {"hx": "hx_likelihoods"},
}
SIDE = {
    "ndic_bls17": {"hy": "hy_likelihoods", "w": "w_likelihoods"},
    "ndic_bmshj18": {"hy": "hy_likelihoods", "zy": "zy_likelihoods", "w": "w_likelihoods"},
    "cross_attention": {"hy": "hy_likelihoods", "w": "w_likelihoods"},
}
SMALL = {"cross_attention": {"num_filters": 8, "image_size": (64, 96)}}  # others: num_filters=8


def small_model(name: str, gain: float = 3.0) -> torch.nn.Module:
    """A small model whose conv weights are scaled up so that latents are not all rounded to 0."""
    model = models.build(name, **SMALL.get(name, {"num_filters": 8})).eval()
    with torch.no_grad():
        for key, p in model.named_parameters():
            if key.endswith("weight") and p.dim() == 4:
                p.mul_(gain)
    model.update(force=True)
    return model


def run(model, x, y=None):
    with torch.no_grad():
        return model(x, y) if model.distributed else model(x)


def roundtrip(model, x, y=None):
    with torch.no_grad():
        enc = model.compress(x)
        side = {"side": y} if model.distributed else {}
        return enc, model.decompress(enc["strings"], enc["shape"], **side)


def bits(likelihoods) -> float:
    return float(sum((-torch.log2(t.double())).sum() for t in likelihoods))


def stream_bits(strings) -> int:
    return 8 * sum(len(s) for per_latent in strings for s in per_latent)


# --- registry and configuration ------------------------------------------------------------------------
def test_registry_names_and_flags():
    assert set(NAMES) <= set(models.names())
    for name in NAMES:
        cls = models.get(name)
        assert cls.registry_name == name
        assert cls.distributed == (name in DISTRIBUTED)
    model = models.build("ndic_bls17", num_filters=8, image_size=[64, 96])  # the original main.py fails here
    assert json.loads(json.dumps(model.config)) == {"num_filters": 8, "image_size": [64, 96], "bound": 0.11}
    assert models.build("bls17", num_filters=8).config == {"num_filters": 8, "image_size": [128, 256]}
    with pytest.raises(ValueError, match="num_filters"):
        models.build("bls17", num_filters=0)
    with pytest.raises(ValueError, match="multiples of 32"):
        models.build("cross_attention", num_filters=8, image_size=(100, 200))
    with pytest.raises(TypeError):
        models.build("bls17", filters=8)


def test_no_quantiles_no_aux_loss_and_torch_threads_untouched():
    threads = torch.get_num_threads()
    model = models.build("cross_attention", num_filters=8, image_size=(64, 96))
    assert torch.get_num_threads() == threads  # the original's attention module sets 4 threads on import
    assert not [k for k, _ in model.named_parameters() if "quantiles" in k]
    assert float(model.aux_loss()) == 0.0
    with torch.no_grad():
        model.entropy_bottleneck.biases[0][0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):  # instead of a bisection that never ends
        model.update(force=True)
    broken = small_model("bls17")
    with torch.no_grad():
        broken.g_a[-1].bias[0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):  # instead of an rANS escape loop that never ends
        broken.compress(torch.rand(1, 3, 32, 32))


# --- the original implementation's numbers ---------------------------------------------------------------
def _fixture(shared_reference, name):
    if str(shared_reference) not in sys.path:
        sys.path.insert(0, str(shared_reference))
    from fixture_utils import materialize_state_dict

    fx = torch.load(shared_reference / "small" / f"{name}.pt", weights_only=True)
    manifest = json.loads((shared_reference / "manifests" / f"{name}.json").read_text())
    return fx, manifest, materialize_state_dict


@pytest.mark.parametrize("name", NAMES)
def test_matches_original(shared_reference, name):
    """Eval-mode outputs of the original's weights equal the original's (base and stress weights)."""
    fx, manifest, materialize = _fixture(shared_reference, name)
    default = models.build(name)
    assert sum(p.numel() for p in default.parameters()) == manifest["num_parameters"]
    x, y = fx["inputs"]["x"], fx["inputs"].get("y")
    for case, ref in (("base", fx["outputs"]), ("stress", fx["stress"]["outputs"])):
        model = models.load_reference(name, materialize(fx, case), **fx["config"]).eval()
        out = run(model, x, y)
        assert (out["x_hat"] - ref["x_hat"]).abs().max() <= 2e-4
        for ours, theirs in {**TRANSMITTED[name], **SIDE.get(name, {})}.items():
            got = out["likelihoods"].get(ours, out.get("side_likelihoods", {}).get(ours))
            assert got.shape == ref[theirs].shape
            assert bits([got]) == pytest.approx(bits([ref[theirs]]), rel=1e-4, abs=1e-3), ours
        if name in DISTRIBUTED:
            assert (out["side_hat"] - ref["side_hat"]).abs().max() <= 2e-4
            assert set(out["likelihoods"]) == set(TRANSMITTED[name])


def test_reference_loading_is_strict(shared_reference):
    fx, _, materialize = _fixture(shared_reference, "ndic_bls17")
    sd = materialize(fx, "base")
    models.load_reference("ndic_bls17", {"model_state_dict": sd})  # a main.py checkpoint; width inferred
    renamed = {k.replace("_w.", "_z."): v for k, v in sd.items()}  # main.py's map_layers naming
    models.load_reference("ndic_bls17", renamed, num_filters=32)
    missing = dict(sd)
    del missing["gdn2_cor.gamma"]
    with pytest.raises(ValueError, match="missing"):
        models.load_reference("ndic_bls17", missing)
    with pytest.raises(ValueError, match="unexpected.*extra.weight"):
        models.load_reference("ndic_bls17", {**sd, "extra.weight": torch.zeros(1)})
    with pytest.raises(ValueError, match="num_filters"):
        models.load_reference("ndic_bls17", sd, num_filters=16)


def test_gdn_gamma_is_transposed_from_the_original():
    """The original normalises channel j by beta_j + sum_i gamma[i, j] x_i^2 (gamma is [in, out])."""
    model = models.build("bls17", num_filters=4)
    gamma = torch.rand(4, 4) + 0.1
    beta = torch.rand(4) + 0.5
    sd = {k: v for k, v in _original_keys(model).items()}
    sd["gdn1.gamma"], sd["gdn1.beta"] = gamma, beta
    model.load_reference_state_dict(sd)
    x = torch.randn(2, 4, 5, 5)
    offset = 2.0**-18
    g = torch.clamp_min(gamma, offset) ** 2 - offset**2
    b = torch.clamp_min(beta, (1e-6 + offset**2) ** 0.5) ** 2 - offset**2
    expected = x / torch.sqrt(torch.einsum("nihw,ij->njhw", x**2, g) + b[:, None, None])
    assert torch.allclose(model.g_a[1](x), expected, rtol=1e-5, atol=1e-6)


def _original_keys(model) -> dict:
    """A state dict in the original's layout for ``model`` (bls17), from its own parameters."""
    sd = {}
    for theirs, ours in model.reference_modules().items():
        module = model.get_submodule(ours)
        if isinstance(module, OriginalEntropyBottleneck):
            sd[f"{theirs}.factors"] = torch.stack(list(module.factors)).detach()
            sd.update({f"{theirs}.matrix{i}": m for i, m in enumerate(module.matrices)})
            sd.update({f"{theirs}.bias{i}": b for i, b in enumerate(module.biases)})
        else:
            sd.update({f"{theirs}.{k}": v.detach().clone() for k, v in module.named_parameters()})
    return sd


# --- bitstreams --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_roundtrip_equals_forward(name):
    """decompress(compress(x)) is the eval-mode forward reconstruction (clamped), bit for bit, batch of 2."""
    model = small_model(name)
    size = (64, 96) if name == "cross_attention" else (37, 51)  # odd sizes: padded inside, cropped back
    x, y = torch.rand(2, 3, *size), torch.rand(2, 3, *size)
    out = run(model, x, y)
    enc, dec = roundtrip(model, x, y)
    assert out["x_hat"].shape == dec["x_hat"].shape == x.shape
    assert torch.equal(dec["x_hat"], out["x_hat"].clamp(0, 1))
    assert len(enc["strings"]) == len(TRANSMITTED[name]) and all(len(s) == 2 for s in enc["strings"])
    assert tuple(enc["shape"]) == size


def _fit_entropy_models(model, x, steps=150):
    """Fit the transmitted entropy models to x's latents, as training would (encoders frozen)."""
    with torch.no_grad():
        y = model.g_a(model._pad(x)[0])
    hyper = hasattr(model, "h_s")
    z = model.h_a(torch.abs(y)).detach() if hyper else None
    params = list(model.entropy_bottleneck.parameters()) + (list(model.h_s.parameters()) if hyper else [])
    optimizer = torch.optim.Adam(params, lr=0.02)
    for _ in range(steps):
        optimizer.zero_grad()
        if hyper:
            z_hat, z_lik = model.entropy_bottleneck(z)
            _, y_lik = model.gaussian_conditional(y, model.gaussian_conditional.lower_bound_scale(model.h_s(z_hat)))
            loss = -(torch.log2(y_lik).sum() + torch.log2(z_lik).sum())
        else:
            loss = -torch.log2(model.entropy_bottleneck(y)[1]).sum()
        loss.backward()
        optimizer.step()


@pytest.mark.parametrize("name", ["bls17", "bmshj18", "ndic_bls17", "ndic_bmshj18"])
def test_real_bits_match_estimate(name):
    """With entropy models fitted to the latents, the rANS stream is within 1% of the likelihood bits."""
    model = models.build(name, num_filters=32).eval()
    x = F.interpolate(torch.rand(1, 3, 32, 32), size=(256, 256), mode="bilinear", align_corners=False)
    y = torch.rand_like(x)
    with torch.no_grad():  # scale the encoder so that latents spread over several integers
        latent = model.g_a(x)
        model.g_a[-1].weight.mul_(4.0 / latent.std())
        model.g_a[-1].bias.mul_(4.0 / latent.std())
    _fit_entropy_models(model, x)
    model.update(force=True)
    estimate = bits(run(model, x, y)["likelihoods"].values())
    enc, dec = roundtrip(model, x, y)
    real = stream_bits(enc["strings"])
    print(f"{name}: real {real} bits, estimated {estimate:.0f} ({real / estimate - 1:+.2%})")
    assert estimate > 10_000
    assert abs(real / estimate - 1) < 0.01
    assert torch.equal(dec["x_hat"], run(model, x, y)["x_hat"].clamp(0, 1))


def test_state_dict_with_tables_reloads_to_the_same_stream():
    model = small_model("bmshj18")
    x = torch.rand(1, 3, 64, 64)
    strings = model.compress(x)["strings"]
    fresh = models.build("bmshj18", num_filters=8)
    fresh.load_state_dict(model.state_dict())  # CDF tables come with it: no update() needed
    assert fresh.compress(x)["strings"] == strings


# --- errors ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["bls17", "ndic_bmshj18"])
def test_damaged_streams_raise(name):
    model = small_model(name)
    x = torch.rand(1, 3, 64, 64)
    enc = model.compress(x)
    strings, shape = enc["strings"], enc["shape"]
    side = {"side": torch.rand(1, 3, 64, 64)} if model.distributed else {}
    s = strings[0][0]
    assert len(s) >= 16
    flipped = bytearray(s)
    flipped[len(s) // 2] ^= 0x5A
    damaged = {
        "truncated by a byte": s[:-1],
        "truncated by a word": s[:-4],
        "too short": s[:4],
        "corrupted": bytes(flipped),
    }
    for bad in damaged.values():
        with pytest.raises(ValueError, match="truncated|corrupted"):
            model.decompress([[bad], *strings[1:]], shape, **side)
    with pytest.raises(ValueError, match="latent"):
        model.decompress(strings[:1] if len(strings) > 1 else [*strings, *strings], shape, **side)
    with pytest.raises(ValueError, match="shape"):
        model.decompress(strings, (64,), **side)


@pytest.mark.parametrize("name", sorted(DISTRIBUTED))
def test_side_image_errors(name):
    model = small_model(name)
    size = (64, 96)
    x = torch.rand(1, 3, *size)
    with pytest.raises(ValueError, match="side image y must have the size of x"):
        run(model, x, torch.rand(1, 3, 64, 64))
    enc = model.compress(x)
    with pytest.raises(ValueError, match="side=y"):
        model.decompress(enc["strings"], enc["shape"])
    with pytest.raises(ValueError, match="size of x"):
        model.decompress(enc["strings"], enc["shape"], side=torch.rand(1, 3, 32, 96))
    with pytest.raises(ValueError, match="one side image per image"):
        model.decompress(enc["strings"], enc["shape"], side=torch.rand(2, 3, *size))


def test_cross_attention_is_tied_to_its_image_size():
    model = small_model("cross_attention")
    x = torch.rand(1, 3, 64, 64)
    with pytest.raises(ValueError, match="built for 64x96 images"):
        run(model, x, x)
    with pytest.raises(ValueError, match="built for 64x96 images"):
        model.compress(x)


# --- training mode and the attention's fast path -------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_training_forward_backward(name):
    model = models.build(name, **SMALL.get(name, {"num_filters": 8})).train()
    size = (64, 96)
    x, y = torch.rand(2, 3, *size), torch.rand(2, 3, *size)
    out = model(x, y) if model.distributed else model(x)
    loss = F.mse_loss(out["x_hat"], x) + sum(-torch.log2(t).mean() for t in out["likelihoods"].values())
    if model.distributed:
        loss = loss + sum(-torch.log2(t).mean() for t in out["side_likelihoods"].values())
        assert out["side_hat"].shape == y.shape
    loss.backward()
    assert model.g_a[0].weight.grad is not None and torch.isfinite(model.g_a[0].weight.grad).all()
    assert model.entropy_bottleneck.matrices[0].grad is not None
    latent = next(iter(out["likelihoods"].values()))
    assert (latent > 0).all() and (latent <= 1).all()


def test_low_rank_attention_equals_plain_attention():
    """The eval fast path (patches smaller than the width) computes the original's attention."""
    torch.manual_seed(1)
    module = CrossAttentionAlignment((8, 16)).eval()  # patches of 2x4 = 8 pixels < 256
    with torch.no_grad():
        for p in module.parameters():
            p.normal_(0.0, 0.2)
    x, y = torch.randn(2, 6, 8, 16), torch.randn(2, 6, 8, 16)
    tokens_x, tokens_y = module._tokens(x), module._tokens(y)
    with torch.no_grad():
        plain = module._attend(tokens_x, tokens_y)
        fast = module._attend_low_rank(tokens_x, tokens_y)
        # the plain path against an explicit softmax(QK^T/16)V with the original's full projections
        q = module.to_qkv_x(module.norm(module.embed_x(tokens_x))).chunk(3, -1)[0]
        _, k, v = module.to_qkv_y(module.norm(module.embed_y(tokens_y))).chunk(3, -1)
        q, k, v = (t.unflatten(-1, (8, 256)).transpose(1, 2) for t in (q, k, v))
        attn = torch.softmax(q @ k.transpose(-1, -2) / 16, dim=-1) @ v
        explicit = module.unembed(module.proj(attn.transpose(1, 2).flatten(2)))
    scale = explicit.abs().max()
    assert (plain - explicit).abs().max() <= 1e-5 * scale
    assert (fast - explicit).abs().max() <= 1e-5 * scale
    assert torch.equal(module._image(tokens_x, 6), x)  # patches and back
