"""Provides MisclassifiedView, a Textual widget showing the validation images an image model got wrong."""

from __future__ import annotations

from rich.console import RenderableType
from rich.text import Text
from textual.widget import Widget

from vitui.attention_view import MisclassifiedGrid
from vitui.events import Misclassified


class MisclassifiedView(Widget):
    """A grid of wrongly classified images with true and predicted labels (any image model)."""

    DEFAULT_CSS = "MisclassifiedView { height: auto; padding: 0 1; }"

    def __init__(self, event: Misclassified | None = None, **kwargs):
        super().__init__(**kwargs)
        self.event = event

    def add_event(self, event: Misclassified) -> None:
        """Show this run's newest mistakes (a run logs them once, at the end)."""
        self.event = event
        self.refresh(layout=True)

    def render(self) -> RenderableType:
        if self.event is None:
            return Text("no misclassified images yet: image runs log them when they finish", style="dim")
        return MisclassifiedGrid(self.event)
