"""Provides the `vitui` command line: run experiments headless, list and inspect runs.

Nothing heavy is imported at module level: `vitui --help` must answer instantly, so torch, the
training code and the app load only inside the commands that need them.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Optional

import typer

from vitui.core.errors import ConfigError

app = typer.Typer(add_completion=False, no_args_is_help=False, rich_markup_mode=None,
                  help="Train and look inside the models that lead up to the Vision Transformer.")
runs_app = typer.Typer(add_completion=False, no_args_is_help=True, help="Browse past runs from their logs.")
app.add_typer(runs_app, name="runs")

RUNS_DIR_OPTION = typer.Option(None, "--runs-dir", help="folder of run folders [default: $VITUI_RUNS or ./runs]")
DATA_DIR_OPTION = typer.Option(None, "--data-dir", help="folder of data sets [default: $VITUI_DATA or ~/.cache/vitui]")


def fail(message: str, code: int = 2) -> typer.Exit:
    """One line on stderr saying what is wrong, then a non-zero exit."""
    typer.echo(f"vitui: error: {message}", err=True)
    return typer.Exit(code)


def make_console():
    """A rich console: the terminal's width, or COLUMNS when set; when piped or logged without COLUMNS, wide
    enough that tables are not cut to 80 columns."""
    from rich.console import Console

    return Console() if sys.stdout.isatty() or os.environ.get("COLUMNS", "").isdigit() else Console(width=200)


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
                  data_dir: Optional[Path] = DATA_DIR_OPTION) -> None:
    """With no command: open the dashboard (launcher, live runs, runs browser)."""
    if ctx.invoked_subcommand is not None:
        return
    if not is_terminal():
        typer.echo(ctx.get_help())
        return
    from vitui.app import run_app

    raise typer.Exit(run_app(runs_dir=runs_dir_or_default(runs_dir), data_dir=data_dir))


@app.command()
def run(
    experiment: str = typer.Argument(..., help="experiment name, a file in configs/ (see `vitui experiments`)"),
    set_: list[str] = typer.Option([], "--set", help="override a setting: --set key=value (repeatable)"),
    no_tui: bool = typer.Option(False, "--no-tui", help="train headless: one line per epoch, for tmux and batch jobs"),
    runs_dir: Optional[Path] = RUNS_DIR_OPTION,
    data_dir: Optional[Path] = DATA_DIR_OPTION,
    device: Optional[str] = typer.Option(None, "--device", help="auto, cpu, cuda or mps"),
    seed: Optional[int] = typer.Option(None, "--seed", help="random seed"),
) -> None:
    """Train an experiment in a background worker process and record the run."""
    from vitui.core.experiments import resolve
    from vitui.core.settings import parse_overrides

    try:
        overrides = parse_overrides(set_)
        if device is not None:
            overrides["device"] = device
        if seed is not None:
            overrides["seed"] = str(seed)
        config = resolve(experiment, overrides)
    except ConfigError as exc:
        raise fail(str(exc)) from None
    if not no_tui and is_terminal():
        from vitui.app import run_app

        raise typer.Exit(run_app(runs_dir=runs_dir_or_default(runs_dir), data_dir=data_dir, config=config))
    if not no_tui:
        typer.echo("vitui: no terminal for the dashboard, training headless (--no-tui skips this note)", err=True)
    from vitui.headless import run_headless

    raise typer.Exit(run_headless(config, runs_dir_or_default(runs_dir), data_dir))


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


@runs_app.command("list")
def runs_list(runs_dir: Optional[Path] = RUNS_DIR_OPTION) -> None:
    """Every run in the runs folder: its name, status, duration, best figure and the settings it changed."""
    from vitui.render.runs import runs_table
    from vitui.core.runfolder import list_runs

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


@app.command()
def attention(
    run_name: str = typer.Argument(..., metavar="RUN", help="run folder, name, or a unique part of it"),
    layer: str = typer.Option("rollout", "--layer", help="layer 1..depth, or rollout (all layers combined)"),
    head: str = typer.Option("mean", "--head", help="head 1..heads, or mean (average of the heads)"),
    step: Optional[int] = typer.Option(None, "--step", help="the map logged at this step or the last before it [default: newest]"),
    probe: Optional[int] = typer.Option(None, "--probe", help="only this probe image, 1..probes [default: all]"),
    runs_dir: Optional[Path] = RUNS_DIR_OPTION,
) -> None:
    """Print a ViT run's attention maps: each probe image, the heatmap and the two overlaid."""
    from rich.console import Console

    from vitui.render.pictures import attention_report, map_count, pick_by_step
    from vitui.core.events import Attention
    from vitui.core.runfolder import read_events

    path = locate_run(run_name, runs_dir)
    events = [e for e in read_events(path) if isinstance(e, Attention)]
    if not events:
        raise fail(f"run {path.name} has no attention maps yet: only ViT runs log them (model vit), "
                   f"every attention_every steps and at the end")
    event = pick_by_step(events, step)
    layers, heads = map_count(event)
    layer_index = _choice_index("--layer", layer, "rollout", layers)
    head_index = _choice_index("--head", head, "mean", heads)
    if probe is not None and not 1 <= probe <= len(event.labels):
        raise fail(f"bad --probe {probe}: this run has probes 1..{len(event.labels)}")
    steps = ", ".join(str(e.step) for e in events)
    console = Console()
    console.print(f"[bold]{path.name}[/]  attention at step {event.step} (logged at steps {steps})", highlight=False)
    console.print(attention_report(event, layer=layer_index, head=head_index,
                                   probes=None if probe is None else [probe - 1]))


def _choice_index(option: str, value: str, whole: str, count: int) -> Optional[int]:
    """'3' -> 2 (0-based); the word for 'all of them' (rollout, mean) -> None; anything else is a usage error."""
    if value.strip().lower() == whole:
        return None
    try:
        number = int(value)
    except ValueError:
        number = 0
    if not 1 <= number <= count:
        raise fail(f"bad {option} {value!r}: use 1..{count} or {whole}")
    return number - 1


@app.command()
def misclassified(
    run_name: str = typer.Argument(..., metavar="RUN", help="run folder, name, or a unique part of it"),
    runs_dir: Optional[Path] = RUNS_DIR_OPTION,
) -> None:
    """Show the validation images an image run got wrong, with true and predicted labels."""
    from rich.console import Console

    from vitui.render.pictures import MisclassifiedGrid
    from vitui.core.events import Misclassified
    from vitui.core.runfolder import read_events

    path = locate_run(run_name, runs_dir)
    found = [e for e in read_events(path) if isinstance(e, Misclassified)]
    if not found:
        raise fail(f"run {path.name} has no misclassified images: image runs log them when they finish "
                   f"(misclassified > 0)")
    Console().print(MisclassifiedGrid(found[-1]))


@runs_app.command("compare")
def runs_compare(run_names: list[str] = typer.Argument(..., metavar="RUN...", help="runs to compare (names or unique parts)"),
                 runs_dir: Optional[Path] = RUNS_DIR_OPTION) -> None:
    """Models side by side: parameters, multiply-adds per image, images/s, the best figure and when it came."""
    from vitui.render.reports import comparison_table
    from vitui.core.runfolder import find_run, load_run

    folder = runs_dir_or_default(runs_dir)
    try:
        runs = [load_run(find_run(folder, name)) for name in run_names]
    except LookupError as exc:
        raise fail(str(exc)) from None
    make_console().print(comparison_table(runs))


@app.command()
def sample(run_name: str = typer.Argument(..., metavar="RUN", help="run folder, name, or a unique part of it"),
           n: int = typer.Option(20, "--n", min=1, max=10_000, help="how many names"),
           temperature: float = typer.Option(0.8, "--temperature", min=0.05, max=10.0,
                                             help="< 1 safer names, > 1 wilder"),
           seed: Optional[int] = typer.Option(None, "--seed", min=0, help="seed for reproducible names [default: random]"),
           checkpoint: str = typer.Option("best", "--checkpoint", help="best or last"),
           runs_dir: Optional[Path] = RUNS_DIR_OPTION) -> None:
    """Sample names from a character model's checkpoint, marking those not in its training list."""
    from vitui.core.runfolder import CHECKPOINTS, load_run

    path = locate_run(run_name, runs_dir)
    if checkpoint not in ("best", "last"):
        raise fail(f"bad --checkpoint {checkpoint!r}; choose best or last")
    if load_run(path).config.get("task") != "chars":
        raise fail(f"run {path.name} is not a character model; sampling needs a run of rnn-, lstm- or gru-dinos")
    files = [path / CHECKPOINTS / f"{name}.pt" for name in (checkpoint, "last", "best")]
    found = next((f for f in files if f.is_file()), None)
    if found is None:
        raise fail(f"run {path.name} has no checkpoint yet (looked in {path / CHECKPOINTS})")
    if seed is None:
        seed = int.from_bytes(os.urandom(4), "little")
    from runners.char_learners import sample_checkpoint

    names, novel = sample_checkpoint(found, n, temperature, seed)
    width = max((len(name) for name in names), default=0)
    for name, is_new in zip(names, novel):
        typer.echo(f"{name:<{width}}  {'novel' if is_new else 'in training set'}")
    typer.echo(f"{sum(novel)}/{len(names)} novel  ({found.parent.parent.name}, {found.stem} checkpoint, "
               f"temperature {temperature:g}, seed {seed})")


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
