"""Provides checkpoint files that load with torch.load(path, weights_only=True) and survive a kill mid-write."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def save_checkpoint(folder: Path, name: str, *, model: dict, optimizer: dict | None = None, step: int,
                    epoch: float, config: dict[str, Any], **extra: Any) -> Path:
    """Write folder/<name>.pt atomically: a temporary file, fsynced, renamed over the old one."""
    import torch

    folder.mkdir(exist_ok=True)
    path = folder / f"{name}.pt"
    tmp = folder / f".{name}.pt.tmp"
    payload = {"model": model, "optimizer": optimizer or {}, "step": int(step), "epoch": float(epoch),
               "config": config, **extra}
    torch.save(payload, tmp)
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return path


def load_checkpoint(path: Path, map_location: str = "cpu") -> dict[str, Any]:
    import torch

    return torch.load(path, map_location=map_location, weights_only=True)
