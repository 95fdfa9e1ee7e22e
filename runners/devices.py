"""Provides the choice of PyTorch device shared by every training loop."""

from __future__ import annotations

import torch

from vitui.core.errors import ConfigError


def pick_device(name: str) -> torch.device:
    """auto: the GPU when there is one; a named device that is missing is a usage error."""
    mps = getattr(torch.backends, "mps", None)
    available = {"cpu": True, "cuda": torch.cuda.is_available(), "mps": bool(mps and mps.is_available())}
    if name == "auto":
        return torch.device(next(d for d in ("cuda", "mps", "cpu") if available[d]))
    if not available[name]:
        raise ConfigError(f"device {name} is not available on this machine; use --device auto or cpu")
    return torch.device(name)
