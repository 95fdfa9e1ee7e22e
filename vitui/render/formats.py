"""Provides how vitui writes numbers, times and names, shared by the CLI and the app's widgets, and untrusted
text made safe to print."""

from __future__ import annotations

import re
import time
from typing import Any

from rich.text import Text

from vitui.core.settings import IMAGEFOLDER, split_dataset

# Terminal escape sequences, whole: CSI (colours, cursor moves, clearing; ESC [ or the one-byte 0x9b), OSC (window
# title, clipboard, hyperlinks; ended by BEL or ESC \) and the two-character ones. Of a broken one, the controls
# below go and its printable rest is shown.
_SEQUENCES = re.compile(r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")
# What a terminal would act on rather than show: C0 controls but tab and newline, DEL, the C1 controls, and the
# bidirectional overrides that make text read otherwise than it is stored.
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_LINE_BREAKS = re.compile("[\t\n]")


def plain(value: Any, *, lines: bool = False) -> str:
    """Untrusted text (run and folder names, config values, class names, names, log messages) made safe to print:
    escape sequences and control characters removed, and on one line unless `lines`. Print it as plain text, never
    as markup."""
    text = _CONTROLS.sub("", _SEQUENCES.sub("", str(value)))
    return text if lines else _LINE_BREAKS.sub(" ", text)


def safe_text(value: Any, style: str = "", *, lines: bool = False) -> Text:
    """Untrusted text as a rich Text: never parsed as markup (a "[/]" in a name is shown, not a tag), no controls."""
    return Text(plain(value, lines=lines), style=style)


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
