"""Provides rich renderings of past runs for the CLI: the runs table and one run's report."""

from __future__ import annotations

import time
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from vitui import runstore
from vitui.events import Evaluation, Log
from vitui.headless import confusion_table, evaluation_table, format_point, format_value

STATE_STYLES = {"running": "cyan", "completed": "green", "stopped": "yellow", "failed": "red"}


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s"


def format_start(timestamp: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(timestamp)) if timestamp else "-"


def best_figure(run: runstore.RunInfo) -> str:
    best = run.summary.get("best") or {}
    if not best or best.get("value") is None:
        return "-"
    return format_value(best.get("name", ""), best["value"])


def runs_table(runs: list[runstore.RunInfo]) -> Table:
    table = Table("run", "experiment", "model", "dataset", "status", "started", "duration", "best")
    for run in runs:
        state = run.state_label
        table.add_row(run.name, str(run.config.get("experiment", "")), str(run.config.get("model", "")),
                      str(run.config.get("dataset", "")), f"[{STATE_STYLES.get(run.state, '')}]{state}[/]",
                      format_start(run.started), format_duration(run.duration), best_figure(run))
    return table


def last_evaluation_and_error(run_dir: Path) -> tuple[Evaluation | None, str | None]:
    """The run's last evaluation and last error message, from one pass over its log."""
    evaluation, error = None, None
    for event in runstore.read_events(run_dir):
        if isinstance(event, Evaluation):
            evaluation = event
        elif isinstance(event, Log) and event.level == "error":
            error = event.message
    return evaluation, error


def show_run(console: Console, run_dir: Path) -> None:
    run = runstore.load_run(run_dir)
    console.print(f"[bold]{run.name}[/]  {run_dir}")
    status = Table.grid(padding=(0, 2))
    detail = run.status.get("detail") or ""
    # "stopped by SIGTERM" says the state already; "failed (crashed)  worker process died ..." does not.
    said = detail if detail.startswith(run.state) else f"{run.state_label}  {detail}".strip()
    status.add_row("status", Text(said, style=STATE_STYLES.get(run.state, "")))
    status.add_row("started", format_start(run.started))
    status.add_row("duration", format_duration(run.duration))
    console.print(status)

    config = Table("setting", "value", title="config", title_justify="left")
    for key, value in run.config.items():
        if isinstance(value, dict):
            for sub, v in value.items():
                config.add_row(f"{key}.{sub}", repr(v))
        else:
            config.add_row(key, repr(value))
    console.print(config)

    metrics = run.summary.get("metrics") or {}
    if metrics:
        table = Table("metric", "value", title="final metrics", title_justify="left")
        for key, value in metrics.items():
            table.add_row(key, format_value(key, value).removeprefix(key + " "))
        best = run.summary.get("best") or {}
        if best.get("value") is not None:
            when = format_point(run.config, best.get("step", 0), best.get("epoch", 0))
            table.add_row(f"best {best.get('name')}", f"{format_value(best['name'], best['value']).split(' ', 1)[1]}"
                          f" ({when})")
        console.print(table)
    evaluation, error = last_evaluation_and_error(run_dir)
    if evaluation is not None:
        console.print(evaluation_table(evaluation))
        if len(evaluation.class_names) <= 12:
            console.print(confusion_table(evaluation))
    if run.state == "failed" and error:
        console.print("[red]last error:[/]")
        console.print(error.rstrip(), markup=False)
