"""Provides MisclassifiedView, a Textual widget showing the validation images an image model got wrong.

The grid is usually taller than the terminal: the view scrolls with the arrows, page keys and the mouse wheel.
"""

from __future__ import annotations

from rich.console import RenderableType
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from vitui.attention_view import MisclassifiedGrid
from vitui.events import Misclassified


class MisclassifiedView(VerticalScroll, can_focus=True):
    """A grid of wrongly classified images, each captioned "true → predicted" (any image model)."""

    DEFAULT_CSS = """
    MisclassifiedView { height: 1fr; padding: 0 1; }
    MisclassifiedView > #mistakes-body { width: 100%; height: auto; }
    """

    def __init__(self, event: Misclassified | None = None, **kwargs):
        super().__init__(**kwargs)
        self.event = event

    def compose(self) -> ComposeResult:
        yield Static(id="mistakes-body")

    def on_mount(self) -> None:
        self._draw()  # an event fed before the tab was mounted (is_mounted is still False here)

    def add_event(self, event: Misclassified) -> None:
        """Show this run's newest mistakes (a run logs them once, at the end)."""
        self.event = event
        if self.is_mounted:
            self._draw()

    def _draw(self) -> None:
        self.query_one("#mistakes-body", Static).update(self.content())

    def content(self) -> RenderableType:
        if self.event is None:
            return Text("no misclassified images yet: image runs log them when they finish", style="dim")
        return MisclassifiedGrid(self.event)
