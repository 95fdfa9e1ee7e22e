"""Provides checkpoint files that load with torch.load(path, weights_only=True) and survive a kill mid-write."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from vitui.core.runfolder import temporary_beside


def save_checkpoint(folder: Path, name: str, *, model: dict, optimizer: dict | None = None, step: int,
                    epoch: float, config: dict[str, Any], **extra: Any) -> Path:
    """Write folder/<name>.pt atomically: a temporary file, fsynced, renamed over the old one.

    The temporary file is removed when the write fails; through a Python file object, a full disk raises
    OSError naming the file (torch's own writer says only "unexpected pos").
    """
    import torch

    folder.mkdir(exist_ok=True)
    path = folder / f"{name}.pt"
    payload = {"model": model, "optimizer": optimizer or {}, "step": int(step), "epoch": float(epoch),
               "config": config, **extra}
    fd, tmp = temporary_beside(path)
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(payload, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise OSError(exc.errno, exc.strerror, str(path)) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(path: Path, map_location: str = "cpu") -> dict[str, Any]:
    import torch

    return torch.load(path, map_location=map_location, weights_only=True)
