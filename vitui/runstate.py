"""Provides RunState, the bounded state of one run built from its events, and the chart traces drawn from it.

The app's thread worker applies events here (under `lock`); widgets read from it. Everything kept is
bounded: metric series are reduced (vitui.series), log lines and extra events live in fixed-size deques,
so watching a week-long run costs the same memory as watching a minute of one. No Textual, no torch.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from vitui.core import runfolder
from vitui.core.events import Evaluation, Event, Log, Metric, Progress, Ranks, Resumed, Status, System
from vitui.series import ReducedSeries, ema

LOG_LINES = 1000  # log lines kept for the log panel
EXTRA_EVENTS = 32  # samples / attention / misclassified events kept for extra panels
RATE_WINDOW_S = 30.0  # throughput and ETA look at the last half minute of progress


@dataclass
class Trace:
    """One line of a chart: points, a label for the legend and a colour role (widgets map roles to colours)."""

    x: list[float]
    y: list[float]
    label: str = ""
    role: str = "train"
    faint: bool = False
    floor: list[float] | None = None  # a band: filled from these values up to y (a study's spread over seeds)


@dataclass
class ChartSpec:
    """A chart of the live screen: which series it overlays, how it starts out, and what its readings are."""

    id: str
    title: str
    series: Callable[[list[str]], list[tuple[str, str, str]]]  # series keys -> [(key, label, role)]
    smoothing: float = 0.0
    readings: str = ""  # what its points are, for the note an empty chart shows: "training-loss readings"
    scale: float = 1.0  # accuracy is drawn in percent, the unit the status line and the tables use
    unit: str = ""
    y_span: tuple[float, float] | None = None  # a y range always shown, whatever the values (CPU: 0 to 100 %)


def _pick(*wanted: tuple[str, str, str]) -> Callable[[list[str]], list[tuple[str, str, str]]]:
    return lambda keys: [w for w in wanted if w[0] in keys]


def _first(*wanted: tuple[str, str, str]) -> Callable[[list[str]], list[tuple[str, str, str]]]:
    return lambda keys: [w for w in wanted if w[0] in keys][:1]


def _throughput(keys: list[str]) -> list[tuple[str, str, str]]:
    return [(k, k.split("/", 1)[1], "speed") for k in keys if k.startswith("epoch/") and k.endswith("/s")]


LIVE_CHARTS = [
    ChartSpec("loss", "loss", _pick(("train/loss", "train loss", "train"), ("epoch/val_loss", "val loss", "val")), 0.6,
              readings="training-loss readings"),
    ChartSpec("accuracy", "accuracy", _pick(("epoch/train_acc", "train acc", "train"), ("epoch/val_acc", "val acc", "val")),
              readings="accuracy readings", scale=100.0, unit="%"),
    # The per-interval learning rate shows warm-up and schedule shape; trainers without one log it per epoch.
    ChartSpec("lr", "learning rate", _first(("train/lr", "lr", "lr"), ("epoch/lr", "lr", "lr")),
              readings="learning-rate readings"),
    ChartSpec("speed", "throughput", _throughput, readings="throughput readings"),
]
# Character models predict the next character: a loss per character, no accuracy to chart.
NO_ACCURACY_TASKS = ("chars",)

# When each chart gets its readings: "log" (every log_every steps) or "eval" (at each evaluation: the end of
# every epoch for image models, every eval_every iterations for the others). The image trainer logs its
# learning rate with the loss and at the end of each epoch, whichever comes first ("log-or-eval").
CADENCE = {"loss": "log", "accuracy": "eval", "lr": "eval", "speed": "eval"}
IMAGE_CADENCE = {**CADENCE, "lr": "log-or-eval"}


def live_charts(config: dict[str, Any]) -> list[ChartSpec]:
    """The charts of a run's live screen: all four, less accuracy for a character model."""
    if config.get("task") in NO_ACCURACY_TASKS:
        return [spec for spec in LIVE_CHARTS if spec.id != "accuracy"]
    return list(LIVE_CHARTS)


def empty_reason(spec: ChartSpec, run: "RunState") -> str:
    """Why a chart has nothing to draw, in the run's own settings: "no training-loss readings yet: log_every
    50 > 48 steps per epoch"."""
    with run.lock:
        config, p, running = run.config, run.current_progress(), run.running
    task = config.get("task", "")
    unit = p.unit if p is not None else ("step" if task == "image" else "iteration")
    kind = (IMAGE_CADENCE if task == "image" else CADENCE).get(spec.id, "eval")
    every = int(config.get("log_every") or 1)
    per_epoch = p.total_steps // p.total_epochs if p is not None and p.unit == "step" and p.total_epochs else 0
    if kind == "log-or-eval" and per_epoch and every > per_epoch:
        first = "the end of epoch 1"
        why = f"one at the end of each epoch (log_every {every:,} > {per_epoch:,} steps per epoch)"
    elif kind in ("log", "log-or-eval"):
        first = f"{unit} {every:,}"
        if per_epoch and every > per_epoch:
            why = f"log_every {every:,} > {per_epoch:,} steps per epoch"
        else:
            why = f"one every {every:,} {unit}s (log_every)"
    elif task == "image":
        first, why = "the end of epoch 1", "one at the end of each epoch"
    else:
        every = int(config.get("eval_every") or 1)
        first, why = f"iteration {every:,}", f"one every {every:,} iterations (eval_every)"
    if running:
        return f"no {spec.readings} yet: {why}"
    if p is None:
        return f"no {spec.readings}: the run ended before its first {unit}"
    return f"no {spec.readings}: the run ended at {unit} {p.step:,}, before the first at {first}"


class RunState:
    """What the app knows of one run: series, progress, status, logs, final figures."""

    def __init__(self, name: str = "", config: dict[str, Any] | None = None, capacity: int = 1024):
        self.lock = threading.RLock()
        self.name = name
        self.config = dict(config or {})
        self.capacity = capacity
        self.version = 0  # bumped on every change, so views redraw only when something changed
        self.events_seen = 0
        self.series: dict[str, ReducedSeries] = {}
        self.t0: float | None = None
        self.t_last: float | None = None
        self.state = "created"
        self.detail = ""
        self.last_error = ""
        self.progress: Progress | None = None
        self.last_step = 0  # the newest step any metric was logged at (progress may lag behind it)
        self.last_epoch = 0.0
        self._rate: deque[tuple[float, int]] = deque(maxlen=256)
        self.latest: dict[str, dict[str, float]] = {}  # newest values per split
        self.evaluation: Evaluation | None = None
        self.system: System | None = None  # the newest sample of the machine; its history is in series "system/..."
        self.ranks: Ranks | None = None  # a distributed run's newest pace figures
        self.logs: deque[tuple[int, Log]] = deque(maxlen=LOG_LINES)
        self.log_seq = 0
        self.extras: deque[tuple[int, Event]] = deque(maxlen=EXTRA_EVENTS)
        self.extra_seq = 0

    # ------------------------------------------------------------------ feeding
    def apply(self, events: Iterable[Event]) -> None:
        with self.lock:
            for event in events:
                self._apply(event)
            self.version += 1

    def _apply(self, event: Event) -> None:
        self.events_seen += 1
        if self.t0 is None:
            self.t0 = event.t
        self.t_last = event.t
        if isinstance(event, Metric):
            if event.step >= self.last_step:
                self.last_step, self.last_epoch = event.step, event.epoch
            split_values = self.latest.setdefault(event.split, {})
            for key, value in event.values.items():
                split_values[key] = value
                if event.split in ("train", "epoch", "val"):
                    self._record(f"{event.split}/{key}", value, event.step, event.epoch, event.t)
        elif isinstance(event, Progress):
            self.progress = event
            self._rate.append((event.t, event.step))
        elif isinstance(event, Status):
            self.state, self.detail = event.state, event.detail
        elif isinstance(event, Resumed):
            self._resume(event)
        elif isinstance(event, Log):
            self.log_seq += 1
            self.logs.append((self.log_seq, event))
            if event.level == "error":
                self.last_error = _summary_line(event.message)
        elif isinstance(event, Evaluation):
            self.evaluation = event
        elif isinstance(event, System):
            self.system = event
            for key, value in event.figures().items():  # at the training's newest step: samples carry none
                self._record(f"system/{key}", value, self.last_step, self.last_epoch, event.t)
        elif isinstance(event, Ranks):
            self.ranks = event
        else:
            self.extra_seq += 1
            self.extras.append((self.extra_seq, event))

    def _record(self, key: str, value: float, step: float, epoch: float, t: float) -> None:
        series = self.series.get(key)
        if series is None:
            series = self.series[key] = ReducedSeries(self.capacity)
        series.append(value, step, epoch, t)

    def _resume(self, event: Resumed) -> None:
        """The run goes on from its checkpoint at event.step: the readings the attempt before logged past it go (the
        new worker logs those steps again), so each chart goes on from that step, without a gap or a step twice."""
        for series in self.series.values():
            series.drop_after(event.step)
        self.last_step, self.last_epoch = event.step, event.epoch
        p = self.progress
        if p is not None and p.step > event.step:
            epoch = max(1, math.ceil(event.epoch)) if p.unit == "step" else int(event.epoch)
            self.progress = Progress(step=event.step, total_steps=p.total_steps, epoch=epoch,
                                     total_epochs=p.total_epochs, unit=p.unit, t=event.t)
        self._rate.clear()  # the speed before the break says nothing of the speed after it
        self.last_error = ""
        self.evaluation = None  # a run trained further is evaluated again at its new end

    def finish(self, state: str, detail: str = "") -> None:
        """The source ended: record its final state unless the log already said it."""
        with self.lock:
            if self.state not in runfolder.FINISHED:
                self.state = state
                self.detail = detail or self.detail
            if state == "failed" and not self.last_error:
                self.last_error = detail
            self.version += 1

    # ------------------------------------------------------------------ derived figures
    @property
    def running(self) -> bool:
        return self.state in ("created", "running")

    def current_progress(self) -> Progress | None:
        """Where the run stands: the newest Progress event, moved on to the newest metric's step when that is
        further (a run that evaluates more often than it logs reports its evaluations first)."""
        p = self.progress
        if p is not None and p.step >= self.last_step:
            return p
        if p is not None:
            epoch = p.epoch if p.unit != "step" else max(p.epoch, math.ceil(self.last_epoch))
            return Progress(step=self.last_step, total_steps=p.total_steps, epoch=epoch,
                            total_epochs=p.total_epochs, unit=p.unit, t=p.t)
        iterations = self.config.get("iterations")
        if self.last_step and isinstance(iterations, int) and iterations > 0:
            return Progress(step=self.last_step, total_steps=iterations, epoch=0, total_epochs=0, unit="iteration")
        return None

    def elapsed(self) -> float | None:
        if self.t0 is None or self.t_last is None:
            return None
        return self.t_last - self.t0

    def step_rate(self) -> float | None:
        """Steps per second over the last RATE_WINDOW_S seconds of progress events."""
        if len(self._rate) < 2:
            return None
        t_end, s_end = self._rate[-1]
        start = next(((t, s) for t, s in self._rate if t_end - t <= RATE_WINDOW_S), self._rate[0])
        dt, ds = t_end - start[0], s_end - start[1]
        return ds / dt if dt > 0 and ds > 0 else None

    def eta(self) -> float | None:
        rate, p = self.step_rate(), self.current_progress()
        if rate is None or p is None or not self.running:
            return None
        return max(0, p.total_steps - p.step) / rate

    def throughput(self) -> tuple[float, str] | None:
        """The newest items-per-second figure the trainer reported (img/s, chars/s, iter/s)."""
        for key, value in (self.latest.get("epoch") or {}).items():
            if key.endswith("/s") and value is not None:
                return value, key
        return None

    def series_keys(self) -> list[str]:
        return list(self.series)

    # ------------------------------------------------------------------ charts
    def traces(self, spec: ChartSpec, columns: int, axis: str, smoothing: float) -> list[Trace]:
        """The lines of one chart at `columns` width: faint raw envelope plus smoothed mean when smoothing."""
        with self.lock:
            out = []
            for key, label, role in spec.series(self.series_keys()):
                out += series_traces(self.series[key], columns, axis, smoothing, label, role, self.t0 or 0.0,
                                     spec.scale)
            return out


class SpecSource:
    """A live chart's data: one ChartSpec drawn from one run (the ChartSource a MetricChart reads)."""

    def __init__(self, run: RunState, spec: ChartSpec):
        self.run, self.spec = run, spec

    @property
    def version(self) -> tuple:
        """Changes only when a series of this chart got a point: epoch charts redraw once an epoch."""
        with self.run.lock:
            keys = self.spec.series(self.run.series_keys())
            return tuple((key, self.run.series[key].count) for key, _, _ in keys)

    @property
    def y_unit(self) -> str:
        return self.spec.unit

    @property
    def y_span(self) -> tuple[float, float] | None:
        return self.spec.y_span

    def traces(self, columns: int, axis: str, smoothing: float) -> list[Trace]:
        return self.run.traces(self.spec, columns, axis, smoothing)

    def empty_note(self) -> str:
        return empty_reason(self.spec, self.run)


def series_traces(series: ReducedSeries, columns: int, axis: str, smoothing: float, label: str, role: str,
                  t0: float, scale: float = 1.0) -> list[Trace]:
    reduced = series.reduce(columns, axis, origin=t0 if axis == "time" else 0.0)
    if not reduced.mean_x:
        return []
    env_y = [y * scale for y in reduced.env_y] if scale != 1.0 else reduced.env_y
    if smoothing <= 0:
        return [Trace(reduced.env_x, env_y, label, role)]
    mean_y = [y * scale for y in reduced.mean_y] if scale != 1.0 else reduced.mean_y
    return [Trace(reduced.env_x, env_y, "", role, faint=True),
            Trace(reduced.mean_x, ema(mean_y, smoothing), label, role)]


def _summary_line(message: str) -> str:
    """The line of a traceback that says what went wrong (its last non-empty line)."""
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def load_run_state(run_dir: Path, run: RunState | None = None, chunk: int = 5000,
                   reader: runfolder.EventReader | None = None,
                   progress: Callable[[int, int], None] | None = None) -> RunState:
    """A finished (or any) run's state, read from its log (into `run` when given, in chunks, so views can
    draw while it loads; from where `reader` starts when given). `progress` hears (bytes read, log size) after
    each chunk."""
    info = runfolder.load_run(run_dir)
    if run is None:
        run = RunState(run_dir.name, info.config)
    if reader is None:
        reader = runfolder.EventReader(run_dir)
    batch: list[Event] = []
    for event in reader:
        batch.append(event)
        if len(batch) >= chunk:
            run.apply(batch)
            batch = []
            if progress is not None:
                progress(reader.offset, reader.size)
    run.apply(batch)
    state = info.state
    detail = info.status.get("detail", "")
    if info.crashed and not detail:
        detail = "worker process died without finishing"
    run.finish(state, detail)
    return run
