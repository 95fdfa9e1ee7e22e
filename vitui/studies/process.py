"""Provides starting a study in a process of its own (`vitui studies run ID`), for the app: the study goes on
when the app quits, like a run left training, and the studies screen follows it through its folder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import vitui
from vitui.studies.folder import OUTPUT, StudyFolder, pid_alive


def study_command(folder: StudyFolder, runs_dir: Path, data_dir: Path | None, parallel: int | None) -> list[str]:
    command = [sys.executable, "-m", "vitui", "studies", "run", str(folder.path), "--runs-dir", str(runs_dir)]
    if data_dir is not None:
        command += ["--data-dir", str(data_dir)]
    if parallel is not None:
        command += ["--parallel", str(parallel)]
    return command


def start_study_process(folder: StudyFolder, runs_dir: Path, data_dir: Path | None,
                        parallel: int | None = None) -> subprocess.Popen:
    """Run the study headless in a new session (a Ctrl-C or a closed terminal here does not reach it), its output
    appended to the study folder's output.log."""
    root = str(Path(vitui.__file__).resolve().parent.parent)  # the same vitui as this process, installed or not
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)}
    with (folder.path / OUTPUT).open("ab") as log:
        return subprocess.Popen(study_command(folder, runs_dir, data_dir, parallel), stdin=subprocess.DEVNULL,
                                stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)


def stop_study(folder: StudyFolder) -> int:
    """Ask the processes running a study on this host to stop it (as Ctrl-C would): their runs in flight save a
    checkpoint and the study can be resumed. Returns how many were asked."""
    asked = 0
    for pid in folder.runners():
        if pid_alive(int(pid)):
            try:
                os.kill(int(pid), signal.SIGINT)
                asked += 1
            except OSError:
                continue
    return asked


def study_farewell(folder: StudyFolder) -> str:
    """Where a study stands when the app that showed it is gone: it runs in a process of its own."""
    from vitui.render.studies import study_state

    states = folder.job_states()
    done = sum(1 for s in states if s.done)
    if study_state(folder, states) == "running":
        return (f"study {folder.id} goes on in the background ({done} of {len(states)} runs done): "
                f"`vitui studies show {folder.id}`")
    return f"study {folder.id}: {done} of {len(states)} runs done; `vitui studies show {folder.id}` prints its table"
