"""Provides the study commands: `vitui study` (a ready study), `vitui sweep` (a grid over any settings),
`vitui studies list|show` and `vitui report` (Markdown and SVG for a write-up)."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from vitui.cli.base import DATA_DIR_OPTION, RUNS_DIR_OPTION, app, fail, is_terminal, make_console, runs_dir_or_default
from vitui.core.errors import ConfigError

if TYPE_CHECKING:
    from vitui.studies.definition import Study

studies_app = typer.Typer(add_completion=False, no_args_is_help=True, help="Browse studies and their tables.")
app.add_typer(studies_app, name="studies")

SET_OPTION = typer.Option([], "--set", help="set a setting for every run: --set key=value (repeatable)")
REPEAT_OPTION = typer.Option(None, "--repeat", help="runs per point, with seeds 0..K-1 [default: the study's]")
PARALLEL_OPTION = typer.Option(None, "--parallel", min=1, max=256,
                               help="runs at once [default: one per GPU, else one]")
NO_TUI_OPTION = typer.Option(False, "--no-tui", help="run headless: one line per finished run, the table at the end")
PRINT_OPTION = typer.Option(False, "--print-commands",
                            help="print one `vitui run` line per run (for Slurm or GNU parallel) and exit")


@app.command()
def study(
    name: str = typer.Argument(..., metavar="NAME|FILE", help="a ready study in configs/studies/ or a .toml file"),
    set_: list[str] = SET_OPTION,
    repeat: Optional[int] = REPEAT_OPTION,
    parallel: Optional[int] = PARALLEL_OPTION,
    no_tui: bool = NO_TUI_OPTION,
    print_commands: bool = PRINT_OPTION,
    runs_dir: Optional[Path] = RUNS_DIR_OPTION,
    data_dir: Optional[Path] = DATA_DIR_OPTION,
) -> None:
    """Run a ready study: its runs from a queue, then a table of mean ± sd over the seeds. Run again to resume."""
    from vitui.core.settings import parse_overrides
    from vitui.studies.definition import load_study, with_command_line

    try:
        chosen = with_command_line(load_study(name), parse_overrides(set_), repeat)
    except ConfigError as exc:
        raise fail(str(exc)) from None
    start(chosen, parallel, no_tui, print_commands, runs_dir, data_dir)


@app.command()
def sweep(
    experiment: str = typer.Argument(..., help="experiment name (see `vitui experiments`)"),
    grid: list[str] = typer.Option([], "--grid", help="a setting and its values: --grid lr=0.1,0.01 (repeatable)"),
    set_: list[str] = SET_OPTION,
    metric: str = typer.Option("", "--metric", help="the final figure the table sorts by, e.g. test_acc "
                                                    "[default: the one each run keeps its best checkpoint by]"),
    repeat: Optional[int] = REPEAT_OPTION,
    parallel: Optional[int] = PARALLEL_OPTION,
    no_tui: bool = NO_TUI_OPTION,
    print_commands: bool = PRINT_OPTION,
    runs_dir: Optional[Path] = RUNS_DIR_OPTION,
    data_dir: Optional[Path] = DATA_DIR_OPTION,
) -> None:
    """Run an experiment over every combination of the --grid values, each with K seeds: a study made on the fly."""
    from vitui.core.settings import parse_overrides
    from vitui.studies.definition import parse_grid, sweep as make_sweep

    try:
        if not grid:
            raise ConfigError("no --grid given: say what to vary, e.g. --grid lr=0.1,0.01")
        chosen = make_sweep(experiment, parse_grid(grid), parse_overrides(set_), repeat, metric)
    except ConfigError as exc:
        raise fail(str(exc)) from None
    start(chosen, parallel, no_tui, print_commands, runs_dir, data_dir)


def start(chosen: "Study", parallel: Optional[int], no_tui: bool, print_commands: bool, runs_dir: Optional[Path],
          data_dir: Optional[Path]) -> None:
    """Check every run's settings (a bad one fails here, before any run), then print, open the app or run headless."""
    from vitui.studies.definition import job_settings, resolve_jobs

    try:
        resolved = resolve_jobs(chosen)
    except ConfigError as exc:
        raise fail(str(exc)) from None
    if print_commands:
        for job, _ in resolved:
            typer.echo(run_command(*job_settings(chosen, job), runs_dir, data_dir))
        return
    from vitui.studies.folder import StudyFolder

    folder_runs = runs_dir_or_default(runs_dir)
    folder = StudyFolder.create(folder_runs, chosen)
    if not no_tui and is_terminal():
        from vitui.app import run_app
        from vitui.studies.process import start_study_process

        if not folder.runners():  # a study running already (in the background, or another terminal) is followed
            start_study_process(folder, folder_runs, data_dir, parallel)
        # The app prints where the study stands when it ends.
        raise typer.Exit(run_app(runs_dir=folder_runs, data_dir=data_dir, study=folder.path))
    if not no_tui:
        typer.echo("vitui: no terminal for the dashboard, running the study headless (--no-tui skips this note)",
                   err=True)
    raise typer.Exit(run_here(folder, resolved, parallel, data_dir))


def run_here(folder, resolved: list, parallel: Optional[int], data_dir: Optional[Path]) -> int:
    """Run what is left of the study in this process, headless; its exit code."""
    from vitui.studies.headless import run_study_headless
    from vitui.studies.runner import plan_slots, visible_gpus

    devices = {config.train.device for _, config in resolved}
    ranks = max(getattr(config.train, "gpus", 1) for _, config in resolved)  # image runs may train on several GPUs
    slots = plan_slots(parallel, devices, visible_gpus() if devices != {"cpu"} else [], ranks)
    return run_study_headless(folder, {job.index: config for job, config in resolved}, folder.runs_dir, data_dir, slots)


def run_command(experiment: str, overrides: dict, runs_dir: Optional[Path], data_dir: Optional[Path]) -> str:
    """One run as the `vitui run` line that trains it headless."""
    from vitui.studies.definition import setting_text

    words = ["vitui", "run", experiment, "--no-tui"]
    for key, value in overrides.items():
        words += ["--set", f"{key}={setting_text(value)}"]
    if runs_dir is not None:
        words += ["--runs-dir", str(runs_dir)]
    if data_dir is not None:
        words += ["--data-dir", str(data_dir)]
    return " ".join(shlex.quote(w) for w in words)


# --------------------------------------------------------------------------- looking at studies

@studies_app.command("list")
def studies_list(runs_dir: Optional[Path] = RUNS_DIR_OPTION,
                 as_json: bool = typer.Option(False, "--json", help="print JSON instead of a table")) -> None:
    """Every study in the runs folder: its state, runs done and what it varies."""
    from vitui.render.studies import studies_table, study_state
    from vitui.studies.definition import experiments_of
    from vitui.studies.folder import list_studies

    folders = list_studies(runs_dir_or_default(runs_dir))
    if as_json:
        out = []
        for folder in folders:
            states = folder.job_states()
            out.append({"id": folder.id, "name": folder.study.name, "experiments": experiments_of(folder.study),
                        "state": study_state(folder, states), "runs": len(states),
                        "completed": sum(1 for s in states if s.done), "folder": str(folder.path)})
        typer.echo(json.dumps(out, indent=2))
        return
    if not folders:
        typer.echo(f"no studies in {runs_dir_or_default(runs_dir)}; start one with `vitui study NAME` or `vitui sweep`")
        return
    make_console().print(studies_table(folders))


@studies_app.command("show")
def studies_show(study_id: str = typer.Argument(..., metavar="ID", help="study id, or a unique part of it"),
                 runs_dir: Optional[Path] = RUNS_DIR_OPTION,
                 as_json: bool = typer.Option(False, "--json", help="print JSON instead of tables")) -> None:
    """A study's table (mean ± sd over the seeds, best first) and every run with its state."""
    from vitui.render.studies import runs_table, study_state
    from vitui.studies.headless import print_results
    from vitui.studies.results import study_results

    folder = locate_study(study_id, runs_dir)
    if as_json:
        states = folder.job_states()
        results = study_results(folder)
        typer.echo(json.dumps({"id": folder.id, "folder": str(folder.path), "state": study_state(folder, states),
                               "study": folder.study.to_dict(), "results": results.to_dict(),
                               "runs": [{"index": s.job.index, "point": s.job.point.label, "seed": s.job.seed,
                                         "state": s.state, "run": s.run.name if s.run else None} for s in states]},
                              indent=2, default=str))
        return
    console = make_console()
    print_results(console, folder)
    console.print()
    console.print(runs_table(folder.job_states(), study_results(folder).metric))


@studies_app.command("run")
def studies_run(study_id: str = typer.Argument(..., metavar="ID", help="study id, or a unique part of it"),
                parallel: Optional[int] = PARALLEL_OPTION,
                runs_dir: Optional[Path] = RUNS_DIR_OPTION,
                data_dir: Optional[Path] = DATA_DIR_OPTION) -> None:
    """Run (or resume) a study from its folder, headless: what is left of its queue, then its table."""
    from vitui.studies.definition import resolve_jobs

    folder = locate_study(study_id, runs_dir)
    try:
        resolved = resolve_jobs(folder.study)
    except ConfigError as exc:
        raise fail(str(exc)) from None
    raise typer.Exit(run_here(folder, resolved, parallel, data_dir))


def locate_study(name: str, runs_dir: Optional[Path]):
    from vitui.studies.folder import find_study

    try:
        return find_study(runs_dir_or_default(runs_dir), name)
    except LookupError as exc:
        raise fail(str(exc)) from None


@app.command()
def report(
    names: list[str] = typer.Argument(..., metavar="STUDY|RUN...", help="a study, or runs to compare"),
    out: Optional[Path] = typer.Option(None, "--out", help="folder for report.md and its SVG pictures "
                                                           "[default: report-<study or first run>]"),
    runs_dir: Optional[Path] = RUNS_DIR_OPTION,
) -> None:
    """Write a Markdown report for a write-up: the comparison table, the settings that differ, the charts as SVG,
    and for image runs the confusion matrix and the mistakes."""
    from vitui.core.runfolder import find_run
    from vitui.studies.folder import find_study
    from vitui.studies.report import write_report

    folder_runs = runs_dir_or_default(runs_dir)
    study_folder = None
    if len(names) == 1:
        try:
            study_folder = find_study(folder_runs, names[0])
        except LookupError:
            study_folder = None
    try:
        run_dirs = [] if study_folder is not None else [find_run(folder_runs, name) for name in names]
    except LookupError as exc:
        raise fail(f"{exc} (nor a study: see `vitui studies list`)" if len(names) == 1 else str(exc)) from None
    target = out or Path(f"report-{study_folder.id if study_folder is not None else run_dirs[0].name}")
    path = write_report(target, study=study_folder, run_dirs=run_dirs)
    typer.echo(f"wrote {path} and {len(list(path.parent.glob('*.svg')))} SVG pictures in {path.parent}")
