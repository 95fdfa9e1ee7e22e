"""Provides deleting runs to a trash folder inside the runs folder, restoring them, and purging the trash.

A deleted run is moved whole to <runs>/.trash/<name>/ (a rename: instant, and nothing is lost until a purge), with
trashed.json inside saying when and from where. A live run is never moved: its worker still writes its folder.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from vitui.core import jsonfile, runfolder

TRASH = ".trash"
TRASHED = "trashed.json"  # inside a run in the trash: {"time": when it was deleted, "from": its folder then}
AGE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


class RunBusy(Exception):
    """A run that is training (or starting) cannot be deleted or archived."""


def live_problem(run: runfolder.RunInfo) -> str:
    """Why the run may not be moved or hidden now ("" when it may): its worker is alive, or may be."""
    state = run.state
    if state == "running":
        where = "" if run.same_host else f" on {run.status.get('host', 'another host')} (its heartbeat is fresh)"
        return f"{run.name} is training{where}: stop it first (s on its live screen), then try again"
    if state == "created":
        return f"{run.name} is starting: wait for it to run or fail, then try again"
    return ""


def check_not_live(run_dir: Path) -> None:
    problem = live_problem(runfolder.load_run(run_dir))
    if problem:
        raise RunBusy(problem)


def trash_dir(runs_dir: Path) -> Path:
    return runs_dir / TRASH


def _free_name(folder: Path, name: str) -> Path:
    """folder/name, or folder/name-2, -3, ... when that is taken."""
    path, n = folder / name, 1
    while os.path.lexists(path):
        n += 1
        path = folder / f"{name}-{n}"
    return path


def delete_run(run_dir: Path) -> Path:
    """Move a run to the trash of its runs folder; where it went. RunBusy for a live run, OSError for the disk."""
    run_dir = Path(run_dir)
    check_not_live(run_dir)
    trash = trash_dir(run_dir.parent)
    trash.mkdir(exist_ok=True)
    target = _free_name(trash, run_dir.name)
    os.rename(run_dir, target)
    runfolder.write_json_atomic(target / TRASHED, {"time": time.time(), "from": str(run_dir)})
    return target


@dataclass
class TrashedRun:
    path: Path
    deleted: float  # Unix seconds
    origin: Path  # the folder it was deleted from

    @property
    def name(self) -> str:
        return self.path.name


def trashed_runs(runs_dir: Path) -> list[TrashedRun]:
    """What the trash holds, oldest deletion first."""
    found = []
    for path, _ in runfolder.run_folders(trash_dir(runs_dir)):
        record, _ = jsonfile.read_object(path / TRASHED)
        deleted = record.get("time")
        if not isinstance(deleted, (int, float)):
            deleted = path.stat().st_mtime
        origin = record.get("from")
        origin = Path(origin) if isinstance(origin, str) and origin else runs_dir / path.name
        found.append(TrashedRun(path, float(deleted), origin))
    return sorted(found, key=lambda t: t.deleted)


def find_trashed(runs_dir: Path, name: str) -> TrashedRun:
    """A run in the trash by its name or a unique part of it; LookupError naming every match otherwise."""
    runs = trashed_runs(runs_dir)
    exact = [t for t in runs if t.name == name]
    matches = exact or [t for t in runs if name and name in t.name]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise LookupError(f"no run {name!r} in {trash_dir(runs_dir)}; `vitui runs restore` lists the trash")
    raise LookupError(f"{name!r} matches {len(matches)} runs in the trash: {', '.join(t.name for t in matches)}; "
                      f"give more of the name")


def restore_run(runs_dir: Path, trashed: TrashedRun) -> Path:
    """Move a run back from the trash to where it was deleted from; FileExistsError if that name is taken again."""
    target = trashed.origin if trashed.origin.parent.is_dir() else runs_dir / trashed.origin.name
    if os.path.lexists(target):
        raise FileExistsError(f"{target} exists again; move it away first, or restore by hand from {trashed.path}")
    os.rename(trashed.path, target)
    (target / TRASHED).unlink(missing_ok=True)
    return target


def purge(runs_dir: Path, older_than: float = 0.0) -> list[TrashedRun]:
    """Delete for good the runs deleted more than `older_than` seconds ago; those purged."""
    cutoff = time.time() - older_than
    gone = [t for t in trashed_runs(runs_dir) if t.deleted <= cutoff]
    for trashed in gone:
        shutil.rmtree(trashed.path)
    return gone


def parse_age(text: str) -> float:
    """"30d" -> seconds; s, m, h, d and w; ValueError with the forms it takes."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*", text)
    if not match:
        raise ValueError(f"bad age {text!r}: write a number and a unit, e.g. 30d, 12h, 90m, 2w")
    return float(match.group(1)) * AGE_UNITS[match.group(2)]
