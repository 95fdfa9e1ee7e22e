"""Provides runs as plain data (dicts of JSON values) for `--json`, `--csv` and `vitui export`.

One record per run for the list, a fuller one for `runs show`, one row per model for `runs compare`. Numbers stay
numbers (seconds, fractions), never formatted text; NaN and infinity become null. The shapes are documented in
docs/formats.md ("JSON output"); a field is added there before it is added here.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import fields
from pathlib import Path
from typing import Any, Iterable

from vitui.core.events import Evaluation, Log, System
from vitui.core.runfolder import EventReader, RunInfo, load_env
from vitui.render.reports import comparison_row
from vitui.render.runs import changed_settings

LIST_COLUMNS = ("name", "state", "state_label", "experiment", "model", "dataset", "started", "ended", "duration_s",
                "best_name", "best_value", "settings", "tags", "note", "archived", "host", "heartbeat", "path")
COMPARE_COLUMNS = ("run", "model", "dataset", "params", "macs", "img/s", "best_name", "best", "best_step",
                   "best_epoch", "best_time")


def plain(value: Any) -> Any:
    """A value JSON can hold: non-finite floats as None, paths as text, tuples as lists."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def run_record(run: RunInfo) -> dict[str, Any]:
    """What `runs list --json` says of one run."""
    best = run.summary.get("best") or {}
    return plain({
        "name": run.name,
        "path": run.path,
        "state": "crashed" if run.crashed else run.state,
        "state_label": run.state_label,
        "experiment": run.config.get("experiment"),
        "model": run.config.get("model"),
        "dataset": run.config.get("dataset"),
        "started": run.started,
        "ended": run.status.get("ended"),
        "duration_s": run.duration,
        "best": {k: best.get(k) for k in ("name", "value", "step", "epoch", "time")} if best else None,
        "settings": changed_settings(run),
        "tags": run.tags,
        "note": run.note,
        "archived": run.archived,
        "host": run.status.get("host"),
        "heartbeat": run.heartbeat,
        "problem": run.problem or None,
    })


def list_row(run: RunInfo) -> dict[str, Any]:
    """One CSV row of `runs list --csv`: the record flattened (best as two columns, tags as one word list)."""
    record = run_record(run)
    best = record.pop("best") or {}
    return {**{k: record.get(k) for k in LIST_COLUMNS}, "best_name": best.get("name"),
            "best_value": best.get("value"), "tags": " ".join(record["tags"])}


def show_record(run: RunInfo) -> dict[str, Any]:
    """What `runs show --json` says: the list's record, the whole config, status and summary, env.json, the last
    evaluation and error and the peaks of the machine samples from the log, and how many log lines could not be
    read."""
    from vitui.systemcharts import peaks

    evaluation, error, samples = None, None, []
    reader = EventReader(run.path)
    for event in reader:
        if isinstance(event, Evaluation):
            evaluation = event
        elif isinstance(event, Log) and event.level == "error":
            error = event.message
        elif isinstance(event, System):
            samples.append(event)
    record = run_record(run)
    record.update(plain({
        "config": run.config, "status": run.status, "summary": run.summary, "env": load_env(run.path),
        "system_peaks": peaks(samples) or None,
        "evaluation": {f.name: getattr(evaluation, f.name) for f in fields(evaluation)} if evaluation else None,
        "last_error": error,
        "log": {"skipped_lines": reader.skipped, "problem": reader.problem or None},
    }))
    return record


def compare_record(run: RunInfo) -> dict[str, Any]:
    """One row of `runs compare --json` / `--csv`: the figures of the printed comparison, as numbers."""
    return plain({**comparison_row(run), "path": run.path})


def csv_text(rows: Iterable[dict[str, Any]], columns: Iterable[str]) -> str:
    """Rows as CSV with a header; None as an empty cell."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return out.getvalue()
