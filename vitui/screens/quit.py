"""Provides QuitDialog: asked on quit while runs started here are training; leave them running, stop them, or stay."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from vitui.messages import RunUpdated
from vitui.render.formats import plain
from vitui.runstate import RunState


class QuitDialog(ModalScreen[str]):
    """Dismisses with "detach" (leave running headless), "stop" (graceful stop, then quit) or "cancel"; with "ended"
    when every run it asks about has ended meanwhile, so the question is moot and quitting goes ahead."""

    BINDINGS = [
        Binding("l", "choose('detach')", "leave running"),
        Binding("s", "choose('stop')", "stop & quit"),
        Binding("escape,c", "choose('cancel')", "cancel"),
    ]

    def __init__(self, runs: list[RunState]):
        super().__init__()
        self.runs = runs

    def compose(self) -> ComposeResult:
        names = ", ".join(plain(m.name) for m in self.runs)  # run names: untrusted text
        many = len(self.runs) > 1
        text = (f"{len(self.runs)} runs are" if many else "A run is") + f" still training: {names}\n\n" \
               "Leave it running headless? It goes on writing its run folder; follow it later with " \
               f"`vitui watch {plain(self.runs[0].name)}` or from the runs browser."
        with Vertical(id="quit-box"):
            yield Static("Quit vitui?", id="quit-title")
            yield Static(text, id="quit-text", markup=False)
            with Horizontal(id="quit-buttons"):
                # Text, not str: a str label is markup, where "[l]" would vanish as a tag.
                yield Button(Text("Leave running [l]"), id="detach", variant="primary")
                yield Button(Text("Stop & quit [s]"), id="stop", variant="warning")
                yield Button(Text("Cancel [esc]"), id="cancel")

    def on_mount(self) -> None:
        self.query_one("#detach", Button).focus()

    def on_run_updated(self, message: RunUpdated) -> None:
        if not any(run.running for run in self.runs):
            self.dismiss("ended")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id or "cancel")

    def action_choose(self, choice: str) -> None:
        self.dismiss(choice)
