"""Provides the commands that start or follow training: run, watch, experiments and settings."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from vitui.cli.base import (
    DATA_DIR_OPTION,
    RUNS_DIR_OPTION,
    app,
    fail,
    is_terminal,
    locate_run,
    make_console,
    runs_dir_or_default,
)
from vitui.core.errors import ConfigError


@app.command()
def run(
    experiment: Optional[str] = typer.Argument(None, help="experiment name, a file in configs/ (see `vitui "
                                               "experiments`); with --resume, optional: it must match the run's"),
    set_: list[str] = typer.Option([], "--set", help="override a setting: --set key=value (repeatable)"),
    no_tui: bool = typer.Option(False, "--no-tui", help="train headless: one line per epoch, for tmux and batch jobs"),
    runs_dir: Optional[Path] = RUNS_DIR_OPTION,
    data_dir: Optional[Path] = DATA_DIR_OPTION,
    device: Optional[str] = typer.Option(None, "--device", help="auto, cpu, cuda or mps"),
    seed: Optional[int] = typer.Option(None, "--seed", help="random seed"),
    resume: Optional[str] = typer.Option(
        None, "--resume", metavar="RUN", help="continue a stopped, failed or crashed run from its last checkpoint, in "
        "its folder and with its settings; --set epochs=N (or iterations=N) trains a run, a completed one too, "
        "further"),
) -> None:
    """Train an experiment in a background worker process and record the run."""
    from vitui.core.experiments import resolve
    from vitui.core.resume import check_resume, resume_settings
    from vitui.core.settings import parse_overrides

    if experiment is None and resume is None:
        raise fail("give an experiment to train (see `vitui experiments`), or --resume RUN to continue a run")
    resumed = locate_run(resume, runs_dir) if resume is not None else None
    try:
        overrides = parse_overrides(set_)
        if device is not None:
            overrides["device"] = device
        if seed is not None:
            overrides["seed"] = str(seed)
        # Resuming without an experiment: the run's own settings, with the overrides on top (only a longer run passes).
        config = resolve(experiment, overrides) if experiment is not None else resume_settings(resumed, overrides)
        if resumed is not None:
            check_resume(resumed, config)
    except ConfigError as exc:
        raise fail(str(exc)) from None
    if not no_tui and is_terminal():
        from vitui.app import run_app

        raise typer.Exit(run_app(runs_dir=runs_dir_or_default(runs_dir), data_dir=data_dir, config=config,
                                 resume=resumed))
    if not no_tui:
        typer.echo("vitui: no terminal for the dashboard, training headless (--no-tui skips this note)", err=True)
    from vitui.headless import run_headless

    raise typer.Exit(run_headless(config, runs_dir_or_default(runs_dir), data_dir, resume=resumed))


@app.command()
def watch(run_name: str = typer.Argument(..., metavar="RUN", help="run folder, name, or a unique part of it"),
          runs_dir: Optional[Path] = RUNS_DIR_OPTION) -> None:
    """Open the dashboard on a run: live if it is training (even if started elsewhere), else its record."""
    path = locate_run(run_name, runs_dir)
    if not is_terminal():
        raise fail("vitui watch needs a terminal; use `vitui runs show RUN` for a printed report")
    from vitui.app import run_app

    raise typer.Exit(run_app(runs_dir=runs_dir_or_default(runs_dir), watch=path))


@app.command()
def experiments() -> None:
    """List the experiments in configs/ and what each one trains."""
    from rich.table import Table

    from vitui.core.experiments import experiment_description, experiment_names, load_experiment_file

    table = Table("experiment", "model", "dataset", "description")
    for name in experiment_names():
        data = load_experiment_file(name)
        table.add_row(name, str(data.get("model", "")), str(data.get("dataset", "")), experiment_description(name))
    make_console().print(table)


@app.command()
def settings(experiment: str = typer.Argument(..., help="experiment name")) -> None:
    """Show every setting of an experiment, its resolved value and what it does."""
    from rich.table import Table

    from vitui.core.experiments import resolve
    from vitui.core.settings import settings_help

    try:
        config = resolve(experiment)
    except ConfigError as exc:
        raise fail(str(exc)) from None
    table = Table("setting", "value", "what it does")
    for obj in (config.train, config.model_args):
        for name, _, help_text in settings_help(type(obj)):
            table.add_row(name, repr(getattr(obj, name)), help_text)
    make_console().print(table)
