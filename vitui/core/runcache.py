"""Provides RunCache: the runs folder's listing, each run folder read again only when it changed.

A run folder's own modification time moves whenever a file in it is created, removed or replaced, and the
worker replaces status.json and summary.json atomically (a rename), as `vitui runs note` does notes.json; the
status file's own time and size cover a hand edit in place. A warm listing of 5,000 runs is then three stat
calls a run instead of four files read and parsed (benchmarks/bench_runs.py).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from vitui.core.runfolder import STATUS, RunInfo, folder_entries, load_run, run_folder_problem

Key = tuple


def folder_key(path: str, folder: os.stat_result) -> Key:
    """What changes when the run folder's content changes."""
    try:
        status = os.stat(path + "/" + STATUS)
        status_key: tuple | None = (status.st_mtime_ns, status.st_size, status.st_ino)
    except OSError:
        status_key = None
    return folder.st_ino, folder.st_mtime_ns, status_key


class RunCache:
    """list_runs with memory, safe to call from a thread (one listing at a time). The warm path is two stat calls
    a folder and little Python, so a listing in a thread barely slows the interface's own thread."""

    def __init__(self) -> None:
        self._runs: dict[str, tuple[Key | None, RunInfo]] = {}
        self._lock = threading.Lock()
        self.read = 0  # folders read by the last listing (the rest came from memory)

    def list(self, runs_dir: Path) -> list[RunInfo]:
        """Every run in the runs folder by name, as runfolder.list_runs gives them."""
        with self._lock:
            listed: dict[str, tuple[Key | None, RunInfo]] = {}
            self.read = 0
            for entry in folder_entries(runs_dir):
                try:
                    key: Key | None = folder_key(entry.path, entry.stat())
                except OSError:
                    key = None
                kept = self._runs.get(entry.path)
                if kept is None or key is None or kept[0] != key:
                    problem = run_folder_problem(entry.path)
                    if problem is None:
                        continue  # not a run folder (no config.json)
                    path = Path(entry.path)
                    kept = (key, load_run(path) if not problem else RunInfo(path, {}, {}, problem=problem))
                    self.read += 1
                listed[entry.path] = kept
            self._runs = listed
            return [run for _, run in listed.values()]
