"""Provides the runs list of the browser and `vitui runs list`: its columns, sorting and filtering."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable

from rich import box
from rich.table import Table
from rich.text import Text

from vitui.core import runfolder
from vitui.comparison import config_differences
from vitui.core.errors import ConfigError
from vitui.core.experiments import resolve
from vitui.render.formats import format_duration, format_value, plain, short_value

STATE_STYLES = {"running": "cyan", "completed": "green", "stopped": "yellow", "failed": "red", "crashed": "red"}


def best_figure(run: runfolder.RunInfo) -> str:
    best = run.summary.get("best") or {}
    if not best or best.get("value") is None:
        return "-"
    return format_value(best.get("name", ""), best["value"])


def best_order(run: runfolder.RunInfo) -> tuple:
    """Sorts the best figures best first: runs grouped by figure, higher accuracy or lower loss first, none last."""
    best = run.summary.get("best") or {}
    if best.get("value") is None:
        return (1, "", 0.0)
    name = str(best.get("name", ""))
    return (0, name, -best["value"] if "acc" in name else best["value"])


def status_text(run: runfolder.RunInfo) -> str:
    return "crashed" if run.crashed else run.state


@lru_cache(maxsize=64)
def _experiment_defaults(experiment: str) -> dict[str, Any] | None:
    try:
        return resolve(experiment).to_dict()
    except ConfigError:  # the experiment file is gone or no longer valid
        return None


def changed_settings(run: runfolder.RunInfo) -> str:
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
    text: Callable[[runfolder.RunInfo], str]
    sort_key: Callable[[runfolder.RunInfo], Any]
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


def sort_runs(runs: list[runfolder.RunInfo], column: int, descending: bool) -> list[runfolder.RunInfo]:
    """Runs sorted by one column; ties stay newest first."""
    newest_first = sorted(runs, key=lambda r: r.name, reverse=True)
    return sorted(newest_first, key=RUN_COLUMNS[column].sort_key, reverse=descending)


def row_texts(runs: list[runfolder.RunInfo]) -> list[list[str]]:
    """Each run's text in every column, its settings rarest first; names and settings are untrusted, so plain."""
    rows = [[plain(column.text(r)) for column in RUN_COLUMNS] for r in runs]
    for row, settings in zip(rows, rarest_first([row[SETTINGS] for row in rows])):
        row[SETTINGS] = settings
    return rows


def filter_runs(runs: list[runfolder.RunInfo], text: str) -> list[runfolder.RunInfo]:
    """The runs whose row holds every word of `text`, in any column, ignoring case."""
    words = text.lower().split()
    return [r for r in runs if all(w in " ".join(c.text(r) for c in RUN_COLUMNS).lower() for w in words)]


def runs_table(runs: list[runfolder.RunInfo], width: int) -> Table:
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
        # Text, not str: a str cell is markup, and a "[/]" in a run's name would end the listing.
        table.add_row(*(Text(row[i], style=STATE_STYLES.get(row[i], "") if i == STATUS else "") for i in shown))
    return table
