"""Provides `vitui runs`: list, show and compare past runs from their logs."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from vitui.cli.base import RUNS_DIR_OPTION, fail, locate_run, make_console, runs_app, runs_dir_or_default


@runs_app.command("list")
def runs_list(runs_dir: Optional[Path] = RUNS_DIR_OPTION) -> None:
    """Every run in the runs folder: its name, status, duration, best figure and the settings it changed."""
    from vitui.core.runfolder import list_runs
    from vitui.render.runs import runs_table

    folder = runs_dir_or_default(runs_dir)
    runs = list_runs(folder)
    if not runs:
        typer.echo(f"no runs in {folder}")
        return
    console = make_console()
    console.print(runs_table(runs, console.width))


@runs_app.command("show")
def runs_show(run_name: str = typer.Argument(..., metavar="RUN", help="run folder, name, or a unique part of it"),
              runs_dir: Optional[Path] = RUNS_DIR_OPTION) -> None:
    """A run's config, status, final metrics and per-class table."""
    from vitui.render.reports import show_run

    path = locate_run(run_name, runs_dir)
    show_run(make_console(), path)


@runs_app.command("compare")
def runs_compare(run_names: list[str] = typer.Argument(..., metavar="RUN...", help="runs to compare (names or unique parts)"),
                 runs_dir: Optional[Path] = RUNS_DIR_OPTION) -> None:
    """Models side by side: parameters, multiply-adds per image, images/s, the best figure and when it came; the ranks
    of distributed runs; the settings and environments that differ."""
    from vitui.core.runfolder import find_run, load_run
    from vitui.render.reports import comparison_table, differences_table, ranks_table

    folder = runs_dir_or_default(runs_dir)
    try:
        runs = [load_run(find_run(folder, name)) for name in run_names]
    except LookupError as exc:
        raise fail(str(exc)) from None
    console = make_console()
    console.print(comparison_table(runs))
    ranks = ranks_table(runs)
    if ranks is not None:
        console.print(ranks)
    console.print(differences_table(runs))
