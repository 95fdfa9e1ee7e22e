"""Provides `vitui export`: a run's metric readings as CSV or JSON lines, one row per reading, or the whole run as
TensorBoard event files (vitui.tfevents), so TensorBoard, pandas or jq read vitui runs.

Each run goes to DIR/<run name>.csv, DIR/<run name>.jsonl or DIR/<run name>/ (event files). What parses in the
log is exported; the lines that do not (junk, a torn last line) are counted and reported. Of a resumed run, the
readings an attempt logged past the checkpoint the next one went on from are left out: the next attempt logged
those steps again, and each step is exported once, as the app draws it.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from vitui.core.events import Event, Metric, Resumed
from vitui.core.runfolder import EventReader, load_run

FORMATS = ("tfevents", "csv", "jsonl")
READING_COLUMNS = ("run", "time", "step", "epoch", "split", "metric", "value")


@dataclass
class Exported:
    """What one run's export wrote: where, how many items (readings, or events for tfevents), lines skipped."""

    run: str
    path: Path
    items: int
    skipped: int
    problem: str = ""  # why the log could not be read at all ("" when it could)

    def message(self) -> str:
        what = "events" if self.path.is_dir() else "readings"
        line = f"exported {self.items:,} {what} of {self.run} to {self.path}"
        if self.skipped:
            line += f"; skipped {self.skipped:,} log line{'s' if self.skipped > 1 else ''} that did not parse"
        if self.problem:
            line += f"; could not read the log: {self.problem}"
        return line


def readings(run: str, events: Iterator[Event]) -> Iterator[dict[str, Any]]:
    """One row per metric reading: the run, the time, step, epoch, split, the metric's name and value (None when the
    worker wrote a non-finite one as null)."""
    for event in events:
        if isinstance(event, Metric):
            for name, value in event.values.items():
                yield {"run": run, "time": event.t, "step": event.step, "epoch": event.epoch, "split": event.split,
                       "metric": name, "value": value}


def current_events(run_dir: Path, reader: EventReader) -> Iterator[Event]:
    """The events `reader` reads, less those with a step past the step a later Resumed event went back to (written
    by an attempt that was cut short, then logged again by the next). Reads the log twice: once for the resumes."""
    resumes = [(i, event.step) for i, event in enumerate(EventReader(run_dir)) if isinstance(event, Resumed)]
    # limits[k]: the lowest step any resume from the k-th on went back to; an event before the k-th resume
    # that is past it was logged again.
    limits = [step for _, step in resumes]
    for k in range(len(limits) - 2, -1, -1):
        limits[k] = min(limits[k], limits[k + 1])
    k = 0
    for i, event in enumerate(reader):
        while k < len(resumes) and resumes[k][0] <= i:
            k += 1
        step = getattr(event, "step", None)
        if k < len(resumes) and step is not None and not isinstance(event, Resumed) and step > limits[k]:
            continue
        yield event


def target_path(out_dir: Path, run_dir: Path, fmt: str) -> Path:
    return out_dir / (run_dir.name if fmt == "tfevents" else f"{run_dir.name}.{fmt}")


def export_run(run_dir: Path, out_dir: Path, fmt: str, replace: bool = False) -> Exported:
    """Export one run; FileExistsError when its target exists and `replace` is off; for tfevents, MissingExtra
    (vitui.tfevents) when no event-file writer is installed."""
    target = target_path(out_dir, run_dir, fmt)
    if os.path.lexists(target):
        if not replace:
            raise FileExistsError(f"{target} exists; remove it, choose another folder, or pass --force to replace it")
        shutil.rmtree(target) if target.is_dir() and not target.is_symlink() else target.unlink()
    out_dir.mkdir(parents=True, exist_ok=True)
    reader = EventReader(run_dir)
    write: Callable[[Path, Path, Iterator[Event]], int] = {"csv": _write_csv, "jsonl": _write_jsonl,
                                                          "tfevents": _write_tfevents}[fmt]
    count = write(target, run_dir, current_events(run_dir, reader))
    return Exported(run_dir.name, target, count, reader.skipped, reader.problem)


def _write_csv(target: Path, run_dir: Path, events: Iterator[Event]) -> int:
    count = 0
    with target.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=READING_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for row in readings(run_dir.name, events):
            writer.writerow({k: "" if v is None else v for k, v in row.items()})
            count += 1
    return count


def _write_jsonl(target: Path, run_dir: Path, events: Iterator[Event]) -> int:
    count = 0
    with target.open("w") as fh:
        for row in readings(run_dir.name, events):
            fh.write(json.dumps(row, separators=(",", ":"), allow_nan=False) + "\n")
            count += 1
    return count


def _write_tfevents(target: Path, run_dir: Path, events: Iterator[Event]) -> int:
    from vitui.tfevents import write_tfevents

    return write_tfevents(target, load_run(run_dir), events)
