"""Provides the headless view of a run: one line per epoch, a rich progress bar on a terminal, final tables."""

from __future__ import annotations

import errno
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress as RichProgress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from vitui.core import runfolder, stops
from vitui.core.events import Evaluation, Event, Log, Metric, Progress, Ranks, Samples, Status
from vitui.core.ranks import launched_rank
from vitui.render.formats import format_ranks, format_value, plain
from vitui.render.tables import confusion_table, evaluation_table

if TYPE_CHECKING:
    from vitui.core.experiments import RunConfig
    from vitui.launch import RunHandle


def format_epoch_line(metric: Metric, progress: Progress | None, ranks: Ranks | None = None) -> str:
    """One epoch's figures in a line; a distributed run's ranks (batches, speeds, straggler) on a second."""
    if progress is not None and progress.unit == "step":
        head = f"epoch {int(round(metric.epoch))}/{progress.total_epochs}"
    elif progress is not None:
        head = f"{progress.unit} {metric.step}/{progress.total_steps}"
    else:
        head = f"step {metric.step}"
    line = plain("  ".join([head, *(format_value(k, v) for k, v in metric.values.items())]))
    if ranks is not None:
        line += "\n  " + plain(format_ranks(ranks.world_size, ranks.backend, ranks.batch_size, ranks.img_per_s,
                                             ranks.straggler))
    return line


class PipeSafeConsole(Console):
    """A console whose closed pipe (`vitui run ... | head`) raises BrokenPipeError for the printer to handle: rich's
    own console exits the process there, which would leave the worker waiting on its queue."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        try:  # nothing more goes to the closed pipe, not even Python's flush at exit
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self.file.fileno())
            os.close(devnull)
        except (OSError, ValueError):
            pass
        raise BrokenPipeError(errno.EPIPE, "the output's reader has gone")


class HeadlessPrinter:
    """Turns worker events into terminal output: lines for logs and tmux, a progress bar for people.

    What it prints holds untrusted text (run and folder names, class names, sampled names, log messages), so its
    consoles take no markup and every such string goes through `plain`. Printing never ends the run: when the
    terminal fails (a closed pipe, a hung-up terminal, a bug here) the printer says so once and goes quiet, and the
    caller keeps draining the worker's queue, which the worker needs read to finish.
    """

    def __init__(self, stream: TextIO | None = None, *, progress_bar: bool | None = None):
        stream = stream or sys.stdout
        self.console = PipeSafeConsole(file=stream, highlight=False, soft_wrap=True, markup=False)
        self.err = PipeSafeConsole(stderr=True, highlight=False, soft_wrap=True, markup=False)
        self.failed: str = ""  # why printing stopped ("" while it works)
        if progress_bar is None:
            progress_bar = stream.isatty()
        self.bar = RichProgress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                                console=self.console, transient=True) if progress_bar else None
        self._task = None
        self._progress: Progress | None = None
        self._ranks: Ranks | None = None
        self._last_rate = (0.0, 0)

    def __enter__(self) -> "HeadlessPrinter":
        if self.bar:
            self.bar.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.bar:
            self.bar.stop()

    def handle(self, event: Event) -> None:
        """Print one event; a failure to print is reported once and then printing stops (see the class)."""
        if self.failed:
            return
        try:
            self._print(event)
        except Exception as exc:  # noqa: BLE001 - whatever broke the printing must not stop the queue's reader
            self._give_up(exc)

    def say(self, text: str, *, err: bool = False, style: str = "") -> None:
        """One line of our own, guarded like the events; on stderr even after stdout failed (a closed pipe)."""
        try:
            if err:
                self.err.print(plain(text, lines=True), style=style)
            elif not self.failed:
                self.console.print(plain(text, lines=True), style=style)
        except Exception as exc:  # noqa: BLE001
            if not self.failed:
                self._give_up(exc)

    def _give_up(self, exc: Exception) -> None:
        self.failed = f"{type(exc).__name__}: {exc}"
        try:
            if self.bar:
                self.bar.stop()
            sys.stderr.write(f"vitui: cannot print the run's progress any more ({plain(self.failed)}); the run goes "
                             f"on and its folder records everything\n")
            sys.stderr.flush()
        except Exception:  # noqa: BLE001 - no terminal at all (hung up): nobody to tell
            pass

    def _print(self, event: Event) -> None:
        if isinstance(event, Progress):
            self._on_progress(event)
        elif isinstance(event, Metric) and event.split == "epoch":
            self.console.print(format_epoch_line(event, self._progress, self._ranks))
        elif isinstance(event, Ranks):
            self._ranks = event
        elif isinstance(event, Evaluation):
            self.console.print(evaluation_table(event))
            if len(event.class_names) <= 12:
                self.console.print(confusion_table(event))
        elif isinstance(event, Samples):
            shown = ", ".join(("" if novel else "*") + plain(text) for text, novel in zip(event.texts, event.novel))
            self.console.print(f"samples @ {event.step} (T={event.temperature:g}, novel {event.novelty * 100:.0f}%, *=in training set): {shown}")
        elif isinstance(event, Log):
            out = plain(event.message.rstrip(), lines=True)
            if event.level == "error":
                self.err.print(out, style="red")
            elif event.level == "warning":
                self.err.print(f"warning: {out}", style="yellow")
            else:
                self.console.print(out)
        elif isinstance(event, Status) and event.state != "running":
            self.console.print(plain(f"run {stops.describe_end(event.state, event.detail)}"))

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
    its reason, exit 130). A second Ctrl-C kills it: a person at the keyboard means it. A second SIGTERM does
    not: a scheduler that repeats it before its grace time is up would lose the checkpoint being saved. The
    handler only records the signal, so a queue read is never cut in half.
    """
    from vitui.launch import start_run

    handle = start_run(config, runs_dir, data_dir, resume=resume)
    received: list[int] = []

    def on_signal(signum: int, _: Any) -> None:
        received.append(signum)

    previous = {signum: signal.signal(signum, on_signal) for signum in (signal.SIGINT, signal.SIGTERM)}
    printer = HeadlessPrinter()
    printer.say(f"{'resuming run folder' if resume else 'run folder'} {handle.run_dir}")
    answered = 0
    try:
        with printer:
            while True:
                for event in handle.poll(timeout=0.2):
                    printer.handle(event)
                for signum in received[answered:]:
                    answered += 1
                    if answered == 1:
                        handle.stop(stops.by_signal(signum))
                        printer.say("stopping after this step: saving a checkpoint (Ctrl-C again to kill)", err=True)
                    elif signum == signal.SIGINT:
                        handle.kill()
                    else:
                        printer.say("already stopping: waiting for the worker to save its checkpoint "
                                    "(Ctrl-C kills it)", err=True)
                if not handle.alive:
                    while events := handle.poll():
                        for event in events:
                            printer.handle(event)
                    break
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if handle.alive:  # left the loop on an error of our own: end the worker rather than leave it waiting on us
            end_worker(handle)
    state = handle.reap()
    code = handle.process.exitcode
    if state == "failed" and code not in (1, 2):
        printer.say(f"vitui: error: {runfolder.load_run(handle.run_dir).status.get('detail')}", err=True)
    return {"completed": 0, "stopped": 130}.get(state, 2 if code == 2 else 1)


def end_worker(handle: "RunHandle", grace_s: float = 60.0) -> None:
    """Ask the worker to stop and read its queue until it has saved and exited (it cannot exit while its last
    events wait in the queue unread); kill it when that takes longer than `grace_s`."""
    handle.stop(stops.PARENT_EXITED)
    deadline = time.monotonic() + grace_s
    while handle.alive and time.monotonic() < deadline:
        handle.poll(timeout=0.2)
    handle.kill()
    while handle.poll():
        pass


def run_as_rank(config: "RunConfig", runs_dir: Path, data_dir: Path | None, resume: Path | None = None) -> int:
    """One rank of a run torchrun started (`torchrun --nproc-per-node N -m vitui run EXP --no-tui`), trained in this
    process (torchrun watches it, and sends its signals here). Rank 0 creates the run folder and prints the run as
    `vitui run --no-tui` does, following its log; the other ranks print nothing of their own."""
    from runners.worker import rank_main

    launched = launched_rank()
    device, resuming = config.train.device, resume is not None
    if launched is None or launched[0] != 0:
        return _rank_exit(lambda: rank_main(None, str(data_dir) if data_dir else None, None, None, resuming, None,
                                            device, False))
    if resume is None:
        run_dir = runfolder.create_run_dir(runs_dir, config.train.experiment or config.train.model, config.to_dict())
    else:
        from vitui.core.resume import prepare_resume

        run_dir = Path(resume)
        prepare_resume(run_dir, config)
    printer = HeadlessPrinter()
    printer.say(f"{'resuming run folder' if resume else 'run folder'} {run_dir} (rank 0 of {launched[1]})")
    tail, done = runfolder.EventTail(run_dir), threading.Event()

    def follow() -> None:
        while not done.wait(0.2):
            for event in tail.poll():
                printer.handle(event)

    with printer:
        follower = threading.Thread(target=follow, name="print-run", daemon=True)
        follower.start()
        try:
            code = _rank_exit(lambda: rank_main(str(run_dir), str(data_dir) if data_dir else None, None, None, resuming,
                                                _launcher_command(), device, False))
        finally:
            done.set()
            follower.join()
            for event in tail.poll():
                printer.handle(event)
    return code


def _launcher_command() -> list[str]:
    """The command line the user typed: torchrun's (this rank's parent), else this process's own."""
    import psutil

    try:
        return psutil.Process().parent().cmdline()
    except (psutil.Error, AttributeError):  # no parent to read (AttributeError: parent() gave None)
        return list(sys.orig_argv)


def _rank_exit(train: Any) -> int:
    """A rank's exit code: what it returned, or the status it exited with (a failed rank exits non-zero)."""
    try:
        return int(train())
    except SystemExit as exit_:
        return int(exit_.code or 0)
