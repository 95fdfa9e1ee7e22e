"""Provides the tables the CLI prints and the app shows: a run's evaluation, confusion matrix and settings."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from vitui.core.events import Evaluation
from vitui.core.experiments import flatten_config
from vitui.render.formats import plain, safe_text


def evaluation_table(ev: Evaluation) -> Table:
    table = Table(title=safe_text(f"{ev.split} accuracy {ev.accuracy * 100:.2f}%  loss {ev.loss:.4f}", "table.title"),
                  title_justify="left")
    for name in ("class", "precision", "recall", "f1", "support"):
        table.add_column(name, justify="left" if name == "class" else "right")
    for i, cls in enumerate(ev.class_names):
        table.add_row(safe_text(cls), f"{ev.precision[i]:.3f}", f"{ev.recall[i]:.3f}", f"{ev.f1[i]:.3f}", str(ev.support[i]))
    return table


def confusion_table(ev: Evaluation) -> Table:
    table = Table(title="confusion matrix (rows: true, columns: predicted)", title_justify="left")
    table.add_column("")
    for cls in ev.class_names:
        table.add_column(safe_text(plain(cls)[:6]), justify="right")
    for cls, row in zip(ev.class_names, ev.confusion):
        table.add_row(safe_text(plain(cls)[:12]), *(str(v) for v in row))
    return table


def config_table(config: dict[str, Any]) -> Table:
    """Every resolved setting of the run, as recorded in its config.json."""
    table = Table("setting", "value", title="config", title_justify="left", show_edge=False)
    for key, value in flatten_config(config).items():
        table.add_row(safe_text(key), safe_text(repr(value)))  # text, not markup: a run folder may hold "[/]"
    return table
