"""Provides the tables of studies, shared by the CLI and the studies screen: a study's results (one row per grid
point, mean ± standard deviation over the seeds, the original report's figure beside it), its runs with their
state, and the list of studies."""

from __future__ import annotations

from rich import box
from rich.table import Table
from rich.text import Text

from vitui.render.formats import format_duration
from vitui.render.runs import STATE_STYLES
from vitui.studies.definition import Study, experiments_of
from vitui.studies.folder import JobState, StudyFolder
from vitui.studies.results import StudyResults, format_figure, format_spread, run_time

STUDY_STATE_STYLES = {"running": "cyan", "complete": "green", "incomplete": "yellow", "failed": "red"}


def results_table(results: StudyResults) -> Table:
    """Best first by the study's metric: the point (its settings), runs done, the final and the best figure as
    mean ± sd over the seeds, the mean time, and the original report's figure where it gave one."""
    metric, best = results.metric or "metric", results.best_name or "best"
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="bold",
                  title=f"{metric}: mean ± sd over seeds, best first", title_justify="left")
    table.add_column("point", overflow="fold")
    table.add_column("runs", justify="right", no_wrap=True)
    table.add_column(metric, justify="right", no_wrap=True)
    table.add_column(f"best {best}" if results.best_name and best != metric else "best", justify="right", no_wrap=True)
    table.add_column("time", justify="right", no_wrap=True)
    with_reference = any(r.reference is not None for r in results.rows)
    if with_reference:
        table.add_column("report", justify="right", no_wrap=True)
    for row in results.rows:
        cells = [row.point.label, f"{row.done}/{len(row.jobs)}", format_spread(metric, row.final),
                 format_spread(best, row.best), format_duration(row.time.mean)]
        if with_reference:
            cells.append(reference_text(results, row.reference))
        table.add_row(*cells)
    return table


def reference_text(results: StudyResults, reference: float | None) -> str:
    """The original report's figure as it gave it: accuracies in percent."""
    if reference is None:
        return ""
    return f"{reference:.2f}%" if "acc" in results.metric else f"{reference:g}"


def reference_line(results: StudyResults) -> str:
    if not any(r.reference is not None for r in results.rows) or not results.study.reference_note:
        return ""
    return f"original report: {results.study.reference_note}"


def runs_table(states: list[JobState], metric: str) -> Table:
    """Every run of a study in queue order: its point, seed, state, figure and run folder."""
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="bold")
    for name in ("#", "point", "seed", "state", metric or "figure", "time", "run"):
        table.add_column(name, justify="right" if name in ("#", "seed", "time") else "left",
                         no_wrap=name != "point", overflow="fold")
    for state in states:
        run = state.run
        value = (run.summary.get("metrics") or {}).get(metric) if run is not None and metric else None
        table.add_row(str(state.job.index + 1), state.job.point.label, str(state.job.seed),
                      Text(state.state, style=STATE_STYLES.get(state.state, "")),
                      format_figure(metric, value) if isinstance(value, (int, float)) else "-",
                      format_duration(run_time(run)) if run is not None else "-", run.name if run is not None else "-")
    return table


def study_state(folder: StudyFolder, states: list[JobState]) -> str:
    """running (a process is on it), complete (every run completed), failed (every run ended, and those that did
    not complete failed), or incomplete (runs pending or stopped: running the study again goes on with them)."""
    if folder.runners() or any(s.state in ("created", "running") for s in states):
        return "running"
    if all(s.done for s in states):
        return "complete"
    if all(s.done or s.state == "failed" for s in states):
        return "failed"
    return "incomplete"


def studies_table(folders: list[StudyFolder]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="bold")
    for name in ("study", "state", "runs", "experiment", "varies"):
        table.add_column(name, no_wrap=name != "varies", overflow="fold")
    for folder in folders:
        states = folder.job_states()
        state = study_state(folder, states)
        done = sum(1 for s in states if s.done)
        table.add_row(folder.id, Text(state, style=STUDY_STATE_STYLES.get(state, "")), f"{done}/{len(states)}",
                      experiments_of(folder.study), varies_text(folder.study))
    return table


def varies_text(study: Study) -> str:
    """What a study varies: "lr × 3 seeds", "points, lr × 1 seed"."""
    varies = ", ".join([*(["points"] if study.points else []), *study.grid]) or "-"
    return f"{varies} × {len(study.seeds)} seed{'s' if len(study.seeds) != 1 else ''}"


def study_heading(study: Study) -> str:
    """A study in one line: its description, or for a sweep (which has none) its experiment and what it varies."""
    return study.description or f"{experiments_of(study)}: {varies_text(study)}"
