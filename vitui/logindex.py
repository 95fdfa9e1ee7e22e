"""Provides LOG_INDEX: each run log the app has read, kept as the RunState built from it and the byte offset where
reading stopped, so a run reopened from the browser shows at once and reads only what was appended since.

A log of a million events takes seconds to read (benchmarks/bench_runs.py); it is read once, in a thread, with a
progress line. A RunState is bounded (reduced series, a few dozen extra events), so keeping a few costs little.
No Textual.
"""

from __future__ import annotations

import gc
import os
import threading
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from vitui.core import runfolder
from vitui.runstate import RunState, load_run_state

KEEP = 8  # logs kept at most; the least recently opened goes first
Progress = Callable[[int, int], None]  # (bytes read, bytes in the log)


@dataclass
class IndexedLog:
    run: RunState
    inode: int | None = None  # the log file read: another file under the same name is read afresh
    offset: int = 0  # bytes of whole lines read so far
    lock: threading.Lock = field(default_factory=threading.Lock)


class LogIndex:
    def __init__(self, keep: int = KEEP):
        self.keep = keep
        self._logs: OrderedDict[Path, IndexedLog] = OrderedDict()
        self._lock = threading.Lock()

    def state(self, run_dir: Path) -> RunState:
        """The run's state as far as it was read (a new, empty one the first time): what a screen draws from."""
        run_dir = Path(run_dir).resolve()
        with self._lock:
            log = self._logs.get(run_dir)
            if log is None or log.inode is not None and log.inode != _inode(run_dir):
                info = runfolder.load_run(run_dir)
                log = self._logs[run_dir] = IndexedLog(RunState(info.name, info.config))
            self._logs.move_to_end(run_dir)
            while len(self._logs) > self.keep:
                self._logs.popitem(last=False)
            return log.run

    def read(self, run_dir: Path, progress: Progress | None = None) -> RunState:
        """Read what the log holds past the last read into the run's state, and its final status; call from a
        thread. `progress` hears (bytes read, log size) as it goes."""
        run_dir = Path(run_dir).resolve()
        state = self.state(run_dir)
        log = self._logs.get(run_dir)
        if log is None or log.run is not state:  # pushed out by other runs between the two calls: read it all
            log = IndexedLog(state)
        with log.lock, _collector_paused():
            log.inode = _inode(run_dir)
            reader = runfolder.EventReader(run_dir, start=log.offset)
            load_run_state(run_dir, state, reader=reader, progress=progress)
            log.offset = reader.offset
        return state

    def offset(self, run_dir: Path) -> int:
        log = self._logs.get(Path(run_dir).resolve())
        return log.offset if log is not None else 0


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cycle collector off while a log is read. Reading makes millions of short-lived objects (a parsed line,
    an event), and each few hundred of them start a collection that walks whatever the app holds: 13 to 20 % of a
    long log's read (benchmarks/bench_runs.py). Reference counting still frees them; only cycles wait the few
    seconds. Left as it was found: off stays off, and of two reads at once the first to end turns it back on."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


def _inode(run_dir: Path) -> int | None:
    try:
        return os.stat(run_dir / runfolder.EVENTS).st_ino
    except OSError:
        return None


LOG_INDEX = LogIndex()
