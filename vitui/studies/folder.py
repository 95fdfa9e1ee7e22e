"""Provides the study folder: the study's definition, its queue and the lock that hands each run to one process.

runs/studies/<id>/
    study.json      the definition (vitui.studies.definition.Study), written once
    queue.json      per run of the study (its place in the queue): the run folder that ran it and when it was taken
    runners.json    the processes running the study now (pid, host), so others can see it and stop it
    lock            flock, held only while the queue is read and changed
    output.log      a study started from the app: its headless output

The runs themselves are ordinary run folders under runs/, each with a study.json saying which study and which
place in its grid. A run's state is read from its own folder, so the queue never disagrees with the runs.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from vitui.core import runfolder
from vitui.studies.definition import Job, Study, jobs

STUDIES = "studies"  # under the runs folder
STUDY, QUEUE, RUNNERS, LOCK, OUTPUT = "study.json", "queue.json", "runners.json", "lock", "output.log"
RUN_MARK = "study.json"  # in a run folder: the study it belongs to and its place in the grid
ACTIVE = ("created", "running")


@dataclass
class JobState:
    """One run of a study as it stands: pending, or the state of the run folder that ran it last."""

    job: Job
    run: runfolder.RunInfo | None

    @property
    def state(self) -> str:
        if self.run is None:
            return "pending"
        return "crashed" if self.run.crashed else self.run.state

    @property
    def done(self) -> bool:
        return self.state == "completed"


def studies_root(runs_dir: Path) -> Path:
    return Path(runs_dir) / STUDIES


def read_json(path: Path, default: Any) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return default


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process, but alive
    return True


class StudyFolder:
    """One study's folder under runs/studies/."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._study: Study | None = None

    @property
    def id(self) -> str:
        return self.path.name

    @property
    def runs_dir(self) -> Path:
        return self.path.parent.parent

    @classmethod
    def create(cls, runs_dir: Path, study: Study) -> "StudyFolder":
        """The study's folder, made on first use; the same study (same id) finds the folder it ran in before."""
        folder = cls(studies_root(runs_dir) / study.id)
        folder.path.mkdir(parents=True, exist_ok=True)
        if not (folder.path / STUDY).is_file():
            runfolder.write_json_atomic(folder.path / STUDY, {**study.to_dict(), "id": study.id, "created": time.time()})
        folder._study = study
        return folder

    @property
    def study(self) -> Study:
        if self._study is None:
            self._study = Study.from_dict(read_json(self.path / STUDY, {}))
        return self._study

    @property
    def created(self) -> float:
        return float(read_json(self.path / STUDY, {}).get("created", 0.0))

    def jobs(self) -> list[Job]:
        return jobs(self.study)

    # ------------------------------------------------------------------ the lock and the queue
    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the study's lock: one process at a time reads and changes its queue."""
        with (self.path / LOCK).open("a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def entries(self) -> dict[str, dict[str, Any]]:
        return read_json(self.path / QUEUE, {})

    def claim(self, since: float, start: Callable[[Job, runfolder.RunInfo | None], Path]) -> tuple[Job, Path] | None:
        """Take the first run nobody has done or is doing, and start it with `start(job, previous)` (which returns its
        run folder) while holding the lock, so two processes never start the same run. `previous` is the run folder
        of an earlier try that did not complete (None the first time): the starter may continue it from its last
        checkpoint.

        A run that failed or was stopped is taken again only when it was taken before `since` (when this process
        began): running the command again retries it, but a process does not retry its own failures in a loop,
        nor one another process is just reporting.
        """
        with self.locked():
            entries = self.entries()
            for job in self.jobs():
                entry = entries.get(str(job.index))
                previous = None
                if entry is not None:
                    previous = runfolder.load_run(self.runs_dir / entry["run"])
                    state = previous.state
                    if state == "completed" or state in ACTIVE or entry.get("taken", 0.0) >= since:
                        continue
                run_dir = start(job, previous)
                entries[str(job.index)] = {"run": run_dir.name, "taken": time.time(),
                                           "host": socket.gethostname(), "pid": os.getpid()}
                runfolder.write_json_atomic(self.path / QUEUE, entries)
                return job, run_dir
        return None

    def job_states(self) -> list[JobState]:
        entries = self.entries()
        states = []
        for job in self.jobs():
            entry = entries.get(str(job.index))
            run = runfolder.load_run(self.runs_dir / entry["run"]) if entry else None
            states.append(JobState(job, run))
        return states

    # ------------------------------------------------------------------ who runs it
    def add_runner(self) -> None:
        with self.locked():
            runners = self._live_runners()
            runners[str(os.getpid())] = {"host": socket.gethostname(), "started": time.time()}
            runfolder.write_json_atomic(self.path / RUNNERS, runners)

    def remove_runner(self) -> None:
        with self.locked():
            runners = self._live_runners()
            runners.pop(str(os.getpid()), None)
            runfolder.write_json_atomic(self.path / RUNNERS, runners)

    def runners(self) -> dict[str, dict[str, Any]]:
        """The processes running this study now (those on this host that died are left out)."""
        return self._live_runners()

    def _live_runners(self) -> dict[str, dict[str, Any]]:
        here = socket.gethostname()
        return {pid: info for pid, info in read_json(self.path / RUNNERS, {}).items()
                if info.get("host") != here or pid_alive(int(pid))}


def mark_run(run_dir: Path, study_id: str, job: Job) -> None:
    """Record in a run's folder which study it belongs to and its place in the grid."""
    runfolder.write_json_atomic(run_dir / RUN_MARK, {"study": study_id, "job": job.index, "point": job.point.index,
                                                     "label": job.point.label, "settings": job.point.settings,
                                                     "seed": job.seed, "repeat": job.repeat})


def run_mark(run_dir: Path) -> dict[str, Any]:
    """A run's study and place in the grid ({} for a run that belongs to no study)."""
    return read_json(Path(run_dir) / RUN_MARK, {})


def list_studies(runs_dir: Path) -> list[StudyFolder]:
    """Every study under the runs folder, newest first."""
    root = studies_root(runs_dir)
    if not root.is_dir():
        return []
    folders = [StudyFolder(p) for p in root.iterdir() if (p / STUDY).is_file()]
    return sorted(folders, key=lambda f: f.created, reverse=True)


def find_study(runs_dir: Path, name: str) -> StudyFolder:
    """A study by id, folder path, or a unique part of its id (its name, when it ran once)."""
    direct = Path(name)
    if (direct / STUDY).is_file():
        return StudyFolder(direct)
    studies = list_studies(runs_dir)
    exact = [s for s in studies if s.id == name]
    matches = exact or [s for s in studies if name in s.id]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise LookupError(f"no study {name!r} in {studies_root(runs_dir)}; see `vitui studies list`")
    raise LookupError(f"{name!r} matches {len(matches)} studies: {', '.join(s.id for s in matches[:5])}; give the id")
