"""Provides run sources the app follows: a worker it started (RunHandle) or a log someone else is writing.

Both answer the same few questions from a thread: new events, still alive, how it ended; and take the
same two requests: stop (gracefully) and detach (leave it training after the app exits). No Textual.
"""

from __future__ import annotations

import multiprocessing.process
import time
from pathlib import Path
from typing import Any, Protocol

from vitui.core import runfolder
from vitui.core.events import Event, Status


class RunSource(Protocol):
    run_dir: Path
    owned: bool  # started by this app: quitting must decide what happens to it

    def poll(self, timeout: float) -> list[Event]: ...

    @property
    def alive(self) -> bool: ...

    def finish(self) -> tuple[str, str]: ...

    def stop(self, reason: str) -> None: ...

    def detach(self) -> None: ...

    def send(self, message: dict[str, Any]) -> None: ...

    def send_problem(self) -> str: ...


class HandleSource:
    """A worker process this app started (vitui.launch.RunHandle, or a test's fake with the same methods)."""

    owned = True

    def __init__(self, handle: Any):
        self.handle = handle
        self.run_dir = Path(handle.run_dir).resolve()  # one key per run, however its path was spelt

    def poll(self, timeout: float) -> list[Event]:
        return self.handle.poll(timeout=timeout)

    @property
    def alive(self) -> bool:
        return self.handle.alive

    def finish(self) -> tuple[str, str]:
        """Final state and its detail; a silent death (SIGKILL, OOM) is recorded as failed by reap()."""
        state = self.handle.reap()
        detail = runfolder.load_run(self.run_dir).status.get("detail", "")
        return state, detail

    def stop(self, reason: str) -> None:
        """A graceful stop through the worker's queue; `reason` (vitui.core.stops) becomes the run's final detail."""
        self.handle.stop(reason)

    def send(self, message: dict[str, Any]) -> None:
        """A control message for the worker, e.g. {"action": "set", "values": {"temperature": 0.5}}."""
        self.handle.send(message)

    def send_problem(self) -> str:
        """Why send() cannot reach the worker ("" when it can): never, while it runs, for a worker this app started."""
        return ""

    def detach(self) -> None:
        """Tell the worker to go on alone, and stop multiprocessing from joining it when we exit.

        multiprocessing's atexit hook joins every non-daemon child it started, which would keep this
        process (and the user's terminal) waiting until the run ends. Forgetting the child is enough:
        it is a separate process that owns its log, and it ignores SIGHUP.
        """
        self.handle.detach()
        process = getattr(self.handle, "process", None)
        if isinstance(process, multiprocessing.process.BaseProcess):
            multiprocessing.process._children.discard(process)  # type: ignore[attr-defined]


class TailSource:
    """A run started elsewhere (another terminal, nohup, `--no-tui`): follow its log as it grows."""

    owned = False

    def __init__(self, run_dir: Path, check_every: float = 0.5):
        self.run_dir = Path(run_dir).resolve()
        self._tail = runfolder.EventTail(self.run_dir)
        self._check_every = check_every
        self._checked = 0.0
        self._alive = True
        self._final: tuple[str, str] | None = None

    def poll(self, timeout: float) -> list[Event]:
        events = self._tail.poll()
        if not events and timeout > 0:
            time.sleep(timeout)
            events = self._tail.poll()
        for event in events:
            if isinstance(event, Status) and event.state in runfolder.FINISHED:
                self._final = (event.state, event.detail)
        return events

    @property
    def alive(self) -> bool:
        if self._final is not None:
            return False
        now = time.monotonic()
        if now - self._checked >= self._check_every:
            self._checked = now
            # RunInfo.state turns "running" into "failed" once nobody holds the run's lock.
            self._alive = runfolder.load_run(self.run_dir).state in ("created", "running")
        return self._alive

    def finish(self) -> tuple[str, str]:
        """How the run ended; call after draining poll(), which notices a final Status in the log."""
        if self._final is not None:
            return self._final
        info = runfolder.load_run(self.run_dir)
        detail = info.status.get("detail", "")
        if info.crashed:
            detail = detail or "worker process died without finishing"
        return info.state, detail

    def stop(self, reason: str) -> None:
        """Ask the worker for a graceful stop through its run folder (it saves a checkpoint at its next logging
        point and records `reason`, e.g. vitui.core.stops.FROM_BROWSER)."""
        self.send({"action": "stop", "reason": reason})

    def send(self, message: dict[str, Any]) -> None:
        """A control message for the worker, through the run folder (works for runs on another host that share it)."""
        runfolder.send_control(self.run_dir, message)

    def send_problem(self) -> str:
        """Why send() cannot reach the worker ("" when it can): the run folder must take control.jsonl from us."""
        return runfolder.control_problem(self.run_dir)

    def detach(self) -> None:
        """Nothing to do: the run never depended on this app."""
