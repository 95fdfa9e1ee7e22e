"""Provides the worker process: it owns the run log, trains, and reports events to the parent's queue.

The parent (headless printer or the app) only reads the queue and sends control messages; this
process alone writes events.jsonl, checkpoints and the final status, so the log tells the truth
even when the parent is gone.
"""

from __future__ import annotations

import os
import signal
import time
import traceback
from importlib import import_module
from pathlib import Path
from typing import Any

from runners.context import Diverged, RunContext, StopRequested
from runners.heartbeat import Heartbeat
from vitui.core import runfolder, stops
from vitui.core.errors import ConfigError
from vitui.core.events import Log, Resumed, Status
from vitui.core.experiments import RunConfig
from vitui.core.models import TASKS


def _train(config: RunConfig, ctx: RunContext) -> dict[str, Any]:
    """The task's training loop, imported now so each run loads only what its task needs (torch or not)."""
    loop = import_module(f"runners.{TASKS[config.task].trainer}")
    return loop.train(config, ctx)


def worker_main(run_dir: str, data_dir: str | None, events: Any, control: Any, resume: bool = False) -> int:
    """Entry point of the worker process. Returns (and exits with) 0, 1 or 130 like the CLI.

    resume: continue the run in `run_dir` from its checkpoints/last.pt (`vitui run --resume`).
    """
    run_path = Path(run_dir)
    lock = runfolder.RunLock(run_path)
    runfolder.remove_temporaries(run_path)  # half-written files of a killed worker; the lock says none is alive
    previous = runfolder.load_run(run_path).status
    ctx = RunContext(run_path, Path(data_dir) if data_dir else None, events, control, resume=resume)
    # Ctrl-C in a terminal reaches the whole process group; SIGTERM comes from batch schedulers.
    # Both ask for a graceful stop: finish the step, save a checkpoint, mark the run stopped, saying which.
    signal.signal(signal.SIGINT, lambda signum, _: ctx.request_stop(stops.by_signal(signum)))
    signal.signal(signal.SIGTERM, lambda signum, _: ctx.request_stop(stops.by_signal(signum)))
    # A closed SSH session must not kill a run the user chose to leave going.
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    # A resumed run keeps its first start, counts its resumes in its status history, and the time it lay stopped.
    started = (previous.get("started") or time.time()) if resume else time.time()
    history = _resume_history(previous) if resume else {}

    def report(event: Log | Status) -> None:
        """The last words: the parent hears them even when the log cannot take them (the disk is full)."""
        try:
            ctx.emit(event)
        except OSError:
            pass

    def finish(state: str, detail: str = "", **extra: Any) -> None:
        heartbeat.stop()
        report(Status(state=state, detail=detail))
        try:
            runfolder.write_status(run_path, state, detail, pid=os.getpid(), started=started, ended=time.time(),
                                   **history, **extra)
        except OSError:
            pass  # not even in place: the parent records the end when it reaps this process

    heartbeat = Heartbeat(run_path)
    code = 0
    try:
        runfolder.write_status(run_path, "running", pid=os.getpid(), started=started, **history)
        heartbeat.start()
        ctx.emit(Status(state="running"))
        if resume:
            _announce_resume(ctx, history["resumed"])
        summary = _train(RunConfig.from_dict(ctx.config), ctx)
        ctx.summary(summary)
        ctx.wait_for_checkpoints()  # completed or stopped only once its last checkpoint is on disk
        if ctx.stopping:
            finish("stopped", ctx.stop_reason)
            code = 130
        else:
            finish("completed")
    except StopRequested as stop:
        problem = _checkpoints_written(ctx)
        finish(*(("failed", problem) if problem else ("stopped", str(stop))))
        code = 1 if problem else 130
    except Diverged as exc:  # a NaN loss: the run fails and keeps its last good checkpoint
        _checkpoints_written(ctx)
        report(Log(level="error", message=f"{exc}; {exc.advice}"))
        finish("failed", str(exc))
        code = 1
    except ConfigError as exc:  # missing data, bad settings: the message is the whole story
        _checkpoints_written(ctx)
        report(Log(level="error", message=str(exc)))
        finish("failed", str(exc), usage_error=True)
        code = 2
    except OSError as exc:  # a full disk, a folder gone read-only: where and why says it all, no traceback
        message = _one_line(exc) if exc.filename is None else f"{exc.strerror}: {exc.filename}"
        _checkpoints_written(ctx)
        report(Log(level="error", message=message if exc.filename else traceback.format_exc()))
        finish("failed", message)
        code = 1
    except Exception as exc:  # noqa: BLE001 - every crash must end up in the log
        message = _one_line(exc)
        report(Log(level="error", message=traceback.format_exc()))
        _checkpoints_written(ctx)
        finish("failed", message)
        code = 1
    finally:
        heartbeat.stop()
        try:
            ctx.log_file.close()
        except OSError:
            pass
        lock.release()
        if events is not None:
            # Let the queue's feeder thread hand over the last events before the process exits.
            events.close()
            events.join_thread()
    return code


def _resume_history(previous: dict[str, Any]) -> dict[str, Any]:
    """What status.json keeps across resumes: how often the run was resumed, and how long it lay stopped in all
    (so its duration counts training, not the weekend between a preemption and the resume)."""
    stopped_at = previous.get("stopped_at")
    pause = max(0.0, time.time() - stopped_at) if stopped_at is not None else 0.0
    return {"resumed": previous.get("resumed", 0) + 1, "paused": previous.get("paused", 0.0) + pause}


def _announce_resume(ctx: RunContext, count: int) -> None:
    saved = ctx.load_resumed()
    ctx.emit(Resumed(step=int(saved["step"]), epoch=float(saved["epoch"]), count=count))
    ctx.info(f"resumed from checkpoints/last.pt at step {int(saved['step']):,} (resume {count})")


def _checkpoints_written(ctx: RunContext) -> str:
    """Wait for the checkpoints on their way; what went wrong writing them, or "" (the run ends either way)."""
    try:
        ctx.wait_for_checkpoints()
    except Exception as exc:  # noqa: BLE001 - a full disk, NaN weights: the run's final status says so
        return _one_line(exc) if not isinstance(exc, Diverged) else str(exc)
    return ""


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def run_in_process(run_dir: str, data_dir: str | None, events: Any, control: Any, output: str | None = None,
                   resume: bool = False) -> None:
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
    raise SystemExit(worker_main(run_dir, data_dir, events, control, resume))
