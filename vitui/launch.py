"""Provides starting a training worker process and talking to it: events in, control messages out.

Used by the headless CLI and by the app alike. Nothing here imports torch: the worker process
imports what its task needs after it starts.
"""

from __future__ import annotations

import multiprocessing
import queue as queue_module
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from vitui.core import runfolder, stops
from vitui.core.experiments import RunConfig
from vitui.core.resume import prepare_resume
from vitui.core.events import Event, Status

OUTPUT = "output.log"  # a quiet worker's stray stdout/stderr (library warnings), in its run folder


@dataclass
class RunHandle:
    """A live worker: its run folder, process and the two queues between us."""

    run_dir: Path
    process: Any
    events: Any
    control: Any
    final_state: str | None = None
    _seen_final: bool = field(default=False, repr=False)

    def poll(self, timeout: float = 0.0, limit: int = 10_000) -> list[Event]:
        """New events from the worker (waits up to `timeout` for the first one)."""
        out: list[Event] = []
        try:
            out.append(self.events.get(timeout=timeout) if timeout > 0 else self.events.get_nowait())
            while len(out) < limit:
                out.append(self.events.get_nowait())
        except (queue_module.Empty, OSError, ValueError, EOFError):
            pass
        for event in out:
            if isinstance(event, Status) and event.state in runfolder.FINISHED:
                self._seen_final = True
                self.final_state = event.state
        return out

    @property
    def alive(self) -> bool:
        return self.process.is_alive()

    def send(self, message: dict[str, Any]) -> None:
        try:
            self.control.put_nowait(message)
        except (OSError, ValueError):
            pass

    def stop(self, reason: str = stops.BY_USER) -> None:
        """Ask for a graceful stop: the worker finishes its step, saves a checkpoint and records `reason`."""
        self.send({"action": "stop", "reason": reason})

    def detach(self) -> None:
        """Leave the worker training on its own (log only) after this process exits."""
        self.send({"action": "detach"})

    def kill(self) -> None:
        """SIGKILL the worker, and the ranks of a distributed run with it (its children): they would otherwise go on
        until they noticed their supervisor gone."""
        if not self.process.is_alive():
            return
        try:
            ranks = psutil.Process(self.process.pid).children(recursive=True)
        except psutil.Error:
            ranks = []
        self.process.kill()
        for rank in ranks:
            try:
                rank.kill()
            except psutil.Error:
                pass

    def reap(self) -> str:
        """After the process ended: its final state, recording a crash the worker could not record."""
        self.process.join(timeout=5)
        code = self.process.exitcode
        if self._seen_final:
            return self.final_state or "failed"
        status = runfolder.load_run(self.run_dir).status
        if status.get("state") in runfolder.FINISHED:
            self.final_state = status["state"]
            return self.final_state
        how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit code {code}"
        detail = f"worker process died ({how}) without finishing"
        runfolder.write_status(self.run_dir, "failed", detail, ended=time.time(), started=status.get("started"),
                               pid=status.get("pid"), resumed=status.get("resumed", 0))
        self.final_state = "failed"
        return "failed"


def start_run(config: RunConfig, runs_dir: Path, data_dir: Path | None = None, *, quiet: bool = False,
              resume: Path | None = None) -> RunHandle:
    """Create the run folder (config written first) and start its worker process.

    quiet: send the worker's own stdout/stderr to run_dir/output.log instead of this terminal (the app's
    screen); the event log is unaffected.
    resume: continue this run folder from its last checkpoint instead (checked first with
    vitui.core.resume.check_resume); its log goes on growing.
    """
    if resume is None:
        run_dir = runfolder.create_run_dir(runs_dir, config.train.experiment or config.train.model, config.to_dict())
    else:
        run_dir = Path(resume)
        prepare_resume(run_dir, config)
    # spawn, not fork: a fresh interpreter is safe with torch's threads and CUDA, and the same everywhere.
    mp = multiprocessing.get_context("spawn")
    events, control = mp.Queue(), mp.Queue()
    from runners.worker import run_in_process

    process = mp.Process(target=run_in_process, name=f"vitui-worker-{run_dir.name}",
                         args=(str(run_dir), str(data_dir) if data_dir else None, events, control,
                               str(run_dir / OUTPUT) if quiet else None, resume is not None, list(sys.orig_argv)))
    process.start()
    return RunHandle(run_dir, process, events, control)
