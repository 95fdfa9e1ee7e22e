"""Provides Mixup and CutMix for whole batches on the device, returning soft targets for the cross-entropy.

Mixup (Zhang et al. 2018) blends each image with another from the batch; CutMix (Yun et al. 2019)
pastes a box cut from another image. Either way the target is the same blend of the two one-hot
labels. The partner of each image is a shuffled copy of the batch, as in timm and DeiT.

The draws per batch (which of the two, the Beta(a, a) mixing weight, the box's centre) are made on the CPU
for a whole epoch at once and moved to the device in one copy; the mixing itself is fixed-shape tensor
arithmetic (the box is a mask, not a slice), so torch.compile takes it into the training step.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


class BatchMixer:
    """plan(steps) draws an epoch's mixing rows; mix(x, y, row) mixes a float batch (B, C, H, W) and labels (B,)
    -> (mixed batch, soft targets (B, classes))."""

    def __init__(self, *, mixup: float, cutmix: float, num_classes: int, seed: int):
        self.mixup, self.cutmix = mixup, cutmix
        self.num_classes = num_classes
        self.rng = np.random.default_rng(seed)

    def plan(self, steps: int, height: int, width: int, device: torch.device) -> torch.Tensor:
        """(steps, 4) rows of [use CutMix (0 / 1), lam, box centre row, box centre column]."""
        # With both on, each batch picks one of the two at random (timm's switch probability 0.5).
        if self.cutmix > 0 and self.mixup > 0:
            use_cutmix = self.rng.random(steps) < 0.5
        else:
            use_cutmix = np.full(steps, self.cutmix > 0)
        lam = np.where(use_cutmix, self.rng.beta(max(self.cutmix, 1e-6), max(self.cutmix, 1e-6), steps),
                       self.rng.beta(max(self.mixup, 1e-6), max(self.mixup, 1e-6), steps))
        rows = np.stack([use_cutmix, lam, self.rng.integers(height, size=steps), self.rng.integers(width, size=steps)], 1)
        return torch.from_numpy(rows.astype(np.float32)).to(device)

    def mix(self, x: torch.Tensor, y: torch.Tensor, row: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        use_cutmix, lam, cy, cx = row.unbind()
        perm = torch.argsort(torch.rand(x.shape[0], device=x.device))
        partner = x[perm]
        h, w = x.shape[-2:]
        # The box has sides sqrt(1 - lam) of the image's, centred at (cy, cx) and cut off at the edges.
        half_h, half_w = torch.floor(h * torch.sqrt(1 - lam)) // 2, torch.floor(w * torch.sqrt(1 - lam)) // 2
        rows = torch.arange(h, device=x.device)[:, None]
        cols = torch.arange(w, device=x.device)[None, :]
        box = (rows >= cy - half_h) & (rows < cy + half_h) & (cols >= cx - half_w) & (cols < cx + half_w)
        cutmix = use_cutmix > 0.5
        mixed = torch.where(cutmix, torch.where(box, partner, x), lam * x + (1 - lam) * partner)
        own = torch.where(cutmix, 1 - box.float().mean(), lam)  # the share of the image that really is its own
        one_hot = F.one_hot(y, self.num_classes).to(x.dtype)
        return mixed, own * one_hot + (1 - own) * one_hot[perm]


def make_mixer(mixup: float, cutmix: float, num_classes: int, seed: int) -> BatchMixer | None:
    """A BatchMixer, or None when both are off."""
    if mixup <= 0 and cutmix <= 0:
        return None
    return BatchMixer(mixup=mixup, cutmix=cutmix, num_classes=num_classes, seed=seed)
