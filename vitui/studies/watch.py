"""Provides what the studies screen and the report read of a study as it runs: each run's state built from its log
(followed as it grows), and the study's chart: one metric per grid point, the mean over the seeds with a band of
one standard deviation either side. No Textual.
"""

from __future__ import annotations

import math
import statistics
import threading
from pathlib import Path

from vitui.core import runfolder
from vitui.runstate import RunState, Trace
from vitui.series import ema
from vitui.studies.definition import Point, grid_points
from vitui.studies.folder import JobState, StudyFolder
from vitui.studies.results import StudyResults, study_results


class StudyWatch:
    """A study's runs as RunStates, read from their logs; refresh() reads what was added since (from a thread)."""

    def __init__(self, folder: StudyFolder | None):
        self.folder = folder
        self.points: list[Point] = grid_points(folder.study) if folder is not None else []
        self.lock = threading.Lock()
        self.states: list[JobState] = []
        self.results: StudyResults | None = None
        self.runs: dict[Path, RunState] = {}  # by run folder
        self._tails: dict[Path, runfolder.EventTail] = {}
        self.version = 0

    @classmethod
    def empty(cls) -> "StudyWatch":
        """No study (yet): what a chart shows before one is chosen."""
        return cls(None)

    def refresh(self) -> None:
        """Job states and results from the folders, and new events of every run not yet seen to end."""
        if self.folder is None:
            return
        states = self.folder.job_states()
        results = study_results(self.folder)
        for state in states:
            if state.run is None:
                continue
            path = state.run.path
            run = self.runs.get(path)
            if run is None:
                run = self.runs[path] = RunState(path.name, state.run.config)
                self._tails[path] = runfolder.EventTail(path)
            tail = self._tails.get(path)
            if tail is None:
                continue
            events = tail.poll()
            if events:
                run.apply(events)
            if state.run.state in runfolder.FINISHED:
                run.finish(state.run.state, state.run.status.get("detail", ""))
                del self._tails[path]  # its log is complete
        with self.lock:
            self.states, self.results = states, results
            self.version += 1

    def point_runs(self, point: Point) -> list[RunState]:
        return [self.runs[s.run.path] for s in self.states
                if s.job.point.index == point.index and s.run is not None and s.run.path in self.runs]

    def chart_keys(self) -> list[tuple[str, str]]:
        """The metrics the study's runs drew per evaluation, the study's own first: [(series key, title)]."""
        keys: dict[str, None] = {}
        for run in list(self.runs.values()):
            with run.lock:
                keys.update(dict.fromkeys(k for k in run.series if k.startswith("epoch/") and not k.endswith("/s")))
        keys.update(dict.fromkeys(k for k in ("train/loss",) if any(k in r.series for r in self.runs.values())))
        metric = self.results.metric if self.results else ""
        best = self.results.best_name if self.results else ""
        first = [k for k in (f"epoch/{metric}", f"epoch/{best}") if k in keys]
        ordered = list(dict.fromkeys([*first, *keys]))
        return [(k, k.split("/", 1)[1].replace("_", " ")) for k in ordered]


class StudyChart:
    """One metric of a study per grid point: the mean over its seeds and a band of ± one standard deviation
    (a ChartSource for MetricChart; point i in colour role `run{i}`)."""

    def __init__(self, watch: StudyWatch, key: str = ""):
        self.watch, self.key = watch, key

    @property
    def version(self) -> tuple:
        return self.key, self.watch.version, tuple(r.version for r in list(self.watch.runs.values()))

    @property
    def y_unit(self) -> str:
        return "%" if self.key.endswith("_acc") else ""

    y_span = None  # the study's own range

    def title(self) -> str:
        return dict(self.watch.chart_keys()).get(self.key, self.key.split("/", 1)[-1]) + ", mean ± sd over seeds"

    def traces(self, columns: int, axis: str, smoothing: float) -> list[Trace]:
        scale = 100.0 if self.key.endswith("_acc") else 1.0
        out = []
        for point in self.watch.points:
            lines = point_traces(self.watch.point_runs(point), self.key, columns, axis, smoothing, scale,
                                 point.label, f"run{point.index}")
            out += lines
        # Every band first, then every mean: no band covers another point's line.
        return [t for t in out if t.floor is not None] + [t for t in out if t.floor is None]

    def empty_note(self) -> str:
        if not self.watch.runs:
            return "no run of this study has started yet"
        return f"no run of this study has recorded {self.key.split('/', 1)[-1] or 'this metric'} yet"


def point_traces(runs: list[RunState], key: str, columns: int, axis: str, smoothing: float, scale: float,
                 label: str, role: str) -> list[Trace]:
    """A point's mean over its runs and the band of ± one standard deviation, on at most `columns` x values.

    Runs of one point evaluate at the same steps, so their values are matched by step and drawn at the mean of
    their x (an epoch of a character model depends on how many names the seed held out); where only one run has
    got so far, the mean is its value and the band is empty. The wall-time axis is not offered: seeds reach the
    same step at different times.
    """
    by_step: dict[float, list[tuple[float, float]]] = {}  # step -> [(x, y)] over the runs
    for run in runs:
        with run.lock:
            series = run.series.get(key)
            if series is None:
                continue
            # Every bucket (each point itself, for an evaluation series), by step and by the chosen axis.
            steps, points = series.reduce(len(series), "step"), series.reduce(len(series), axis)
        for step, x, y in zip(steps.mean_x, points.mean_x, points.mean_y):
            by_step.setdefault(step, []).append((x, y * scale))
    if not by_step:
        return []
    order = sorted(by_step)
    xs = [statistics.fmean(x for x, _ in by_step[s]) for s in order]
    by_x = {x: [y for _, y in by_step[s]] for x, s in zip(xs, order)}
    xs = sorted(by_x)
    at_mean = [statistics.fmean(by_x[x]) for x in xs]
    at_sd = [statistics.stdev(by_x[x]) if len(by_x[x]) > 1 else 0.0 for x in xs]
    size = math.ceil(len(xs) / max(1, columns))  # more x values than columns: average neighbours
    gx, mean, sd = [], [], []
    for i in range(0, len(xs), size):
        gx.append(statistics.fmean(xs[i:i + size]))
        mean.append(statistics.fmean(at_mean[i:i + size]))
        sd.append(statistics.fmean(at_sd[i:i + size]))
    if smoothing > 0:
        mean, sd = ema(mean, smoothing), ema(sd, smoothing)
    lines = []
    if any(sd):
        lines.append(Trace(gx, [m + s for m, s in zip(mean, sd)], "", role, floor=[m - s for m, s in zip(mean, sd)]))
    lines.append(Trace(gx, mean, f"{label} (n={max(len(v) for v in by_x.values())})", role))
    return lines
