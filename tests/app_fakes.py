"""Provides test fakes for the app: a scripted worker behind a real RunHandle, and fixed run folders.

ScriptedWorker is a thread standing in for the worker process: it writes the run log like the real one
and feeds the same queue the real RunHandle reads, from a fixed script of events, so the app's follower,
stop, quit and crash handling run their real code. All times are fixed, so screenshots are stable.
"""

from __future__ import annotations

import math
import os
import queue
import threading
import time
from pathlib import Path
from typing import Any, Iterable

from textual import events

from vitui.core import runfolder
from vitui.core.events import Evaluation, Event, Log, Metric, Progress, Status
from vitui.core.experiments import RunConfig
from vitui.launch import RunHandle

os.environ.setdefault("VITUI_OFFLINE", "1")  # nothing in these tests may touch the network

T0 = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC: every fake event time counts from here
STAMP = "20231114-221320"  # run folder names from ScriptedStarter use this, not the clock
PAUSE = "pause"  # a script item: stop feeding until release()
CRASH = "crash"  # a script item: fail like an exception in the trainer (traceback logged, status failed)


class FakeProcess:
    """The process side of a ScriptedWorker, with the methods RunHandle uses."""

    def __init__(self, worker: "ScriptedWorker"):
        self.worker = worker

    def is_alive(self) -> bool:
        return not self.worker.ended.is_set()

    def join(self, timeout: float | None = None) -> None:
        self.worker.ended.wait(timeout)

    @property
    def exitcode(self) -> int | None:
        return self.worker.exitcode

    def kill(self) -> None:
        self.worker.die()


class ScriptedWorker:
    """Replays a script of events (and PAUSE marks) into a run's log and queue, obeying stop and detach."""

    def __init__(self, run_dir: Path, script: Iterable[Event | str], *, hold: bool = True):
        self.run_dir = run_dir
        self.script = list(script)
        self.hold = hold  # after the script: wait for stop or finish() instead of completing
        self.events: queue.Queue = queue.Queue()
        self.control: queue.Queue = queue.Queue()
        self.ended = threading.Event()
        self.exitcode: int | None = None
        self.detached = False
        self._release = threading.Event()
        self._finish = threading.Event()
        self._killed = threading.Event()
        self._log = runfolder.EventLog(run_dir)
        self.thread = threading.Thread(target=self._run, daemon=True, name=f"scripted-{run_dir.name}")

    def start(self) -> "ScriptedWorker":
        # Like the real worker: hold the run's lock while "training", so the browser sees it as running.
        self._lock = runfolder.RunLock(self.run_dir)
        runfolder.write_status(self.run_dir, "running", pid=0, started=time.time())
        self.thread.start()
        return self

    def handle(self) -> RunHandle:
        return RunHandle(self.run_dir, FakeProcess(self), self.events, self.control)

    # ---- test controls
    def release(self) -> None:
        self._release.set()

    def finish(self) -> None:
        self._finish.set()
        self._release.set()

    def die(self) -> None:
        """Like SIGKILL: gone at once, no status written, exit code -9."""
        self._killed.set()
        self._release.set()

    # ---- the fake worker
    def _emit(self, event: Event) -> None:
        self._log.write(event)
        if not self.detached:
            self.events.put(event)

    def _stop_requested(self) -> str:
        """The reason of a stop request, like the real worker records it ("" when none came)."""
        while True:
            try:
                message = self.control.get_nowait()
            except queue.Empty:
                return ""
            if message.get("action") == "stop":
                return str(message.get("reason") or "stopped by the user")
            if message.get("action") == "detach":
                self.detached = True

    def _end(self, state: str, code: int, detail: str = "") -> None:
        last_t = T0 + 1000.0
        self._emit(Status(state=state, detail=detail, t=last_t))
        runfolder.write_status(self.run_dir, state, detail, pid=0, started=T0, ended=last_t)
        self._exit(code)

    def _exit(self, code: int) -> None:
        self._log.close()
        self._lock.release()
        self.exitcode = code
        self.ended.set()

    def _run(self) -> None:
        self._emit(Status(state="running", t=T0))
        for item in self.script:
            if self._killed.is_set():
                break
            if item == CRASH:
                self._emit(Log(level="error", message="Traceback (most recent call last):\n  File \"train.py\", "
                               "line 1, in train\nRuntimeError: CUDA out of memory (scripted)\n", t=T0 + 500))
                return self._end("failed", 1, "RuntimeError: CUDA out of memory (scripted)")
            if item == PAUSE:
                while not self._release.wait(0.01):
                    if reason := self._stop_requested():
                        return self._end("stopped", 130, reason)
                self._release.clear()
                continue
            if reason := self._stop_requested():
                return self._end("stopped", 130, reason)
            self._emit(item)  # type: ignore[arg-type]
        while self.hold and not self._finish.is_set() and not self._killed.is_set():
            if reason := self._stop_requested():
                return self._end("stopped", 130, reason)
            self._finish.wait(0.01)
        if self._killed.is_set():
            return self._exit(-9)
        self._end("completed", 0)


class ScriptedStarter:
    """A start_run for make_app(): each launch gets a run folder and a ScriptedWorker playing `script`."""

    def __init__(self, script: Iterable[Event | str], *, hold: bool = True):
        self.script = list(script)
        self.hold = hold
        self.workers: list[ScriptedWorker] = []
        self.configs: list[RunConfig] = []
        self.resumed: list[Path] = []  # the run folders it was asked to continue

    def __call__(self, config: RunConfig, runs_dir: Path, data_dir: Path | None = None, *,
                 resume: Path | None = None, **_: Any) -> RunHandle:
        self.configs.append(config)
        if resume is not None:  # like the real start_run: the same folder, its log goes on growing
            self.resumed.append(resume)
            run_dir = resume
        else:
            name = f"{STAMP}-{config.train.experiment or config.train.model}"
            if len(self.workers):
                name += f"-{len(self.workers) + 1}"
            run_dir = runs_dir / name
            run_dir.mkdir(parents=True)
        runfolder.write_json_atomic(run_dir / runfolder.CONFIG, config.to_dict())
        worker = ScriptedWorker(run_dir, self.script, hold=self.hold).start()
        self.workers.append(worker)
        return worker.handle()

    def close(self) -> None:
        """End every scripted worker still waiting (call when a test is done)."""
        for worker in self.workers:
            worker.finish()
            worker.ended.wait(2)


# ---------------------------------------------------------------------------- fixed scripts

def mlp_script(iterations: int = 300, log_every: int = 10, eval_every: int = 50, *, dt: float = 0.05,
               evaluation: bool = True) -> list[Event]:
    """A NumPy-MLP-like run: falling loss per interval, accuracy per evaluation, a final evaluation."""
    events: list[Event] = [Log(level="info", message="mnist: 1000 training images, 0 validation, 10000 test", t=T0)]
    for it in range(log_every, iterations + 1, log_every):
        t = T0 + it * dt
        loss = 2.3 * math.exp(-it / 120) + 0.25 + 0.03 * math.sin(it / 7)
        events.append(Metric(step=it, epoch=it, split="train", values={"loss": loss}, t=t))
        events.append(Progress(step=it, total_steps=iterations, epoch=it, total_epochs=iterations, unit="iteration", t=t))
        if it % eval_every == 0:
            acc = 0.95 - 0.85 * math.exp(-it / 90)
            events.append(Metric(step=it, epoch=it, split="epoch", t=t,
                                 values={"train_loss": loss, "train_acc": acc, "lr": 0.2, "iter/s": 1 / dt}))
    if evaluation:
        events.append(fake_evaluation(t=T0 + iterations * dt + 1))
        events.append(Metric(step=iterations, epoch=iterations, split="test", t=T0 + iterations * dt + 1,
                             values={"train_loss": 0.31, "train_acc": 0.948, "test_loss": 0.36, "test_acc": 0.9312}))
    return events


def cnn_script(*, batchnorm: bool, epochs: int = 12, steps_per_epoch: int = 40, log_every: int = 10) -> list[Event]:
    """A CNN-like run on CIFAR-10 classes; the BatchNorm variant learns faster and ends higher, as in the seed."""
    events: list[Event] = []
    rate = 3.0 if batchnorm else 6.0
    top = 0.79 if batchnorm else 0.755
    total = epochs * steps_per_epoch
    for step in range(log_every, total + 1, log_every):
        t = T0 + step * 0.5
        epoch_f = step / steps_per_epoch
        loss = 0.55 + 1.75 * math.exp(-epoch_f / rate) + 0.04 * math.sin(step / 3)
        lr = 1e-3 * 0.5 * (1 + math.cos(math.pi * step / total))
        events.append(Metric(step=step, epoch=epoch_f, split="train", values={"loss": loss, "lr": lr}, t=t))
        events.append(Progress(step=step, total_steps=total, epoch=math.ceil(epoch_f), total_epochs=epochs, t=t))
        if step % steps_per_epoch == 0:
            e = step // steps_per_epoch
            val_acc = top - (top - 0.35) * math.exp(-e / rate)
            events.append(Metric(step=step, epoch=e, split="epoch", t=t, values={
                "train_loss": loss, "train_acc": val_acc - 0.02, "val_loss": loss + 0.1, "val_acc": val_acc,
                "lr": lr, "img/s": 2400.0 if batchnorm else 2600.0, "epoch_time": 18.0}))
    events.append(fake_evaluation(t=T0 + total * 0.5 + 1, names=["airplane", "automobile", "bird", "cat", "deer",
                                                               "dog", "frog", "horse", "ship", "truck"], acc=top))
    return events


def fake_evaluation(t: float, names: list[str] | None = None, acc: float = 0.93) -> Evaluation:
    names = names or [str(d) for d in range(10)]
    n = len(names)
    right = int(100 * acc)
    confusion = [[right if i == j else (100 - right) // (n - 1) for j in range(n)] for i in range(n)]
    support = [sum(row) for row in confusion]
    recall = [confusion[i][i] / support[i] for i in range(n)]
    return Evaluation(split="test", accuracy=acc, loss=0.36, class_names=names, precision=list(recall),
                      recall=recall, f1=list(recall), support=support, confusion=confusion, t=t)


def write_run(runs_dir: Path, name: str, config: RunConfig, events: list[Event], state: str,
              summary: dict[str, Any] | None = None, duration: float = 600.0) -> Path:
    """A finished run folder as the worker would leave it, with fixed times."""
    run_dir = runs_dir / name
    run_dir.mkdir(parents=True)
    runfolder.write_json_atomic(run_dir / runfolder.CONFIG, config.to_dict())
    log = runfolder.EventLog(run_dir)
    log.write(Status(state="running", t=T0))
    for event in events:
        log.write(event)
    log.write(Status(state=state, t=T0 + duration))
    log.close()
    runfolder.write_status(run_dir, state, started=T0, ended=T0 + duration)
    runfolder.write_json_atomic(run_dir / runfolder.SUMMARY, summary or {})
    return run_dir


def run_async(test):
    """Run an async Pilot test under asyncio (this project has no pytest async plugin).

    Bounded below pytest-timeout's limit, so a test stuck on an await fails with the await it is stuck on in
    its traceback (cancelling the test shows it), not just the event loop idling in select().
    """
    import asyncio
    import functools

    @functools.wraps(test)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return asyncio.run(asyncio.wait_for(test(*args, **kwargs), ASYNC_TEST_TIMEOUT_S))

    return wrapper


ASYNC_TEST_TIMEOUT_S = 270.0  # pytest-timeout stops a test at 300 s


def _holds(predicate: Any) -> bool:
    from textual.app import ScreenStackError

    try:
        return bool(predicate())
    except ScreenStackError:  # between screens for a moment: not there yet
        return False


async def wait_until(pilot: Any, predicate: Any, timeout: float = 20.0, what: str = "condition") -> float:
    """Let the app run until predicate() holds; returns the seconds it took.

    The generous timeout is for a loaded 2-core CI machine; a passing test waits only as long as it must.
    """
    start = time.monotonic()
    while not _holds(predicate):
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.02)
    return time.monotonic() - start


def widget_text(widget: Any) -> str:
    """What a widget draws, padding included, as plain text lines."""
    from textual.geometry import Region

    return "\n".join(strip.text for strip in widget.render_lines(Region(0, 0, *widget.outer_size)))


def screen_text(app: Any) -> str:
    """What the terminal shows now, as plain text lines: the whole screen, scrolled as the user left it.

    Reads Textual's compositor (private, but the very frame a terminal gets); a widget's own lines would
    not say what a scrolled container leaves in sight.
    """
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


async def turn_wheel(pilot: Any, widget: Any, *, down: bool = True) -> None:
    """One notch of the mouse wheel over `widget`, through the screen like a terminal's (Pilot has no public call)."""
    from textual.events import MouseScrollDown, MouseScrollUp

    await pilot._post_mouse_events([MouseScrollDown if down else MouseScrollUp], widget, offset=(1, 1))


def burst(app, *keys: str) -> None:
    """Keys as a terminal delivers a fast typist's (or tmux send-keys') burst: all queued before any is handled.

    Named keys carry their character as a terminal's do ("slash" is "/"), the way Pilot.press makes them.
    """
    import unicodedata

    from textual.keys import REPLACED_KEYS, _character_to_key, _get_unicode_name_from_key

    for key in keys:
        if len(key) == 1 and not key.isalnum():
            key = _character_to_key(key)
        try:
            character: str | None = unicodedata.lookup(_get_unicode_name_from_key(REPLACED_KEYS.get(key, key)))
        except KeyError:
            character = key if len(key) == 1 else None
        app.post_message(events.Key(key, character))
