"""Provides how vitui writes numbers, times and names, shared by the CLI and the app's widgets."""

from __future__ import annotations

import time
from typing import Any

from vitui.core.settings import IMAGEFOLDER, split_dataset


def format_value(key: str, value: Any) -> str:
    if value is None:
        return f"{key} nan"
    if isinstance(value, float):
        if "acc" in key or key == "novelty":
            return f"{key} {value * 100:.2f}%"
        if key == "lr":
            return f"{key} {value:.2e}"
        if key.endswith("/s"):
            return f"{key} {value:,.0f}"
        if key.endswith("time") or key.endswith("_s"):
            return f"{key} {value:.1f}s"
        return f"{key} {value:.4f}"
    return f"{key} {value}"


def counts_iterations(config: dict[str, Any]) -> bool:
    """The NumPy MLP and the character models count iterations; image models count whole epochs."""
    return "iterations" in config


def format_point(config: dict[str, Any], step: float, epoch: float) -> str:
    """Where in training something happened, in the run's own unit: "epoch 12" or "iteration 6,000"."""
    if counts_iterations(config):
        return f"iteration {int(step):,}"
    return f"epoch {int(round(epoch))}"


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s"


def format_start(timestamp: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(timestamp)) if timestamp else "-"


def si(value: float | None, unit: str = "") -> str:
    """1806538 -> '1.81M': engineering figures a reader can compare at a glance."""
    if value is None:
        return "-"
    for factor, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.3g}{prefix}{unit}"
    return f"{value:.0f}{unit}"


def short_value(value: str, width: int = 32) -> str:
    """imagefolder:/long/path/cifar10-jpeg-train.tar.gz -> folder:cifar10-jpeg-train.tar.gz; long values cut with …"""
    kind, path = split_dataset(value)
    if kind == IMAGEFOLDER:
        value = "folder:" + path.rstrip("/").rsplit("/", 1)[-1]
    return value if len(value) <= width else value[: width - 1] + "…"


def format_ranks(world_size: int, backend: str, batch_size: int | None, img_per_s: list[float],
                 straggler: float | None) -> str:
    """A distributed run's ranks in one line: "2 ranks (gloo)  batch 64 = 2 × 32  848 img/s = 425 + 423  straggler
    1.05"; with more than four ranks, the slowest and fastest rank's speed."""
    parts = [f"{world_size} ranks ({backend})" if backend else f"{world_size} ranks"]
    if batch_size:
        parts.append(f"batch {batch_size:,} = {world_size} × {batch_size // world_size:,}")
    if img_per_s:
        each = (" + ".join(f"{v:,.0f}" for v in img_per_s) if len(img_per_s) <= 4
                else f"{min(img_per_s):,.0f}..{max(img_per_s):,.0f} per rank")
        parts.append(f"{sum(img_per_s):,.0f} img/s = {each}")
    if straggler is not None:
        parts.append(f"straggler {straggler:.2f}")
    return "  ".join(parts)
