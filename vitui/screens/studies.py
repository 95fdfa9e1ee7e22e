"""Provides StudiesScreen: every study in the runs folder; for the chosen one its table, its runs with their state
and progress, and its chart (the metric per grid point, mean and band over the seeds). Studies run in processes
of their own (`vitui study`, or started here with n), so this screen only reads their folders."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, cast

from rich.console import Group
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, OptionList, Static, TabPane
from textual.widgets.option_list import Option

from vitui.messages import OpenRun, StopStudy, StudyRequested
from vitui.render.formats import format_duration
from vitui.render.runs import STATE_STYLES
from vitui.render.studies import STUDY_STATE_STYLES, reference_line, results_table, study_heading, study_state
from vitui.screens.run import Panels
from vitui.screens.study_dialogs import StudyPickerDialog
from vitui.studies.folder import StudyFolder, list_studies
from vitui.studies.results import format_figure, run_time
from vitui.studies.watch import StudyChart, StudyWatch
from vitui.widgets.charts import MetricChart

if TYPE_CHECKING:
    from vitui.app import VituiApp
    from vitui.runstate import RunState
    from vitui.studies.folder import JobState

REFRESH_S = 1.0  # studies run elsewhere: their folders are read this often
RUN_COLUMNS = ("#", "point", "seed", "state", "progress", "figure", "time", "run")


class StudyChartView(MetricChart):
    """The study's chart; `k` steps through the metrics its runs record."""

    BINDINGS = [Binding("k", "next_metric", "metric")]

    @property
    def study_chart(self) -> StudyChart:
        return cast(StudyChart, self.source)

    picked = False  # the metric was chosen with k: keep it while this study is shown

    def show(self, watch: StudyWatch) -> None:
        """Follow another study; show the study's own metric (first in chart_keys once a run has ended) unless
        one was picked with k."""
        keys = [k for k, _ in watch.chart_keys()]
        same = self.study_chart.watch is watch
        self.picked = self.picked and same
        key = self.study_chart.key if self.picked and self.study_chart.key in keys else (keys[0] if keys else "")
        self.source = StudyChart(watch, key)
        self.chart_title = self.study_chart.title()
        self.refresh()

    def action_next_metric(self) -> None:
        keys = [k for k, _ in self.study_chart.watch.chart_keys()]
        if keys:
            i = keys.index(self.study_chart.key) if self.study_chart.key in keys else -1
            self.source = StudyChart(self.study_chart.watch, keys[(i + 1) % len(keys)])
            self.picked = True
            self.chart_title = self.study_chart.title()
            self.refresh()


class StudiesScreen(Screen):
    """The studies list on top, the chosen study's results, runs and chart in tabs below."""

    DEFAULT_CSS = """
    #studies-title { height: 1; padding: 0 1; background: $primary-background; text-style: bold; }
    #study-list { height: auto; max-height: 4; border: none; }
    #study-line { height: 1; padding: 0 1; color: $text-muted; }
    #studies-empty { height: 1fr; padding: 1 2; }
    #study-panels { height: 1fr; }
    #study-results { padding: 0 1; }
    #study-runs { height: 1fr; }
    """
    BINDINGS = [
        Binding("escape", "back", "back"),
        Binding("p", "next_panel", "panel"),
        Binding("n", "new_study", "new study"),
        Binding("s", "stop_study", "stop study"),
        Binding("r", "resume_study", "resume"),
    ]
    AUTO_FOCUS = "#study-list"

    def __init__(self, select: Path | None = None):
        super().__init__()
        self.select = Path(select).resolve() if select is not None else None
        self.folders: list[StudyFolder] = []
        self.watches: dict[Path, StudyWatch] = {}
        self.summaries: dict[Path, str] = {}  # each study's line in the list

    @property
    def runs_dir(self) -> Path:
        return cast("VituiApp", self.app).runs_dir

    def compose(self) -> ComposeResult:
        yield Static("", id="studies-title")
        yield OptionList(id="study-list")
        yield Static("", id="study-line")
        yield Static("", id="studies-empty")
        with Panels(id="study-panels", initial="study-results-pane"):
            with TabPane("results", id="study-results-pane"):
                with VerticalScroll():
                    yield Static("", id="study-results")
            with TabPane("runs", id="study-runs-pane"):
                yield DataTable(id="study-runs", cursor_type="row", zebra_stripes=True)
            with TabPane("chart", id="study-chart-pane"):
                yield StudyChartView("", StudyChart(StudyWatch.empty()), id="study-chart", axes=("epoch", "step"),
                                     markers=self.app.no_color)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#study-runs", DataTable).add_columns(*RUN_COLUMNS)
        self.read_studies()
        self.set_interval(REFRESH_S, self.read_studies)

    def choose(self, select: Path) -> None:
        self.select = Path(select).resolve()
        self.read_studies()

    # ------------------------------------------------------------------ reading the folders (a thread)
    def read_studies(self) -> None:
        self.run_worker(self._read, thread=True, exclusive=True, group="studies", exit_on_error=False,
                        description="read the studies")

    def _read(self) -> None:
        folders = list_studies(self.runs_dir)
        summaries = {}
        for folder in folders:
            states = folder.job_states()
            state = study_state(folder, states)
            summaries[folder.path.resolve()] = (state, sum(1 for s in states if s.done), len(states))
        chosen = self.chosen_path(folders)
        if chosen is not None:
            watch = self.watches.get(chosen)
            if watch is None:
                watch = self.watches[chosen] = StudyWatch(StudyFolder(chosen))
            watch.refresh()
        self.app.call_from_thread(self.show, folders, summaries)

    def chosen_path(self, folders: list[StudyFolder]) -> Path | None:
        paths = [f.path.resolve() for f in folders]
        if self.select in paths:
            return self.select
        return paths[0] if paths else None

    # ------------------------------------------------------------------ drawing
    def show(self, folders: list[StudyFolder], summaries: dict) -> None:
        if not self.is_attached:
            return
        self.folders = folders
        chosen = self.chosen_path(folders)
        self.select = chosen
        studies = self.query_one("#study-list", OptionList)
        options = [Option(study_option(f.id, *summaries[f.path.resolve()]), id=str(f.path.resolve())) for f in folders]
        if [o.id for o in options] != [studies.get_option_at_index(i).id for i in range(studies.option_count)]:
            studies.set_options(options)
        else:
            for option in options:
                studies.replace_option_prompt(option.id or "", option.prompt)
        if chosen is not None:
            index = [o.id for o in options].index(str(chosen))
            if studies.highlighted != index:
                studies.highlighted = index
        empty = not folders
        self.query_one("#studies-empty", Static).display = empty
        self.query_one("#study-panels").display = not empty
        self.query_one("#study-line", Static).display = not empty
        self.query_one("#studies-title", Static).update(f"vitui · studies in {self.runs_dir / 'studies'}  ({len(folders)})")
        if empty:
            self.query_one("#studies-empty", Static).update(
                f"No studies in {self.runs_dir} yet.\n\nPress n to start a ready study, or from a shell:\n"
                f"  vitui study NAME --runs-dir {self.runs_dir}\n"
                f"  vitui sweep EXPERIMENT --grid key=a,b --repeat 3 --runs-dir {self.runs_dir}")
            return
        watch = self.watches.get(chosen) if chosen is not None else None
        if watch is not None and watch.results is not None:
            self.show_study(watch)

    def show_study(self, watch: StudyWatch) -> None:
        results = watch.results
        assert results is not None
        study = watch.folder.study
        self.query_one("#study-line", Static).update(Text(study_heading(study), overflow="ellipsis", no_wrap=True))
        notes = [Text(line) for line in (results.verdict(), reference_line(results)) if line]
        self.query_one("#study-results", Static).update(Group(results_table(results), *notes))
        self.show_runs(watch, results.metric)
        chart = self.query_one(StudyChartView)
        chart.show(watch)

    def show_runs(self, watch: StudyWatch, metric: str) -> None:
        table = self.query_one("#study-runs", DataTable)
        rows = [run_row(state, watch.runs.get(state.run.path) if state.run else None, metric) for state in watch.states]
        keys = [str(state.job.index) for state in watch.states]
        if [str(k.value) for k in table.rows] != keys:
            table.clear()
            for key, row in zip(keys, rows):
                table.add_row(*row, key=key)
            return
        for key, row in zip(keys, rows):
            for column, cell in zip(table.columns, row):
                table.update_cell(key, column, cell, update_width=True)  # "starting" grows to "epoch 2/3 61%"

    # ------------------------------------------------------------------ keys and choices
    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if event.option.id and Path(event.option.id) != self.select:
            self.select = Path(event.option.id)
            self.read_studies()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        watch = self.watches.get(self.select) if self.select else None
        if watch is None:
            return
        state = next((s for s in watch.states if str(s.job.index) == event.row_key.value), None)
        if state is not None and state.run is not None:
            self.post_message(OpenRun(state.run.path))

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_next_panel(self) -> None:
        panels = self.query_one(Panels)
        ids = [pane.id for pane in panels.query(TabPane)]
        panels.active = ids[(ids.index(panels.active) + 1) % len(ids)]

    def action_new_study(self) -> None:
        self.app.push_screen(StudyPickerDialog(), self._study_chosen)

    def _study_chosen(self, study) -> None:
        if study is not None:
            self.post_message(StudyRequested(study))

    def action_resume_study(self) -> None:
        """Run the chosen study again in the background: its completed runs are skipped, the rest are run."""
        if self.select is not None:
            self.post_message(StudyRequested(StudyFolder(self.select).study))

    def action_stop_study(self) -> None:
        if self.select is not None:
            self.post_message(StopStudy(self.select))


def study_option(study_id: str, state: str, done: int, total: int) -> Text:
    return Text.assemble((f"{state:<10}", STUDY_STATE_STYLES.get(state, "")), f" {done:>3}/{total:<3} ", study_id)


def run_row(state: "JobState", run: "RunState | None", metric: str) -> list:
    """A run of the study as the runs tab shows it: where it is, its figure, its time and its folder."""
    info = state.run
    figure = (info.summary.get("metrics") or {}).get(metric) if info is not None else None
    return [str(state.job.index + 1), state.job.point.label, str(state.job.seed),
            Text(state.state, style=STATE_STYLES.get(state.state, "")), progress_text(state.state, run),
            format_figure(metric, figure) if isinstance(figure, (int, float)) else "-",
            format_duration(run_time(info)) if info is not None else "-", info.name if info is not None else "-"]


def progress_text(state: str, run: "RunState | None") -> str:
    """"epoch 2/3 61%" or "1,200/3,140 38%" while a run trains; "" before and after."""
    if run is None or state not in ("created", "running"):
        return ""
    p = run.current_progress()
    if p is None or not p.total_steps:
        return "starting"
    share = f"{100 * p.step / p.total_steps:.0f}%"
    if p.unit == "step":
        return f"epoch {p.epoch}/{p.total_epochs} {share}"
    return f"{p.step:,}/{p.total_steps:,} {share}"
