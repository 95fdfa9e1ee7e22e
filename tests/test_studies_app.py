"""Pilot tests of the studies screen at 80x24: the table, the runs with their state, the chart's mean and band per
point; starting a ready study (n) and a sweep from the launcher (w) in a process of its own."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from app_fakes import T0, run_async, screen_text, wait_until
from study_fakes import FinishedStarter, small_study
from vitui.app import make_app
from vitui.core.runfolder import write_status
from vitui.screens.launcher import LauncherScreen
from vitui.screens.studies import StudiesScreen, StudyChartView
from vitui.screens.study_dialogs import StudyPickerDialog, SweepDialog
from vitui.studies.definition import resolve_jobs
from vitui.studies.folder import StudyFolder
from vitui.studies.runner import StudyRunner

SIZE = (80, 24)


class StudyStarts:
    """A start_study for make_app(): records the study folders it was asked to run, and runs nothing."""

    def __init__(self) -> None:
        self.folders: list[StudyFolder] = []

    def __call__(self, folder: StudyFolder, runs_dir: Path, data_dir: Path | None, parallel: int | None = None) -> None:
        self.folders.append(folder)


def notices(app) -> list[str]:
    return [n.message for n in app._notifications]


def finished_study(runs_dir: Path) -> StudyFolder:
    study = small_study()
    folder = StudyFolder.create(runs_dir, study)
    configs = {job.index: config for job, config in resolve_jobs(study)}
    StudyRunner(folder, configs, runs_dir, None, [None], start_run=FinishedStarter()).run()
    return folder


@run_async
async def test_the_studies_screen_shows_the_table_the_runs_and_the_chart(tmp_path):
    folder = finished_study(tmp_path)
    app = make_app(tmp_path, study=folder.path, start_study=StudyStarts())
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: "81.00% ± 1.00" in screen_text(app), what="the study's table")
        text = screen_text(app)
        assert f"complete     6/6   {folder.id}" in text
        assert " mlp-mnist: lr × 3 seeds" in text  # no description: what it varies, not its id again
        assert text.index("lr=0.3") < text.index("lr=0.1")  # best first
        assert "81.50%" in text  # the reference figure beside its point
        assert "lr=0.3 leads lr=0.1 by 20.00 points" in text.replace("\n", " ").replace("  ", " ")
        await pilot.press("p")
        await wait_until(pilot, lambda: "completed" in screen_text(app), what="the runs tab")
        text = screen_text(app)
        for state in folder.job_states()[:5]:
            assert state.run.name[:20] in text
        await pilot.press("p")
        chart = app.screen.query_one(StudyChartView)
        await wait_until(pilot, lambda: "train acc, mean ± sd over seeds" in screen_text(app), what="the chart")
        traces = chart.source.traces(60, "epoch", 0.0)
        means = [t for t in traces if t.floor is None]
        bands = [t for t in traces if t.floor is not None]
        assert [t.label for t in means] == ["lr=0.1 (n=3)", "lr=0.3 (n=3)"] and len(bands) == 2
        assert means[1].y[-1] == pytest.approx(81.0 * (1 - math.exp(-5)))  # the mean of the three seeds' last values
        assert all(lo <= hi for band in bands for lo, hi in zip(band.floor, band.y))
        await pilot.press("q")


@run_async
async def test_n_starts_a_ready_study_in_the_background_and_shows_it(tmp_path):
    starts = StudyStarts()
    app = make_app(tmp_path, study=tmp_path / "studies" / "none", start_study=starts)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: "No studies in" in screen_text(app), what="the empty state")
        await pilot.press("n")
        await wait_until(pilot, lambda: isinstance(app.screen, StudyPickerDialog), what="the picker")
        dialog = app.screen
        names = dialog.query_one("#study-names")
        names.highlighted = next(i for i in range(names.option_count)
                                 if names.get_option_at_index(i).id == "gradient-descent")
        dialog.query_one("#study-set").value = "lr=0.5x"
        await pilot.press("enter")
        await wait_until(pilot, lambda: "bad value for lr" in screen_text(app), what="the bad value's line")
        assert not starts.folders
        dialog.query_one("#study-set").value = "lr=0.05"
        dialog.query_one("#study-repeat").value = "2"
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, StudiesScreen) and starts.folders, what="the start")
        study = starts.folders[0].study
        assert (study.name, study.overrides, study.seeds) == ("gradient-descent", {"lr": "0.05"}, [0, 1])
        await wait_until(pilot, lambda: starts.folders[0].id in screen_text(app), what="the new study in the list")
        await pilot.press("q")


@run_async
async def test_w_in_the_launcher_turns_a_setting_into_a_list_of_values(tmp_path):
    starts = StudyStarts()
    app = make_app(tmp_path, start_study=starts)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, LauncherScreen) and app.screen.config is not None)
        launcher = app.screen
        options = launcher.query_one("#experiment-list")
        options.highlighted = next(i for i in range(options.option_count)
                                   if options.get_option_at_index(i).id == "mlp-mnist")
        await wait_until(pilot, lambda: launcher.experiment == "mlp-mnist" and "iterations" in launcher.fields)
        await pilot.pause()
        launcher.query_one("#set-iterations").focus()
        await pilot.press("5", "0", "escape", "w")  # typing replaces the old value; esc leaves the field for the list
        await wait_until(pilot, lambda: isinstance(app.screen, SweepDialog), what="the sweep dialog")
        dialog = app.screen
        box = dialog.query_one(".study-box").region
        assert (box.x, box.y) == ((SIZE[0] - box.width) // 2, (SIZE[1] - box.height) // 2)  # centred, not at the top
        dialog.query_one("#sweep-setting").value = "lr"
        await pilot.press(*"0.1,0.2", "tab", "backspace", "3", "enter")
        await wait_until(pilot, lambda: starts.folders, what="the sweep's start")
        study = starts.folders[0].study
        assert study.grid == {"lr": ["0.1", "0.2"]} and study.seeds == [0, 1, 2]
        assert study.overrides["iterations"] == "50" and study.overrides["model"] == "mlp-numpy"
        await wait_until(pilot, lambda: isinstance(app.screen, StudiesScreen), what="the studies screen")
        await pilot.press("q")


@run_async
async def test_r_resumes_a_stopped_study_once_and_not_one_that_is_running(tmp_path):
    folder = finished_study(tmp_path)
    last = folder.job_states()[-1].run.path
    write_status(last, "stopped", "stopped by SIGINT", started=T0, ended=T0 + 5)
    starts = StudyStarts()
    app = make_app(tmp_path, study=folder.path, start_study=starts)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: f"incomplete   5/6   {folder.id}" in screen_text(app), what="the study")
        await pilot.press("r")
        await wait_until(pilot, lambda: notices(app), what="the notice")
        assert notices(app)[-1] == f"study {folder.id} started: 1 of 6 runs to go"
        assert [f.path for f in starts.folders] == [folder.path]
        assert len(app.studies_started) == 1  # the study the app was opened on: its farewell is printed once

        folder.add_runner()  # this process runs it now, as the process started above would
        try:
            await pilot.press("r")
            await wait_until(pilot, lambda: "is running already" in notices(app)[-1], what="the refusal")
            assert len(starts.folders) == 1
        finally:
            folder.remove_runner()
        await pilot.press("q")
