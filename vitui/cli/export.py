"""Provides `vitui export`: runs to TensorBoard event files, CSV or JSON lines, for the tools that read those."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from vitui.cli.base import RUNS_DIR_OPTION, app, fail, locate_run


@app.command()
def export(run_names: list[str] = typer.Argument(..., metavar="RUN...", help="run folders, names, or unique parts"),
           to: str = typer.Option(..., "--to", metavar="tfevents|csv|jsonl",
                                  help="tfevents (TensorBoard; needs pip install 'vitui[tensorboard]'), csv or jsonl"),
           out_dir: Path = typer.Argument(..., metavar="DIR", help="where to write: DIR/RUN/, DIR/RUN.csv or DIR/RUN.jsonl"),
           force: bool = typer.Option(False, "--force", help="replace what an earlier export wrote"),
           runs_dir: Optional[Path] = RUNS_DIR_OPTION) -> None:
    """Export runs for other tools: `tensorboard --logdir DIR` reads tfevents; csv and jsonl hold one row per metric
    reading (run, time, step, epoch, split, metric, value)."""
    from vitui.export import FORMATS, export_run
    from vitui.tfevents import MissingExtra

    if to not in FORMATS:
        raise fail(f"bad --to {to!r}: choose {', '.join(FORMATS)}")
    paths = list(dict.fromkeys(locate_run(name, runs_dir) for name in run_names))
    for path in paths:
        try:
            done = export_run(path, out_dir, to, replace=force)
        except (MissingExtra, FileExistsError) as exc:
            raise fail(str(exc)) from None
        except OSError as exc:
            raise fail(f"cannot write in {out_dir}: {exc.strerror or exc}", 1) from None
        typer.echo(done.message())
