"""Tests of the ViT model: token counts, the explicit attention pass against the fused one, stochastic depth, MACs."""

from __future__ import annotations

import pytest
import torch

from runners.models import load_builder
from runners.models.cnn import CNN
from runners.models.vit import ViT, drop_path
from runners.modelstats import model_stats
from vitui.core.errors import ConfigError
from vitui.core.models import ViTArgs


def tiny_vit(**kwargs) -> ViT:
    torch.manual_seed(0)
    args = dict(image_size=32, patch=4, in_channels=3, num_classes=10, dim=32, depth=3, heads=4,
                mlp_ratio=2.0, dropout=0.1, drop_path=0.2)
    args.update(kwargs)
    return ViT(**args)


def test_patch_grid_and_token_count():
    model = tiny_vit()
    assert model.grid == 8
    assert model.tokens(torch.randn(2, 3, 32, 32)).shape == (2, 65, 32)  # class token + 8x8 patches
    mnist = tiny_vit(image_size=28, in_channels=1)
    assert mnist.grid == 7
    assert mnist(torch.randn(2, 1, 28, 28)).shape == (2, 10)


def test_patch_must_divide_image():
    with pytest.raises(ValueError, match="multiple of the patch"):
        tiny_vit(patch=5)
    with pytest.raises(ValueError, match="heads"):
        tiny_vit(dim=30)


def test_attention_rows_sum_to_one():
    model = tiny_vit().eval()
    _, weights, pooling = model.forward_with_attention(torch.randn(3, 3, 32, 32))
    assert pooling is None  # a class token, no pooling
    assert weights.shape == (3, 3, 4, 65, 65)  # depth, batch, heads, queries, keys
    assert (weights >= 0).all()
    torch.testing.assert_close(weights.sum(-1), torch.ones(3, 3, 4, 65))


@pytest.mark.parametrize("pool", ["class", "sequence"])
def test_explicit_pass_matches_fused_pass(pool):
    model = tiny_vit(pool=pool).eval()  # eval: dropout and stochastic depth off, as when probing
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        fused = model(x)
        explicit, _, _ = model.forward_with_attention(x)
    torch.testing.assert_close(explicit, fused, atol=1e-5, rtol=1e-4)


def test_sequence_pooling_has_no_class_token_and_its_weights_sum_to_one():
    model = tiny_vit(pool="sequence").eval()
    assert model.tokens(torch.randn(2, 3, 32, 32)).shape == (2, 64, 32)  # 8x8 patches only
    assert not hasattr(model, "cls_token")
    with torch.no_grad():
        _, weights, pooling = model.forward_with_attention(torch.randn(3, 3, 32, 32))
    assert weights.shape == (3, 3, 4, 64, 64) and pooling.shape == (3, 64)
    assert (pooling >= 0).all()
    torch.testing.assert_close(pooling.sum(1), torch.ones(3))


def test_drop_path_drops_whole_samples_and_keeps_the_mean():
    torch.manual_seed(0)
    x = torch.ones(4000, 5, 3)
    out = drop_path(x, 0.25, training=True)
    per_sample = out.flatten(1)
    assert ((per_sample == 0).all(1) | (per_sample == 1 / 0.75).all(1)).all()
    assert abs(out.mean().item() - 1.0) < 0.05
    assert drop_path(x, 0.25, training=False) is x


def test_training_step_reduces_loss_on_a_fixed_batch():
    model = tiny_vit(dropout=0.0, drop_path=0.0)
    x, y = torch.randn(8, 3, 32, 32), torch.arange(8) % 10
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    first = None
    for _ in range(20):
        loss = torch.nn.functional.cross_entropy(model(x), y)
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.5 * first


def test_macs_match_the_formula():
    model = tiny_vit(dim=48, depth=2, heads=3)
    stats = model_stats(model, torch.randn(1, 3, 32, 32))
    d, n, depth = 48, 65, 2
    per_block = n * 8 * d * d + 2 * n * n * d  # qkv 3d^2 + proj d^2 + MLP 2 * 2d^2 per token; q k^T and a v
    expected = depth * per_block + 64 * (3 * 4 * 4) * d + d * 10  # + patch embedding + head
    assert stats["macs"] == expected
    assert stats["params"] == sum(p.numel() for p in model.parameters())


def test_builder_turns_bad_shapes_into_config_errors():
    with pytest.raises(ConfigError, match="patch size 5"):
        load_builder("vit")(ViTArgs(patch=5), 3, 10, 32)
    with pytest.raises(ConfigError, match="--set dim=32"):
        load_builder("vit")(ViTArgs(dim=30, heads=4), 3, 10, 32)
    assert load_builder("vit")(ViTArgs(dim=32, depth=1, heads=4), 1, 10, 28).grid == 7


def test_cnn_macs_are_counted_too():
    stats = model_stats(CNN(in_channels=3, num_classes=10, image_size=32, width=4, dense=8), torch.randn(1, 3, 32, 32))
    # conv 3->4 'same' on 32x32, conv 4->4 'valid' to 30x30, pool 15, conv 4->8 'same', conv 8->8 'valid' 13, pool 6
    expected = 32 * 32 * 4 * 27 + 30 * 30 * 4 * 36 + 15 * 15 * 8 * 36 + 13 * 13 * 8 * 72 + 8 * 6 * 6 * 8 + 8 * 10
    assert stats["macs"] == expected
