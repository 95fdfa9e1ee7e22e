"""Provides the headless view of a run: one line per epoch, a rich progress bar on a terminal, final tables."""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress as RichProgress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from vitui.core import runfolder, stops
from vitui.core.events import Evaluation, Event, Log, Metric, Progress, Samples, Status
from vitui.render.formats import format_value
from vitui.render.tables import confusion_table, evaluation_table

if TYPE_CHECKING:
    from vitui.core.experiments import RunConfig


def format_epoch_line(metric: Metric, progress: Progress | None) -> str:
    if progress is not None and progress.unit == "step":
        head = f"epoch {int(round(metric.epoch))}/{progress.total_epochs}"
    elif progress is not None:
        head = f"{progress.unit} {metric.step}/{progress.total_steps}"
    else:
        head = f"step {metric.step}"
    return "  ".join([head, *(format_value(k, v) for k, v in metric.values.items())])


class HeadlessPrinter:
    """Turns worker events into terminal output: lines for logs and tmux, a progress bar for people."""

    def __init__(self, stream: TextIO | None = None, *, progress_bar: bool | None = None):
        stream = stream or sys.stdout
        self.console = Console(file=stream, highlight=False, soft_wrap=True)
        self.err = Console(stderr=True, highlight=False, soft_wrap=True)
        if progress_bar is None:
            progress_bar = stream.isatty()
        self.bar = RichProgress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                                console=self.console, transient=True) if progress_bar else None
        self._task = None
        self._progress: Progress | None = None
        self._last_rate = (0.0, 0)

    def __enter__(self) -> "HeadlessPrinter":
        if self.bar:
            self.bar.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.bar:
            self.bar.stop()

    def handle(self, event: Event) -> None:
        if isinstance(event, Progress):
            self._on_progress(event)
        elif isinstance(event, Metric) and event.split == "epoch":
            self.console.print(format_epoch_line(event, self._progress))
        elif isinstance(event, Evaluation):
            self.console.print(evaluation_table(event))
            if len(event.class_names) <= 12:
                self.console.print(confusion_table(event))
        elif isinstance(event, Samples):
            shown = ", ".join(("" if novel else "*") + text for text, novel in zip(event.texts, event.novel))
            self.console.print(f"samples @ {event.step} (T={event.temperature:g}, novel {event.novelty * 100:.0f}%, *=in training set): {shown}")
        elif isinstance(event, Log):
            if event.level == "error":
                self.err.print(event.message.rstrip(), style="red", markup=False)
            elif event.level == "warning":
                self.err.print(f"warning: {event.message}", style="yellow", markup=False)
            else:
                self.console.print(event.message, markup=False)
        elif isinstance(event, Status) and event.state != "running":
            self.console.print(f"run {stops.describe_end(event.state, event.detail)}")

    def _on_progress(self, event: Progress) -> None:
        self._progress = event
        if not self.bar:
            return
        now = time.monotonic()
        last_t, last_step = self._last_rate
        rate = ""
        if last_t and now > last_t and event.step > last_step:
            rate = f"{(event.step - last_step) / (now - last_t):,.1f} {event.unit}/s"
        self._last_rate = (now, event.step)
        desc = f"epoch {event.epoch}/{event.total_epochs}" if event.unit == "step" else event.unit + "s"
        if self._task is None:
            self._task = self.bar.add_task(desc, total=event.total_steps, rate=rate)
        self.bar.update(self._task, completed=event.step, description=desc, rate=rate)


def run_headless(config: "RunConfig", runs_dir: Path, data_dir: Path | None, resume: Path | None = None) -> int:
    """Start a worker (for a new run, or one resuming the run folder `resume`), print its events until it ends, and
    return the CLI's exit code.

    Ctrl-C or SIGTERM asks the worker for a graceful stop (checkpoint, status stopped with the signal as
    its reason, exit 130); a second one kills it. The handler only records the signal, so a queue read is
    never cut in half.
    """
    from vitui.launch import start_run

    handle = start_run(config, runs_dir, data_dir, resume=resume)
    received: list[int] = []

    def on_signal(signum: int, _: Any) -> None:
        received.append(signum)

    previous = {signum: signal.signal(signum, on_signal) for signum in (signal.SIGINT, signal.SIGTERM)}
    printer = HeadlessPrinter()
    printer.console.print(f"{'resuming run folder' if resume else 'run folder'} {handle.run_dir}", markup=False)
    asked = 0
    try:
        with printer:
            while True:
                for event in handle.poll(timeout=0.2):
                    printer.handle(event)
                if len(received) > asked:
                    if asked == 0:
                        handle.stop(stops.by_signal(received[0]))
                        printer.err.print("stopping after this step: saving a checkpoint (Ctrl-C again to kill)")
                    else:
                        handle.kill()
                    asked = len(received)
                if not handle.alive:
                    while events := handle.poll():
                        for event in events:
                            printer.handle(event)
                    break
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    state = handle.reap()
    code = handle.process.exitcode
    if state == "failed" and code not in (1, 2):
        printer.err.print(f"vitui: error: {runfolder.load_run(handle.run_dir).status.get('detail')}")
    return {"completed": 0, "stopped": 130}.get(state, 2 if code == 2 else 1)
