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
from typing import Any, Callable

from runners import environment
from runners.context import Diverged, RunContext, StopRequested
from runners.heartbeat import Heartbeat
from runners.system import SystemSampler
from vitui.core import runfolder, stops
from vitui.core.errors import ConfigError
from vitui.core.events import Log, Resumed, Status
from vitui.core.experiments import RunConfig
from vitui.core.models import TASKS
from vitui.core.settings import BaseConfig, field_info
from vitui.core.ranks import launched_rank


def _train(config: RunConfig, ctx: RunContext) -> dict[str, Any]:
    """The task's training loop, imported now so each run loads only what its task needs (torch or not)."""
    return _loop(config).train(config, ctx)


def _loop(config: RunConfig) -> Any:
    return import_module(f"runners.{TASKS[config.task].trainer}")


def worker_main(run_dir: str, data_dir: str | None, events: Any, control: Any, resume: bool = False,
                command: list[str] | None = None) -> int:
    """Entry point of the worker process. Returns (and exits with) 0, 1, 2 or 130 like the CLI.

    resume: continue the run in `run_dir` from its checkpoints/last.pt (`vitui run --resume`).
    command: the command line that started the run, for env.json.
    A run with gpus > 1 is trained by that many rank processes: this process becomes their supervisor.
    """
    run_path = Path(run_dir)
    lock = runfolder.RunLock(run_path)
    runfolder.remove_temporaries(run_path)  # half-written files of a killed worker; the lock says none is alive
    try:
        config = RunConfig.from_dict(runfolder.load_run(run_path).config)
        ranks = int(getattr(config.train, "gpus", 1))
        if ranks > 1:
            from runners.supervisor import supervise

            return supervise(run_path, data_dir, events, control, resume, command, ranks, config.train.device)
        ctx = RunContext(run_path, Path(data_dir) if data_dir else None, events, control, resume=resume)
        return run_and_record(ctx, resume, command)
    finally:
        lock.release()


def rank_main(run_dir: str | None, data_dir: str | None, events: Any, control: Any, resume: bool,
              command: list[str] | None, device: str, supervised: bool) -> int:
    """Entry point of one rank of a distributed run, in a process torchrun or the supervisor (runners.supervisor)
    started, with its rank in the environment. Rank 0 trains and records the run as a lone worker does; the others
    train beside it and write nothing. Under torchrun only rank 0 knows the run folder (`run_dir` is None on the
    others) and shares it once the ranks have met.

    supervised: the supervisor holds the run's lock and records a rank's death; under torchrun rank 0 holds it.
    A rank that fails exits with a non-zero status, so the launcher ends the others instead of leaving them waiting
    in a collective.
    """
    from runners import distributed

    rank = launched_rank()
    if rank is not None and rank[0] == 0:
        run_path = Path(str(run_dir))
        lock = None if supervised else runfolder.RunLock(run_path)
        if lock is not None:
            runfolder.remove_temporaries(run_path)
        try:
            ctx = RunContext(run_path, Path(data_dir) if data_dir else None, events, control, resume=resume,
                             watch_grandparent=supervised)
            code = run_and_record(ctx, resume, command, join=lambda: distributed.join(device), supervised=supervised)
        finally:
            if lock is not None:
                lock.release()
    else:
        code = _follow_rank(data_dir, resume, device)
    if code in (1, 2):
        raise SystemExit(code)
    return code


def _follow_rank(data_dir: str | None, resume: bool, device: str) -> int:
    """A rank other than 0: trains its shard in step with rank 0 and writes nothing; a crash here propagates (the
    launcher records it), a divergence or a stop ends the rank as it ends rank 0."""
    from runners import distributed

    group = distributed.join(device)
    try:
        run_path = Path(group.share(None))
        ctx = RunContext(run_path, Path(data_dir) if data_dir else None, None, None, resume=resume, writes=False,
                         group=group)
        _take_signals(ctx)
        if resume:
            ctx.load_resumed()
        try:
            _train(RunConfig.from_dict(ctx.config), ctx)
        except StopRequested:
            return 130
        except Diverged:
            return 1
        return 130 if ctx.stopping else 0
    finally:
        group.leave()


def _take_signals(ctx: RunContext) -> None:
    # Ctrl-C in a terminal reaches the whole process group; SIGTERM comes from batch schedulers.
    # Both ask for a graceful stop: finish the step, save a checkpoint, mark the run stopped, saying which.
    signal.signal(signal.SIGINT, lambda signum, _: ctx.request_stop(stops.by_signal(signum)))
    signal.signal(signal.SIGTERM, lambda signum, _: ctx.request_stop(stops.by_signal(signum)))
    # A closed SSH session must not kill a run the user chose to leave going.
    signal.signal(signal.SIGHUP, signal.SIG_IGN)


def run_and_record(ctx: RunContext, resume: bool, command: list[str] | None,
                   join: Callable[[], Any] | None = None, supervised: bool = False) -> int:
    """Train the run of `ctx` and record how it went (env.json, status, summary, the final event): the work of a lone
    worker and of rank 0. join: for rank 0, joins the other ranks (inside, so that a failure to is recorded too).
    supervised: rank 0 under the supervisor, which names a rank that died. Returns 0, 1, 2 or 130."""
    run_path = ctx.run_dir
    previous = runfolder.load_run(run_path).status
    _take_signals(ctx)
    # A resumed run keeps its first start and counts its resumes in its status history.
    started = (previous.get("started") or time.time()) if resume else time.time()
    history = {"resumed": int(previous.get("resumed") or 0) + 1} if resume else {}
    every = ctx.config.get("system_every", field_info(BaseConfig, "system_every").default)  # older runs lack it
    sampler = SystemSampler(ctx.emit, float(every))

    def report(event: Log | Status) -> None:
        """The last words: the parent hears them even when the log cannot take them (the disk is full)."""
        try:
            ctx.emit(event)
        except OSError:
            pass

    def finish(state: str, detail: str = "", announce: bool = True, **extra: Any) -> None:
        heartbeat.stop()
        sampler.stop()
        if announce:
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
        if join is not None:
            ctx.group = join()
            ctx.group.share(str(run_path))
        config = RunConfig.from_dict(ctx.config)
        loop = _loop(config)  # first: env.json tells the CUDA of a task that loads torch
        world_size = ctx.group.world_size if ctx.group is not None else 1
        runfolder.write_json_atomic(run_path / runfolder.ENV, environment.describe(world_size, command))
        sampler.start()
        if resume:
            _announce_resume(ctx, history["resumed"])
        summary = loop.train(config, ctx)
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
        if ctx.group is not None and ctx.group.distributed and _lost_contact(exc):
            # Most likely another rank died. The supervisor saw which, and records the end itself (status.json says
            # this meanwhile); under torchrun nobody can tell more than this.
            lost = f"lost contact with another rank: {message}"
            report(Log(level="warning", message=lost))
            _checkpoints_written(ctx)
            finish("failed", lost, announce=not supervised, lost_rank=True)
        else:
            report(Log(level="error", message=traceback.format_exc()))
            _checkpoints_written(ctx)
            finish("failed", message)
        code = 1
    finally:
        heartbeat.stop()
        sampler.stop()
        if ctx.group is not None:
            ctx.group.leave()
        ctx.close()
    return code


def _lost_contact(exc: BaseException) -> bool:
    """Whether a rank's error is a collective that lost its peers (gloo: "Connection reset by peer", NCCL: a timeout
    or a failed communicator): the sign that another rank died, rather than an error of this rank's own."""
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and any(word in text for word in ("gloo", "nccl", "by peer", "connection"))


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
                   resume: bool = False, command: list[str] | None = None) -> None:
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
    raise SystemExit(worker_main(run_dir, data_dir, events, control, resume, command))
