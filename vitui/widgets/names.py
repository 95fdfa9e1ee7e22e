"""Provides NamesPanel: sampled names scrolling in with their iteration, novel ones highlighted, novelty over time.

Fed with Samples events through add_event(), also before it is mounted. With focus, + and - ask for a hotter or cooler
sampling temperature: the panel posts NamesPanel.TemperatureChanged and the run screen forwards it to the
worker as {"action": "set", "values": {"temperature": t}} (through the control queue of a worker it started,
or the run folder's control.jsonl of one started elsewhere); the header shows the request until samples use it.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import RichLog, Static
from textual_plotext import PlotextPlot

from vitui.core.events import Samples
from vitui.render.formats import plain

TEMPERATURE_STEP = 0.1
TEMPERATURE_RANGE = (0.1, 3.0)  # beyond these the samples are all copies or all noise
NOVEL_STYLE = "bold green"
COPY_STYLE = "dim"


def samples_line(event: Samples) -> Text:
    """One log entry: iteration, temperature, novelty, then the names (copies dim and starred)."""
    novel = sum(event.novel)
    line = Text.assemble((f"{event.step:>8,}", "bold"), f"  T {event.temperature:<4g} ",
                         (f"novel {novel}/{len(event.texts)}", "cyan"), "  ")
    for i, (name, is_new) in enumerate(zip(event.texts, event.novel)):
        if i:
            line.append("  ")
        shown = plain(name) or "(empty)"  # drawn from the run's vocabulary, which a names file set: untrusted
        line.append(shown if is_new else f"*{shown}", style=NOVEL_STYLE if is_new else COPY_STYLE)
    return line


class NamesPanel(Vertical, can_focus=True):
    """Live names from a character model: a scrolling log of samples above a novelty-rate chart.

    The second header line follows a temperature request: asked, then in use from the first samples drawn
    with it. The screen says whether requests can reach the worker (set_control); when they cannot, + and
    - are off and the header says why.
    """

    DEFAULT_CSS = """
    NamesPanel { height: 1fr; }
    NamesPanel > #names-header { height: auto; max-height: 3; padding: 0 1; }
    NamesPanel > #names-log { height: 1fr; border: round $panel; }
    NamesPanel > #names-novelty { height: 9; }
    NamesPanel:focus > #names-log { border: round $accent; }
    """
    BINDINGS = [
        Binding("plus,equals_sign", "temperature(1)", "hotter"),
        Binding("minus", "temperature(-1)", "cooler"),
    ]

    class TemperatureChanged(Message):
        """The user asked for a new sampling temperature for the run's next samples."""

        def __init__(self, temperature: float):
            super().__init__()
            self.temperature = temperature

    def __init__(self, *, id: str | None = None, classes: str | None = None):
        super().__init__(id=id, classes=classes)
        self.history: list[tuple[int, float]] = []  # (iteration, novelty rate) per Samples event
        self.last: Samples | None = None
        self.asked: float | None = None  # the temperature this panel asked for last; None: nothing asked
        self.in_use_since: int | None = None  # iteration of the first samples drawn at `asked`
        self.control_off = ""  # why + and - cannot reach the worker now; "" when they can
        self._unwritten: list[Samples] = []  # events fed before the panel was mounted
        self._drawn = 0  # history entries the chart already shows
        self._ready = False  # children composed and the backlog written

    @property
    def waiting(self) -> bool:
        """A temperature was asked for and no samples drawn with it have arrived yet."""
        return self.asked is not None and self.in_use_since is None

    @property
    def temperature(self) -> float | None:
        """What + and - step from: the pending request, else what the newest samples were drawn at."""
        if self.waiting:
            return self.asked
        return self.last.temperature if self.last is not None else None

    def compose(self) -> ComposeResult:
        yield Static(id="names-header")
        yield RichLog(id="names-log", wrap=True, markup=False, max_lines=1000, auto_scroll=True)
        yield PlotextPlot(id="names-novelty")

    def on_mount(self) -> None:
        log = self.query_one("#names-log", RichLog)
        for event in self._unwritten:
            log.write(samples_line(event))
        self._unwritten.clear()
        self._ready = True
        self._update_header()
        self._draw_chart()

    # ---- feeding
    def add_event(self, event: Samples) -> None:
        self.last = event
        if self.waiting and self.asked is not None and abs(event.temperature - self.asked) < 1e-9:
            self.in_use_since = event.step
        self.history.append((event.step, event.novelty))
        if not self._ready:
            self._unwritten.append(event)
            return
        self.query_one("#names-log", RichLog).write(samples_line(event))
        self._update_header()
        self._draw_chart()

    def set_control(self, off_reason: str) -> None:
        """Turn + and - off with the reason the header shows (a finished run, a folder we cannot write), or on with ""."""
        if off_reason == self.control_off:
            return
        self.control_off = off_reason
        self.refresh_bindings()  # the footer greys out + and - while they are off
        if self._ready:
            self._update_header()

    # ---- keys
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "temperature" and self.control_off:
            return None  # shown greyed out in the footer, not run
        return True

    def action_temperature(self, direction: int) -> None:
        current = self.temperature if self.temperature is not None else 1.0
        low, high = TEMPERATURE_RANGE
        wanted = round(min(high, max(low, current + direction * TEMPERATURE_STEP)), 2)
        if wanted != current:
            self.asked, self.in_use_since = wanted, None
            self.post_message(self.TemperatureChanged(wanted))
            self._update_header()

    # ---- drawing
    def _update_header(self) -> None:
        header = Text()
        if self.last is None:
            header.append("no samples yet  ", style="dim")
        else:
            header.append(f"iteration {self.last.step:,}  novelty {self.last.novelty * 100:.0f}%  ")
        header.append("novel", style=NOVEL_STYLE)
        header.append(" ", style="dim")
        header.append("*copy", style=COPY_STYLE)
        header.append("\n")
        header.append_text(self._temperature_line())
        self.query_one("#names-header", Static).update(header)

    def _temperature_line(self) -> Text:
        """Where the sampling temperature stands: asked, in use, or fixed and why."""
        drawn_at = f"{self.last.temperature:g}" if self.last is not None else "?"
        if self.control_off:
            return Text.assemble(("temperature " + drawn_at, "bold"), (f"  +/- off: {self.control_off}", "dim"))
        if self.waiting:
            return Text.assemble((f"temperature {self.asked:g} asked", "bold"),
                                 (f", samples still at {drawn_at}  +/- change", "dim"))
        line = Text("temperature " + drawn_at, style="bold")
        if self.asked is not None and self.last is not None and abs(self.last.temperature - self.asked) < 1e-9:
            line.append(f" in use since iteration {self.in_use_since:,}", style="bold")
            return line.append("  +/- change", style="dim")
        return line.append("  +/- change it for the next samples", style="dim")

    def _draw_chart(self) -> None:
        if not self.history or self._drawn == len(self.history):
            return
        self._drawn = len(self.history)
        chart = self.query_one("#names-novelty", PlotextPlot)
        plt = chart.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title("novel names %")
        steps = [s for s, _ in self.history]
        plt.plot(steps, [n * 100 for _, n in self.history], marker="braille")
        plt.ylim(0, 100)
        plt.yticks([0, 50, 100])  # five ticks do not all fit the chart's few rows at 80x24
        plt.xlabel("iteration")
        chart.refresh()
