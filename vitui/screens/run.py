"""Provides the run screens: LiveRunScreen follows a training run, RunDetailScreen shows a finished one from its log.

Both show the same panels (charts, log, results, config, plus extra panels for samples, attention maps and
misclassified images when the run logs them) and redraw from a RunState at most a few times a second.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Union

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static, TabbedContent, TabPane

from vitui.core import runfolder
from vitui.messages import RunUpdated, ShowLauncher, StopRun
from vitui.logindex import LOG_INDEX
from vitui.runstate import RunState, SpecSource, live_charts
from vitui.widgets.attention import AttentionView
from vitui.widgets.charts import MetricChart
from vitui.widgets.logpanel import LogPanel
from vitui.widgets.misclassified import MisclassifiedView
from vitui.widgets.names import NamesPanel
from vitui.widgets.progress import RunStatusBar
from vitui.render.formats import plain
from vitui.render.tables import config_table
from vitui.widgets.results import ResultsView
from vitui.widgets.system import SystemPanel

ExtraPanel = Union[NamesPanel, AttentionView, MisclassifiedView]

REFRESH_S = 0.5  # at most two redraws a second: charts cost a few ms each, and training shares the CPU

# Event kind -> the panel that shows it and its tab title. A panel's tab appears the first time its event
# arrives; every panel takes events through add_event(), also before it is mounted (it draws them on mount).
EXTRA_PANELS: dict[str, tuple[type[ExtraPanel], str]] = {
    "samples": (NamesPanel, "names"),
    "attention": (AttentionView, "attention"),
    "misclassified": (MisclassifiedView, "mistakes"),
}


def ended_reason(state: str) -> str:
    """What the names panel says in place of + and - once a run has ended."""
    return f"the run {state}; `vitui sample` draws new names"


class Panels(TabbedContent):
    """The run screen's tabs, switched only by `p` (show_panel) and by clicks on the tab bar.

    TabbedContent also makes a pane active when a widget in it gets focus, a few messages later. Keys can
    outrun those messages (`p` pressed fast, or a loaded machine), and a late one switched the screen back to
    a pane already left, even half-way: the tab bar on one pane, the content on another. Focus here only ever
    moves into the pane just shown (the focus chain skips hidden panes), so the switch it asks for is never
    needed.
    """

    def _on_tab_pane_focused(self, event: TabPane.Focused) -> None:
        event.prevent_default()  # TabbedContent's own handler would switch panes


class RunScreen(Screen):
    """Status and progress on top, panels below; subclasses decide where the run's events come from."""

    BINDINGS = [
        Binding("escape", "back", "back"),
        Binding("p", "next_panel", "panel"),
    ]
    AUTO_FOCUS = "#chart-loss"

    def __init__(self, run: RunState, run_dir: Path):
        super().__init__()
        self.run = run
        self.run_dir = Path(run_dir)
        self.summary: dict[str, Any] = {}
        self._last_refresh = 0.0
        self._pending = False
        self._drawn_version = -1
        self._results_key: tuple | None = None
        self._extra_seen = 0
        self._extras: dict[str, ExtraPanel] = {}
        self._system: SystemPanel | None = None

    @property
    def stopping(self) -> bool:
        return False

    def compose(self) -> ComposeResult:
        yield RunStatusBar(id="run-status")
        with Panels(id="panels", initial="charts"):
            with TabPane("charts", id="charts"):
                with Grid(id="chart-grid"):
                    specs = live_charts(self.run.config)
                    markers = self.app.no_color
                    for i, spec in enumerate(specs):
                        chart = MetricChart(spec.title, SpecSource(self.run, spec), smoothing=spec.smoothing,
                                            id=f"chart-{spec.id}", markers=markers)
                        chart.set_class(i == 0 and len(specs) % 2 == 1, "wide")  # three charts: loss on top, full width
                        yield chart
            with TabPane("log", id="log"):
                yield LogPanel(id="log-panel")
            with TabPane("results", id="results"):
                yield ResultsView(id="results-view")
            with TabPane("config", id="config"):
                with VerticalScroll():
                    yield Static(config_table(self.run.config), id="config-table")
        yield Footer()

    def on_mount(self) -> None:
        # After the first refresh: widgets nested in the panels may not be mounted yet at Mount time.
        self.call_after_refresh(self.refresh_view)

    def on_screen_resume(self) -> None:
        self.refresh_view()

    # ---- redraw, throttled
    def on_run_updated(self, message: RunUpdated) -> None:
        if Path(message.run_dir) != self.run_dir:
            return
        wait = REFRESH_S - (time.monotonic() - self._last_refresh)
        if wait <= 0:
            self.refresh_view()
        elif not self._pending:
            self._pending = True
            self.set_timer(wait, self.refresh_view)

    def refresh_view(self) -> None:
        if not self.is_attached:
            return
        self._last_refresh, self._pending = time.monotonic(), False
        run = self.run
        self.query_one(RunStatusBar).show(run, self.stopping)
        if run.version != self._drawn_version:
            self._drawn_version = run.version
            for chart in self.query(MetricChart):
                chart.refresh()
        self.query_one(LogPanel).show(run)
        with run.lock:
            results_key = (run.state, id(run.evaluation), len(run.latest.get("test") or {}))
        if results_key != self._results_key:
            self._results_key = results_key
            if not run.running and not self.summary:
                self.summary = runfolder.load_run(self.run_dir).summary
            self.query_one(ResultsView).show(run, self.summary)
        self._deliver_extras()
        self._show_system()
        self._update_controls()

    def _show_system(self) -> None:
        """The system tab, added with the run's first sample of the machine (a run from before them has none)."""
        if self.run.system is None:
            return
        if self._system is None:  # kept here: the new pane is mounted a few messages later
            self._system = SystemPanel(self.run, markers=self.app.no_color)
            self.query_one(TabbedContent).add_pane(TabPane("system", self._system, id="system"))
        self._system.show()

    def _update_controls(self) -> None:
        names = self._extras.get("samples")
        if isinstance(names, NamesPanel):
            names.set_control(self.settings_off_reason())

    def settings_off_reason(self) -> str:
        """Why live settings (the names panel's + and -) cannot reach the run's worker now; "" when they can."""
        return ended_reason(self.run.state)

    def _deliver_extras(self) -> None:
        """Feed new samples / attention / misclassified events to their panels, adding a panel's tab the first time.

        Panels accept events before they are mounted and draw them in their own on_mount, so nothing here
        waits for the new tab (an earlier version re-queued itself until the tab mounted, and starved it).
        """
        with self.run.lock:
            new = [(seq, event) for seq, event in self.run.extras if seq > self._extra_seen]
        for seq, event in new:
            self._extra_seen = seq
            if event.kind not in EXTRA_PANELS:
                continue
            panel = self._extras.get(event.kind)
            if panel is None:
                cls, title = EXTRA_PANELS[event.kind]
                panel = self._extras[event.kind] = cls()
                self.query_one(TabbedContent).add_pane(TabPane(title, panel, id=f"extra-{event.kind}"))
            panel.add_event(event)

    # ---- keys
    def action_back(self) -> None:
        if len(self.app.screen_stack) > 2:
            self.app.pop_screen()
        else:  # opened straight from `vitui run`: back is the launcher
            self.post_message(ShowLauncher())

    def action_next_panel(self) -> None:
        tabs = self.query_one(TabbedContent)
        ids = [pane.id for pane in tabs.query(TabPane)]
        if tabs.active in ids:
            self.show_panel(ids[(ids.index(tabs.active) + 1) % len(ids)])

    def show_panel(self, pane_id: str) -> None:
        """Switch panel and focus its first focusable widget, so its keys work at once and show in the footer."""
        tabs = self.query_one(TabbedContent)
        tabs.active = pane_id
        # Focus now, not after a redraw: keys that arrive with the `p` (typed fast, pasted, sent by tmux) would
        # otherwise go to nobody. Only a pane added a moment ago may have nothing mounted to focus yet.
        if not self._focus_in(pane_id):
            self.set_focus(None)
            self.call_after_refresh(self._focus_in, pane_id)

    def _focus_in(self, pane_id: str) -> bool:
        tabs = self.query_one(TabbedContent)
        if tabs.active != pane_id:
            return True  # the user has moved on: focusing this pane would make it active again
        target = next((w for w in tabs.get_pane(pane_id).query("*") if w.focusable), None)
        if target is None:
            return False
        self.set_focus(target)
        return True


class LiveRunScreen(RunScreen):
    """A run being trained, here or elsewhere: charts grow as its events arrive; `s` stops it gracefully."""

    BINDINGS = [Binding("s", "stop_run", "stop")]

    def __init__(self, session: Any):
        super().__init__(session.run, session.run_dir)
        self.session = session
        self._send_error = ""  # a control request that could not be delivered: live settings stay off

    @property
    def stopping(self) -> bool:
        return self.session.stopping

    def action_stop_run(self) -> None:
        self.post_message(StopRun(self.run_dir))

    def settings_off_reason(self) -> str:
        if self._send_error:
            return self._send_error
        if not self.run.running:
            return ended_reason(self.run.state)
        if self.session.stopping:
            return "the run is stopping"
        return self.session.source.send_problem()

    def on_names_panel_temperature_changed(self, message: NamesPanel.TemperatureChanged) -> None:
        """The names panel asked for another sampling temperature: the worker reads it at its next samples.

        A worker this app started reads it from its control queue, one started elsewhere from its run folder.
        """
        reason = self.settings_off_reason()
        if not reason:
            try:
                self.session.source.send({"action": "set", "values": {"temperature": message.temperature}})
            except (RuntimeError, OSError) as exc:
                reason = self._send_error = f"could not ask the worker: {exc}"
        if reason:  # the run ended or the request failed since the panel last heard: say so, never drop it quietly
            self.notify(plain(f"temperature not changed: {reason}"), severity="warning", markup=False)
        self._update_controls()


class RunDetailScreen(RunScreen):
    """A finished run, read from its log in a thread, with a progress line while it reads: charts, results, config
    and log. The app keeps what it read (vitui.logindex), so reopening the run reads only what was appended."""

    PROGRESS_EVERY_S = 0.25  # how often the reading thread updates the progress line

    def __init__(self, run_dir: Path):
        info = runfolder.load_run(Path(run_dir))
        super().__init__(LOG_INDEX.state(Path(run_dir)), run_dir)
        self.summary = info.summary
        self.recorded_state = info.state  # the run says "running" while its log is read
        self._progress_at = 0.0

    def settings_off_reason(self) -> str:
        return ended_reason(self.recorded_state)

    def on_mount(self) -> None:
        super().on_mount()
        progress = Static("", id="load-progress")
        progress.display = False
        self.mount(progress, after=self.query_one(Panels))  # a line under the panels, above the footer
        # An app worker, so the app's one handler reports a failure.
        self.app.run_worker(self.load_log, thread=True, exit_on_error=False, description="read the run's log")

    def load_log(self) -> None:
        LOG_INDEX.read(self.run_dir, progress=self._progress)
        self.app.call_from_thread(self._loaded)

    def _progress(self, done: int, total: int) -> None:
        """From the reading thread: the progress line, and charts drawn as far as read, a few times a second."""
        now = time.monotonic()
        if now - self._progress_at >= self.PROGRESS_EVERY_S:
            self._progress_at = now
            self.app.call_from_thread(self._show_progress, done, total)

    def _show_progress(self, done: int, total: int) -> None:
        line = self.query_one("#load-progress", Static)
        line.display = True
        share = done / total if total else 1.0
        line.update(f"reading the log: {share:.0%} of {total / 1e6:,.1f} MB, {self.run.events_seen:,} events so far")
        self.refresh_view()

    def _loaded(self) -> None:
        self.query_one("#load-progress").display = False
        self.refresh_view()
