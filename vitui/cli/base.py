"""Provides what every command shares: the typer apps, common options, one-line errors and finding a run."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Optional

import typer

app = typer.Typer(add_completion=False, no_args_is_help=False, rich_markup_mode=None,
                  help="Train and look inside the models that lead up to the Vision Transformer.")
runs_app = typer.Typer(add_completion=False, no_args_is_help=True, help="Browse past runs from their logs.")
app.add_typer(runs_app, name="runs")

RUNS_DIR_OPTION = typer.Option(None, "--runs-dir", help="folder of run folders [default: $VITUI_RUNS or ./runs]")
DATA_DIR_OPTION = typer.Option(None, "--data-dir", help="folder of data sets [default: $VITUI_DATA or ~/.cache/vitui]")


def fail(message: str, code: int = 2) -> typer.Exit:
    """One line on stderr saying what is wrong, then a non-zero exit. The message may quote what the user gave (a
    name, a value), so it is printed plain: no control characters, one line."""
    from vitui.render.formats import plain

    typer.echo(f"vitui: error: {plain(message)}", err=True)
    return typer.Exit(code)


def make_console():
    """A rich console: the terminal's width, or COLUMNS when set; when piped or logged without COLUMNS, wide
    enough that tables are not cut to 80 columns. No markup: what it prints holds run names and settings, where a
    "[/]" is text, not a tag (styles come as rich Text)."""
    from rich.console import Console

    width = None if sys.stdout.isatty() or os.environ.get("COLUMNS", "").isdigit() else 200
    return Console(width=width, markup=False)


def locate_run(run_name: str, runs_dir: Optional[Path]) -> Path:
    """A run folder by path, name or unique part of its name; a usage error naming the runs folder otherwise."""
    from vitui.core.runfolder import find_run

    try:
        return find_run(runs_dir_or_default(runs_dir), run_name)
    except LookupError as exc:
        raise fail(str(exc)) from None


def runs_dir_or_default(path: Optional[Path]) -> Path:
    from vitui.core.runfolder import default_runs_dir

    return path if path is not None else default_runs_dir()


def is_terminal() -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty()


@app.callback(invoke_without_command=True)
def main_callback(ctx: typer.Context, runs_dir: Optional[Path] = RUNS_DIR_OPTION,
                  data_dir: Optional[Path] = DATA_DIR_OPTION,
                  notify: Optional[str] = typer.Option(
                      None, "--notify", metavar="off|bell|osc9|osc777",
                      help="when a run the dashboard follows ends: a bell, or a desktop notification through the "
                           "terminal (OSC 9 or 777) [default: $VITUI_NOTIFY or off]")) -> None:
    """With no command: open the dashboard (launcher, live runs, runs browser)."""
    if notify is not None:
        from vitui.notice import ENV, notice_mode

        try:
            os.environ[ENV] = notice_mode(notify)  # for the dashboard of `vitui run` and `vitui watch` too
        except ValueError as exc:
            raise fail(str(exc)) from None
    if ctx.invoked_subcommand is not None:
        return
    if not is_terminal():
        typer.echo(ctx.get_help())
        return
    from vitui.app import run_app

    raise typer.Exit(run_app(runs_dir=runs_dir_or_default(runs_dir), data_dir=data_dir))
