"""Provides batched, on-device image augmentation and normalisation for uint8 NHWC batches.

Everything here works on a whole batch with tensor ops on the batch's device and fixed shapes, so training on a
GPU does no per-image CPU work and torch.compile can take it into the training step.
"""

from __future__ import annotations

import torch


def shifted_index(size: int, shift: torch.Tensor, reflect: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Source positions of a row (or column) shifted by `shift` (B, 1) pixels: (B, size) indices and which are inside.

    Outside the image a position either mirrors back in (reflect) or is marked outside, to be zero (the crop of a
    zero-padded image, without building the padded copy).
    """
    pos = torch.arange(size, device=shift.device)[None, :] + shift
    if reflect:
        pos = (size - 1) - ((size - 1) - pos.abs()).abs()  # -1 -> 1, size -> size - 2
    inside = (pos >= 0) & (pos < size)
    return pos.clamp(0, size - 1), inside


def random_crop_flip(x: torch.Tensor, flips: torch.Tensor | None = None, *, pad: int = 4,
                     reflect: bool = False) -> torch.Tensor:
    """Random shifts of up to `pad` pixels each way, and horizontal flips.

    x: (B, H, W, C) uint8. A shift is a random crop of the padded image back to its size: zero padding, or the
    image mirrored at its edges with reflect. flips (B,) bool says which images to mirror; None mirrors each
    with probability 1/2. One gather builds all crops.
    """
    b, h, w, _ = x.shape
    dev = x.device
    rows, rows_in = shifted_index(h, torch.randint(-pad, pad + 1, (b, 1), device=dev), reflect)
    cols, cols_in = shifted_index(w, torch.randint(-pad, pad + 1, (b, 1), device=dev), reflect)
    if flips is None:
        flips = torch.rand(b, device=dev) < 0.5
    cols, cols_in = torch.where(flips[:, None], cols.flip(1), cols), torch.where(flips[:, None], cols_in.flip(1), cols_in)
    batch = torch.arange(b, device=dev)[:, None, None]
    out = x[batch, rows[:, :, None], cols[:, None, :]]  # (B, H, W, C)
    if reflect:
        return out
    return out * (rows_in[:, :, None] & cols_in[:, None, :])[..., None].to(out.dtype)


def alternating_flips(count: int, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    """One random bit per training image for alternating flips (Jordan 2024): an image is mirrored in the epochs of
    one parity and not in the others, so every two epochs show each image both ways (random flips repeat a side
    half the time)."""
    return torch.rand(count, generator=generator, device=device) < 0.5


def normalise(x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """uint8 (B, H, W, C) -> float (B, C, H, W), standardised per channel.

    The permute keeps the data channels-last in memory, which convolutions on both CPU and GPU prefer.
    """
    return ((x.float() - mean) / std).permute(0, 3, 1, 2)
