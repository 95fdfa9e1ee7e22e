"""Every image model gives one logit per class on every image shape it may meet."""

import pytest
import torch

from runners.models import IMAGE_MODELS, build_image_model
from vitui.config import MODEL_ARGS


@pytest.mark.parametrize("name", sorted(IMAGE_MODELS))
@pytest.mark.parametrize("channels, size, classes", [(1, 28, 10), (3, 32, 10), (3, 32, 7)])
def test_output_shape(name, channels, size, classes):
    model = build_image_model(name, MODEL_ARGS[name](), channels, classes, size)
    model.eval()
    out = model(torch.randn(4, channels, size, size))
    assert out.shape == (4, classes)
    model.train()
    loss = model(torch.randn(4, channels, size, size)).logsumexp(1).mean()
    loss.backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


def test_batchnorm_variant_has_batchnorm_before_each_relu():
    model = build_image_model("cnn-bn", MODEL_ARGS["cnn-bn"](), 3, 10, 32)
    layers = list(model.modules())
    relus = [i for i, m in enumerate(layers) if isinstance(m, torch.nn.ReLU)]
    assert len(relus) == 5
    assert all(isinstance(layers[i - 1], (torch.nn.BatchNorm2d, torch.nn.BatchNorm1d)) for i in relus)
