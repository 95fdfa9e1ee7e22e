"""Provides RunContext, all a training loop sees of the world: report events, write checkpoints and the summary,
take control requests (stop, live settings) from the app or the run folder.

The worker makes one per run and hands it to the task's loop; loops never touch the run folder themselves.
"""

from __future__ import annotations

import os
import queue as queue_module
import time
from pathlib import Path
from typing import Any

from runners.checkpoint import save_checkpoint
from vitui.core import runfolder, stops
from vitui.core.events import Event, Log


class StopRequested(Exception):
    """Raised inside a training loop when the user asked to stop; the loop saves and unwinds."""


class RunContext:
    """Everything a training loop needs from its surroundings: where to write, how to report, when to stop."""

    def __init__(self, run_dir: Path, data_dir: Path | None, events: Any, control: Any):
        self.run_dir = run_dir
        self.data_dir = data_dir
        self.config = runfolder.load_run(run_dir).config  # the resolved settings, as config.json holds them
        self.log_file = runfolder.EventLog(run_dir)
        self._events = events
        self._control = control
        self._control_file = runfolder.ControlReader(run_dir)
        self._parent = os.getppid()
        self.detached = events is None
        self.stop_reason = ""
        self.settings: dict[str, Any] = {}  # live-adjustable knobs (e.g. sampling temperature)
        self._last_poll = 0.0

    # ---- reporting: events, checkpoints, the summary
    def emit(self, event: Event) -> None:
        """Append the event to the log and hand it to the parent. When the log cannot take it (a full disk), the
        parent still gets it, then the OSError ends the run."""
        try:
            self.log_file.write(event)
        finally:
            if not self.detached:
                try:
                    self._events.put_nowait(event)
                except (ValueError, OSError, queue_module.Full):
                    self.detached = True

    def info(self, message: str) -> None:
        self.emit(Log(level="info", message=message))

    def warn(self, message: str) -> None:
        self.emit(Log(level="warning", message=message))

    def checkpoint(self, name: str, **payload: Any) -> Path:
        """checkpoints/<name>.pt (model, optimizer, step, epoch, ...), written atomically with the run's config
        added; the event log is synced with it, so the log never trails a checkpoint after a crash."""
        path = save_checkpoint(self.run_dir / runfolder.CHECKPOINTS, name, config=self.config, **payload)
        self.log_file.sync()
        return path

    def summary(self, figures: dict[str, Any]) -> None:
        """The run's latest (and, at the end, final) figures in summary.json, replaced atomically."""
        runfolder.write_json_atomic(self.run_dir / runfolder.SUMMARY, figures)

    # ---- control
    def request_stop(self, reason: str) -> None:
        if not self.stop_reason:
            self.stop_reason = reason

    def poll(self) -> None:
        """Read control messages; called by loops at logging intervals (cheap, at most ~20 times/s)."""
        now = time.monotonic()
        if now - self._last_poll < 0.05:
            return
        self._last_poll = now
        # Control messages first: an app that sent "detach" and exited at once must find its run still going.
        while self._control is not None:
            try:
                message = self._control.get_nowait()
            except (queue_module.Empty, OSError, ValueError):
                break
            self.handle_control(message)
        for message in self._control_file.read():
            self.handle_control(message)
        if not self.detached and os.getppid() != self._parent:
            self.detached = True
            self.request_stop(stops.PARENT_EXITED)

    def handle_control(self, message: dict[str, Any]) -> None:
        action = message.get("action")
        if action == "stop":
            self.request_stop(str(message.get("reason") or stops.BY_USER))
        elif action == "detach":
            # The app quit and left this run going: keep training, log only. Nobody reads the queue any
            # more, so exiting must not wait to flush it.
            self.detached = True
            if self._events is not None:
                self._events.cancel_join_thread()
        elif action == "set":
            self.settings.update(message.get("values", {}))
            self.info(f"settings changed: {message.get('values')}")

    def check_stop(self) -> None:
        self.poll()
        if self.stop_reason:
            raise StopRequested(self.stop_reason)

    @property
    def stopping(self) -> bool:
        return bool(self.stop_reason)
