"""Provides the worker's heartbeat: status.json's `heartbeat` refreshed every HEARTBEAT_S seconds while the run trains.

On the worker's own host a dead worker shows through its free lock; from another host sharing the runs folder
(NFS) the lock cannot be checked, so readers go by this time instead and call a run whose heart stopped "stale".
A thread beats, so a long evaluation or a step stuck in a library call does not make a live run look dead.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from vitui.core import jsonfile, runfolder

HEARTBEAT_S = 15.0  # readers call a run stale after runfolder.STALE_AFTER_S (3 minutes) without a beat


class Heartbeat:
    """Refreshes `heartbeat` (and `time`) in status.json while it says "running"; stop() before the final status."""

    def __init__(self, run_dir: Path, every: float = HEARTBEAT_S):
        self.run_dir = run_dir
        self.every = every
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """No beat after this returns, so none can overwrite the final status the worker writes next."""
        self._stopped.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()

    def _run(self) -> None:
        while not self._stopped.is_set():
            self.beat()
            self._stopped.wait(self.every)

    def beat(self) -> None:
        # Read back what the status says rather than keep a copy: whatever else the worker recorded stays.
        status, problem = jsonfile.read_object(self.run_dir / runfolder.STATUS)
        if problem or status.get("state") != "running" or self._stopped.is_set():
            return
        now = time.time()
        status.update(heartbeat=now, time=now)
        try:
            runfolder.write_json_atomic(self.run_dir / runfolder.STATUS, status)
        except OSError:
            pass  # a full or vanished disk: the run's own writes will fail and say so
