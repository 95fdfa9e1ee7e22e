"""Provides the runs list of the browser and `vitui runs list`: its columns, sorting and filtering."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

from rich import box
from rich.table import Table
from rich.text import Text

from vitui.core import runfolder
from vitui.comparison import config_differences
from vitui.core.errors import ConfigError
from vitui.core.experiments import experiment_names, resolve
from vitui.render.formats import format_duration, format_value, plain, short_value

STATE_STYLES = {"running": "cyan", "completed": "green", "stopped": "yellow", "failed": "red", "crashed": "red",
                "stale": "yellow", "unreadable": "red", "unknown": "dim"}
EXPLAINED_STATES = ("unreadable", "stale", "unknown")  # the list says why: "stale (no heartbeat since 14:02)"


def state_style(text: str) -> str:
    """The colour of a status cell, by its first word ("stale (no heartbeat since 14:02)" is yellow)."""
    return STATE_STYLES.get(text.split(" ", 1)[0], "")


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
    if run.crashed:
        return "crashed"
    state = run.state
    return run.state_label if state in EXPLAINED_STATES else state


@lru_cache(maxsize=64)
def _experiment_defaults(experiment: str) -> dict[str, Any] | None:
    if experiment not in experiment_names():  # a name from a run's config.json: never a path to follow
        return None
    try:
        return resolve(experiment).to_dict()
    except ConfigError:  # the experiment file is no longer valid
        return None


def changed_settings(run: runfolder.RunInfo) -> str:
    """What this run set differently from its experiment file ("iterations=2000 lr=0.02"): what tells runs of
    one experiment apart. "defaults" when nothing; the model and data set when the experiment is unknown."""
    if run.problem:
        return ""
    defaults = _experiment_defaults(str(run.config.get("experiment", "")))
    if defaults is None:
        return " ".join(str(run.config.get(k, "")) for k in ("model", "dataset")).strip()
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
    """A column of the runs list: its title, a run's text in it, and what it sorts by (given the run and its text)."""

    title: str
    text: Callable[[runfolder.RunInfo], str]
    sort_key: Callable[[runfolder.RunInfo, str], Any]
    descending: bool = False  # the first sort by this column: newest, longest first


# The name is the run folder's (it starts with the start time and holds the experiment), so the list needs no
# start or experiment column; what tells five runs of one experiment apart is their settings and results.
RUN_COLUMNS = (
    RunColumn("run", lambda r: r.name, lambda r, text: text, descending=True),
    RunColumn("status", status_text, lambda r, text: text),
    RunColumn("time", lambda r: format_duration(r.duration), lambda r, text: r.duration or 0.0, descending=True),
    RunColumn("best", best_figure, lambda r, text: best_order(r)),
    RunColumn("settings", changed_settings, lambda r, text: text),
)
NAME, STATUS, SETTINGS = 0, 1, len(RUN_COLUMNS) - 1
MIN_SETTINGS = 10  # narrower than this, `runs list` leaves the settings out rather than wrap them into a tower


class RowCache:
    """Each run's text in every column, kept while the listing hands back the same RunInfo (its folder has not
    changed) and its state is final: a refresh of 5,000 runs then recomputes only the few still running."""

    def __init__(self) -> None:
        self._rows: dict[Path, tuple[runfolder.RunInfo, tuple[str, ...]]] = {}

    def texts(self, run: runfolder.RunInfo) -> tuple[str, ...]:
        kept = self._rows.get(run.path)
        if kept is not None and kept[0] is run:
            return kept[1]
        texts = tuple(plain(column.text(run)) for column in RUN_COLUMNS)  # names and settings are untrusted
        if run.state not in ("created", "running"):
            self._rows[run.path] = (run, texts)
        return texts

    def forget_missing(self, runs: list[runfolder.RunInfo]) -> None:
        """Drop the runs no longer listed (deleted, moved), so the cache does not grow for ever."""
        kept = {r.path for r in runs}
        for path in [p for p in self._rows if p not in kept]:
            del self._rows[path]


def tags_text(run: runfolder.RunInfo) -> str:
    return plain(" ".join(f"#{tag}" for tag in run.tags))


def sort_runs(runs: list[runfolder.RunInfo], column: int, descending: bool,
              cache: RowCache | None = None) -> list[runfolder.RunInfo]:
    """Runs sorted by one column; ties stay newest first."""
    cache = cache or RowCache()
    newest_first = sorted(runs, key=lambda r: r.name, reverse=True)
    key = RUN_COLUMNS[column].sort_key
    return sorted(newest_first, key=lambda r: key(r, cache.texts(r)[column]), reverse=descending)


def row_texts(runs: list[runfolder.RunInfo], cache: RowCache | None = None) -> list[list[str]]:
    """Each run's text in every column, its tags first in the settings ("#best lr=0.05"), settings rarest first."""
    cache = cache or RowCache()
    rows = [list(cache.texts(r)) for r in runs]
    for run, row, settings in zip(runs, rows, rarest_first([row[SETTINGS] for row in rows])):
        row[SETTINGS] = f"{tags_text(run)} {settings}".strip() if run.tags else settings
    return rows


def filter_runs(runs: list[runfolder.RunInfo], text: str, cache: RowCache | None = None) -> list[runfolder.RunInfo]:
    """The runs whose row, tags (#best or best) or note hold every word of `text`, ignoring case."""
    words = text.lower().split()
    if not words:
        return list(runs)
    cache = cache or RowCache()

    def haystack(run: runfolder.RunInfo) -> str:
        return " ".join((*cache.texts(run), tags_text(run), run.note)).lower()
    return [r for r in runs if all(w in haystack(r) for w in words)]


def visible_runs(runs: list[runfolder.RunInfo], archived: bool = False) -> list[runfolder.RunInfo]:
    """The runs the default listing shows: all but the archived ones (all of them with `archived`)."""
    return list(runs) if archived else [r for r in runs if not r.archived]


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
    for row in cells:  # Text, never markup: names and settings are whatever the run folders hold
        texts = [Text(cell, style=state_style(cell) if i == STATUS else "") for i, cell in enumerate(row)]
        table.add_row(*(texts[i] for i in shown))
    return table
