"""Every image model in the model table gives one logit per class on every image shape it may meet."""

import dataclasses

import pytest
import torch

from runners.models import load_builder
from vitui.core.models import MODELS, CNNArgs, ViTArgs

IMAGE_MODELS = sorted(name for name, spec in MODELS.items() if spec.task == "image")
# Small enough to build and run in milliseconds; the shapes, not the size, are under test.
TINY = {CNNArgs: {"width": 4, "dense": 16}, ViTArgs: {"dim": 16, "depth": 1, "heads": 2}}


def tiny_args(name: str):
    args_cls = MODELS[name].args
    return dataclasses.replace(args_cls(), **TINY.get(args_cls, {}))


@pytest.mark.parametrize("name", IMAGE_MODELS)
@pytest.mark.parametrize("channels, size, classes", [(1, 28, 10), (3, 32, 10), (3, 32, 7)])
def test_output_shape(name, channels, size, classes):
    model = load_builder(name)(tiny_args(name), channels, classes, size)
    model.eval()
    out = model(torch.randn(4, channels, size, size))
    assert out.shape == (4, classes)
    model.train()
    loss = model(torch.randn(4, channels, size, size)).logsumexp(1).mean()
    loss.backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


def test_batchnorm_variant_has_batchnorm_before_each_relu():
    model = load_builder("cnn-bn")(tiny_args("cnn-bn"), 3, 10, 32)
    layers = list(model.modules())
    relus = [i for i, m in enumerate(layers) if isinstance(m, torch.nn.ReLU)]
    assert len(relus) == 5
    assert all(isinstance(layers[i - 1], (torch.nn.BatchNorm2d, torch.nn.BatchNorm1d)) for i in relus)
