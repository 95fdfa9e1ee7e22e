"""Provides the optimisers every PyTorch trainer offers, built from a task's settings in one place."""

from __future__ import annotations

from typing import Any

import torch


def make_optimizer(cfg: Any, params: Any) -> torch.optim.Optimizer:
    """cfg.optimizer (sgd, momentum, nesterov, rmsprop, adam, adamw) with cfg.lr and cfg.weight_decay."""
    kind, lr, wd = cfg.optimizer, cfg.lr, cfg.weight_decay
    if kind == "sgd":
        return torch.optim.SGD(params, lr=lr, weight_decay=wd)
    if kind in ("momentum", "nesterov"):
        return torch.optim.SGD(params, lr=lr, momentum=cfg.momentum, nesterov=kind == "nesterov", weight_decay=wd)
    if kind == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, alpha=0.9, weight_decay=wd)  # alpha 0.9: Keras' rho
    if kind == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=wd)
    if kind == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=wd)
    raise ValueError(f"unknown optimizer {kind!r}")
