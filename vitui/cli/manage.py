"""Provides the commands that change runs: note, tag, archive and unarchive; delete to the trash, restore, purge."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer

from vitui.cli.base import RUNS_DIR_OPTION, fail, locate_run, runs_app, runs_dir_or_default

RUN_ARGUMENT = typer.Argument(..., metavar="RUN", help="run folder, name, or a unique part of it")
RUNS_ARGUMENT = typer.Argument(..., metavar="RUN...", help="run folders, names, or unique parts of them")


@runs_app.command("note")
def runs_note(run_name: str = RUN_ARGUMENT,
              text: Optional[str] = typer.Argument(None, help='the note; "" clears it [default: print the note]'),
              runs_dir: Optional[Path] = RUNS_DIR_OPTION) -> None:
    """Write a note on a run (shown by `runs show` and in the browser, matched by its filter), or print it."""
    from vitui.core import notes, runfolder

    path = locate_run(run_name, runs_dir)
    if text is None:
        typer.echo(runfolder.load_run(path).note)
        return
    try:
        notes.set_note(path, text)
    except ValueError as exc:
        raise fail(str(exc)) from None
    except OSError as exc:
        raise fail(f"cannot write the note in {path}: {exc.strerror or exc}", 1) from None


# -old must reach the command as an argument, not be taken for an option.
@runs_app.command("tag", context_settings={"ignore_unknown_options": True})
def runs_tag(run_name: str = RUN_ARGUMENT,
             changes: Optional[list[str]] = typer.Argument(None, metavar="[+TAG|-TAG]...",
                                                           help="+best adds the tag best, -old removes old"),
             runs_dir: Optional[Path] = RUNS_DIR_OPTION) -> None:
    """Add and remove a run's tags (`vitui runs tag RUN +best -old`); with no change, print them."""
    from vitui.core import notes, runfolder

    path = locate_run(run_name, runs_dir)
    if not changes:
        typer.echo(" ".join(runfolder.load_run(path).tags))
        return
    try:
        add, remove = notes.parse_tag_changes(changes)
        tags = notes.change_tags(path, add, remove)
    except ValueError as exc:
        raise fail(str(exc)) from None
    except OSError as exc:
        raise fail(f"cannot write the tags in {path}: {exc.strerror or exc}", 1) from None
    typer.echo(" ".join(tags) if tags else f"{path.name} has no tags now")


def _locate_each(run_names: list[str], runs_dir: Optional[Path]) -> list[Path]:
    """Every run named, or a usage error before any is touched (a name matching several runs lists them)."""
    paths = [locate_run(name, runs_dir) for name in run_names]
    return list(dict.fromkeys(paths))


def _set_archived(run_names: list[str], runs_dir: Optional[Path], archived: bool) -> None:
    from vitui.core import cleanup, notes

    paths = _locate_each(run_names, runs_dir)
    try:
        for path in paths:
            if archived:
                cleanup.check_not_live(path)
            notes.set_archived(path, archived)
            typer.echo(f"{'archived' if archived else 'unarchived'} {path.name}")
    except cleanup.RunBusy as exc:
        raise fail(str(exc)) from None
    except OSError as exc:
        raise fail(f"cannot write in {path}: {exc.strerror or exc}", 1) from None


@runs_app.command("archive")
def runs_archive(run_names: list[str] = RUNS_ARGUMENT, runs_dir: Optional[Path] = RUNS_DIR_OPTION) -> None:
    """Hide runs from `runs list` and the browser (`runs list --all` shows them; `runs unarchive` undoes it)."""
    _set_archived(run_names, runs_dir, True)


@runs_app.command("unarchive")
def runs_unarchive(run_names: list[str] = RUNS_ARGUMENT, runs_dir: Optional[Path] = RUNS_DIR_OPTION) -> None:
    """Show archived runs in the default listing again."""
    _set_archived(run_names, runs_dir, False)


@runs_app.command("delete")
def runs_delete(run_names: list[str] = RUNS_ARGUMENT, runs_dir: Optional[Path] = RUNS_DIR_OPTION) -> None:
    """Move runs to the trash folder inside the runs folder (`runs restore` brings them back, `runs purge` empties it)."""
    from vitui.core import cleanup

    paths = _locate_each(run_names, runs_dir)
    for path in paths:
        try:
            target = cleanup.delete_run(path)
        except cleanup.RunBusy as exc:
            raise fail(str(exc)) from None
        except OSError as exc:
            raise fail(f"cannot move {path} to the trash: {exc.strerror or exc}", 1) from None
        typer.echo(f"deleted {path.name} (moved to {target.parent}; `vitui runs restore {path.name}` brings it back)")


@runs_app.command("restore")
def runs_restore(run_names: Optional[list[str]] = typer.Argument(None, metavar="[RUN]...",
                                                               help="names in the trash [default: list the trash]"),
                 runs_dir: Optional[Path] = RUNS_DIR_OPTION) -> None:
    """Bring deleted runs back from the trash; with no name, list what the trash holds."""
    from vitui.core import cleanup

    folder = runs_dir_or_default(runs_dir)
    if not run_names:
        trashed = cleanup.trashed_runs(folder)
        if not trashed:
            typer.echo(f"the trash of {folder} is empty", err=True)
        for t in trashed:
            typer.echo(f"{t.name}  deleted {time.strftime('%Y-%m-%d %H:%M', time.localtime(t.deleted))}")
        return
    try:
        found = [cleanup.find_trashed(folder, name) for name in run_names]
        for trashed in found:
            target = cleanup.restore_run(folder, trashed)
            typer.echo(f"restored {target.name} to {target.parent}")
    except LookupError as exc:
        raise fail(str(exc)) from None
    except OSError as exc:
        raise fail(str(exc) if isinstance(exc, FileExistsError) else f"cannot restore: {exc.strerror or exc}", 1) from None


@runs_app.command("purge")
def runs_purge(older_than: str = typer.Option("0s", "--older-than", metavar="AGE",
                                              help="only runs deleted longer ago than this: 30d, 12h, 90m, 2w"),
               runs_dir: Optional[Path] = RUNS_DIR_OPTION) -> None:
    """Delete for good the runs in the trash (those deleted longer ago than --older-than)."""
    from vitui.core import cleanup

    try:
        age = cleanup.parse_age(older_than)
    except ValueError as exc:
        raise fail(str(exc)) from None
    folder = runs_dir_or_default(runs_dir)
    try:
        gone = cleanup.purge(folder, age)
    except OSError as exc:
        raise fail(f"cannot purge {cleanup.trash_dir(folder)}: {exc.strerror or exc}", 1) from None
    for trashed in gone:
        typer.echo(f"purged {trashed.name}")
    kept = len(cleanup.trashed_runs(folder))
    typer.echo(f"{len(gone)} purged, {kept} left in the trash", err=True)
