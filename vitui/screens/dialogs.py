"""Provides the runs browser's small dialogs: a line of text to edit (a note, tags) and the delete confirmation."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static


class EditDialog(ModalScreen[str | None]):
    """One line to edit: enter dismisses with the text, esc with None."""

    BINDINGS = [Binding("escape", "cancel", "cancel")]

    def __init__(self, title: str, value: str, hint: str):
        super().__init__()
        self.title_text, self.value, self.hint = title, value, hint

    def compose(self) -> ComposeResult:
        with Vertical(id="edit-box", classes="dialog-box"):
            yield Static(Text(self.title_text), classes="dialog-title")
            yield Input(self.value, id="edit-input", select_on_focus=False)
            yield Static(Text(self.hint), classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)


class ConfirmDeleteDialog(ModalScreen[bool]):
    """What a delete will move to the trash, line by line; y deletes, n or esc keeps."""

    BINDINGS = [
        Binding("y", "answer(True)", "delete"),
        Binding("n,escape", "answer(False)", "keep"),
    ]

    def __init__(self, lines: list[str], trash: str):
        super().__init__()
        self.lines, self.trash = lines, trash

    def compose(self) -> ComposeResult:
        count = len(self.lines)
        with Vertical(id="delete-box", classes="dialog-box"):
            yield Static(f"Delete {count} run{'s' if count > 1 else ''}?", classes="dialog-title")
            shown = self.lines[:8] + ([f"... and {count - 8} more"] if count > 8 else [])
            yield Static(Text("\n".join(shown)), id="delete-list")
            yield Static(Text(f"They move to {self.trash}: u here, or `vitui runs restore`, brings them back; "
                              f"`vitui runs purge` deletes them for good."), classes="dialog-hint")
            yield Static(Text("y delete   n keep"), classes="dialog-keys")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)
