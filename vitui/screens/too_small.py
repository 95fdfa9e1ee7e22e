"""Provides TooSmallScreen: one line saying the terminal is too small, shown instead of garbled charts."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Static


class TooSmallScreen(Screen):
    """Covers the app while the terminal is below the size its screens need; the app pops it once big enough."""

    DEFAULT_CSS = """
    TooSmallScreen { align: center middle; }
    TooSmallScreen Static { width: auto; height: 1; }
    """

    def __init__(self, needed: tuple[int, int]):
        super().__init__()
        self.needed = needed

    def compose(self) -> ComposeResult:
        width, height = self.needed
        yield Static(f"terminal too small: {width}x{height} needed", id="too-small", markup=False)

    def on_screen_resume(self) -> None:
        # A screen pushed on top (the quit dialog) may have closed after the terminal grew back.
        width, height = self.needed
        if self.app.size.width >= width and self.app.size.height >= height:
            self.dismiss()
