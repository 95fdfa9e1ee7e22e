"""Provides CompareScreen: several runs' curves overlaid in fixed colours, the settings that differ, final figures."""

from __future__ import annotations

from pathlib import Path

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from vitui import comparison
from vitui.core import runfolder
from vitui.render.formats import plain, safe_text
from vitui.runstate import RunState, load_run_state
from vitui.widgets.charts import RUN_STYLES, OverlayChart


class CompareScreen(Screen):
    """Two overlay charts (k changes the metric of the focused one) over the differences and figures tables."""

    BINDINGS = [Binding("escape", "back", "back")]
    AUTO_FOCUS = "#compare-left"

    def __init__(self, run_dirs: list[Path]):
        super().__init__()
        self.infos = [runfolder.load_run(Path(d)) for d in run_dirs]
        self.runs = [RunState(i.name, i.config) for i in self.infos]
        self.labels = [plain(label) for label in comparison.run_labels(self.infos)]  # run names: untrusted text

    def compose(self) -> ComposeResult:
        yield Static("", id="verdict")
        markers = self.app.no_color
        left = comparison.OverlaySource(self.runs, self.labels, "epoch/val_acc")
        right = comparison.OverlaySource(self.runs, self.labels, "train/loss")
        with Horizontal(id="compare-charts"):
            yield OverlayChart("val accuracy", left, id="compare-left", markers=markers, axes=("epoch", "step", "time"))
            yield OverlayChart("train loss", right, id="compare-right", markers=markers, smoothing=0.6)
        with VerticalScroll(id="compare-tables"):
            yield Static("", id="compare-body")
        yield Footer()

    def on_mount(self) -> None:
        # An app worker, so the app's one handler reports a failure.
        self.app.run_worker(self.load_logs, thread=True, exit_on_error=False, description="read the runs' logs")

    def load_logs(self) -> None:
        for info, run in zip(self.infos, self.runs):
            load_run_state(info.path, run)
        self.app.call_from_thread(self.show)

    def show(self) -> None:
        if not self.is_attached:
            return
        left = self.query_one("#compare-left", OverlayChart)
        keys = [k for k, _ in left.overlay.available()]
        if keys and left.overlay.key not in keys:
            left.show_metric(keys[0])
        for chart in self.query(OverlayChart):
            chart.refresh()
        self.query_one("#verdict", Static).update(self.verdict_text())
        # Figures first: at 80x24 they are what shows without scrolling.
        self.query_one("#compare-body", Static).update(Group(self.figures_table(), Text(""), self.differences_table()))

    def legend(self) -> list[Text]:
        return [Text(label, style=f"bold {RUN_STYLES[i % len(RUN_STYLES)]}") for i, label in enumerate(self.labels)]

    def verdict_text(self) -> Text:
        line = comparison.verdict(self.labels, self.runs)
        text = Text.assemble("comparing ", *sum(([t, "  "] for t in self.legend()), []))
        if line:
            text.append("\n★ " + plain(line), style="bold")
        return text

    def differences_table(self) -> Table:
        table = Table("setting", title="settings that differ", title_justify="left", show_edge=False)
        for label in self.legend():
            table.add_column(label)
        rows = comparison.config_differences([comparison.with_env(i) for i in self.infos])
        for key, values in rows:  # settings and their values as config.json and env.json hold them: untrusted
            table.add_row(safe_text(key), *(safe_text(value) for value in values))
        if not rows:
            table.add_row("(none: same settings)", *["" for _ in self.labels])
        return table

    def figures_table(self) -> Table:
        table = Table("figure", title="figures (★ best)", title_justify="left", show_edge=False)
        for label in self.legend():
            table.add_column(label, justify="right")
        for row in comparison.final_figures(self.infos, self.runs):
            cells = [Text(plain(v) + (" ★" if i == row.best else ""), style="bold green" if i == row.best else "")
                     for i, v in enumerate(row.values)]
            table.add_row(safe_text(row.name), *cells)
        return table

    def action_back(self) -> None:
        self.app.pop_screen()
