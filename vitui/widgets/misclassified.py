"""Provides MisclassifiedView, a Textual widget showing the validation images an image model got wrong.

The pictures are usually taller than the terminal: the view scrolls with the arrows, page keys and the mouse
wheel. Each picture is its own small widget, so only those in sight are drawn (a dozen pictures drawn as one
block took the better part of a second at each layout pass).
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import ItemGrid, VerticalScroll
from textual.widgets import Static

from vitui.render.pictures import mistake_cell, mistake_size, mistakes_title
from vitui.core.events import Misclassified


class MisclassifiedView(VerticalScroll, can_focus=True):
    """A grid of wrongly classified images, each captioned "true → predicted" (any image model)."""

    DEFAULT_CSS = """
    MisclassifiedView { height: 1fr; padding: 0 1; }
    MisclassifiedView > #mistakes-title { height: auto; }
    MisclassifiedView > #mistakes-grid { grid-gutter: 0 1; }
    """

    def __init__(self, event: Misclassified | None = None, **kwargs):
        super().__init__(**kwargs)
        self.event = event

    def compose(self) -> ComposeResult:
        yield Static(Text("no misclassified images yet: image runs log them when they finish", style="dim"),
                     id="mistakes-title")
        yield ItemGrid(id="mistakes-grid", stretch_height=False)

    def on_mount(self) -> None:
        if self.event is not None:
            self._draw()  # an event fed before the tab was mounted (is_mounted is still False here)

    def add_event(self, event: Misclassified) -> None:
        """Show this run's newest mistakes (a run logs them once, at the end)."""
        self.event = event
        if self.is_mounted:
            self._draw()

    def _draw(self) -> None:
        event = self.event
        assert event is not None
        self.query_one("#mistakes-title", Static).update(mistakes_title(event))
        grid = self.query_one("#mistakes-grid", ItemGrid)
        grid.remove_children()
        if not event.images:
            return
        lines, columns = mistake_size(event)
        grid.min_column_width = columns
        cells = [Static(mistake_cell(event, i)) for i in range(len(event.images))]
        for cell in cells:
            cell.styles.width, cell.styles.height = columns, lines  # known in advance: no drawing just to measure
        grid.mount_all(cells)
