"""Tests of the airbench-style network: the whitening layer set from patch covariance, shapes, frozen parameters."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from runners.models.airbench import Airbench, patch_covariance, whitening_filters
from runners.models import load_builder
from vitui.core.models import AirbenchArgs


def correlated_images(n: int = 64, channels: int = 3) -> torch.Tensor:
    """Standardised images whose neighbouring pixels and channels are strongly correlated, as in photographs."""
    g = torch.Generator().manual_seed(0)
    base = torch.randn(n, 1, 17, 17, generator=g).repeat_interleave(2, 2).repeat_interleave(2, 3)[..., :32, :32]
    x = base.repeat(1, channels, 1, 1) + 0.3 * torch.randn(n, channels, 32, 32, generator=g)
    return (x - x.mean()) / x.std()


def test_whitening_filters_turn_the_patch_covariance_into_the_identity():
    x = correlated_images()
    covariance = patch_covariance(x, 2)
    assert torch.linalg.eigvalsh(covariance).min() > 0.01  # far above the eps: whitening is close to exact
    model = Airbench(in_channels=3, num_classes=10, image_size=32)
    model.init_from_data(x)
    out = F.conv2d(x, model.whiten.weight)  # without the (learned) bias
    assert out.shape[1] == 24  # 12 patch dimensions, each with both signs
    whitened = out[:, :12].permute(0, 2, 3, 1).reshape(-1, 12).double()
    second_moment = whitened.T @ whitened / len(whitened)
    torch.testing.assert_close(second_moment, torch.eye(12, dtype=torch.float64), atol=0.03, rtol=0)
    torch.testing.assert_close(out[:, 12:], -out[:, :12])
    correlated = x.unfold(2, 2, 1).unfold(3, 2, 1).permute(0, 2, 3, 1, 4, 5).reshape(-1, 12).double()
    assert (correlated.T @ correlated / len(correlated) - torch.eye(12, dtype=torch.float64)).abs().max() > 0.5


def test_whitening_filters_of_a_known_covariance():
    covariance = torch.diag(torch.tensor([4.0, 1.0, 0.25, 1.0], dtype=torch.float64))
    filters = whitening_filters(covariance, 1, 2, eps=0.0)
    assert filters.shape == (8, 1, 2, 2)
    scales = filters[:4].reshape(4, 4).abs().amax(1).sort().values
    torch.testing.assert_close(scales, torch.tensor([0.5, 1.0, 1.0, 2.0]))  # 1 / sqrt(variance)


def test_airbench_shapes_frozen_parameters_and_bias_groups():
    model = load_builder("airbench")(AirbenchArgs(width1=8, width2=16, width3=16), 1, 10, 28)
    assert model(torch.randn(2, 1, 28, 28)).shape == (2, 10)
    frozen = [n for n, p in model.named_parameters() if not p.requires_grad]
    assert "whiten.weight" in frozen and all(n.endswith("weight") for n in frozen)
    weights, biases = model.optimizer_groups()
    assert biases["lr_scale"] == 64.0 and "lr_scale" not in weights
    assert len(biases["params"]) == 1 + 6  # the whitening bias and the six BatchNorm shifts
