"""Provides `vitui runs`: list, show and compare past runs from their logs, as tables, JSON or CSV."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from vitui.cli.base import RUNS_DIR_OPTION, fail, locate_run, make_console, runs_app, runs_dir_or_default
from vitui.cli.output import CSV_OPTION, JSON_OPTION, note, one_format, print_csv, print_json


@runs_app.command("list")
def runs_list(runs_dir: Optional[Path] = RUNS_DIR_OPTION, as_json: bool = JSON_OPTION, as_csv: bool = CSV_OPTION,
              show_all: bool = typer.Option(False, "--all", help="archived runs too")) -> None:
    """Every run in the runs folder: its name, status, duration, best figure and the settings it changed."""
    from vitui.core.runfolder import list_runs
    from vitui.render.runs import runs_table, visible_runs

    one_format(as_json, as_csv)
    folder = runs_dir_or_default(runs_dir)
    everything = list_runs(folder)
    runs = visible_runs(everything, archived=show_all)
    hidden = len(everything) - len(runs)
    if as_json or as_csv:
        from vitui.records import LIST_COLUMNS, list_row, run_record

        print_json([run_record(r) for r in runs]) if as_json else print_csv([list_row(r) for r in runs], LIST_COLUMNS)
    elif runs:
        console = make_console()
        console.print(runs_table(runs, console.width))
    if not runs:
        note(f"no runs in {folder}")
    if hidden:
        note(f"{hidden} archived run{'s' if hidden > 1 else ''} not shown (--all shows them)")


@runs_app.command("show")
def runs_show(run_name: str = typer.Argument(..., metavar="RUN", help="run folder, name, or a unique part of it"),
              runs_dir: Optional[Path] = RUNS_DIR_OPTION, as_json: bool = JSON_OPTION) -> None:
    """A run's config, status, final metrics and per-class table."""
    path = locate_run(run_name, runs_dir)
    if as_json:
        from vitui.core.runfolder import load_run
        from vitui.records import show_record

        print_json(show_record(load_run(path)))
        return
    from vitui.render.reports import show_run

    show_run(make_console(), path)


@runs_app.command("compare")
def runs_compare(run_names: list[str] = typer.Argument(..., metavar="RUN...", help="runs to compare (names or unique parts)"),
                 runs_dir: Optional[Path] = RUNS_DIR_OPTION, as_json: bool = JSON_OPTION,
                 as_csv: bool = CSV_OPTION) -> None:
    """Models side by side: parameters, multiply-adds per image, images/s, the best figure and when it came; the ranks
    of distributed runs; the settings and environments that differ."""
    from vitui.core.runfolder import find_run, load_run
    from vitui.render.reports import comparison_table, differences_table, ranks_table

    one_format(as_json, as_csv)
    folder = runs_dir_or_default(runs_dir)
    try:
        runs = [load_run(find_run(folder, name)) for name in run_names]
    except LookupError as exc:
        raise fail(str(exc)) from None
    if as_json or as_csv:
        from vitui.records import COMPARE_COLUMNS, compare_record

        rows = [compare_record(r) for r in runs]
        print_json(rows) if as_json else print_csv(rows, (*COMPARE_COLUMNS, "path"))
        return
    console = make_console()
    console.print(comparison_table(runs))
    ranks = ranks_table(runs)
    if ranks is not None:
        console.print(ranks)
    console.print(differences_table(runs))
