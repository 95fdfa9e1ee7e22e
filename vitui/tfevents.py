"""Provides a run as TensorBoard event files: scalars per split and metric, the config as hparams, attention maps
and misclassified images as pictures, sampled names as text.

Written with torch.utils.tensorboard, which needs the tensorboard package: an optional extra
(pip install 'vitui[tensorboard]'). Torch is imported here only, inside the export command.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from vitui.core.events import Attention, Event, Metric, Misclassified, Samples
from vitui.core.experiments import flatten_config
from vitui.core.runfolder import RunInfo
from vitui.render.pictures import colormap

EXTRA = "pip install 'vitui[tensorboard]'"
SCALE = 4  # pictures are 32 x 32 pixels or less: four times larger reads better in TensorBoard


class MissingExtra(Exception):
    """The event-file writer is not installed; the message names the extra to install."""


def summary_writer(log_dir: Path) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise MissingExtra(f"writing tfevents needs the tensorboard package: {EXTRA}") from None
    return SummaryWriter(log_dir=str(log_dir))


def write_tfevents(target: Path, run: RunInfo, events: Iterable[Event]) -> int:
    """Every event of the run into event files under `target`; the number of events written."""
    writer = summary_writer(target)
    count = 0
    try:
        for event in events:
            count += _write_event(writer, event)
        _write_config(writer, run)
    finally:
        writer.close()
    return count


def _write_event(writer: Any, event: Event) -> int:
    if isinstance(event, Metric):
        for name, value in event.values.items():
            if value is not None:
                writer.add_scalar(f"{event.split}/{name}", value, event.step, walltime=event.t)
        return 1
    if isinstance(event, Attention):
        for probe in range(len(event.labels)):
            picture = np.concatenate([_enlarged(event.images[probe]), _heatmap(event.rollout[probe],
                                                                               len(event.images[probe]))], axis=1)
            writer.add_image(f"attention/probe_{probe + 1}", picture, event.step, walltime=event.t, dataformats="HWC")
        return 1
    if isinstance(event, Misclassified):
        pictures = [_enlarged(image) for image in event.images]
        height = max(p.shape[0] for p in pictures)
        strip = np.concatenate([np.pad(p, ((0, height - p.shape[0]), (0, 2), (0, 0))) for p in pictures], axis=1)
        writer.add_image("mistakes", strip, event.step, walltime=event.t, dataformats="HWC")
        names = event.class_names
        lines = [f"{i + 1}. {_name(names, t)} → {_name(names, p)}" for i, (t, p) in
                 enumerate(zip(event.labels, event.predictions))]
        writer.add_text("mistakes", "  \n".join(lines), event.step, walltime=event.t)
        return 1
    if isinstance(event, Samples):
        lines = [f"- {text}{' (novel)' if novel else ''}" for text, novel in zip(event.texts, event.novel)]
        writer.add_text("samples", f"temperature {event.temperature:g}\n\n" + "\n".join(lines), event.step,
                        walltime=event.t)
        return 1
    return 0


def _write_config(writer: Any, run: RunInfo) -> None:
    """The config as hparams (TensorBoard's HParams tab compares runs by them) and as JSON text."""
    from torch.utils.tensorboard.summary import hparams

    params = {k: v if isinstance(v, (int, float, str, bool)) else json.dumps(v)
              for k, v in flatten_config(run.config).items() if v is not None}
    final = {f"final/{k}": float(v) for k, v in (run.summary.get("metrics") or {}).items()
             if isinstance(v, (int, float)) and not isinstance(v, bool)}
    for summary in hparams(params, final):
        writer.file_writer.add_summary(summary)
    for name, value in final.items():
        writer.add_scalar(name, value, 0)
    writer.add_text("config", "```\n" + json.dumps(run.config, indent=2) + "\n```", 0)


def _enlarged(image: list) -> np.ndarray:
    pixels = np.asarray(image, dtype=np.uint8)
    if pixels.shape[2] == 1:
        pixels = np.repeat(pixels, 3, axis=2)
    return np.kron(pixels, np.ones((SCALE, SCALE, 1), dtype=np.uint8))


def _heatmap(matrix: list, side: int) -> np.ndarray:
    """A grid x grid map in viridis, stretched to the picture beside it (side pixels, times SCALE)."""
    values = np.asarray(matrix, dtype=np.float64)
    values = np.nan_to_num(values)
    span = values.max() - values.min()
    values = (values - values.min()) / span if span > 0 else np.zeros_like(values)
    colours = np.asarray([[colormap(v) for v in row] for row in values], dtype=np.uint8)
    size = side * SCALE
    rows = np.arange(size) * len(matrix) // size
    return colours[rows][:, rows]


def _name(names: list[str], index: int) -> str:
    return names[index] if 0 <= index < len(names) else str(index)
