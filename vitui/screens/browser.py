"""Provides RunsBrowserScreen: every run in the runs folder; open one, or mark several and compare them."""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from vitui import runstore
from vitui.widgets.runtable import RunTable

REFRESH_S = 2.0  # runs started or finished elsewhere show up within this


class RunsBrowserScreen(Screen):
    """The runs table, refreshed every few seconds (a headless run elsewhere shows as running)."""

    BINDINGS = [
        Binding("enter", "open", "open", show=True),
        Binding("space", "mark", "mark"),
        Binding("c", "compare", "compare"),
        Binding("n", "new_run", "new run"),
        Binding("escape", "back", "back"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.marked: list[str] = []  # in marking order: the order of colours in a comparison
        self.runs: list[runstore.RunInfo] = []

    def compose(self) -> ComposeResult:
        yield Static("", id="browser-title")
        yield RunTable(id="run-table")
        yield Static("", id="browser-hint")
        yield Footer()

    def on_mount(self) -> None:
        self.refresh_runs()
        self.set_interval(REFRESH_S, self.refresh_runs)
        self.query_one(RunTable).focus()

    def on_screen_resume(self) -> None:
        self.refresh_runs()

    def run_changed(self, run_dir: Path) -> None:
        """A followed run changed: its status may have too (cheap: only state and figures are redrawn)."""

    def refresh_runs(self) -> None:
        runs_dir: Path = self.app.runs_dir  # type: ignore[attr-defined]
        self.runs = runstore.list_runs(runs_dir)
        known = {str(r.path) for r in self.runs}
        self.marked = [m for m in self.marked if m in known]
        self.query_one(RunTable).show(self.runs, set(self.marked))
        self.query_one("#browser-title", Static).update(f"runs in {runs_dir}  ({len(self.runs)})")
        if not self.runs:
            hint = f"no runs in {runs_dir} yet: press n to start one, or run `vitui run EXPERIMENT`"
        elif len(self.marked) < 2:
            hint = f"space marks runs to compare ({len(self.marked)} marked); enter opens the run under the cursor"
        else:
            hint = f"{len(self.marked)} runs marked: press c to compare them"
        self.query_one("#browser-hint", Static).update(hint)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open()

    def action_open(self) -> None:
        current = self.query_one(RunTable).current_run()
        if current is not None:
            self.app.open_run(Path(current))  # type: ignore[attr-defined]

    def action_mark(self) -> None:
        table = self.query_one(RunTable)
        current = table.current_run()
        if current is None:
            return
        if current in self.marked:
            self.marked.remove(current)
        else:
            self.marked.append(current)
        self.refresh_runs()
        table.action_cursor_down()

    def action_compare(self) -> None:
        if len(self.marked) < 2:
            self.notify("mark two or more runs with space first")
            return
        from vitui.screens.compare import CompareScreen

        self.app.push_screen(CompareScreen([Path(m) for m in self.marked]))

    def action_new_run(self) -> None:
        self.app.show_launcher()  # type: ignore[attr-defined]

    def action_back(self) -> None:
        if len(self.app.screen_stack) > 2:
            self.app.pop_screen()
        else:
            self.app.show_launcher()  # type: ignore[attr-defined]
