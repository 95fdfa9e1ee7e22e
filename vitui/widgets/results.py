"""Provides ResultsView: a run's final figures, per-class precision / recall / F1 and a shaded confusion matrix."""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from vitui.core.events import Evaluation
from vitui.render.formats import format_point, format_value, plain, safe_text
from vitui.render.tables import evaluation_table
from vitui.runstate import RunState


def figures_table(run: RunState, summary: dict[str, Any]) -> Table | None:
    """Final figures: the test split's from the log, else the summary's, plus the best checkpoint's figure."""
    metrics = dict(run.latest.get("test") or summary.get("metrics") or {})
    if not metrics and run.latest.get("epoch"):
        metrics = dict(run.latest["epoch"])
    if not metrics:
        return None
    table = Table("figure", "value", title="final figures", title_justify="left", show_edge=False)
    for key, value in metrics.items():
        table.add_row(safe_text(key), safe_text(format_value(key, value).removeprefix(f"{key} ")))
    best = summary.get("best") or {}
    if best.get("value") is not None:
        shown = format_value(best["name"], best["value"]).removeprefix(f"{best['name']} ")
        when = format_point(run.config, best.get("step", 0), best.get("epoch", 0))
        table.add_row(safe_text(f"best {best['name']}"), safe_text(f"{shown} ({when})"))
    return table


def confusion_heatmap(ev: Evaluation) -> Table:
    """Rows: true class, columns: predicted. Shade grows with the share of the row: green on the diagonal, red off it."""
    table = Table(title="confusion matrix (rows true, columns predicted)", title_justify="left", show_edge=False,
                  padding=(0, 1), pad_edge=False)
    table.add_column("")
    for name in ev.class_names:
        table.add_column(safe_text(plain(name)[:5]), justify="right")
    for i, (name, row) in enumerate(zip(ev.class_names, ev.confusion)):
        total = sum(row) or 1
        cells = []
        for j, count in enumerate(row):
            share = count / total
            level = int(40 + 160 * share) if count else 0
            style = (f"on rgb(0,{level},0)" if i == j else f"on rgb({level},0,0)") if count else "dim"
            cells.append(Text(str(count), style=style))
        table.add_row(safe_text(plain(name)[:10]), *cells)
    return table


def results_renderable(run: RunState, summary: dict[str, Any]) -> RenderableType:
    with run.lock:
        parts: list[RenderableType] = []
        figures = figures_table(run, summary)
        if figures is not None:
            parts.append(figures)
        ev = run.evaluation
        if ev is not None:
            parts += [Text(""), evaluation_table(ev), Text(""), confusion_heatmap(ev)]
        if not parts:
            note = "results appear when the run finishes" if run.running else "this run recorded no final figures"
            parts.append(Text(note, style="dim"))
        return Group(*parts)


class ResultsView(VerticalScroll):
    """Scrollable final figures and per-class tables of one run."""

    def compose(self):
        yield Static(id="results-body")

    def show(self, run: RunState, summary: dict[str, Any]) -> None:
        self.query_one("#results-body", Static).update(results_renderable(run, summary))
