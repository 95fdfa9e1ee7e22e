"""Provides the optimisers every PyTorch trainer offers, built from a task's settings in one place, and the setting
of their learning rate along a schedule."""

from __future__ import annotations

from typing import Any

import torch


def make_optimizer(cfg: Any, params: Any, *, fused: bool = False,
                   lr_device: torch.device | None = None) -> torch.optim.Optimizer:
    """cfg.optimizer (sgd, momentum, nesterov, rmsprop, adam, adamw) with cfg.lr and cfg.weight_decay.

    params: the parameters, or groups {"params": [...], "lr_scale": s} for a model that trains some parameters
    faster (airbench's biases). A group's weight decay is divided by its scale: both kinds of decay here shrink a
    weight by lr x weight_decay per step, so a faster group decays no faster. fused: one multi-tensor kernel per
    step (CUDA; torch.compile). lr_device: hold the learning rate as a tensor there, so a compiled optimizer
    reads each new value from memory instead of being compiled again for it.
    """
    params = list(params)
    groups = params if params and isinstance(params[0], dict) else [{"params": params}]
    groups = [dict(g) for g in groups]
    for group in groups:
        scale = group.pop("lr_scale", 1.0)
        group["peak_lr"] = cfg.lr * scale
        group["weight_decay"] = cfg.weight_decay / scale
        group["lr"] = torch.tensor(group["peak_lr"], device=lr_device) if lr_device is not None else group["peak_lr"]
    kind = cfg.optimizer
    speed = {"fused": True} if fused else {}
    if kind == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, **speed)
    if kind in ("momentum", "nesterov"):
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=kind == "nesterov", **speed)
    if kind == "rmsprop":  # no fused kernel; the single-tensor path takes a tensor learning rate
        return torch.optim.RMSprop(groups, lr=cfg.lr, alpha=0.9, foreach=False if lr_device is not None else None)  # alpha 0.9: Keras' rho
    if kind == "adam":
        return torch.optim.Adam(groups, lr=cfg.lr, **speed)
    if kind == "adamw":
        return torch.optim.AdamW(groups, lr=cfg.lr, **speed)
    raise ValueError(f"unknown optimizer {kind!r}")


def set_lr(optimizer: torch.optim.Optimizer, factor: float) -> None:
    """Every group at `factor` times its peak learning rate; a tensor learning rate is filled in place."""
    for group in optimizer.param_groups:
        if isinstance(group["lr"], torch.Tensor):
            group["lr"].fill_(group["peak_lr"] * factor)
        else:
            group["lr"] = group["peak_lr"] * factor
