"""Provides the printed reports on past runs: one run in full (`vitui runs show`) and models side by side
(`vitui runs compare`: size, cost, speed and the best figure reached)."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from vitui.core import runfolder
from vitui.comparison import config_differences, with_env
from vitui.core.events import Evaluation, Log, System
from vitui.core.runfolder import RunInfo
from vitui.core.settings import IMAGEFOLDER, split_dataset
from vitui.render.formats import (format_duration, format_point, format_ranks, format_start, format_value, plain,
                                  safe_text, si)
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
    """One row per run: parameters, multiply-adds per image, training images/s (last epoch; all ranks together), the
    best figure the run kept (validation accuracy, else training accuracy, or a character model's loss) and the epoch
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


def ranks_table(runs: list[RunInfo]) -> Table | None:
    """The distributed runs' ranks: how many, the global and per-rank batch, images/s in total and per rank (the last
    logging interval's) and the straggler ratio; None when no run trained on several ranks."""
    table = Table("run", "ranks", "batch", "img/s", "per rank", "straggler", title="ranks (the last logging interval)",
                  title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, padding=(0, 1))
    for run in runs:
        ranks = (run.summary or {}).get("distributed") or {}
        if not ranks:
            continue
        each = ranks.get("img_per_s_rank") or []
        straggler = ranks.get("straggler")
        table.add_row(Text(_two_lines(plain(run.name))),
                      safe_text(f"{ranks.get('world_size')} {ranks.get('backend', '')}"),
                      f"{ranks.get('batch_size', '-')} = {ranks.get('world_size')} × {ranks.get('rank_batch', '-')}",
                      f"{sum(each):,.0f}" if each else "-", " ".join(f"{v:,.0f}" for v in each) or "-",
                      f"{straggler:.2f}" if straggler else "-")
    return table if table.row_count else None


def differences_table(runs: list[RunInfo]) -> Table:
    """The settings, and the environments (env.json: host, torch, GPUs, commit ...), that are not the same in every
    run."""
    table = Table("setting", title="settings that differ", title_justify="left", box=box.SIMPLE_HEAD,
                  show_edge=False, padding=(0, 1))
    for run in runs:
        table.add_column(Text(_two_lines(plain(run.name))), overflow="fold")
    rows = config_differences([with_env(run) for run in runs])
    for key, values in rows:
        table.add_row(safe_text(key), *(safe_text(v) for v in values))
    if not rows:
        table.add_row("(none: same settings)", *["" for _ in runs])
    return table


def read_log(run_dir: Path) -> tuple[Evaluation | None, str | None, dict[str, Any]]:
    """The run's last evaluation, last error message and the peaks of its samples of the machine
    (vitui.systemcharts.peaks), from one pass over its log."""
    from vitui.systemcharts import peaks

    evaluation, error, samples = None, None, []
    for event in runfolder.read_events(run_dir):
        if isinstance(event, Evaluation):
            evaluation = event
        elif isinstance(event, Log) and event.level == "error":
            error = event.message
        elif isinstance(event, System):
            samples.append(event)
    return evaluation, error, peaks(samples)


def environment_rows(env: dict[str, Any], summary: dict[str, Any], peak: dict[str, Any]) -> list[tuple[str, str]]:
    """Where the run trained (its env.json), a distributed run's ranks (summary.json) and the peaks of its samples of
    the machine: the worker's memory, each GPU's; as (name, value) rows, those the run recorded."""
    git = env.get("git") or {}
    ranks = summary.get("distributed") or {}
    rows = [("python", env.get("python")), ("torch", env.get("torch")),
            ("CUDA / cuDNN", f"{env.get('cuda') or '-'} / {env.get('cudnn') or '-'}" if env else None),
            ("GPUs", ", ".join(env.get("gpus") or []) or "none" if env else None),
            ("ranks", format_ranks(int(ranks.get("world_size") or 0), str(ranks.get("backend") or ""),
                                   ranks.get("batch_size"), ranks.get("img_per_s_rank") or [], ranks.get("straggler"))
             if ranks else env.get("world_size")),
            ("host", env.get("host")), ("platform", env.get("platform")),
            ("command", shlex.join(env["command"]) if env.get("command") else None),
            ("git", (f"{git['commit'][:12]}{' with uncommitted changes' if git.get('dirty') else ''}"
                     if git.get("commit") else "not a git checkout") if env else None),
            ("peak memory", f"{peak['rss'] / 2**30:.2f} GiB in the worker" if peak else None)]
    for gpu in peak.get("gpus", []):
        total = f" of {gpu['mem_total'] / 2**30:.1f}" if gpu.get("mem_total") else ""
        rows.append((f"peak GPU{gpu['index']} memory", f"{gpu['mem_used'] / 2**30:.1f}{total} GiB ({gpu.get('name')}; "
                     f"NVML: every process on it)"))
    return [(name, str(value)) for name, value in rows if value is not None]


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
    evaluation, error, peak = read_log(run_dir)
    environment = Table.grid(padding=(0, 2))  # a grid of its own: its longer names would push the status apart
    for name, value in environment_rows(runfolder.load_env(run_dir), run.summary, peak):
        environment.add_row(name, Text(plain(value), overflow="fold"))
    if environment.row_count:
        console.print(environment)

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
    if evaluation is not None:
        console.print(evaluation_table(evaluation))
        if len(evaluation.class_names) <= 12:
            console.print(confusion_table(evaluation))
    if run.state == "failed" and error:
        console.print(Text("last error:", style="red"))
        console.print(safe_text(error.rstrip(), lines=True))
