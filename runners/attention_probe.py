"""Provides ViT attention as data: class-token maps per layer and head, attention rollout, and the probe event.

A ViT with sequence pooling has no class token: its maps are what the pooled token would attend to (each
token's attention row, weighted by how much the pooling reads that token), and the pooling weights themselves.

The probe runs the model's explicit attention pass on a few fixed validation images, in eval mode
and without gradients, so training itself keeps the fused kernel and pays only for these few images.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from vitui.core.events import Attention


def class_token_maps(weights: torch.Tensor, grid: int) -> torch.Tensor:
    """(depth, B, heads, N, N) weights -> (B, depth, heads, grid, grid): what the class token attends to.

    Row 0 is the class token's query; columns 1: are the patches in row-major order (column 0, the
    class token attending to itself, is left out, so a map sums to a little under 1).
    """
    depth, b, heads, n, _ = weights.shape
    maps = weights[:, :, :, 0, 1:].reshape(depth, b, heads, grid, grid)
    return maps.permute(1, 0, 2, 3, 4)


def rollout(weights: torch.Tensor) -> torch.Tensor:
    """Attention rollout (Abnar & Zuidema 2020): (depth, B, heads, N, N) -> (B, N, N).

    Average the heads, add the identity for the residual connection, renormalise the rows, and
    multiply the layers together (first layer rightmost): how much each output token draws on each
    input token through all layers.
    """
    a = weights.float().mean(dim=2)  # (depth, B, N, N)
    a = a + torch.eye(a.shape[-1], device=a.device, dtype=a.dtype)
    a = a / a.sum(dim=-1, keepdim=True)
    joint = a[0]
    for layer in a[1:]:
        joint = layer @ joint
    return joint


def rollout_maps(weights: torch.Tensor, grid: int) -> torch.Tensor:
    """(depth, B, heads, N, N) -> (B, grid, grid): the rolled-out class-token row over the patches."""
    joint = rollout(weights)
    return joint[:, 0, 1:].reshape(-1, grid, grid)


def pooled_maps(weights: torch.Tensor, pooling: torch.Tensor, grid: int) -> torch.Tensor:
    """(depth, B, heads, N, N) weights and (B, N) pooling weights -> (B, depth, heads, grid, grid).

    Each token's attention row weighted by its pooling weight: a convex mix of softmax rows, so each map sums to 1.
    """
    depth, b, heads, n, _ = weights.shape
    maps = torch.einsum("bq,lbhqk->blhk", pooling.to(weights.dtype), weights)
    return maps.reshape(b, depth, heads, grid, grid)


def pooled_rollout_maps(weights: torch.Tensor, pooling: torch.Tensor, grid: int) -> torch.Tensor:
    """(depth, B, heads, N, N), (B, N) -> (B, grid, grid): the rollout read through the pooling weights."""
    joint = rollout(weights)
    return torch.einsum("bq,bqk->bk", pooling.to(joint.dtype), joint).reshape(-1, grid, grid)


def choose_probes(labels: np.ndarray, count: int) -> np.ndarray:
    """Indices of `count` fixed images, one class after another (the first image of class 0, 1, ...), so probes differ."""
    labels = np.asarray(labels)
    count = min(count, len(labels))
    picked: list[int] = []
    taken = np.zeros(len(labels), dtype=bool)
    classes = np.unique(labels)
    while len(picked) < count:
        for cls in classes:
            free = np.flatnonzero((labels == cls) & ~taken)
            if len(free) and len(picked) < count:
                picked.append(int(free[0]))
                taken[free[0]] = True
    return np.asarray(picked, dtype=np.int64)


def rounded(t: torch.Tensor, digits: int = 4) -> list:
    """Nested lists of floats rounded to `digits` decimals (in float64, so 0.0156 prints as 0.0156): compact JSON."""
    scale = 10.0 ** digits
    return (t.detach().double().cpu() * scale).round().div(scale).tolist()


class AttentionProbe:
    """A fixed set of probe images and the Attention event they give for the model at a step.

    images: (P, H, W, C) uint8 on the model's device; prepare turns such a batch into the model's input
    (e.g. float, standardised, NCHW).
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, class_names: list[str],
                 prepare: Callable[[torch.Tensor], torch.Tensor]):
        self.images = images
        self.labels = labels
        self.class_names = list(class_names)
        self.prepare = prepare
        self._image_lists = images.cpu().numpy().astype(np.uint8).tolist()  # the same every event: convert once

    @torch.no_grad()
    def __call__(self, model: torch.nn.Module, step: int) -> Attention:
        was_training = model.training
        model.eval()
        try:
            logits, weights, pooling = model.forward_with_attention(self.prepare(self.images).float())
        finally:
            model.train(was_training)
        grid = model.grid
        if pooling is None:
            maps, rolled, pooled = class_token_maps(weights, grid), rollout_maps(weights, grid), []
        else:
            maps, rolled = pooled_maps(weights, pooling, grid), pooled_rollout_maps(weights, pooling, grid)
            pooled = rounded(pooling.reshape(-1, grid, grid))
        return Attention(step=step, grid=grid, labels=self.labels.cpu().tolist(),
                         predictions=logits.argmax(1).cpu().tolist(), class_names=self.class_names,
                         images=self._image_lists, maps=rounded(maps), rollout=rounded(rolled), pooling=pooled)


def make_probe(splits, count: int, class_names: list[str], prepare: Callable[[torch.Tensor], torch.Tensor],
               device: torch.device) -> AttentionProbe | None:
    """Probes from the validation split (the test split when there is none); None when there is nothing to probe.

    Only for models with an explicit attention pass, forward_with_attention (the model table's attention flag).
    """
    if not count:
        return None
    x, y = (splits.val_x, splits.val_y) if len(splits.val_y) else (splits.test_x, splits.test_y)
    if not len(y):
        return None
    chosen = choose_probes(y, count)
    return AttentionProbe(torch.from_numpy(x[chosen]).to(device), torch.from_numpy(y[chosen]).to(device),
                          class_names, prepare)
