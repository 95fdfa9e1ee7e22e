"""Provides the runs list of the browser and `vitui runs list` (columns, sorting, filtering), and `vitui runs show`."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from vitui import runstore
from vitui.compare import config_differences
from vitui.config import ConfigError, resolve
from vitui.events import Evaluation, Log
from vitui.headless import confusion_table, evaluation_table, format_point, format_value

STATE_STYLES = {"running": "cyan", "completed": "green", "stopped": "yellow", "failed": "red", "crashed": "red"}


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


def best_order(run: runstore.RunInfo) -> tuple:
    """Sorts the best figures best first: runs grouped by figure, higher accuracy or lower loss first, none last."""
    best = run.summary.get("best") or {}
    if best.get("value") is None:
        return (1, "", 0.0)
    name = str(best.get("name", ""))
    return (0, name, -best["value"] if "acc" in name else best["value"])


def status_text(run: runstore.RunInfo) -> str:
    return "crashed" if run.crashed else run.state


def short_value(value: str, width: int = 32) -> str:
    """imagefolder:/long/path/cifar10-jpeg-train.tar.gz -> folder:cifar10-jpeg-train.tar.gz; long values cut with …"""
    if value.startswith("imagefolder:"):
        value = "folder:" + value.rstrip("/").rsplit("/", 1)[-1]
    return value if len(value) <= width else value[: width - 1] + "…"


@lru_cache(maxsize=64)
def _experiment_defaults(experiment: str) -> dict[str, Any] | None:
    try:
        return resolve(experiment).to_dict()
    except ConfigError:  # the experiment file is gone or no longer valid
        return None


def changed_settings(run: runstore.RunInfo) -> str:
    """What this run set differently from its experiment file ("iterations=2000 lr=0.02"): what tells runs of
    one experiment apart. "defaults" when nothing; the model and data set when the experiment is unknown."""
    defaults = _experiment_defaults(str(run.config.get("experiment", "")))
    if defaults is None:
        return " ".join(str(run.config.get(k, "")) for k in ("model", "dataset"))
    changed = [(key.removeprefix("model_args."), values[1])
               for key, values in config_differences([defaults, run.config]) if values[1] != "-"]
    return " ".join(f"{key}={short_value(value)}" for key, value in changed) or "defaults"


def rarest_first(settings: list[str]) -> list[str]:
    """Each run's changed settings, those the fewest runs share first: "lr=0.05 iterations=2000" when every run
    set iterations=2000, so what tells the runs apart survives a narrow column."""
    counts = Counter(word for text in settings for word in set(text.split()))
    return [" ".join(sorted(text.split(), key=lambda word: counts[word])) for text in settings]


@dataclass(frozen=True)
class RunColumn:
    """A column of the runs list: its title, a run's text in it, and what it sorts by."""

    title: str
    text: Callable[[runstore.RunInfo], str]
    sort_key: Callable[[runstore.RunInfo], Any]
    descending: bool = False  # the first sort by this column: newest, longest first


# The name is the run folder's (it starts with the start time and holds the experiment), so the list needs no
# start or experiment column; what tells five runs of one experiment apart is their settings and results.
RUN_COLUMNS = (
    RunColumn("run", lambda r: r.name, lambda r: r.name, descending=True),
    RunColumn("status", status_text, status_text),
    RunColumn("time", lambda r: format_duration(r.duration), lambda r: r.duration or 0.0, descending=True),
    RunColumn("best", best_figure, best_order),
    RunColumn("settings", changed_settings, changed_settings),
)
NAME, STATUS, SETTINGS = 0, 1, len(RUN_COLUMNS) - 1
MIN_SETTINGS = 10  # narrower than this, `runs list` leaves the settings out rather than wrap them into a tower


def sort_runs(runs: list[runstore.RunInfo], column: int, descending: bool) -> list[runstore.RunInfo]:
    """Runs sorted by one column; ties stay newest first."""
    newest_first = sorted(runs, key=lambda r: r.name, reverse=True)
    return sorted(newest_first, key=RUN_COLUMNS[column].sort_key, reverse=descending)


def row_texts(runs: list[runstore.RunInfo]) -> list[list[str]]:
    """Each run's text in every column, its settings rarest first."""
    rows = [[column.text(r) for column in RUN_COLUMNS] for r in runs]
    for row, settings in zip(rows, rarest_first([row[SETTINGS] for row in rows])):
        row[SETTINGS] = settings
    return rows


def filter_runs(runs: list[runstore.RunInfo], text: str) -> list[runstore.RunInfo]:
    """The runs whose row holds every word of `text`, in any column, ignoring case."""
    words = text.lower().split()
    return [r for r in runs if all(w in " ".join(c.text(r) for c in RUN_COLUMNS).lower() for w in words)]


def runs_table(runs: list[runstore.RunInfo], width: int) -> Table:
    """The runs list in `width` columns: names always in full; settings wrap, then settings, best, time and status
    are left out, in that order, until the rest fits."""
    cells = row_texts(runs)
    widths = [max([len(column.title), *(len(row[i]) for row in cells)]) for i, column in enumerate(RUN_COLUMNS)]
    shown = list(range(len(RUN_COLUMNS)))
    gap = 2  # between columns: a space of padding and the blank divider

    def needed(columns: list[int]) -> int:
        fixed = [widths[i] if i != SETTINGS else min(widths[i], MIN_SETTINGS) for i in columns]
        return sum(fixed) + gap * (len(columns) - 1)

    while len(shown) > 1 and needed(shown) > width:
        shown.pop()
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1, 0, 0), header_style="bold")
    for i in shown:
        table.add_column(RUN_COLUMNS[i].title, no_wrap=i != SETTINGS, overflow="fold")  # settings fold, never cut
    for row in cells:
        row[STATUS] = Text(row[STATUS], style=STATE_STYLES.get(row[STATUS], ""))
        table.add_row(*(row[i] for i in shown))
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
