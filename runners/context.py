"""Provides RunContext, all a training loop sees of the world: report events, write checkpoints and the summary,
take control requests (stop, live settings) from the app or the run folder.

The worker makes one per run and hands it to the task's loop; loops never touch the run folder themselves. In a
distributed run every rank has one; only rank 0's writes, and stops are agreed by all ranks at logging points.
"""

from __future__ import annotations

import math
import os
import queue as queue_module
import threading
import time
from pathlib import Path
from typing import Any

import psutil

from runners.checkpoint import CheckpointWriter, NonFiniteWeights, load_checkpoint, snapshot
from vitui.core import runfolder, stops
from vitui.core.errors import ConfigError
from vitui.core.events import Event, Log
from vitui.core.resume import last_checkpoint
from vitui.core.settings import BaseConfig, field_info


class StopRequested(Exception):
    """Raised inside a training loop when the user asked to stop; the loop saves and unwinds."""


class Diverged(Exception):
    """A loss (or the weights) stopped being finite: the run fails, keeping its last good checkpoint."""

    def __init__(self, what: str, advice: str):
        super().__init__(what)
        self.advice = advice


def divergence_advice(config: dict[str, Any]) -> str:
    """What to try after a divergence, in the run's own settings: a lower learning rate, or clipping gradients."""
    tips = [f"a lower lr (now {config.get('lr'):g})" if isinstance(config.get("lr"), (int, float)) else "a lower lr"]
    clip = next((key for key in ("grad_clip", "clip") if key in config), None)
    if clip and config[clip]:
        tips.append(f"tighter gradient clipping ({clip} now {config[clip]:g})")
    elif clip:
        tips.append(f"gradient clipping (--set {clip}=1)")
    return "try " + " or ".join(tips)


def _parent_of(pid: int) -> int | None:
    try:
        return psutil.Process(pid).ppid()
    except psutil.Error:
        return None


class RunContext:
    """Everything a training loop needs from its surroundings: where to write, how to report, when to stop.

    writes=False: a rank other than 0 of a distributed run. It reads the run's settings (and last.pt to resume) but
    writes nothing, and hears only its own signals; rank 0 reads the control requests, and `check_stop` shares them.
    group: the run's ranks (runners.distributed.RankGroup), or None for the loops that train in one process only.
    watch_grandparent: this worker's parent is the supervisor of the ranks, and the vitui that started the run is
    the supervisor's parent: stop when that one exits too.
    """

    def __init__(self, run_dir: Path, data_dir: Path | None, events: Any, control: Any, *, resume: bool = False,
                 writes: bool = True, group: Any = None, watch_grandparent: bool = False):
        self.run_dir = run_dir
        self.data_dir = data_dir
        self.config = runfolder.load_run(run_dir).config  # the resolved settings, as config.json holds them
        self.writes = writes
        self.group = group
        self.log_file = runfolder.EventLog(run_dir) if writes else None
        self._events = events
        self._control = control
        # A resumed run's control.jsonl holds the requests for the worker before it (the stop that ended it).
        self._control_file = runfolder.ControlReader(run_dir, skip_existing=resume) if writes else None
        # The log is fsynced before each checkpoint lands, so the log never trails a checkpoint after a crash.
        self._writer = (CheckpointWriter(run_dir / runfolder.CHECKPOINTS, before_rename=self.log_file.sync)
                        if self.log_file is not None else None)
        self._emitting = threading.Lock()  # the system sampler emits from its own thread
        default_every = field_info(BaseConfig, "checkpoint_every").default
        self.checkpoint_every = float(self.config.get("checkpoint_every", default_every))
        self._last_saved: float | None = None  # when last.pt was last handed to the writer
        self.resumed: dict[str, Any] | None = None  # last.pt of the run this one continues (load_resumed)
        self._parent = os.getppid()
        self._grandparent = _parent_of(self._parent) if watch_grandparent else None
        self.detached = events is None
        self.stop_reason = ""
        self.settings: dict[str, Any] = {}  # live-adjustable knobs (e.g. sampling temperature)
        self._last_poll = 0.0

    # ---- reporting: events, checkpoints, the summary
    def emit(self, event: Event) -> None:
        """Append the event to the log and hand it to the parent. When the log cannot take it (a full disk), the
        parent still gets it, then the OSError ends the run. A rank that writes nothing emits nothing."""
        if self.log_file is None:
            return
        with self._emitting:
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

    def checkpoint(self, name: str, *, model: dict, step: int, epoch: float, optimizer: dict | None = None,
                   **payload: Any) -> None:
        """checkpoints/<name>.pt (model, optimizer, step, epoch, ...) with the run's config added. The state is copied
        now, on the training thread, and written atomically by a background thread: training goes on at once.
        Weights that are not finite are never written (the last good checkpoint stays)."""
        if self._writer is None:
            return
        state = snapshot({"model": model, "optimizer": optimizer or {}, "step": int(step), "epoch": float(epoch),
                          **payload})
        try:
            self._writer.submit(name, {**state, "config": self.config})
        except NonFiniteWeights as exc:
            raise Diverged(str(exc), divergence_advice(self.config)) from None
        if name == "last":
            self._last_saved = time.monotonic()

    def checkpoint_due(self) -> bool:
        """True at the first logging point, then once checkpoint_every seconds have passed since the last last.pt:
        loops ask at logging points. The first makes sure a run that fails early still has a checkpoint."""
        return self._last_saved is None or time.monotonic() - self._last_saved >= self.checkpoint_every

    def wait_for_checkpoints(self) -> None:
        """Until every checkpoint handed over is on disk (the worker calls it before it records how the run ended)."""
        if self._writer is None:
            return
        try:
            self._writer.wait()
        except NonFiniteWeights as exc:
            raise Diverged(str(exc), divergence_advice(self.config)) from None

    def load_resumed(self) -> dict[str, Any]:
        """The run's last.pt, which a resumed run continues from (kept in `resumed` for the training loop)."""
        path = last_checkpoint(self.run_dir)
        try:
            self.resumed = load_checkpoint(path)
        except (OSError, RuntimeError, EOFError, ValueError) as exc:
            raise ConfigError(f"cannot resume from {path}: {exc}") from None
        return self.resumed

    def check_loss(self, value: float, step: int) -> None:
        """Raise Diverged when a loss read at a logging point is NaN or infinite (never called per step: reading
        a loss waits for the GPU)."""
        if not math.isfinite(value):
            raise Diverged(f"loss is {value} at step {step}", divergence_advice(self.config))

    def summary(self, figures: dict[str, Any]) -> None:
        """The run's latest (and, at the end, final) figures in summary.json, replaced atomically; a distributed run's
        ranks, batches and speeds are added under "distributed"."""
        if not self.writes:
            return
        ranks = self.group.summary() if self.group is not None else {}
        runfolder.write_json_atomic(self.run_dir / runfolder.SUMMARY,
                                    {**figures, **({"distributed": ranks} if ranks else {})})

    def close(self) -> None:
        """The end of the worker: the log closed, and the queue's feeder thread given time to hand over the last
        events before the process exits."""
        if self.log_file is not None:
            try:
                self.log_file.close()
            except OSError:  # a full disk: the final status says so already
                pass
        if self._events is not None:
            self._events.close()
            self._events.join_thread()

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
        for message in self._control_file.read() if self._control_file is not None else ():
            self.handle_control(message)
        if not self.detached and (os.getppid() != self._parent or self._grandparent is not None
                                  and _parent_of(self._parent) != self._grandparent):
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
        """Raise StopRequested when a stop was asked; loops call it at logging points. Every rank of a distributed run
        calls it at the same points, and all stop together when any of them was asked."""
        self.poll()
        if self.group is not None:
            agreed = self.group.agree_on_stop(self.stop_reason)
            if agreed:
                self.request_stop(agreed)
        if self.stop_reason:
            raise StopRequested(self.stop_reason)

    @property
    def stopping(self) -> bool:
        return bool(self.stop_reason)
