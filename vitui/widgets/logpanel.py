"""Provides LogPanel: the worker's messages, warnings and errors, newest at the bottom, bounded in length."""

from __future__ import annotations

import time

from rich.text import Text
from textual.widgets import RichLog

from vitui.render.formats import plain
from vitui.runstate import LOG_LINES, RunState

LEVEL_STYLES = {"warning": "yellow", "error": "red"}


class LogPanel(RichLog):
    """Appends the run's new log lines; keeps at most as many lines as its state does."""

    def __init__(self, *, id: str | None = None):
        super().__init__(max_lines=LOG_LINES, wrap=True, markup=False, highlight=False, id=id)
        self._seen = 0

    def show(self, run: RunState) -> None:
        with run.lock:
            new = [(seq, log) for seq, log in run.logs if seq > self._seen]
        for seq, log in new:
            stamp = time.strftime("%H:%M:%S", time.localtime(log.t))
            line = Text(f"{stamp} ", style="dim")
            line.append(plain(log.message.rstrip(), lines=True), style=LEVEL_STYLES.get(log.level, ""))
            self.write(line)
            self._seen = seq
