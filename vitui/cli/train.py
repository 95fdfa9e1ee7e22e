"""Provides the commands that start or follow training: run, watch, experiments and settings."""

from __future__ import annotations

from dataclasses import MISSING
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
from vitui.cli.output import JSON_OPTION, print_json
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
    gpus: Optional[int] = typer.Option(None, "--gpus", min=1, help="train on N ranks with DistributedDataParallel, one "
                                       "process per GPU (with --device cpu: N CPU processes over gloo); image "
                                       "experiments; under torchrun, torchrun's --nproc-per-node says it"),
    resume: Optional[str] = typer.Option(
        None, "--resume", metavar="RUN", help="continue a stopped, failed or crashed run from its last checkpoint, in "
        "its folder and with its settings; --set epochs=N (or iterations=N) trains a run, a completed one too, "
        "further"),
) -> None:
    """Train an experiment in a background worker process and record the run."""
    from vitui.core.experiments import resolve
    from vitui.core.ranks import launched_rank
    from vitui.core.resume import check_resume, resume_settings
    from vitui.core.settings import parse_overrides

    launched = launched_rank()  # torchrun started this process as one of its ranks
    if launched is not None and gpus is not None and gpus != launched[1]:
        raise fail(f"--gpus {gpus} but torchrun started {launched[1]} ranks: under torchrun leave --gpus out "
                   f"(--nproc-per-node says how many)")
    ranks = launched[1] if launched is not None else gpus
    if experiment is None and resume is None:
        raise fail("give an experiment to train (see `vitui experiments`), or --resume RUN to continue a run")
    resumed = locate_run(resume, runs_dir) if resume is not None else None
    try:
        overrides = parse_overrides(set_)
        if device is not None:
            overrides["device"] = device
        if seed is not None:
            overrides["seed"] = str(seed)
        if gpus is not None or ranks is not None and ranks > 1:
            overrides["gpus"] = str(ranks)
        # Resuming without an experiment: the run's own settings, with the overrides on top (only a longer run passes).
        config = resolve(experiment, overrides) if experiment is not None else resume_settings(resumed, overrides)
        if resumed is not None:
            check_resume(resumed, config)
    except ConfigError as exc:
        if ranks is not None and not _takes_ranks(experiment, resumed):
            raise fail(f"--gpus: only image experiments train on several ranks; {experiment or resumed} trains in one "
                       f"process") from None
        raise fail(str(exc)) from None
    from vitui.core.runfolder import check_runs_dir

    try:
        check_runs_dir(runs_dir_or_default(runs_dir))  # a read-only or full runs folder: say so before starting
    except ConfigError as exc:
        raise fail(str(exc)) from None
    if launched is not None:
        from vitui.headless import run_as_rank

        try:
            code = run_as_rank(config, runs_dir_or_default(runs_dir), data_dir, resume=resumed)
        except ConfigError as exc:  # the run folder could not be made after all
            raise fail(str(exc)) from None
        raise typer.Exit(code)
    if not no_tui and is_terminal():
        from vitui.app import run_app

        raise typer.Exit(run_app(runs_dir=runs_dir_or_default(runs_dir), data_dir=data_dir, config=config,
                                 resume=resumed))
    if not no_tui:
        typer.echo("vitui: no terminal for the dashboard, training headless (--no-tui skips this note)", err=True)
    from vitui.headless import run_headless

    try:
        code = run_headless(config, runs_dir_or_default(runs_dir), data_dir, resume=resumed)
    except ConfigError as exc:  # the run folder could not be made after all (the disk filled since the check)
        raise fail(str(exc)) from None
    raise typer.Exit(code)


def _takes_ranks(experiment: Optional[str], resumed: Optional[Path]) -> bool:
    """Whether the experiment (or the run to resume) trains an image model, the one task that runs on several ranks."""
    from vitui.core.experiments import load_experiment_file
    from vitui.core.models import MODELS
    from vitui.core.runfolder import load_run

    try:
        model = (load_experiment_file(experiment) if experiment else load_run(resumed).config).get("model")
    except ConfigError:
        return True  # an unknown experiment: its own error says so
    return model not in MODELS or MODELS[model].task == "image"


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
def experiments(as_json: bool = JSON_OPTION) -> None:
    """List the experiments in configs/ and what each one trains."""
    from rich.table import Table

    from vitui.core.experiments import experiment_description, experiment_names, load_experiment_file
    from vitui.render.formats import safe_text

    rows = []
    for name in experiment_names():
        data = load_experiment_file(name)
        rows.append({"name": name, "model": str(data.get("model", "")), "dataset": str(data.get("dataset", "")),
                     "description": experiment_description(name)})
    if as_json:
        print_json(rows)
        return
    table = Table("experiment", "model", "dataset", "description")
    for row in rows:
        table.add_row(*(safe_text(text) for text in row.values()))
    make_console().print(table)


@app.command()
def settings(experiment: str = typer.Argument(..., help="experiment name"), as_json: bool = JSON_OPTION) -> None:
    """Show every setting of an experiment, its resolved value and what it does."""
    from rich.table import Table

    from vitui.core.experiments import resolve
    from vitui.core.settings import settings_help
    from vitui.render.formats import safe_text

    try:
        config = resolve(experiment)
    except ConfigError as exc:
        raise fail(str(exc)) from None
    rows = [{"name": name, "value": getattr(obj, name), "default": None if default is MISSING else default, "help": help_text,
             "group": "model" if obj is config.model_args else "train"}
            for obj in (config.train, config.model_args) for name, default, help_text in settings_help(type(obj))]
    if as_json:
        print_json({"experiment": experiment, "task": config.task, "settings": rows})
        return
    table = Table("setting", "value", "what it does")
    for row in rows:
        table.add_row(row["name"], safe_text(repr(row["value"])), row["help"])
    make_console().print(table)
