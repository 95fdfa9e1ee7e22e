"""Provides RunTable: the runs folder as a table, newest first, with marks for comparing."""

from __future__ import annotations

from functools import lru_cache

from rich.text import Text
from textual.widgets import DataTable

from vitui.config import ConfigError, load_experiment_file
from vitui.runstore import RunInfo
from vitui.runviews import STATE_STYLES, best_figure, format_duration, format_start

COLUMNS = ("experiment", "dataset", "status", "started", "time", "best")


def short_dataset(name: str, width: int = 16) -> str:
    """imagefolder:/long/path/cifar10-jpeg-train.tar.gz -> folder:cifar10-jpeg-tr…"""
    if name.startswith("imagefolder:"):
        stem = name.rstrip("/").rsplit("/", 1)[-1]
        name = f"folder:{stem}"
    return name if len(name) <= width else name[: width - 1] + "…"


def experiment_cell(run: RunInfo, marked: bool) -> Text:
    """The experiment, its model added when the run switched model, behind a mark for comparing."""
    text = Text("● " if marked else "  ", style="bold magenta")
    experiment, model = str(run.config.get("experiment", "")), str(run.config.get("model", ""))
    text.append(experiment or model)
    if experiment and model and model != _file_model(experiment):
        text.append(f" ({model})", style="dim")
    return text


@lru_cache(maxsize=64)
def _file_model(experiment: str) -> str:
    try:
        return str(load_experiment_file(experiment).get("model", ""))
    except ConfigError:
        return ""


def run_cells(run: RunInfo, marked: bool) -> tuple:
    state = "crashed" if run.crashed else run.state
    return (experiment_cell(run, marked), short_dataset(str(run.config.get("dataset", ""))),
            Text(state, style=STATE_STYLES.get(run.state, "")), format_start(run.started)[5:],
            format_duration(run.duration), best_figure(run))


class RunTable(DataTable):
    """One row per run folder, keyed by its path; redrawn only when a row's text changed."""

    def __init__(self, *, id: str | None = None):
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self._rows: dict[str, tuple] = {}

    def on_mount(self) -> None:
        for name in COLUMNS:
            self.add_column(name, key=name)

    def show(self, runs: list[RunInfo], marked: set[str]) -> None:
        rows = {str(r.path): run_cells(r, str(r.path) in marked) for r in reversed(runs)}
        plain = {k: tuple(str(c) for c in v) for k, v in rows.items()}
        if plain == self._rows:
            return
        keep = self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value if self.row_count else None
        self.clear()
        for key, cells in rows.items():
            self.add_row(*cells, key=key)
        self._rows = plain
        if keep in rows:
            self.move_cursor(row=self.get_row_index(keep))

    def current_run(self) -> str | None:
        if not self.row_count:
            return None
        return self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
