"""Provides a study's results: per grid point, the mean and standard deviation over its seeds of the final and
best figures and of the time, sorted by the study's metric, and an honest line on whether the first two differ
by more than the seeds do.

The rule for that line: the gap between the first two means is compared with the sum of their two standard
deviations (sample standard deviations, n - 1, over the completed seeds). A gap larger than that sum is larger
than the noise between seeds; a smaller one is within it. With one seed there is no spread to compare. It is a
rule of thumb, not a significance test: a few seeds give only a rough standard deviation. No Textual.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import Any

from vitui.core.runfolder import RunInfo
from vitui.studies.definition import Point, Study, grid_points
from vitui.studies.folder import JobState, StudyFolder


@dataclass
class Spread:
    """Values over the seeds: their mean and sample standard deviation (None with fewer than two)."""

    values: list[float] = field(default_factory=list)

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float | None:
        return statistics.fmean(self.values) if self.values else None

    @property
    def sd(self) -> float | None:
        return statistics.stdev(self.values) if len(self.values) > 1 else None

    def to_dict(self) -> dict[str, Any]:
        return {"mean": self.mean, "sd": self.sd, "n": self.n, "values": self.values}


@dataclass
class PointResult:
    """One row of the study's table: a grid point's runs and their figures over the seeds."""

    point: Point
    jobs: list[JobState]
    final: Spread
    best: Spread
    time: Spread
    reference: float | None  # the original report's figure, as the report gave it (percent for accuracies)

    @property
    def done(self) -> int:
        return sum(1 for j in self.jobs if j.done)

    def states(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for j in self.jobs:
            counts[j.state] = counts.get(j.state, 0) + 1
        return counts


@dataclass
class StudyResults:
    """The table of a study: rows sorted best first by `metric`, and what `best` and the metric are called."""

    study: Study
    metric: str
    best_name: str
    higher_is_better: bool
    rows: list[PointResult]
    jobs: list[JobState]

    @property
    def done(self) -> int:
        return sum(1 for j in self.jobs if j.done)

    def verdict(self) -> str:
        return spread_verdict(self)

    def to_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "best": self.best_name, "higher_is_better": self.higher_is_better,
                "verdict": self.verdict(), "reference_note": self.study.reference_note,
                "points": [{"label": r.point.label, "settings": r.point.settings, "runs": len(r.jobs), "done": r.done,
                            "final": r.final.to_dict(), "best": r.best.to_dict(), "time": r.time.to_dict(),
                            "reference": r.reference} for r in self.rows]}


def higher_is_better(metric: str) -> bool:
    """Accuracies up, losses and perplexities down."""
    return not any(word in metric for word in ("loss", "ppl", "time", "error"))


def is_accuracy(metric: str) -> bool:
    return "acc" in metric


def summary_figure(summary: dict[str, Any], metric: str) -> float | None:
    value = (summary.get("metrics") or {}).get(metric)
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def run_time(run: RunInfo) -> float | None:
    """How long a run trained: its summary's `time` (the training loop's own clock, which a resumed run carries on
    from its checkpoint) once it has one; else the run folder's start to end, which counts a resumed run's pause."""
    value = summary_figure(run.summary, "time")
    return value if value is not None else run.duration


def study_results(folder: StudyFolder) -> StudyResults:
    """The study's table from its runs' summary.json files (only completed runs count)."""
    study = folder.study
    states = folder.job_states()
    done = [s for s in states if s.done and s.run is not None]
    # The figure each run keeps its best checkpoint by (val_acc, or val_loss for the character models).
    best_names = [str((s.run.summary.get("best") or {}).get("name", "")) for s in done if s.run is not None]
    best_name = next((n for n in best_names if n), "")
    metric = study.metric or best_name
    rows = []
    for point in grid_points(study):
        point_jobs = [s for s in states if s.job.point.index == point.index]
        final, best, took = Spread(), Spread(), Spread()
        for state in point_jobs:
            if not state.done or state.run is None:
                continue
            summary = state.run.summary
            value = summary_figure(summary, metric)
            if value is not None:
                final.values.append(value)
            best_value = (summary.get("best") or {}).get("value")
            if isinstance(best_value, (int, float)) and math.isfinite(best_value):
                best.values.append(float(best_value))
            took_s = run_time(state.run)
            if took_s is not None:
                took.values.append(took_s)
        rows.append(PointResult(point, point_jobs, final, best, took, study.reference.get(point.label)))
    up = higher_is_better(metric)
    rows.sort(key=lambda r: (r.final.mean is None, -(r.final.mean or 0.0) if up else (r.final.mean or 0.0)))
    return StudyResults(study, metric, best_name, up, rows, states)


def format_figure(metric: str, value: float | None, *, points: bool = False) -> str:
    """0.7577 as "75.77%" for an accuracy (or "3.55 points" for a difference of accuracies), 1.6141 otherwise."""
    if value is None:
        return "-"
    if is_accuracy(metric):
        return f"{value * 100:.2f} points" if points else f"{value * 100:.2f}%"
    return f"{value:.4f}"


def format_spread(metric: str, spread: Spread) -> str:
    """"79.31% ± 0.42" over several seeds, "79.31%" over one, "-" over none."""
    if spread.mean is None:
        return "-"
    text = format_figure(metric, spread.mean)
    if spread.sd is not None:
        text += f" ± {spread.sd * 100:.2f}" if is_accuracy(metric) else f" ± {spread.sd:.4f}"
    return text


def spread_verdict(results: StudyResults) -> str:
    """Does the gap between the first two points exceed the spread across seeds? (rule in the module docstring)"""
    ranked = [r for r in results.rows if r.final.mean is not None]
    if not ranked and results.done:  # a metric no run records (a typo in --metric): say which ones they do
        names = sorted({name for s in results.jobs if s.done and s.run is not None
                        for name in (s.run.summary.get("metrics") or {})})
        return (f"no completed run recorded {results.metric}; their summaries have {', '.join(names) or 'no figures'}:"
                f" give one of these as the metric (--metric for a sweep)")
    if len(ranked) < 2:
        return ""
    first, second = ranked[0], ranked[1]
    metric = results.metric
    gap = abs(first.final.mean - second.final.mean)  # type: ignore[operator]
    head = (f"{first.point.label} leads {second.point.label} by {format_figure(metric, gap, points=True)} "
            f"of {metric}")
    if first.final.sd is None or second.final.sd is None:
        few = first if first.final.sd is None else second
        seeds = len(results.study.seeds)
        advice = (f"{seeds - few.final.n} more of its {seeds} seeds to complete" if seeds > 1 else
                  "run with --repeat 3 or more")
        return (f"{head}; {few.point.label} has {few.final.n} completed seed{'s' if few.final.n != 1 else ''}: no "
                f"spread across seeds to compare the gap with ({advice})")
    spread = first.final.sd + second.final.sd
    seeds = f"{min(first.final.n, second.final.n)}" if first.final.n == second.final.n else \
        f"{first.final.n} and {second.final.n}"
    against = (f"the spread across seeds (the sum of their standard deviations over {seeds} seeds) is "
               f"{format_figure(metric, spread, points=True)}")
    if gap > spread:
        return f"{head}; {against}: the gap exceeds the spread across seeds"
    return f"{head}; {against}: the gap is within the spread across seeds, so these seeds cannot tell them apart"
