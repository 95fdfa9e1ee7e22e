"""Provides the worker process: it owns the run log, trains, and reports events to the parent's queue.

The parent (headless printer or the app) only reads the queue and sends control messages; this
process alone writes events.jsonl, checkpoints and the final status, so the log tells the truth
even when the parent is gone.
"""

from __future__ import annotations

import os
import queue as queue_module
import signal
import time
import traceback
from pathlib import Path
from typing import Any, Callable

from vitui import runstore, stops
from vitui.config import ConfigError, RunConfig
from vitui.events import Event, Log, Status


class StopRequested(Exception):
    """Raised inside a training loop when the user asked to stop; the loop saves and unwinds."""


class RunContext:
    """Everything a training loop needs from its surroundings: where to write, how to report, when to stop."""

    def __init__(self, run_dir: Path, data_dir: Path | None, events: Any, control: Any):
        self.run_dir = run_dir
        self.data_dir = data_dir
        self.log_file = runstore.EventLog(run_dir)
        self._events = events
        self._control = control
        self._control_file = runstore.ControlReader(run_dir)
        self._parent = os.getppid()
        self.detached = events is None
        self.stop_reason = ""
        self.settings: dict[str, Any] = {}  # live-adjustable knobs (e.g. sampling temperature)
        self._last_poll = 0.0

    # ---- reporting
    def emit(self, event: Event) -> None:
        self.log_file.write(event)
        if not self.detached:
            try:
                self._events.put_nowait(event)
            except (ValueError, OSError, queue_module.Full):
                self.detached = True

    def info(self, message: str) -> None:
        self.emit(Log(level="info", message=message))

    def warn(self, message: str) -> None:
        self.emit(Log(level="warning", message=message))

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


def _train(config: RunConfig, ctx: RunContext) -> dict[str, Any]:
    """Dispatch to the task's training loop; imported here so each loop loads only what it needs."""
    trainers: dict[str, Callable[[], Callable[[RunConfig, RunContext], dict[str, Any]]]] = {
        "numpy-mlp": lambda: __import__("runners.train_numpy_mlp", fromlist=["train"]).train,
        "image": lambda: __import__("runners.train_image", fromlist=["train"]).train,
        "chars": lambda: __import__("runners.train_chars", fromlist=["train"]).train,
    }
    return trainers[config.task]()(config, ctx)


def worker_main(run_dir: str, data_dir: str | None, events: Any, control: Any) -> int:
    """Entry point of the worker process. Returns (and exits with) 0, 1 or 130 like the CLI."""
    run_path = Path(run_dir)
    lock = runstore.RunLock(run_path)
    ctx = RunContext(run_path, Path(data_dir) if data_dir else None, events, control)
    # Ctrl-C in a terminal reaches the whole process group; SIGTERM comes from batch schedulers.
    # Both ask for a graceful stop: finish the step, save a checkpoint, mark the run stopped, saying which.
    signal.signal(signal.SIGINT, lambda signum, _: ctx.request_stop(stops.by_signal(signum)))
    signal.signal(signal.SIGTERM, lambda signum, _: ctx.request_stop(stops.by_signal(signum)))
    # A closed SSH session must not kill a run the user chose to leave going.
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    started = time.time()

    def finish(state: str, detail: str = "", **extra: Any) -> None:
        ctx.emit(Status(state=state, detail=detail))
        runstore.write_status(run_path, state, detail, pid=os.getpid(), started=started, ended=time.time(), **extra)

    runstore.write_status(run_path, "running", pid=os.getpid(), started=started)
    ctx.emit(Status(state="running"))
    code = 0
    try:
        config = RunConfig.from_dict(runstore.load_run(run_path).config)
        summary = _train(config, ctx)
        runstore.write_json_atomic(run_path / runstore.SUMMARY, summary)
        if ctx.stopping:
            finish("stopped", ctx.stop_reason)
            code = 130
        else:
            finish("completed")
    except StopRequested as stop:
        finish("stopped", str(stop))
        code = 130
    except ConfigError as exc:  # missing data, bad settings: the message is the whole story
        ctx.emit(Log(level="error", message=str(exc)))
        finish("failed", str(exc), usage_error=True)
        code = 2
    except Exception as exc:  # noqa: BLE001 - every crash must end up in the log
        message = _one_line(exc)
        ctx.emit(Log(level="error", message=traceback.format_exc()))
        finish("failed", message)
        code = 1
    finally:
        ctx.log_file.close()
        lock.release()
        if events is not None:
            # Let the queue's feeder thread hand over the last events before the process exits.
            events.close()
            events.join_thread()
    return code


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def run_in_process(run_dir: str, data_dir: str | None, events: Any, control: Any, output: str | None = None) -> None:
    """multiprocessing target: the exit code carries the outcome to the parent.

    With `output` (the app starts workers so), the process's stdout and stderr go to that file and stdin
    to /dev/null: a library warning printed to the terminal would tear through the app's screen.
    """
    if output:
        fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
    raise SystemExit(worker_main(run_dir, data_dir, events, control))
