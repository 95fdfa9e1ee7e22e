"""The runs browser with notes, tags, delete and restore, at 80x24 (Pilot, scripted run folders)."""

import contextlib

import pytest

from app_fakes import T0, mlp_script, run_async, screen_text, wait_until, widget_text, write_run
from vitui.app import make_app
from vitui.core import cleanup, notes, runfolder
from vitui.core.experiments import resolve
from vitui.screens import browser
from vitui.screens.browser import RunsBrowserScreen
from vitui.screens.dialogs import ConfirmDeleteDialog, EditDialog
from vitui.widgets.runtable import RunTable


@pytest.fixture(autouse=True)
def quick_refresh(monkeypatch):
    monkeypatch.setattr(browser, "REFRESH_S", 0.2)


@pytest.fixture
def runs(tmp_path):
    made = [write_run(tmp_path, f"20250101-1{i}0000-mlp-mnist", resolve("mlp-mnist", {"lr": lr}), mlp_script(50),
                      "completed", {"best": {"name": "train_acc", "value": 0.9}}) for i, lr in enumerate((0.1, 0.2, 0.3))]
    return tmp_path, made


def names(screen):
    return [r.name for r in screen.query_one(RunTable).shown]


@contextlib.asynccontextmanager
async def browsing(runs_dir):
    """The app at 80x24 on the runs browser: (pilot, app, screen)."""
    app = make_app(runs_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        app.show_runs()
        await wait_until(pilot, lambda: isinstance(app.screen, RunsBrowserScreen) and app.screen.runs)
        yield pilot, app, app.screen


@run_async
async def test_note_and_tags_edited_shown_and_filtered(runs):
    runs_dir, made = runs
    async with browsing(runs_dir) as (pilot, app, screen):
        newest = made[-1]
        await pilot.press("e")
        await wait_until(pilot, lambda: isinstance(app.screen, EditDialog))
        await pilot.press(*"lr 0.3 diverges", "enter")
        await wait_until(pilot, lambda: runfolder.load_run(newest).note == "lr 0.3 diverges")
        await wait_until(pilot, lambda: "note: lr 0.3 diverges" in widget_text(screen.query_one("#browser-hint")),
                         what="the note under the table")
        await pilot.press("t")
        await wait_until(pilot, lambda: isinstance(app.screen, EditDialog))
        await pilot.press(*"bad sweep", "enter")
        await wait_until(pilot, lambda: runfolder.load_run(newest).tags == ["bad", "sweep"])
        await wait_until(pilot, lambda: "#bad #sweep" in screen_text(app), what="the tags in the table")
        await pilot.press("slash", *"sweep", "enter")
        await pilot.pause()
        assert names(screen) == [newest.name]
        await pilot.press("slash", "escape")
        await pilot.press("slash", *"diverges", "enter")  # the filter matches notes too
        await pilot.pause()
        assert names(screen) == [newest.name]


@run_async
async def test_delete_asks_shows_what_goes_and_u_restores(runs):
    runs_dir, made = runs
    async with browsing(runs_dir) as (pilot, app, screen):
        await pilot.press("space", "space")  # marks the two newest
        await pilot.press("d")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDeleteDialog))
        text = widget_text(app.screen.query_one("#delete-list"))
        assert made[2].name in text and made[1].name in text and made[0].name not in text and "kB" in text
        assert ".trash" in widget_text(app.screen.query_one(".dialog-hint"))
        await pilot.press("n")  # keep
        await wait_until(pilot, lambda: app.screen is screen)
        assert all(m.exists() for m in made)
        await pilot.press("d")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDeleteDialog))
        await pilot.press("y")
        await wait_until(pilot, lambda: names(screen) == [made[0].name], what="the two runs to go")
        assert {t.name for t in cleanup.trashed_runs(runs_dir)} == {made[1].name, made[2].name}
        await pilot.press("u")
        await wait_until(pilot, lambda: len(names(screen)) == 3, what="the runs to come back")
        assert cleanup.trashed_runs(runs_dir) == []


@run_async
async def test_a_live_run_is_not_deleted_and_archived_runs_hide(runs):
    runs_dir, made = runs
    runfolder.write_json_atomic(made[2] / runfolder.STATUS, {"state": "running", "time": T0, "host": "another-host",
                                                             "heartbeat": 4e9, "started": T0})  # beats in the future
    notes.set_archived(made[0], True)
    async with browsing(runs_dir) as (pilot, app, screen):
        assert names(screen) == [made[2].name, made[1].name]
        assert "1 archived hidden" in widget_text(screen.query_one("#browser-title"))
        await pilot.press("d")
        await pilot.pause()
        assert isinstance(app.screen, RunsBrowserScreen) and made[2].exists()  # refused, with a notification
        assert any("is training on another-host" in n.message for n in app._notifications)
        await pilot.press("A")
        await pilot.pause()
        assert len(names(screen)) == 3


@run_async
async def test_markup_typed_as_a_tag_is_refused_in_plain_words_and_a_resumable_run_shows_its_note(runs):
    runs_dir, made = runs
    stopped = made[-1]
    runfolder.write_status(stopped, "stopped", started=T0, ended=T0 + 60)
    (stopped / "checkpoints").mkdir()
    (stopped / "checkpoints" / "last.pt").write_bytes(b"a checkpoint")
    runfolder.write_json_atomic(stopped / runfolder.NOTES, {"note": "resume \x1b]0;pwned\x07me [/]", "tags": ["x"]})
    async with browsing(runs_dir) as (pilot, app, screen):
        await wait_until(pilot, lambda: "r resumes this run; #x  note: resume me [/]" in widget_text(
            screen.query_one("#browser-hint")), what="the resume hint with the run's tags and note, escapes gone")
        await pilot.press("t")
        await wait_until(pilot, lambda: isinstance(app.screen, EditDialog))
        await pilot.press("ctrl+u", *"[/] +ok", "enter")  # a MarkupError in the notification ended the app
        await wait_until(pilot, lambda: any("bad tag '[/]'" in n.message for n in app._notifications))
        assert app.is_running and runfolder.load_run(stopped).tags == ["x"]
        await pilot.press("t")
        await wait_until(pilot, lambda: isinstance(app.screen, EditDialog))
        await pilot.press("ctrl+u", *"+ok #fine", "enter")
        await wait_until(pilot, lambda: runfolder.load_run(stopped).tags == ["ok", "fine"])
