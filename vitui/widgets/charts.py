"""Provides MetricChart: a textual-plotext chart of reduced metric traces with smoothing, log scale and x axis keys.

The chart draws what a ChartSource gives it (vitui.runstate traces); it keeps only its view settings.
It rebuilds the plot only when the data version, its size or a setting changed, so refreshes it gets
for focus or layout cost nothing.
"""

from __future__ import annotations

import math
from typing import Protocol, cast

from rich.align import Align
from rich.text import Text
from textual.binding import Binding
from textual_plotext import PlotextPlot

from vitui.comparison import OverlaySource
from vitui.runstate import Trace
from vitui.series import AXES

# Plotext colours per role; runs in a comparison get RUN_COLOURS in order, the same in tables and legends.
ROLE_COLOURS = {"train": "cyan", "val": "orange", "lr": "magenta", "speed": "green"}
RUN_COLOURS = ["cyan", "orange", "magenta", "green", "yellow", "red", "blue", "white"]
RUN_STYLES = ["cyan", "dark_orange", "magenta", "green", "yellow", "red", "blue", "white"]  # the same, for rich
# Without colour (NO_COLOR) overlaid runs, and train against validation, are told apart by their marker instead.
RUN_MARKERS = ["braille", "•", "x", "+", "o", "*", "#", "="]
ROLE_MARKERS = {"val": "•"}
FAINT = (105, 105, 105)
# RUN_COLOURS at about a third of their brightness: a band behind its run's line.
BAND_COLOURS = [(0, 80, 90), (100, 60, 0), (90, 0, 90), (0, 85, 0), (90, 90, 0), (95, 0, 0), (0, 0, 110), (85, 85, 85)]
SMOOTHING_STEPS = (0.0, 0.3, 0.6, 0.8, 0.9, 0.95, 0.99)


class ChartSource(Protocol):
    """Where a chart's lines come from: a version that changes with the data, the traces themselves, the unit
    of their y values ("%" or ""), a y range always shown (or None), and why there are none when there are none."""

    @property
    def version(self) -> object: ...

    @property
    def y_unit(self) -> str: ...

    @property
    def y_span(self) -> tuple[float, float] | None: ...

    def traces(self, columns: int, axis: str, smoothing: float) -> list[Trace]: ...

    def empty_note(self) -> str: ...


def band_colour(role: str) -> tuple[int, int, int]:
    """The dim shade of a run's colour its band is filled with."""
    return BAND_COLOURS[int(role[3:]) % len(BAND_COLOURS)] if role.startswith("run") else FAINT


def role_colour(role: str) -> str:
    if role.startswith("run"):
        return RUN_COLOURS[int(role[3:]) % len(RUN_COLOURS)]
    return ROLE_COLOURS.get(role, "white")


class MetricChart(PlotextPlot, can_focus=True):
    """One chart; with focus, keys change its smoothing, y scale and x axis, or zoom it to the whole screen."""

    ALLOW_MAXIMIZE = True
    SMOOTHING = Binding.Group("smooth", compact=True)
    BINDINGS = [
        Binding("left_square_bracket", "smoother(-1)", "less smoothing", group=SMOOTHING),
        Binding("right_square_bracket", "smoother(1)", "more smoothing", group=SMOOTHING),
        Binding("l", "toggle_log", "log y"),
        Binding("x", "next_axis", "x axis"),
        Binding("z", "zoom", "zoom"),
    ]

    def __init__(self, title: str, source: ChartSource, *, smoothing: float = 0.0, axes: tuple[str, ...] = AXES,
                 id: str | None = None, markers: bool = False):
        super().__init__(id=id)
        self.chart_title = title
        self.source = source
        self.smoothing = smoothing
        self.log_y = False
        self.axes = axes
        self.axis = axes[0]
        self.markers = markers  # distinct markers per run and per role (for NO_COLOR)
        self._cache_key: tuple | None = None
        self._cache: Text | Align | None = None

    # ---- keys
    def action_smoother(self, direction: int) -> None:
        steps = SMOOTHING_STEPS
        i = min(range(len(steps)), key=lambda k: abs(steps[k] - self.smoothing))
        self.smoothing = steps[max(0, min(len(steps) - 1, i + direction))]
        self.refresh()

    def action_toggle_log(self) -> None:
        self.log_y = not self.log_y
        self.refresh()

    def action_next_axis(self) -> None:
        self.axis = self.axes[(self.axes.index(self.axis) + 1) % len(self.axes)]
        self.refresh()

    def action_zoom(self) -> None:
        if self.is_maximized:
            self.screen.minimize()
        else:
            self.screen.maximize(self, container=False)

    def on_focus(self) -> None:
        self.refresh()  # the title's focus mark

    def on_blur(self) -> None:
        self.refresh()

    # ---- drawing
    def describe(self, unit: str = "") -> str:
        parts = [self.chart_title, f"x {self.axis}" + (f" ({unit})" if unit else "")]
        if self.smoothing:
            parts.append(f"smooth {self.smoothing:g}")
        if self.log_y:
            parts.append("log")
        return ("▸ " if self.has_focus else "") + " · ".join(parts)

    def render(self):
        width, height = self.size
        key = (self.source.version, width, height, self.smoothing, self.log_y, self.axis, self.has_focus, self.app.theme)
        if key == self._cache_key and self._cache is not None:
            return self._cache
        traces = [t for t in self.source.traces(max(8, width - 10), self.axis, self.smoothing) if t.x] if width > 0 else []
        drawable = [t for t in map(_positive, traces) if t.x] if self.log_y else traces
        if not drawable:
            # Not cached: the note follows the run's progress and state, which the data version does not.
            text = Text(self.describe(), style="bold", justify="center")
            note = "nothing to draw on a log scale: no value above 0" if traces else self.source.empty_note()
            text.append(f"\n\n{note}", style="dim")
            self._cache_key = None
            return Align.center(text, vertical="middle")
        self._draw(drawable)
        result = super().render()  # sizes the figure, applies the theme, builds the text
        self._cache_key, self._cache = key, result
        return result

    def _draw(self, traces: list[Trace]) -> None:
        draw_traces(self.plt, traces, describe=self.describe, y_unit=self.source.y_unit, log_y=self.log_y,
                    axis=self.axis, size=(self.size.width, self.size.height), markers=self.markers,
                    y_span=self.source.y_span)


def draw_traces(plt, traces: list[Trace], *, describe, y_unit: str, log_y: bool, axis: str, size: tuple[int, int],
                markers: bool = False, y_span: tuple[float, float] | None = None) -> None:
    """Draw traces on a plotext figure (a widget's, or a report's that is exported as SVG): the title from
    describe(unit), round ticks, accuracy kept within 0..100 %, bands filled in a dim shade of their colour; y_span,
    a range always shown (CPU: 0 to 100 %)."""
    width, height = size
    plt.clear_figure()
    scale, unit = 1.0, ""
    if axis == "time":
        longest = max(max(t.x) for t in traces)
        scale, unit = (1 / 3600, "h") if longest > 3 * 3600 else (1 / 60, "min") if longest > 300 else (1.0, "s")
    plt.title(describe(unit))
    labelled = sum(1 for t in traces if t.label) > 1
    lo = min(min(t.floor or t.y) for t in traces)
    hi = max(max(t.y) for t in traces)
    if y_span is not None:
        lo, hi = min(lo, y_span[0]), max(hi, y_span[1])
    x_span = (max(max(t.x) for t in traces) - min(min(t.x) for t in traces)) * scale
    for trace in traces:
        xs = [x * scale for x in trace.x] if scale != 1.0 else trace.x
        if trace.floor is not None:
            _fill_band(plt, xs, trace, x_span / max(1, 2 * (width - 10)), (hi - lo) / max(1, 2 * (height - 3)))
            continue
        colour = FAINT if trace.faint else role_colour(trace.role)
        plt.plot(xs, trace.y, color=colour, marker=_marker(trace, markers), label=trace.label if labelled else None)
    if log_y:
        plt.yscale("log")
    else:
        bounds = (0.0, 100.0) if y_unit == "%" else None
        ticks, labels = y_ticks(lo, hi, max(2, min(5, (height - 3) // 2)), bounds)
        plt.ylim(ticks[0], ticks[-1])
        plt.yticks(ticks, [label + y_unit for label in labels])
    if axis in ("step", "epoch"):  # steps and epochs are counted in whole numbers: so are their ticks
        ticks = whole_ticks(min(min(t.x) for t in traces), max(max(t.x) for t in traces), max(2, min(6, width // 7)))
        if ticks:
            plt.xticks(ticks, [str(t) for t in ticks])


def _fill_band(plt, xs: list[float], trace: Trace, x_step: float, y_step: float) -> None:
    """A band as dots from its floor up to its top, one column per braille dot across and every half line up, the
    edges drawn between its points: the lines drawn after it stay readable on top."""
    floor = trace.floor or []
    band_x, band_y = [], []
    for i in range(len(xs)):
        # From this point to the next (the last alone), a column every x_step, edges interpolated.
        x0, x1 = xs[i], xs[i + 1] if i + 1 < len(xs) else xs[i]
        columns = max(1, int((x1 - x0) / x_step)) if x_step > 0 and x1 > x0 else 1
        for c in range(columns):
            f = c / columns
            x = x0 + (x1 - x0) * f
            bottom = floor[i] + ((floor[i + 1] if i + 1 < len(xs) else floor[i]) - floor[i]) * f
            top = trace.y[i] + ((trace.y[i + 1] if i + 1 < len(xs) else trace.y[i]) - trace.y[i]) * f
            y = bottom
            while True:
                band_x.append(x)
                band_y.append(min(y, top))
                if y >= top or y_step <= 0:
                    break
                y += y_step
    plt.scatter(band_x, band_y, color=band_colour(trace.role), marker="braille")


def _marker(trace: Trace, markers: bool) -> str:
    """Braille dots, unless colour is off: then runs, and validation against training, get their own marker."""
    if not markers or trace.faint:
        return "braille"
    if trace.role.startswith("run"):
        return RUN_MARKERS[int(trace.role[3:]) % len(RUN_MARKERS)]
    return ROLE_MARKERS.get(trace.role, "braille")


def y_ticks(lo: float, hi: float, count: int, bounds: tuple[float, float] | None = None) -> tuple[list[float], list[str]]:
    """Evenly spaced ticks over [lo, hi] with the shortest labels that are distinct and within 2% of the
    range of their tick (plotext's own labels for a learning rate read 0.0009995). `bounds` keeps the room
    given to a flat line inside what the values can be (an accuracy of 104% is no tick)."""
    if hi <= lo:  # a flat line: give it some room
        pad = abs(lo) * 0.1 or 1.0
        lo, hi = lo - pad, hi + pad
        if bounds is not None:
            lo, hi = max(lo, bounds[0]), min(hi, bounds[1])
    ticks = [lo + (hi - lo) * i / (count - 1) for i in range(count)]
    labels: list[str] = []
    tiny_or_huge = any(t != 0 and (abs(t) < 1e-2 or abs(t) >= 1e5) for t in ticks)
    for places in range(0, 7):
        if tiny_or_huge:
            labels = ["0" if t == 0 else f"{t:.{places}e}".replace("e-0", "e-").replace("e+0", "e") for t in ticks]
        else:
            labels = [f"{t:.{places}f}" for t in ticks]
        close = all(abs(float(label) - t) <= (hi - lo) * 0.02 for label, t in zip(labels, ticks))
        if close and len(set(labels)) == count:
            break
    return ticks, labels


def whole_ticks(lo: float, hi: float, most: int) -> list[int]:
    """At most `most` round whole numbers in [lo, hi] (multiples of 1, 2, 3, 4, 5, 10, 20, 25, 50, ...), as many as
    fit; plotext's own ticks put epochs at 3.8 and steps at 112.5."""
    for power in range(0, 16):
        for base in (1, 2, 3, 4, 5) if power == 0 else (1, 2, 2.5, 5):
            step = int(base * 10 ** power)
            first, last = math.ceil(lo / step) * step, math.floor(hi)
            # Count before building: on a million-step axis the list of every candidate tick would cost more
            # than the whole chart.
            if last < first or (last - first) // step + 1 <= most:
                return list(range(first, last + 1, step))
    return []


def _positive(trace: Trace) -> Trace:
    """A log axis cannot show zero or negative values: drop them."""
    keep = [(x, y) for x, y in zip(trace.x, trace.y) if y > 0]
    if trace.floor is not None:
        kept = [(x, y, f) for x, y, f in zip(trace.x, trace.y, trace.floor) if f > 0]
        return Trace([x for x, _, _ in kept], [y for _, y, _ in kept], trace.label, trace.role, trace.faint,
                     [f for _, _, f in kept])
    return Trace([x for x, _ in keep], [y for _, y in keep], trace.label, trace.role, trace.faint)


class OverlayChart(MetricChart):
    """A comparison chart: one metric of several runs; `k` steps through the metrics they share."""

    BINDINGS = [Binding("k", "next_metric", "metric")]

    @property
    def overlay(self) -> OverlaySource:
        return cast(OverlaySource, self.source)

    def show_metric(self, key: str) -> None:
        self.overlay.key = key
        self.chart_title = self.overlay.title()
        self._cache_key = None
        self.refresh()

    def action_next_metric(self) -> None:
        keys = [k for k, _ in self.overlay.available()]
        if keys:
            i = keys.index(self.overlay.key) if self.overlay.key in keys else -1
            self.show_metric(keys[(i + 1) % len(keys)])
