"""Provides `vitui study --no-tui`: run a study's queue here, one line per finished run, a progress bar per run in
flight when the output is a terminal, and the study's table at the end.

Ctrl-C or SIGTERM stops the runs in flight gracefully (each saves a checkpoint and is marked stopped) and takes no
new ones; a second one kills them. The same command run again resumes: completed runs are skipped, and a run that
was cut short continues from its last checkpoint.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import Any, TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress as RichProgress, TextColumn, TimeElapsedColumn

from vitui.core import stops
from vitui.core.events import Event, Progress
from vitui.core.experiments import RunConfig
from vitui.render.formats import format_duration
from vitui.render.studies import reference_line, results_table
from vitui.studies.definition import Job, experiments_of
from vitui.studies.folder import StudyFolder
from vitui.studies.results import format_figure, run_time, study_results
from vitui.studies.runner import StudyRunner


class StudyPrinter:
    """What a headless study prints: a line per finished run, bars for the runs in flight (terminal only)."""

    def __init__(self, folder: StudyFolder, total: int, stream: TextIO | None = None, *, width: int | None = None):
        stream = stream or sys.stdout
        self.console = Console(file=stream, highlight=False, soft_wrap=True, width=width)
        self.err = Console(stderr=True, highlight=False, soft_wrap=True)
        self.folder, self.total = folder, total
        self.metric = folder.study.metric
        self.bar = RichProgress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                TimeElapsedColumn(), console=self.console, transient=True) if stream.isatty() else None
        self._tasks: dict[int, Any] = {}

    def __enter__(self) -> "StudyPrinter":
        if self.bar:
            self.bar.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.bar:
            self.bar.stop()

    def started(self, job: Job, run_dir: Path, resumed: bool) -> None:
        if resumed:  # said at once: the line at its end would not show where it went on from
            self.console.print(f"[{job.index + 1}/{self.total}] {job.point.label} seed {job.seed}: continues "
                               f"{run_dir} from its last checkpoint", markup=False)
        if self.bar:
            self._tasks[job.index] = self.bar.add_task(f"{job.point.label} seed {job.seed}", total=None)

    def event(self, job: Job, event: Event) -> None:
        task = self._tasks.get(job.index)
        if self.bar and task is not None and isinstance(event, Progress):
            self.bar.update(task, completed=event.step, total=event.total_steps)

    def finished(self, job: Job, run_dir: Path, state: str) -> None:
        task = self._tasks.pop(job.index, None)
        if self.bar and task is not None:
            self.bar.remove_task(task)
        self.console.print(finished_line(job, run_dir, state, self.total, self.metric), markup=False)


def finished_line(job: Job, run_dir: Path, state: str, total: int, metric: str) -> str:
    """"[3/6] model=cnn-bn seed 1: completed  val_acc 41.20%  best val_acc 42.10%  1m12s  runs/2026...-cnn-cifar10"."""
    from vitui.core import runfolder

    run = runfolder.load_run(run_dir)
    parts = [f"[{job.index + 1}/{total}] {job.point.label} seed {job.seed}: "
             + stops.describe_end(state, run.status.get("detail", "") if state != "completed" else "")]
    metrics = run.summary.get("metrics") or {}
    name = metric or str((run.summary.get("best") or {}).get("name", ""))
    if state == "completed" and isinstance(metrics.get(name), (int, float)):
        parts.append(f"{name} {format_figure(name, metrics[name])}")
    best = run.summary.get("best") or {}
    if state == "completed" and isinstance(best.get("value"), (int, float)):
        parts.append(f"best {best.get('name')} {format_figure(str(best.get('name')), best['value'])}")
    parts += [format_duration(run_time(run)), str(run_dir)]
    return "  ".join(parts)


def print_results(console: Console, folder: StudyFolder) -> None:
    """The study's table, the line on the first two against the seeds' spread, and the report's note."""
    results = study_results(folder)
    console.print(results_table(results))
    for line in (results.verdict(), reference_line(results)):
        if line:
            console.print(line, markup=False)


def run_study_headless(folder: StudyFolder, configs: dict[int, RunConfig], runs_dir: Path, data_dir: Path | None,
                       slots: list[str | None]) -> int:
    """Run what is left of the study here and print it; the exit code: 0 all ran, 1 a run failed, 130 stopped."""
    jobs = folder.jobs()
    states = folder.job_states()
    done = sum(1 for s in states if s.done)
    printer = StudyPrinter(folder, len(jobs))
    study = folder.study
    printer.console.print(f"study {folder.id}: {len(jobs)} runs of {experiments_of(study)} "
                          f"({len(jobs) // len(study.seeds)} points × {len(study.seeds)} seeds), "
                          f"folder {folder.path}", markup=False)
    if done:
        printer.console.print(f"{done} of {len(jobs)} runs completed before: skipping them", markup=False)
    how = "one at a time" if len(slots) == 1 else f"{len(slots)} at a time"
    if any(slots):
        how += " (GPUs " + "; ".join(str(s) for s in slots) + ")"  # a slot of a run on two ranks is "0,1"
    if done < len(jobs):
        printer.console.print(f"running the other {len(jobs) - done}, {how}", markup=False)
    runner = StudyRunner(folder, configs, runs_dir, data_dir, slots, on_start=printer.started,
                         on_event=printer.event, on_finish=printer.finished)
    received: list[int] = []

    def on_signal(signum: int, _: Any) -> None:
        received.append(signum)
        if len(received) == 1:
            runner.stop(stops.by_signal(signum))
            printer.err.print("stopping the runs in flight (each saves a checkpoint); Ctrl-C again kills them. "
                              "Run the same command again to resume the study.")
        else:
            runner.kill()

    previous = {signum: signal.signal(signum, on_signal) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        with printer:
            outcome = runner.run()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    print_results(printer.console, folder)
    if outcome.stopped:
        printer.console.print(f"study stopped: run the same command again to resume it "
                              f"(`vitui studies show {folder.id}`)", markup=False)
        return 130
    return 1 if any(state != "completed" for state in outcome.finished.values()) else 0
