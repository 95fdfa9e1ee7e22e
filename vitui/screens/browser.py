"""Provides RunsBrowserScreen: every run in the runs folder; filter, sort, open one, mark several to compare; notes
and tags; delete to the trash and restore.

The runs folder is listed in a thread (vitui.core.runcache reads again only the folders that changed), so the
table answers keys at once with thousands of runs; the listing lands as one RunsListed message.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from rich.text import Text

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Static

from vitui.core import cleanup, notes, runfolder
from vitui.core.resume import last_checkpoint
from vitui.core.runcache import RunCache
from vitui.render.formats import plain
from vitui.render.runs import tags_text, visible_runs
from vitui.widgets.keys import KeysInOrder
from vitui.widgets.runtable import RunTable
from vitui.messages import OpenRun, ResumeRun, ShowLauncher

if TYPE_CHECKING:
    from vitui.app import VituiApp

REFRESH_S = 2.0  # runs started or finished elsewhere show up within this
LISTING_SHARE = 0.1  # the listing thread's share of the time at most: a slow listing (thousands of runs on a busy
# machine or a network disk) is repeated less often, so it does not hold the interface's thread back
RUN_ACTIONS = ("open", "mark", "compare", "filter", "sort", "reverse_sort", "copy_path", "edit_note", "edit_tags",
               "delete", "resume")  # the keys that need a run
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
        Binding("e", "edit_note", "edit note", show=False),
        Binding("t", "edit_tags", "edit tags", show=False),
        Binding("d", "delete", "delete"),
        Binding("u", "undo_delete", "undo delete", show=False),
        Binding("A", "toggle_archived", "show archived", show=False),
        # Out of the footer, which is full at 80 columns: the hint under the table offers it on a run it can resume.
        Binding("r", "resume", "resume the run", show=False),
        Binding("n", "new_run", "new run", show=False),
        Binding("escape", "back", "back (or clear the filter)", show=False),
    ]

    class RunsListed(Message):
        """A listing of the runs folder, made in a thread."""

        def __init__(self, runs: list[runfolder.RunInfo], seconds: float):
            super().__init__()
            self.runs = runs
            self.seconds = seconds  # how long the listing took

    def __init__(self) -> None:
        super().__init__()
        self.marked: list[str] = []  # in marking order: the order of colours in a comparison
        self.runs: list[runfolder.RunInfo] = []  # those shown: the archived ones only with show_archived
        self.listed = False  # the first listing has come
        self.all_runs: list[runfolder.RunInfo] = []
        self.show_archived = False
        self.cache = RunCache()
        self.copied = ""  # the path last copied, shown under the table until the cursor moves
        self.copied_run = ""  # the row it was copied from
        self.deleted: list[cleanup.TrashedRun] = []  # what the last delete here moved to the trash (u restores)

    @property
    def runs_dir(self) -> Path:
        return cast("VituiApp", self.app).runs_dir

    def compose(self) -> ComposeResult:
        yield Static("", id="browser-title", markup=False)  # folder names and filters are text, never markup
        yield RunTable(id="run-table")
        yield Static("", id="browser-empty", markup=False)
        # Not selected on focus: `/` again goes on editing the filter rather than replacing it.
        yield FilterInput(placeholder="filter: words from any column (enter keeps it, esc clears it)",
                          id="browser-filter", compact=True, select_on_focus=False)
        yield Static("", id="browser-hint", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(FilterInput).display = False
        self.refresh_runs()  # focuses the table if there are runs
        self._refresh_timer = self.set_timer(REFRESH_S, self.refresh_runs)

    def on_screen_resume(self) -> None:
        self.refresh_runs()

    def on_resize(self) -> None:
        self.show_lines()

    def refresh_runs(self) -> None:
        """List the runs folder again, in a thread; the table follows when the listing lands."""
        self.list_runs()

    @work(thread=True, exclusive=True, group="list-runs", exit_on_error=False, description="list the runs folder")
    def list_runs(self) -> None:
        started = time.monotonic()
        runs = self.cache.list(self.runs_dir)
        table = self.query_one(RunTable)
        for run in runs:  # each row's texts now, here, rather than on the UI thread
            table.texts.texts(run)
        table.texts.forget_missing(runs)
        self.post_message(self.RunsListed(runs, time.monotonic() - started))

    def on_runs_browser_screen_runs_listed(self, message: "RunsBrowserScreen.RunsListed") -> None:
        unchanged = (self.listed and len(message.runs) == len(self.all_runs)
                     and all(new is old for new, old in zip(message.runs, self.all_runs))
                     and not any(r.state in ("created", "running") for r in self.runs))
        self.all_runs, self.listed = message.runs, True
        self._refresh_timer.stop()
        self._refresh_timer = self.set_timer(max(REFRESH_S, message.seconds / LISTING_SHARE), self.refresh_runs)
        if not unchanged:  # nothing to redraw when no folder changed and no run's time is ticking
            self.show_runs()

    def show_runs(self) -> None:
        had_runs = bool(self.runs)
        self.runs = visible_runs(self.all_runs, archived=self.show_archived)
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
        runs_dir = plain(self.runs_dir)
        table = self.query_one(RunTable)
        count = f"{table.matching:,} of {len(self.runs):,}" if table.filter_text else f"{len(self.runs):,}"
        archived = len(self.all_runs) - len(visible_runs(self.all_runs))
        if archived:
            count += f", {archived} archived" + (" shown" if self.show_archived else " hidden: A shows them")
        room = max(10, self.size.width - len(f" runs in   ({count}) "))
        _update(self.query_one("#browser-title", Static), f"runs in {fit_path(runs_dir, room)}  ({count})")
        table.display = bool(self.runs)
        empty = self.query_one("#browser-empty", Static)
        empty.display = not self.runs
        if not self.listed:
            _update(empty, f"Reading {runs_dir} ...")
        else:
            _update(empty, f"No runs in {runs_dir} yet.\n\nPress n to set up a run here, or train one from a shell:\n"
                           f"  vitui run EXPERIMENT --runs-dir {runs_dir}\n"
                           f"It shows up here within {REFRESH_S:.0f} seconds of starting.")
        if self.copied and table.current_run() != self.copied_run:
            # Asked here, not of each highlight: a redraw passes the cursor over other rows on its way back.
            self.copied = ""
        current = self._current_info()
        resumable = not self.marked and self.resumable(table.current_run())
        about = "" if current is None else "  ".join(filter(None, (
            tags_text(current), current.note and f"note: {plain(current.note, lines=True)}")))
        if not self.runs:
            hint = ""
        elif self.copied:
            hint = f"copied {self.copied}"
        elif table.filter_text and not table.shown:
            hint = f"no run matches {table.filter_text!r}: / changes the filter, esc clears it"
        elif table.filter_text:
            hint = f"filter {table.filter_text!r}: / changes it, esc clears it; enter opens the run"
        elif table.matching > len(table.shown) and table.current_run() == str(table.shown[-1].path):
            hint = (f"the first {len(table.shown)} of {table.matching:,} runs in this order: / finds the others, "
                    f"S reverses the order")
        elif resumable and about:
            hint = f"r resumes this run; {about}"
        elif resumable:
            hint = "r resumes this run from its last checkpoint; enter opens it; space marks runs"
        elif about:
            hint = about
        elif len(self.marked) < 2:
            hint = f"space marks runs to compare ({len(self.marked)} marked); enter opens the run under the cursor"
        else:
            hint = f"{len(self.marked)} runs marked: press c to compare them"
        _update(self.query_one("#browser-hint", Static), hint)

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
        self.notify(plain(self.copied), title="copied the run folder's path", markup=False)
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
        self.show_runs()
        table.action_cursor_down()

    def action_compare(self) -> None:
        if len(self.marked) < 2:
            self.notify("mark two or more runs with space first")
            return
        from vitui.screens.compare import CompareScreen

        self.app.push_screen(CompareScreen([Path(m) for m in self.marked]))

    # ---- notes, tags, delete
    def say(self, text: str, **options: Any) -> None:
        """A notification of untrusted text (run names, notes, tags, errors naming them): plain, never markup, so a
        "[/]" in a tag typed or a folder renamed is shown, not parsed (which raised and ended the app)."""
        self.notify(plain(text), markup=False, **options)

    def _current_info(self) -> runfolder.RunInfo | None:
        current = self.query_one(RunTable).current_run()
        return next((r for r in self.runs if str(r.path) == current), None)

    def action_edit_note(self) -> None:
        from vitui.screens.dialogs import EditDialog

        run = self._current_info()
        if run is None:
            return
        # Names and notes are untrusted (a folder renamed, notes.json edited by hand): plain text in the dialogs.
        dialog = EditDialog(plain(f"Note on {run.name}"), plain(run.note),
                            "enter saves, esc cancels; an empty note clears it")
        self.app.push_screen(dialog, lambda text: self._save(run, "note", text))

    def action_edit_tags(self) -> None:
        from vitui.screens.dialogs import EditDialog

        run = self._current_info()
        if run is None:
            return
        dialog = EditDialog(plain(f"Tags of {run.name}"), tags_text(run).replace("#", ""),
                            "words separated by spaces (best baseline lr-sweep); enter saves, esc cancels")
        self.app.push_screen(dialog, lambda text: self._save(run, "tags", text))

    def _save(self, run: runfolder.RunInfo, what: str, text: str | None) -> None:
        if text is None:
            return
        try:
            if what == "note":
                notes.set_note(run.path, text)
            else:
                # "#best" as the hint shows tags, "+best" as `vitui runs tag` takes them: both mean the tag best
                notes.set_tags(run.path, [t.lstrip("#+") for t in text.split()])
        except (ValueError, OSError) as exc:
            self.say(f"{what} not saved: {exc}", severity="error", timeout=8)
            return
        self.refresh_runs()

    def _to_delete(self) -> list[runfolder.RunInfo]:
        """The marked runs, else the one under the cursor."""
        if self.marked:
            return [r for r in self.runs if str(r.path) in self.marked]
        run = self._current_info()
        return [] if run is None else [run]

    def action_delete(self) -> None:
        from vitui.screens.dialogs import ConfirmDeleteDialog
        from vitui.render.runs import status_text

        runs = self._to_delete()
        busy = [problem for problem in map(cleanup.live_problem, runs) if problem]
        if busy:
            self.say(busy[0], severity="warning", timeout=8)
            return
        if not runs:
            return
        lines = [plain(f"{r.name}  {status_text(r)}  {_size(r.path)}") for r in runs]
        trash = fit_path(plain(cleanup.trash_dir(self.runs_dir)), 56)
        self.app.push_screen(ConfirmDeleteDialog(lines, trash), lambda yes: self._delete(runs) if yes else None)

    def _delete(self, runs: list[runfolder.RunInfo]) -> None:
        self.deleted = []
        for run in runs:
            try:
                moved = cleanup.delete_run(run.path)
            except (cleanup.RunBusy, OSError) as exc:
                self.say(f"{run.name} not deleted: {exc}", severity="error", timeout=8)
                continue
            self.deleted.append(cleanup.TrashedRun(moved, 0.0, run.path))
        if self.deleted:
            self.marked = []
            names = ", ".join(t.origin.name for t in self.deleted)
            self.say(f"deleted {names}: u brings {'them' if len(self.deleted) > 1 else 'it'} back")
        self.refresh_runs()

    def action_undo_delete(self) -> None:
        if not self.deleted:
            self.notify("nothing deleted here to bring back; `vitui runs restore` lists the trash")
            return
        restored = []
        for trashed in self.deleted:
            try:
                restored.append(cleanup.restore_run(self.runs_dir, trashed).name)
            except OSError as exc:
                self.say(str(exc), severity="error", timeout=8)
        self.deleted = []
        if restored:
            self.say(f"restored {', '.join(restored)}")
        self.refresh_runs()

    def action_toggle_archived(self) -> None:
        self.show_archived = not self.show_archived
        self.show_runs()

    def action_new_run(self) -> None:
        self.post_message(ShowLauncher())

    def action_back(self) -> None:
        if self.query_one(RunTable).filter_text:
            self.action_clear_filter()
        elif len(self.app.screen_stack) > 2:
            self.app.pop_screen()
        else:
            self.post_message(ShowLauncher())


def _update(widget: Static, text: str) -> None:
    """Show `text` (as text, never markup: names and notes are anyone's), only if it changed: an update lays the
    screen out again, which a table of hundreds of rows makes slow, and the hint follows every cursor move."""
    if getattr(widget, "_shown_text", None) != text:
        widget._shown_text = text  # type: ignore[attr-defined]
        widget.update(Text(plain(text, lines=True)))


def _size(path: Path) -> str:
    """A folder's size on disk, for the delete confirmation: "12.3 MB"."""
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    for unit in ("B", "kB", "MB", "GB"):
        if total < 1000 or unit == "GB":
            return f"{total:.0f} {unit}" if unit == "B" else f"{total:.1f} {unit}"
        total /= 1000
    return ""
