"""Provides Mixup and CutMix for whole batches on the device, returning soft targets for the cross-entropy.

Mixup (Zhang et al. 2018) blends each image with another from the batch; CutMix (Yun et al. 2019)
pastes a box cut from another image. Either way the target is the same blend of the two one-hot
labels. One mixing weight per batch is drawn on the CPU (a Python float, so the device never waits),
and the partner of each image is a shuffled copy of the batch, as in timm and DeiT.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F


class BatchMixer:
    """Call with a float batch (B, C, H, W) and labels (B,) -> (mixed batch, soft targets (B, classes))."""

    def __init__(self, *, mixup: float, cutmix: float, num_classes: int, seed: int,
                 generator: torch.Generator | None = None):
        self.mixup, self.cutmix = mixup, cutmix
        self.num_classes = num_classes
        self.rng = np.random.default_rng(seed)
        self.generator = generator

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # With both on, each batch picks one of the two at random (timm's switch probability 0.5).
        use_cutmix = self.cutmix > 0 and (self.mixup <= 0 or self.rng.random() < 0.5)
        alpha = self.cutmix if use_cutmix else self.mixup
        lam = float(self.rng.beta(alpha, alpha))
        perm = torch.randperm(x.shape[0], device=x.device, generator=self.generator)
        if use_cutmix:
            h, w = x.shape[-2:]
            cut_h, cut_w = int(h * math.sqrt(1 - lam)), int(w * math.sqrt(1 - lam))
            cy, cx = int(self.rng.integers(h)), int(self.rng.integers(w))
            y0, y1 = max(cy - cut_h // 2, 0), min(cy + cut_h // 2, h)
            x0, x1 = max(cx - cut_w // 2, 0), min(cx + cut_w // 2, w)
            x = x.clone()
            x[..., y0:y1, x0:x1] = x[perm][..., y0:y1, x0:x1]
            lam = 1 - (y1 - y0) * (x1 - x0) / (h * w)  # the share of the image that really is its own
        else:
            x = lam * x + (1 - lam) * x[perm]
        one_hot = F.one_hot(y, self.num_classes).to(x.dtype)
        return x, lam * one_hot + (1 - lam) * one_hot[perm]


def make_mixer(mixup: float, cutmix: float, num_classes: int, seed: int, generator: torch.Generator | None):
    """A BatchMixer, or an identity (batch, hard labels) when both are off, so the loop has one code path."""
    if mixup <= 0 and cutmix <= 0:
        return lambda x, y: (x, y)
    return BatchMixer(mixup=mixup, cutmix=cutmix, num_classes=num_classes, seed=seed, generator=generator)
