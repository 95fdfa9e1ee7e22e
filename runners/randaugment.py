"""Provides RandAugment (Cubuk et al. 2020) for whole batches on the device, with fixed shapes so torch.compile takes it in.

RandAugment applies `ops` operations to each image, each picked uniformly from a list of fourteen, all at one
`magnitude` (0-30; the sign of a geometric or colour change is random). The list and the ranges at full magnitude
follow the paper and torchvision: shear 0.3, translation 45 % of the side, rotation 30 degrees, brightness /
colour / contrast / sharpness factors 1 +- 0.9, posterize down to 4 bits, solarize threshold down to 0.

On a GPU a per-image choice is cheapest as "compute every operation on the whole batch, keep each image's pick":
the geometric ones share one affine warp (grid_sample), the colour ones are a few element-wise passes that the
compiler fuses. Images are float (B, H, W, C) in 0..255.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

GEOMETRIC = ("shear_x", "shear_y", "translate_x", "translate_y", "rotate")
COLOUR = ("identity", "autocontrast", "equalize", "solarize", "posterize", "brightness", "color", "contrast", "sharpness")
OPS = GEOMETRIC + COLOUR
MAX_MAGNITUDE = 30


def rand_augment(x: torch.Tensor, ops: int, magnitude: int) -> torch.Tensor:
    """x: float (B, H, W, C) in 0..255 -> the same shape, each image changed by `ops` random operations."""
    strength = magnitude / MAX_MAGNITUDE
    for _ in range(ops):
        b = x.shape[0]
        pick = torch.randint(len(OPS), (b,), device=x.device)
        sign = torch.where(torch.rand(b, device=x.device) < 0.5, -1.0, 1.0)
        out = warp(x, pick, sign * strength)
        for i, name in enumerate(COLOUR, start=len(GEOMETRIC)):
            if name != "identity":
                out = torch.where((pick == i)[:, None, None, None], colour_op(name, x, sign * strength, strength), out)
        x = out.clamp(0, 255)  # float rounding (autocontrast's rescaling) can land a hair past 255
    return x


# --------------------------------------------------------------------------- geometric: one affine warp

def warp(x: torch.Tensor, pick: torch.Tensor, amount: torch.Tensor) -> torch.Tensor:
    """The geometric operation each image picked (identity for the others) as one nearest-pixel affine warp.

    amount (B,) in -1..1 is the signed strength. The affine maps output to input positions in [-1, 1] coordinates.
    """
    b = x.shape[0]
    theta = torch.eye(2, 3, device=x.device).repeat(b, 1, 1)
    shear, shift, angle = 0.3 * amount, 2 * 0.45 * amount, math.radians(30) * amount
    theta[:, 0, 1] = torch.where(pick == 0, shear, theta[:, 0, 1])
    theta[:, 1, 0] = torch.where(pick == 1, shear, theta[:, 1, 0])
    theta[:, 0, 2] = torch.where(pick == 2, shift, theta[:, 0, 2])
    theta[:, 1, 2] = torch.where(pick == 3, shift, theta[:, 1, 2])
    rotate = pick == 4
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta[:, 0, 0] = torch.where(rotate, cos, theta[:, 0, 0])
    theta[:, 0, 1] = torch.where(rotate, -sin, theta[:, 0, 1])
    theta[:, 1, 0] = torch.where(rotate, sin, theta[:, 1, 0])
    theta[:, 1, 1] = torch.where(rotate, cos, theta[:, 1, 1])
    images = x.permute(0, 3, 1, 2)  # (B, C, H, W) for grid_sample
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="nearest", padding_mode="zeros", align_corners=False).permute(0, 2, 3, 1)


# --------------------------------------------------------------------------- colour: element-wise on the batch

def grey(x: torch.Tensor) -> torch.Tensor:
    """Luminance (B, H, W, 1) with the ITU-R 601 weights PIL uses (a single-channel image is its own grey)."""
    if x.shape[-1] == 1:
        return x
    return (x * torch.tensor([0.299, 0.587, 0.114], device=x.device)).sum(-1, keepdim=True)


def blend(towards: torch.Tensor, x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """towards + factor (x - towards): factor 0 gives `towards`, 1 the image, above 1 goes further (PIL's enhance)."""
    return (towards + factor[:, None, None, None] * (x - towards)).clamp(0, 255)


def smooth(x: torch.Tensor) -> torch.Tensor:
    """PIL's SMOOTH filter (3x3, centre weight 5) inside the image; the border pixels stay as they are."""
    c = x.shape[-1]
    kernel = torch.ones(3, 3, device=x.device)
    kernel[1, 1] = 5
    kernel = (kernel / kernel.sum()).expand(c, 1, 3, 3)
    inner = F.conv2d(x.permute(0, 3, 1, 2), kernel, groups=c).permute(0, 2, 3, 1)
    return F.pad(inner.permute(0, 3, 1, 2), (1, 1, 1, 1)).permute(0, 2, 3, 1) + x * border_mask(x)


def border_mask(x: torch.Tensor) -> torch.Tensor:
    h, w = x.shape[1:3]
    mask = torch.ones(1, h, w, 1, device=x.device)
    mask[:, 1:-1, 1:-1] = 0
    return mask


def equalize(x: torch.Tensor) -> torch.Tensor:
    """Histogram equalisation per image and channel: each level goes to its share of the pixels at or below it."""
    b, h, w, c = x.shape
    levels = x.round().clamp(0, 255).long().permute(0, 3, 1, 2).reshape(b * c, h * w)
    hist = torch.zeros(b * c, 256, device=x.device).scatter_add_(1, levels, torch.ones_like(levels, dtype=torch.float))
    cdf = hist.cumsum(1)
    lowest = torch.where(hist > 0, cdf, torch.full_like(cdf, float(h * w))).amin(1, keepdim=True)
    lut = ((cdf - lowest) / (h * w - lowest).clamp_min(1) * 255).clamp(0, 255)
    return lut.gather(1, levels).reshape(b, c, h, w).permute(0, 2, 3, 1)


def colour_op(name: str, x: torch.Tensor, amount: torch.Tensor, strength: float) -> torch.Tensor:
    """One colour operation on the whole batch; amount (B,) is the signed strength in -1..1."""
    factor = 1 + 0.9 * amount
    if name == "autocontrast":
        lo, hi = x.amin(dim=(1, 2), keepdim=True), x.amax(dim=(1, 2), keepdim=True)
        return torch.where(hi > lo, (x - lo) * 255 / (hi - lo).clamp_min(1e-3), x)
    if name == "equalize":
        return equalize(x)
    if name == "solarize":
        threshold = 255 * (1 - strength)
        return torch.where(x >= threshold, 255 - x, x)
    if name == "posterize":
        step = 2.0 ** int(4 * strength)  # keep 8 - int(4 m) bits
        return torch.floor(x / step) * step
    if name == "brightness":
        return blend(torch.zeros_like(x), x, factor)
    if name == "color":
        return blend(grey(x), x, factor)
    if name == "contrast":
        return blend(grey(x).mean(dim=(1, 2, 3), keepdim=True).expand_as(x), x, factor)
    if name == "sharpness":
        return blend(smooth(x), x, factor)
    raise ValueError(f"unknown colour operation {name!r}")
