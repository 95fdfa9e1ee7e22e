"""Provides the printed reports on past runs: one run in full (`vitui runs show`) and models side by side
(`vitui runs compare`: size, cost, speed and the best figure reached)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from vitui.core import runfolder
from vitui.core.events import Evaluation, Log, Resumed
from vitui.core.runfolder import RunInfo
from vitui.core.settings import IMAGEFOLDER, split_dataset
from vitui.render.formats import format_duration, format_point, format_start, format_value, plain, safe_text, si
from vitui.render.runs import state_style
from vitui.render.tables import config_table, confusion_table, evaluation_table


def comparison_row(run: RunInfo) -> dict[str, Any]:
    """The figures of one run, from its summary.json (None where the run did not record one)."""
    summary = run.summary or {}
    model = summary.get("model") or {}
    metrics = summary.get("metrics") or {}
    best = summary.get("best") or {}
    kind, path = split_dataset(str(run.config.get("dataset", "")))
    dataset = Path(path).name if kind == IMAGEFOLDER else kind  # the folder's name says enough; a path fills the row
    return {"run": run.name, "model": run.config.get("model", ""), "dataset": dataset,
            "params": model.get("params"), "macs": model.get("macs"), "img/s": metrics.get("img/s"),
            "best_name": best.get("name"), "best": best.get("value"), "best_step": best.get("step"),
            "best_epoch": best.get("epoch"), "best_time": best.get("time")}


def comparison_table(runs: list[RunInfo]) -> Table:
    """One row per run: parameters, multiply-adds per image, training images/s (last epoch), the best figure
    the run kept (validation accuracy, else training accuracy, or a character model's loss) and the epoch
    (or iteration) and wall time at which it was reached."""
    table = Table(title="models compared", title_justify="left", box=box.SIMPLE_HEAD, show_edge=False,
                  padding=0)
    table.add_column("run", overflow="fold", min_width=15, max_width=25)  # "20261129-033449" whole
    table.add_column("model", no_wrap=True, min_width=6)
    table.add_column("dataset", no_wrap=True, overflow="ellipsis", min_width=5, max_width=9)
    for name in ("params", "MACs", "img/s", "best", "reached"):
        table.add_column(name, justify="right", no_wrap=True, min_width=len(name))
    for run in runs:
        row = comparison_row(run)
        # "93.12%" over "val_acc", or "1.9144" over "val_loss": a loss is never a percent. Two lines a cell,
        # so the table fits 80 columns.
        best = "-"
        if row["best"] is not None:
            name = plain(row["best_name"] or "best")
            best = f"{plain(format_value(name, row['best'])).removeprefix(name + ' ')}\n{name}"
        reached = "-"
        if row["best_time"] is not None:
            where = format_point(run.config, row["best_step"] or 0, row["best_epoch"] or 0)
            reached = f"{where}\n{format_duration(row['best_time'])}"
        table.add_row(Text(_two_lines(plain(row["run"]))), safe_text(row["model"]), safe_text(row["dataset"]),
                      si(row["params"]), si(row["macs"]), "-" if row["img/s"] is None else f"{row['img/s']:,.0f}",
                      Text(best), reached)
    return table


def _two_lines(run_name: str) -> str:
    """A run's name over the two lines its row has anyway: "20261129-033449" above "cnn-cifar10"."""
    stamp, _, rest = run_name.partition("-")
    time_part, _, experiment = rest.partition("-")
    if len(stamp) == 8 and len(time_part) == 6 and experiment:
        return f"{stamp}-{time_part}\n{experiment}"
    return run_name


def last_evaluation_and_error(run_dir: Path, reader: runfolder.EventReader | None = None,
                              ) -> tuple[Evaluation | None, str | None]:
    """The last evaluation and error message of the run's latest attempt (a resume starts a new one: the error
    that ended the attempt before, or its evaluation, is not this one's), from one pass over its log."""
    evaluation, error = None, None
    for event in reader if reader is not None else runfolder.EventReader(run_dir):
        if isinstance(event, Evaluation):
            evaluation = event
        elif isinstance(event, Log) and event.level == "error":
            error = event.message
        elif isinstance(event, Resumed):
            evaluation, error = None, None
    return evaluation, error


def show_run(console: Console, run_dir: Path) -> None:
    run = runfolder.load_run(run_dir)
    console.print(Text.assemble((plain(run.name), "bold"), "  ", plain(run_dir)))
    status = Table.grid(padding=(0, 2))
    detail = run.status.get("detail") or ""
    # "stopped by SIGTERM" says the state already; "failed (crashed)  worker process died ..." does not.
    said = detail if detail.startswith(run.state) else f"{run.state_label}  {detail}".strip()
    status.add_row("status", safe_text(said, state_style(run.state)))
    status.add_row("started", format_start(run.started))
    status.add_row("duration", format_duration(run.duration))
    resumed = run.status.get("resumed")
    if isinstance(resumed, int) and resumed > 0:  # the status history: how often it went on from a checkpoint
        status.add_row("resumed", "once" if resumed == 1 else f"{resumed} times")
    if run.tags:
        status.add_row("tags", safe_text(" ".join(run.tags)))
    if run.note:
        status.add_row("note", safe_text(run.note, lines=True))
    if run.archived:
        status.add_row("archived", "yes (hidden from `vitui runs list`; `vitui runs unarchive` brings it back)")
    console.print(status)

    console.print(config_table(run.config))

    metrics = run.summary.get("metrics") or {}
    if metrics:
        table = Table("metric", "value", title="final metrics", title_justify="left")
        for key, value in metrics.items():
            table.add_row(safe_text(key), safe_text(format_value(key, value).removeprefix(key + " ")))
        best = run.summary.get("best") or {}
        if best.get("value") is not None:
            when = format_point(run.config, best.get("step", 0), best.get("epoch", 0))
            table.add_row(safe_text(f"best {best.get('name')}"),
                          safe_text(f"{format_value(best['name'], best['value']).split(' ', 1)[1]} ({when})"))
        console.print(table)
    evaluation, error = last_evaluation_and_error(run_dir)
    if evaluation is not None:
        console.print(evaluation_table(evaluation))
        if len(evaluation.class_names) <= 12:
            console.print(confusion_table(evaluation))
    if run.state == "failed" and error:
        console.print(Text("last error:", style="red"))
        console.print(safe_text(error.rstrip(), lines=True))
