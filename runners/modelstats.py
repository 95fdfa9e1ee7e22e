"""Provides the size and cost of a model: parameters and multiply-adds per image, counted by running it once."""

from __future__ import annotations

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode


def count_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@torch.no_grad()
def macs_per_image(model: torch.nn.Module, example: torch.Tensor) -> int:
    """Multiply-adds of one forward pass of one image (FLOPs / 2 as PyTorch's FlopCounterMode counts them).

    `example` is one model input (1, C, H, W). The math attention backend is forced so attention is
    counted as the matrix products it is, on every device (the fused CPU kernel has no FLOP formula).
    Only matrix products and convolutions are counted, the usual convention for MACs.
    """
    was_training = model.training
    model.eval()
    try:
        with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
            model(example[:1])
    finally:
        model.train(was_training)
    return counter.get_total_flops() // 2


def model_stats(model: torch.nn.Module, example: torch.Tensor) -> dict[str, int]:
    """{"params": ..., "macs": ...}: the figures the run summary keeps for comparing models."""
    return {"params": count_params(model), "macs": macs_per_image(model, example)}
