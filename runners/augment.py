"""Provides batched, on-device image augmentation and normalisation for uint8 NHWC batches.

Everything here works on a whole batch with tensor ops on the batch's device, so training on a GPU
does no per-image CPU work.
"""

from __future__ import annotations

import torch


def random_crop_flip(x: torch.Tensor, *, pad: int = 4, flip: bool = True, generator: torch.Generator | None = None) -> torch.Tensor:
    """Random crop of the zero-padded batch back to its size, and random horizontal flips.

    x: (B, H, W, C) uint8. One gather builds all crops: row/column indices per image into the padded batch.
    """
    b, h, w, c = x.shape
    dev = x.device
    padded = torch.nn.functional.pad(x, (0, 0, pad, pad, pad, pad))  # pads W and H, not C
    dy = torch.randint(0, 2 * pad + 1, (b, 1), device=dev, generator=generator)
    dx = torch.randint(0, 2 * pad + 1, (b, 1), device=dev, generator=generator)
    rows = torch.arange(h, device=dev)[None, :] + dy  # (B, H)
    cols = torch.arange(w, device=dev)[None, :] + dx  # (B, W)
    if flip:
        flipped = torch.rand(b, 1, device=dev, generator=generator) < 0.5
        cols = torch.where(flipped, cols.flip(1), cols)
    batch = torch.arange(b, device=dev)[:, None, None]
    return padded[batch, rows[:, :, None], cols[:, None, :]]  # (B, H, W, C)


def normalise(x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """uint8 (B, H, W, C) -> float (B, C, H, W), standardised per channel.

    The permute keeps the data channels-last in memory, which convolutions on both CPU and GPU prefer.
    """
    return ((x.float() - mean) / std).permute(0, 3, 1, 2)
