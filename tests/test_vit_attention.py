"""Tests of attention as data: class-token maps, rollout on a hand-built case, probe choice, the probe event, sequence
pooling's maps."""

from __future__ import annotations

import json

import numpy as np
import torch

from runners.attention_probe import AttentionProbe, choose_probes, class_token_maps, make_probe, rollout, rollout_maps
from runners.data import Splits
from runners.models.vit import ViT
from vitui.core.events import Attention, event_from_dict


def test_rollout_hand_built_case():
    # Two layers, one image, two heads, two tokens.
    layer1 = torch.tensor([[[1.0, 0.0], [0.5, 0.5]], [[0.0, 1.0], [0.5, 0.5]]])  # head mean [[.5,.5],[.5,.5]]
    layer2 = torch.tensor([[[1.0, 0.0], [0.0, 1.0]], [[1.0, 0.0], [0.0, 1.0]]])  # head mean = identity
    weights = torch.stack([layer1, layer2])[:, None]  # (depth 2, B 1, heads 2, 2, 2)
    # Layer 1: (A + I) / 2 = [[.75, .25], [.25, .75]]; layer 2: (I + I) / 2 = I; product = layer 1's.
    expected = torch.tensor([[0.75, 0.25], [0.25, 0.75]])
    result = rollout(weights)
    assert result.shape == (1, 2, 2)
    torch.testing.assert_close(result[0], expected)
    # Swap the layers: still the same product, since one factor is the identity.
    torch.testing.assert_close(rollout(weights.flip(0))[0], expected)


def test_rollout_multiplies_later_layers_on_the_left():
    a = torch.tensor([[0.2, 0.8], [0.6, 0.4]])
    b = torch.tensor([[0.9, 0.1], [0.3, 0.7]])
    weights = torch.stack([a, b])[:, None, None]  # one head each
    step = lambda m: (m + torch.eye(2)) / 2  # noqa: E731 - the paper's residual correction
    torch.testing.assert_close(rollout(weights)[0], step(b) @ step(a))


def test_rollout_rows_sum_to_one_and_maps_have_grid_shape():
    weights = torch.rand(3, 2, 4, 17, 17).softmax(-1)  # 16 patches + class token
    torch.testing.assert_close(rollout(weights).sum(-1), torch.ones(2, 17))
    assert rollout_maps(weights, 4).shape == (2, 4, 4)
    maps = class_token_maps(weights, 4)
    assert maps.shape == (2, 3, 4, 4, 4)  # batch, layers, heads, grid, grid
    torch.testing.assert_close(maps[1, 2, 3].flatten(), weights[2, 1, 3, 0, 1:])


def test_choose_probes_takes_one_class_after_another():
    labels = np.array([2, 2, 0, 1, 0, 2, 1])
    assert choose_probes(labels, 3).tolist() == [2, 3, 0]
    assert choose_probes(labels, 5).tolist() == [2, 3, 0, 4, 6]
    assert len(choose_probes(labels, 50)) == 7


def test_probe_event_is_compact_plain_json():
    torch.manual_seed(0)
    model = ViT(image_size=16, patch=4, in_channels=3, num_classes=3, dim=16, depth=2, heads=2)
    model.train()
    images = torch.randint(0, 256, (2, 16, 16, 3), dtype=torch.uint8)
    probe = AttentionProbe(images, torch.tensor([0, 2]), ["a", "b", "c"],
                           lambda x: x.float().div(255).permute(0, 3, 1, 2))
    event = probe(model, step=7)
    assert model.training  # the probe puts the model back the way it found it
    assert event.step == 7 and event.grid == 4 and event.labels == [0, 2]
    assert np.asarray(event.maps).shape == (2, 2, 2, 4, 4)
    assert np.asarray(event.rollout).shape == (2, 4, 4)
    assert np.asarray(event.images).shape == (2, 16, 16, 3)
    line = json.dumps(event.to_dict())
    floats = [v for probe_maps in event.maps for layer in probe_maps for head in layer for row in head for v in row]
    assert all(isinstance(v, float) and len(repr(v).split(".")[-1]) <= 4 for v in floats)  # 4 decimals at most
    rebuilt = event_from_dict(json.loads(line))
    assert isinstance(rebuilt, Attention) and rebuilt.maps == event.maps
    # Each class-token map plus its attention to itself is one softmax row.
    assert 0.5 < sum(sum(row) for row in event.maps[0][0][0]) <= 1.0 + 1e-3


def test_only_models_with_attention_are_probed():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (12, 16, 16, 3), dtype=np.uint8)
    y = np.arange(12) % 3
    splits = Splits(x, y, x[:6], y[:6], x[:6], y[:6], "val")
    prepare = lambda b: b.float().permute(0, 3, 1, 2)  # noqa: E731
    vit = ViT(image_size=16, patch=4, in_channels=3, num_classes=3, dim=16, depth=1, heads=2)
    probe = make_probe(splits, 3, ["a", "b", "c"], prepare, torch.device("cpu"))
    assert probe is not None and probe.labels.tolist() == [0, 1, 2]
    assert probe(vit, 5).step == 5
    assert make_probe(splits, 0, ["a", "b", "c"], prepare, torch.device("cpu")) is None


def test_sequence_pooling_maps_and_pooling_weights_each_sum_to_one():
    torch.manual_seed(0)
    model = ViT(image_size=16, patch=4, in_channels=3, num_classes=3, dim=16, depth=2, heads=2, pool="sequence")
    images = torch.randint(0, 256, (2, 16, 16, 3), dtype=torch.uint8)
    probe = AttentionProbe(images, torch.tensor([0, 2]), ["a", "b", "c"], lambda x: x.float().div(255).permute(0, 3, 1, 2))
    event = probe(model, step=3)
    assert np.asarray(event.pooling).shape == (2, 4, 4)  # one weight per patch: no class token
    assert np.asarray(event.maps).shape == (2, 2, 2, 4, 4) and np.asarray(event.rollout).shape == (2, 4, 4)
    for p in range(2):
        assert abs(np.sum(event.pooling[p]) - 1) < 2e-3  # rounded to 4 decimals, 16 of them
        assert abs(np.sum(event.rollout[p]) - 1) < 2e-3
        assert all(abs(np.sum(head) - 1) < 2e-3 for layer in event.maps[p] for head in layer)
    assert event_from_dict(json.loads(json.dumps(event.to_dict()))).pooling == event.pooling
    class_token = ViT(image_size=16, patch=4, in_channels=3, num_classes=3, dim=16, depth=2, heads=2)
    assert AttentionProbe(images, torch.tensor([0, 2]), ["a", "b", "c"],
                          lambda x: x.float().permute(0, 3, 1, 2))(class_token, 1).pooling == []
