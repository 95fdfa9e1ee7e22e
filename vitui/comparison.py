"""Provides the model comparison table (e.g. CNN against ViT): size, cost, speed and the best figure reached."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich import box
from rich.table import Table

from vitui.headless import format_point, format_value
from vitui.runstore import RunInfo


def si(value: float | None, unit: str = "") -> str:
    """1806538 -> '1.81M': engineering figures a reader can compare at a glance."""
    if value is None:
        return "-"
    for factor, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.3g}{prefix}{unit}"
    return f"{value:.0f}{unit}"


def comparison_row(run: RunInfo) -> dict[str, Any]:
    """The figures of one run, from its summary.json (None where the run did not record one)."""
    summary = run.summary or {}
    model = summary.get("model") or {}
    metrics = summary.get("metrics") or {}
    best = summary.get("best") or {}
    dataset = str(run.config.get("dataset", ""))
    if dataset.startswith("imagefolder:"):  # the file or folder name says enough; the path would fill the row
        dataset = Path(dataset.removeprefix("imagefolder:")).name
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
            name = row["best_name"] or "best"
            best = f"{format_value(name, row['best']).removeprefix(name + ' ')}\n{name}"
        reached = "-"
        if row["best_time"] is not None:
            where = format_point(run.config, row["best_step"] or 0, row["best_epoch"] or 0)
            reached = f"{where}\n{_duration(row['best_time'])}"
        table.add_row(_two_lines(row["run"]), str(row["model"]), str(row["dataset"]), si(row["params"]), si(row["macs"]),
                      "-" if row["img/s"] is None else f"{row['img/s']:,.0f}", best, reached)
    return table


def _two_lines(run_name: str) -> str:
    """A run's name over the two lines its row has anyway: "20261129-033449" above "cnn-cifar10"."""
    stamp, _, rest = run_name.partition("-")
    time_part, _, experiment = rest.partition("-")
    if len(stamp) == 8 and len(time_part) == 6 and experiment:
        return f"{stamp}-{time_part}\n{experiment}"
    return run_name


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s"
