"""Provides RunsBrowserScreen: every run in the runs folder; filter, sort, open one, or mark several to compare."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, cast

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Static

from vitui.core import runfolder
from vitui.core.resume import last_checkpoint
from vitui.widgets.keys import KeysInOrder
from vitui.widgets.runtable import RunTable
from vitui.messages import OpenRun, ResumeRun, ShowLauncher

if TYPE_CHECKING:
    from vitui.app import VituiApp

REFRESH_S = 2.0  # runs started or finished elsewhere show up within this
RUN_ACTIONS = ("open", "mark", "compare", "filter", "sort", "reverse_sort", "copy_path", "resume")  # need a run
RESUMABLE = ("stopped", "failed")  # states `r` continues from the last checkpoint (a crash reads as failed)


def fit_path(path: str, width: int) -> str:
    """The end of a path, which names the folder, cut to `width` from the left: …/deep/runs."""
    return path if len(path) <= width else "…" + path[len(path) - width + 1:]


class FilterInput(KeysInOrder, Input):
    """The `/` filter: the table follows as you type; enter keeps the filter, esc clears it."""

    TEXT_ENTRY = True

    BINDINGS = [Binding("escape", "screen.clear_filter", "clear filter")]


class RunsBrowserScreen(Screen):
    """The runs table, refreshed every few seconds (a headless run elsewhere shows as running)."""

    AUTO_FOCUS = ""  # none: refresh_runs focuses the table once there is a run
    BINDINGS = [
        Binding("enter", "open", "open"),
        Binding("space", "mark", "mark"),
        Binding("c", "compare", "compare"),
        Binding("slash", "filter", "filter"),
        Binding("s", "sort", "sort"),
        Binding("S", "reverse_sort", "reverse order", show=False),
        Binding("y", "copy_path", "copy path"),
        # Out of the footer, which is full at 80 columns: the hint under the table offers it on a run it can resume.
        Binding("r", "resume", "resume the run", show=False),
        Binding("n", "new_run", "new run", show=False),
        Binding("escape", "back", "back (or clear the filter)", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.marked: list[str] = []  # in marking order: the order of colours in a comparison
        self.runs: list[runfolder.RunInfo] = []
        self.copied = ""  # the path last copied, shown under the table until the cursor moves
        self.copied_run = ""  # the row it was copied from

    @property
    def runs_dir(self) -> Path:
        return cast("VituiApp", self.app).runs_dir

    def compose(self) -> ComposeResult:
        yield Static("", id="browser-title")
        yield RunTable(id="run-table")
        yield Static("", id="browser-empty")
        # Not selected on focus: `/` again goes on editing the filter rather than replacing it.
        yield FilterInput(placeholder="filter: words from any column (enter keeps it, esc clears it)",
                          id="browser-filter", compact=True, select_on_focus=False)
        yield Static("", id="browser-hint")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(FilterInput).display = False
        self.refresh_runs()  # focuses the table if there are runs
        self.set_interval(REFRESH_S, self.refresh_runs)

    def on_screen_resume(self) -> None:
        self.refresh_runs()

    def on_resize(self) -> None:
        self.show_lines()

    def refresh_runs(self) -> None:
        runs_dir = self.runs_dir
        had_runs = bool(self.runs)
        self.runs = runfolder.list_runs(runs_dir)
        if bool(self.runs) != had_runs:  # the first run came, or the last went
            self.refresh_bindings()  # the keys that need a run come and go with it, and so does the table
            if self.runs:
                self.query_one(RunTable).focus()
            else:
                self.set_focus(None)
        known = {str(r.path) for r in self.runs}
        self.marked = [m for m in self.marked if m in known]
        self.query_one(RunTable).show(self.runs, set(self.marked))
        self.show_lines()

    def show_lines(self) -> None:
        """The title, the hint under the table, and the empty state in place of an empty table."""
        runs_dir = str(self.runs_dir)
        table = self.query_one(RunTable)
        count = f"{len(table.shown)} of {len(self.runs)}" if table.filter_text else str(len(self.runs))
        room = max(10, self.size.width - len(f" runs in   ({count}) "))
        self.query_one("#browser-title", Static).update(f"runs in {fit_path(runs_dir, room)}  ({count})")
        table.display = bool(self.runs)
        empty = self.query_one("#browser-empty", Static)
        empty.display = not self.runs
        empty.update(f"No runs in {runs_dir} yet.\n\nPress n to set up a run here, or train one from a shell:\n"
                     f"  vitui run EXPERIMENT --runs-dir {runs_dir}\n"
                     f"It shows up here within {REFRESH_S:.0f} seconds of starting.")
        if self.copied and table.current_run() != self.copied_run:
            # Asked here, not of each highlight: a redraw passes the cursor over other rows on its way back.
            self.copied = ""
        if not self.runs:
            hint = ""
        elif self.copied:
            hint = f"copied {self.copied}"
        elif table.filter_text and not table.shown:
            hint = f"no run matches {table.filter_text!r}: / changes the filter, esc clears it"
        elif table.filter_text:
            hint = f"filter {table.filter_text!r}: / changes it, esc clears it; enter opens the run"
        elif not self.marked and self.resumable(table.current_run()):
            hint = "r resumes this run from its last checkpoint; enter opens it; space marks runs"
        elif len(self.marked) < 2:
            hint = f"space marks runs to compare ({len(self.marked)} marked); enter opens the run under the cursor"
        else:
            hint = f"{len(self.marked)} runs marked: press c to compare them"
        self.query_one("#browser-hint", Static).update(hint)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.show_lines()  # the hint follows the run under the cursor; a copied path goes once it moves

    def resumable(self, path: str | None) -> bool:
        """A stopped, failed or crashed run with a last checkpoint: `r` can continue it."""
        run = next((r for r in self.runs if str(r.path) == path), None)
        return run is not None and run.state in RESUMABLE and last_checkpoint(run.path).is_file()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Keys that would do nothing leave the footer (and the help): with no runs, all but n, esc and q."""
        if not self.runs and action in RUN_ACTIONS:
            return False
        # Typing in the filter, "/" is a character, not this key: Textual hides keys a text field takes,
        # but does not know that "slash" is one, so the footer would offer it.
        if action == "filter" and isinstance(self.focused, FilterInput):
            return False
        return True

    # ---- filter
    def action_filter(self) -> None:
        field = self.query_one(FilterInput)
        field.display = True
        self.query_one("#browser-hint").display = False
        self.set_focus(field)  # now, not after a message: the filter's text may be typed in the same burst

    def on_input_changed(self, event: Input.Changed) -> None:
        self.query_one(RunTable).set_filter(event.value)
        self.show_lines()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self._close_filter()

    def action_clear_filter(self) -> None:
        self.query_one(FilterInput).value = ""  # posts Changed: the table shows every run again
        self.query_one(RunTable).set_filter("")
        self._close_filter()

    def _close_filter(self) -> None:
        self.query_one(FilterInput).display = False
        self.query_one("#browser-hint").display = True
        self.set_focus(self.query_one(RunTable))
        self.show_lines()

    # ---- keys
    def action_sort(self) -> None:
        self.query_one(RunTable).sort_next()

    def action_reverse_sort(self) -> None:
        self.query_one(RunTable).reverse_sort()

    def action_copy_path(self) -> None:
        """The run folder's path to the clipboard (OSC 52: works over SSH, and in tmux with set-clipboard on),
        and on screen, to copy by hand where the terminal does not take it: in a notification, and in full under
        the table until the cursor moves."""
        current = self.query_one(RunTable).current_run()
        if current is None:
            return
        self.copied, self.copied_run = str(Path(current).resolve()), current
        self.app.copy_to_clipboard(self.copied)
        self.notify(self.copied, title="copied the run folder's path")
        self.show_lines()

    def action_open(self) -> None:
        current = self.query_one(RunTable).current_run()
        if current is not None:
            self.post_message(OpenRun(Path(current)))

    def action_resume(self) -> None:
        current = self.query_one(RunTable).current_run()
        if current is not None:
            self.post_message(ResumeRun(Path(current)))

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
        self.post_message(ShowLauncher())

    def action_back(self) -> None:
        if self.query_one(RunTable).filter_text:
            self.action_clear_filter()
        elif len(self.app.screen_stack) > 2:
            self.app.pop_screen()
        else:
            self.post_message(ShowLauncher())
