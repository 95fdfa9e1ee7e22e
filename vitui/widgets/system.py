"""Provides SystemPanel, the run screen's system tab: the newest sample of the machine in a line, and charts over the
run's time of CPU, memory (the machine's and the worker's own) and, where the worker saw GPUs, each GPU's utilisation,
memory, power and temperature."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Grid, VerticalScroll
from textual.widgets import Static

from vitui.runstate import RunState
from vitui.systemcharts import SystemSource, system_charts, system_line
from vitui.widgets.charts import MetricChart


class SystemPanel(VerticalScroll):
    """The system tab. Its charts are fixed when it is made (a run's first sample says whether there are GPUs); the
    run screen refreshes them with its other charts, and `show` the line above them."""

    DEFAULT_CSS = """
    SystemPanel { height: 1fr; }
    SystemPanel > #system-now { height: 1; padding: 0 1; color: $text-muted; }
    SystemPanel > #system-grid { grid-size: 2; grid-gutter: 0 1; height: 1fr; }
    SystemPanel > #system-grid.gpus { height: auto; grid-rows: 10; }
    SystemPanel MetricChart { height: 1fr; }
    """

    def __init__(self, run: RunState, *, markers: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.run = run
        self.markers = markers

    def compose(self) -> ComposeResult:
        yield Static("", id="system-now")
        specs = system_charts(self.run)
        with Grid(id="system-grid", classes="gpus" if len(specs) > 2 else ""):
            for spec in specs:
                yield MetricChart(spec.title, SystemSource(self.run, spec), axes=("time",), id=f"system-{spec.id}",
                                  markers=self.markers)

    def on_mount(self) -> None:
        self.show()

    def show(self) -> None:
        with self.run.lock:
            sample = self.run.system
        if sample is not None and self.is_mounted:
            self.query_one("#system-now", Static).update(Text(system_line(sample), no_wrap=True, overflow="ellipsis"))
