"""NDIC-CAM's fast cross-attention computes the original's function: outputs, losses and every gradient.

References: the plain path (``module.fast = False``: the original's order of operations) and, independent
of both, the original module's computation written out here (full q/k/v projections, explicit
softmax(q k^T / 16) v, dropout after the output projection). In float64 the folded algebra must agree
to ~1e-12; in float32 the fast path must be as accurate as the plain one (both against float64).
Dropout masks are shared by seeding the RNG before each run (no other random draw differs).
"""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import ndic  # noqa: F401  (before compressai)
from ndic import models
from ndic.config import Config
from ndic.losses import RateDistortionLoss
from ndic.models.cross_attention import (
    CrossAttentionAlignment,
    attention_summary,
    patch_attention,
    true_match_patches,
)

# feature sizes -> patches of 2x4 = 8 and 8x16 = 128 pixels (low-rank operands), 16x32 = 512 (shared keys)
FEATURE_SIZES = [(8, 16), (32, 64), (64, 128)]


def tokens_of(x: torch.Tensor, grid: int = 4) -> torch.Tensor:
    """(N, C, H, W) -> (N, C * grid**2, patch pixels): token c * grid**2 + row * grid + column."""
    n, c, h, w = x.shape
    patches = x.reshape(n, c, grid, h // grid, grid, w // grid).permute(0, 1, 2, 4, 3, 5)
    return patches.reshape(n, c * grid * grid, (h // grid) * (w // grid))


def original_alignment(module: CrossAttentionAlignment, x: torch.Tensor, y: torch.Tensor):
    """The original module's forward written out: (cat(x, aligned y), attention weights)."""
    n, c, h, w = x.shape
    split = lambda t: t.unflatten(-1, (module.heads, module.dim)).transpose(1, 2)  # noqa: E731
    q = module.to_qkv_x(module.norm(module.embed_x(tokens_of(x)))).chunk(3, dim=-1)[0]
    _, k, v = module.to_qkv_y(module.norm(module.embed_y(tokens_of(y)))).chunk(3, dim=-1)
    weights = torch.softmax(split(q) @ split(k).transpose(-1, -2) / math.sqrt(module.dim), dim=-1)
    attended = (weights @ split(v)).transpose(1, 2).flatten(2)
    out = module.unembed(F.dropout(module.proj(attended), module.dropout.p, module.training))
    g, (ph, pw) = module.grid, module.patch
    image = out.reshape(n, c, g, g, ph, pw).permute(0, 1, 2, 4, 3, 5).reshape(n, c, h, w)
    return torch.cat((x, image), dim=1), weights


def alignment_module(size, gain: float, dtype=torch.float64, seed: int = 0) -> CrossAttentionAlignment:
    """Random weights (every parameter, LayerNorm and biases included); ``gain`` scales q and k (peaked)."""
    torch.manual_seed(seed)
    module = CrossAttentionAlignment(size)
    with torch.no_grad():
        for p in module.parameters():
            p.normal_(0.0, 0.1)
        module.norm.weight.add_(1.0)
        module.to_qkv_x.weight.mul_(gain)
        module.to_qkv_y.weight.mul_(gain)
    return module.to(dtype)


def run_alignment(module, x, y, how: str, seed: int = 7):
    """Output and the gradients of every parameter and both inputs, for a fixed random cotangent."""
    x, y = x.detach().requires_grad_(), y.detach().requires_grad_()
    module.zero_grad(set_to_none=True)
    torch.manual_seed(seed)  # the same dropout mask for every path
    if how == "original":
        out = original_alignment(module, x, y)[0]
    else:
        module.fast = how == "fast"
        out = module(x, y)
    cotangent = torch.randn(out.shape, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    (out * cotangent.to(out.dtype)).sum().backward()
    grads = {name: p.grad.clone() for name, p in module.named_parameters()}
    grads.update({"input x": x.grad.clone(), "input y": y.grad.clone()})
    module.fast = True
    return out.detach(), grads


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    """max |a - b| / max |b| (in float64)."""
    a, b = a.double(), b.double()
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-300))


def mean_row_max(module, x, y) -> float:
    with torch.no_grad():
        return float(module.attention(x, y).amax(-1).mean())


@pytest.mark.parametrize("training", [True, False], ids=["train-dropout", "eval"])
@pytest.mark.parametrize("gain", [1.0, 6.0], ids=["random", "peaked"])
@pytest.mark.parametrize("size", FEATURE_SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_fast_alignment_equals_the_original_in_float64(size, gain, training):
    module = alignment_module(size, gain).train(training)
    x, y = torch.randn(2, 3, *size, dtype=torch.float64), torch.randn(2, 3, *size, dtype=torch.float64)
    if gain > 1:  # the peaked state really is nearly one-hot
        assert mean_row_max(module, x, y) > 0.9
    original = run_alignment(module, x, y, "original")
    for how in ("fast", "plain"):
        out, grads = run_alignment(module, x, y, how)
        assert relative_error(out, original[0]) < 1e-12, how
        assert grads.keys() == original[1].keys()
        for name, grad in grads.items():
            assert relative_error(grad, original[1][name]) < 1e-10, (how, name)
    if training:  # dropout was active: another seed changes the output
        assert not torch.allclose(run_alignment(module, x, y, "fast", seed=8)[0], original[0])


@pytest.mark.parametrize("gain", [1.0, 6.0], ids=["random", "peaked"])
@pytest.mark.parametrize("size", FEATURE_SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_fast_alignment_is_as_accurate_as_the_plain_one_in_float32(size, gain):
    """Both float32 paths against float64, gradients included: the fast one's error is the plain one's order."""
    module64 = alignment_module(size, gain).train()
    x, y = torch.randn(2, 3, *size, dtype=torch.float64), torch.randn(2, 3, *size, dtype=torch.float64)
    exact = run_alignment(module64, x, y, "original")
    module32 = alignment_module(size, gain, dtype=torch.float32)
    results = {how: run_alignment(module32.train(), x.float(), y.float(), how) for how in ("fast", "plain")}
    for key in exact[1]:
        fast = relative_error(results["fast"][1][key], exact[1][key])
        plain = relative_error(results["plain"][1][key], exact[1][key])
        assert fast < max(8 * plain, 2e-6), key
    assert relative_error(results["fast"][0], exact[0]) < max(8 * relative_error(results["plain"][0], exact[0]), 1e-6)


@pytest.mark.slow
def test_fast_alignment_at_the_paper_width():
    """align[1] of the 192-channel model (3072 tokens of 128 pixels), training mode, float32."""
    torch.manual_seed(0)
    module = CrossAttentionAlignment((32, 64)).train()
    x, y = torch.randn(1, 192, 32, 64), torch.randn(1, 192, 32, 64)
    fast, plain = run_alignment(module, x, y, "fast"), run_alignment(module, x, y, "plain")
    assert relative_error(fast[0], plain[0]) < 1e-5
    for name, grad in fast[1].items():
        assert relative_error(grad, plain[1][name]) < 1e-4, name


# ---------------------------------------------------------------------------- the whole model
def model_run(model, x, y, criterion, fast: bool):
    """Loss and every parameter gradient of one training forward/backward (as Trainer.train_step)."""
    for module in model.align:
        module.fast = fast
    model.zero_grad(set_to_none=True)
    torch.manual_seed(11)  # entropy-bottleneck noise, the noise on w, dropout: the same draws for both paths
    loss = criterion(model(x, y), x, y)["loss"]
    loss.backward()
    return loss.detach(), {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}


def small_model(gain: float, dtype) -> torch.nn.Module:
    torch.manual_seed(0)
    model = models.build("cross_attention", num_filters=16).train()
    with torch.no_grad():
        for align in model.align:
            for p in (align.to_qkv_x.weight, align.to_qkv_y.weight, align.norm.bias):
                p.normal_(0.0, 0.1 * gain if p.dim() > 1 else 0.1)
    return model.to(dtype)


def mean_row_max_per_module(model, x, y) -> list[float]:
    """Mean over queries of the largest attention weight, per module, in an eval forward."""
    rows = []
    hooks = [
        align.register_forward_hook(lambda m, args, out: rows.append(mean_row_max(m, *args))) for align in model.align
    ]
    was_training = model.training
    with torch.no_grad():
        model.eval()(x, y)
    model.train(was_training)
    for hook in hooks:
        hook.remove()
    return rows


@pytest.mark.parametrize("gain", [1.0, 20.0], ids=["random", "peaked"])
def test_model_loss_and_every_gradient_equal_the_plain_path_in_float64(gain):
    torch.manual_seed(1)
    x, y = torch.rand(1, 3, 128, 256, dtype=torch.float64), torch.rand(1, 3, 128, 256, dtype=torch.float64)
    model = small_model(gain, torch.float64)
    if gain > 1:  # peaked attention in every module
        assert min(mean_row_max_per_module(model, x, y)) > 0.9
    criterion = RateDistortionLoss(lmbda=0.01, distortion="MSE", alpha=0.5, beta=0.5)  # float64 throughout
    fast, plain = model_run(model, x, y, criterion, True), model_run(model, x, y, criterion, False)
    assert abs(float(fast[0] - plain[0])) < 1e-12 * abs(float(plain[0]))
    assert fast[1].keys() == plain[1].keys() == {name for name, _ in model.named_parameters()}
    for name, grad in fast[1].items():
        assert relative_error(grad, plain[1][name]) < 1e-9, name


@pytest.mark.parametrize("gain", [1.0, 20.0], ids=["random", "peaked"])
def test_model_gradients_in_float32_are_as_accurate_as_the_plain_path(gain):
    """The paper's loss (MS-SSIM, lambda 3e-5), float32 fast and plain against float64.

    Only the attention modules are in training mode (dropout, whose masks do not depend on the dtype):
    the noise of the rest is drawn differently in float32 and float64.
    """
    torch.manual_seed(2)
    x, y = torch.rand(1, 3, 128, 256, dtype=torch.float64), torch.rand(1, 3, 128, 256, dtype=torch.float64)
    criterion = RateDistortionLoss.from_config(Config(model="cross_attention").resolved())
    model64, model32 = small_model(gain, torch.float64).eval(), small_model(gain, torch.float32).eval()
    model64.align.train(), model32.align.train()
    exact = model_run(model64, x, y, criterion, False)
    fast = model_run(model32, x.float(), y.float(), criterion, True)
    plain = model_run(model32, x.float(), y.float(), criterion, False)
    assert relative_error(fast[0], exact[0]) < max(8 * relative_error(plain[0], exact[0]), 1e-6)
    assert fast[1].keys() == exact[1].keys() and "align.2.to_qkv_y.weight" in exact[1]
    for name, grad in exact[1].items():
        tolerance = max(8 * relative_error(plain[1][name], grad), 1e-5)
        assert relative_error(fast[1][name], grad) < tolerance, name


def test_plain_path_forced_per_module_and_state_dict_unchanged():
    model = models.build("cross_attention", num_filters=8)
    names = set(model.state_dict())
    assert all(align.fast for align in model.align)
    model.align[2].fast = False
    assert [align.fast for align in model.align] == [True, True, False]
    assert set(model.state_dict()) == names  # a plain attribute, not state
    assert not any("fast" in name for name in names)


# ---------------------------------------------------------------------------- the attention weights
@pytest.mark.parametrize("fast", [True, False], ids=["fast", "plain"])
@pytest.mark.parametrize("size", [(8, 16), (64, 128)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_returned_weights_reproduce_the_output(size, fast):
    module = alignment_module(size, 3.0).eval()
    module.fast = fast
    x, y = torch.randn(2, 3, *size, dtype=torch.float64), torch.randn(2, 3, *size, dtype=torch.float64)
    with torch.no_grad():
        out, weights = module(x, y, return_attention=True)
        expected, expected_weights = original_alignment(module, x, y)
        assert weights.shape == (2, 8, 48, 48)
        torch.testing.assert_close(weights.sum(-1), torch.ones(2, 8, 48, dtype=torch.float64))
        torch.testing.assert_close(weights, expected_weights, rtol=1e-10, atol=1e-13)
        torch.testing.assert_close(module.attention(x, y), weights, rtol=1e-10, atol=1e-13)
        # the weights applied to the original's values give the module's own output
        torch.testing.assert_close(out, expected, rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(out, module(x, y), rtol=1e-10, atol=1e-12)


def test_returned_weights_in_training_share_the_dropout():
    module = alignment_module((8, 16), 1.0).train()
    x, y = torch.randn(1, 3, 8, 16, dtype=torch.float64), torch.randn(1, 3, 8, 16, dtype=torch.float64)
    torch.manual_seed(4)
    out, _ = module(x, y, return_attention=True)
    torch.manual_seed(4)
    torch.testing.assert_close(out, module(x, y), rtol=1e-10, atol=1e-12)


def test_attention_maps_are_the_modules_patch_attention():
    torch.manual_seed(0)
    model = models.build("cross_attention", num_filters=8).train()
    x, y = torch.rand(2, 3, 128, 256), torch.rand(2, 3, 128, 256)
    maps = model.attention_maps(x, y)
    assert model.training and all(not align._forward_hooks for align in model.align)
    assert [tuple(m.shape) for m in maps] == [(2, 16, 16)] * 3 and not any(m.requires_grad for m in maps)
    inputs = []
    hooks = [align.register_forward_hook(lambda m, args, out: inputs.append(args)) for align in model.align]
    with torch.no_grad():
        model.eval()(x, y)
        expected = [patch_attention(align.attention(*args), 4) for align, args in zip(model.align, inputs, strict=True)]
    for hook in hooks:
        hook.remove()
    for got, want in zip(maps, expected, strict=True):
        torch.testing.assert_close(got, want)
        torch.testing.assert_close(got.sum(-1), torch.ones(2, 16))
    single = model.attention_maps(x[:1], y[:1])  # each pair's maps do not depend on the batch
    for got, batched in zip(single, maps, strict=True):
        torch.testing.assert_close(got[0], batched[0], rtol=1e-4, atol=1e-6)


def test_patch_attention_matches_a_loop_and_rejects_other_shapes():
    grid, channels, heads = 2, 3, 2
    weights = torch.rand(2, heads, channels * 4, channels * 4).softmax(-1)
    got = patch_attention(weights, grid)
    for n in range(2):
        for p in range(4):
            for r in range(4):
                total = sum(
                    weights[n, h, c * 4 + p, k * 4 + r] for h in range(heads) for c in range(3) for k in range(3)
                )
                assert math.isclose(float(got[n, p, r]), float(total) / (heads * channels), rel_tol=1e-5)
    torch.testing.assert_close(got.sum(-1), torch.ones(2, 4))
    with pytest.raises(ValueError, match="not token attention over a 3x3 grid"):
        patch_attention(weights, 3)


def test_attention_summary_of_known_maps():
    uniform, identity = torch.full((16, 16), 1 / 16), torch.eye(16)
    summary = attention_summary([uniform, identity, torch.stack([uniform, identity])])
    assert list(summary.index) == ["align[0]", "align[1]", "align[2]"]
    assert summary.loc["align[0]", "same patch"] == pytest.approx(1 / 16)
    assert summary.loc["align[0]", "same patch row"] == pytest.approx(1 / 4)
    assert summary.loc["align[1]", "same patch"] == pytest.approx(1.0)
    assert summary.loc["align[1]", "same patch row"] == pytest.approx(1.0)
    assert summary.loc["align[2]", "same patch"] == pytest.approx((1 / 16 + 1) / 2)  # mean over the batch
    assert (summary["uniform: same patch"] == 1 / 16).all() and (summary["uniform: same row"] == 1 / 4).all()
    with pytest.raises(ValueError, match="not a \\(g\\*g, g\\*g\\) patch attention map"):
        attention_summary([torch.ones(15, 15)])


def test_true_match_of_a_constant_disparity_moves_each_patch_by_its_share():
    # 8x16 pixels in a 2x2 grid: patches of 4x8. A disparity of 2 px moves 6 of a patch's 8 columns into the
    # same patch and 2 into the patch to the left; the left patches lose their first 2 columns outside y.
    match = true_match_patches(np.full((8, 16), 2.0), grid=2)
    expected = torch.tensor(
        [[6 / 8, 0, 0, 0], [2 / 8, 6 / 8, 0, 0], [0, 0, 6 / 8, 0], [0, 0, 2 / 8, 6 / 8]], dtype=torch.float64
    )
    torch.testing.assert_close(match, expected)
    unknown = np.full((8, 16), np.nan)
    unknown[:4, 8:] = 0.0  # only the top-right patch has a disparity: its match is itself
    assert true_match_patches(unknown, 2).nonzero().tolist() == [[1, 1]]
    with pytest.raises(ValueError, match="divisible into a 3x3 grid"):
        true_match_patches(np.zeros((8, 16)), 3)


def test_true_match_scores_uniform_attention_one_over_g2_and_attention_on_the_largest_share_ideal():
    match = true_match_patches(np.full((8, 16), 2.0), grid=2)
    follows = match / match.sum(-1, keepdim=True)  # attention spread exactly like the true match
    on_own_patch = torch.eye(4, dtype=torch.float64)
    summary = attention_summary([torch.full((4, 4), 0.25), on_own_patch, follows], match=match)
    assert summary.loc["align[0]", "true match"] == pytest.approx(0.25)  # uniform: 1 / g**2
    # the own patch holds 3/4 of every match (the right patches) or all of it (the left ones, after clipping)
    shares = [1.0, 0.75, 1.0, 0.75]
    assert summary.loc["align[1]", "true match"] == pytest.approx(np.mean(shares))
    assert summary.loc["align[1]", "ideal: true match"] == pytest.approx(np.mean(shares))
    assert summary.loc["align[2]", "true match"] == pytest.approx(np.mean([1.0, 0.75**2 + 0.25**2] * 2))
    with pytest.raises(ValueError, match="does not fit map 0"):
        attention_summary([torch.eye(16)], match=match)
