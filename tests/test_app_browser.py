"""Pilot tests of the runs browser: open, compare, attach to a run trained elsewhere; names, filter, sort, keys at 80x24."""

import contextlib

import pytest

from app_fakes import (
    PAUSE,
    T0,
    ScriptedWorker,
    burst,
    cnn_script,
    mlp_script,
    run_async,
    wait_until,
    widget_text,
    write_run,
)
from vitui.app import make_app
from vitui.core import runfolder
from vitui.core.experiments import resolve
from vitui.screens import browser
from vitui.screens.browser import RunsBrowserScreen
from vitui.screens.compare import CompareScreen
from vitui.screens.run import LiveRunScreen, RunDetailScreen
from vitui.widgets.charts import OverlayChart
from vitui.widgets.runtable import RunTable

SIZE = (100, 30)


@pytest.fixture
def cnn_runs(tmp_path):
    best = {"name": "val_acc", "epoch": 12}
    a = write_run(tmp_path, "20250101-120000-cnn-cifar10", resolve("cnn-cifar10"), cnn_script(batchnorm=False),
                  "completed", {"metrics": {"val_acc": 0.70}, "best": {**best, "value": 0.70}})
    b = write_run(tmp_path, "20250101-130000-cnn-bn-cifar10", resolve("cnn-bn-cifar10"), cnn_script(batchnorm=True),
                  "completed", {"metrics": {"val_acc": 0.78}, "best": {**best, "value": 0.78}})
    return tmp_path, a, b


@pytest.fixture(autouse=True)
def quick_refresh(monkeypatch):
    """The browser rereads the runs folder every 0.2 s here, not every 2 s: tests that wait for a refresh
    wait less, and nothing else changes."""
    monkeypatch.setattr(browser, "REFRESH_S", 0.2)


async def open_browser(pilot, app) -> RunsBrowserScreen:
    app.show_runs()
    await wait_until(pilot, lambda: isinstance(app.screen, RunsBrowserScreen) and app.screen.runs
                     and app.screen.query_one(RunTable).size.height > 1)
    await pilot.pause()  # the table's Resize to its laid-out size, which fits its columns to it, is handled
    return app.screen


def rows(screen) -> list[list[str]]:
    table = screen.query_one(RunTable)
    return [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]


@run_async
async def test_browser_lists_runs_and_opens_a_finished_one(cnn_runs):
    runs_dir, a, b = cnn_runs
    app = make_app(runs_dir)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_browser(pilot, app)
        assert [r[0].strip() for r in rows(screen)] == [b.name, a.name]  # newest first
        assert rows(screen)[0][1:] == ["completed", "10m00s", "val_acc 78.00%", "defaults"]
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, RunDetailScreen))
        detail = app.screen
        await wait_until(pilot, lambda: detail.run.evaluation is not None, what="the log to load")
        assert detail.run_dir == b and detail.run.state == "completed"
        assert detail.run.series["epoch/val_acc"].count == 12
        await pilot.press("p", "p")  # charts -> log -> results
        await pilot.pause()
        assert app.screen.query_one("TabbedContent").active == "results"
        text = widget_text(detail.query_one("#results-body"))
        assert "automobile" in text and "confusion matrix" in text


@run_async
async def test_marked_runs_compare(cnn_runs):
    runs_dir, a, b = cnn_runs
    app = make_app(runs_dir)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_browser(pilot, app)
        await pilot.press("c")  # nothing marked: a hint, no screen
        assert isinstance(app.screen, RunsBrowserScreen)
        await pilot.press("space", "space")  # marks the row under the cursor, then the next
        assert screen.marked == [str(b), str(a)]
        assert rows(screen)[0][0].startswith("●")
        await pilot.press("c")
        await wait_until(pilot, lambda: isinstance(app.screen, CompareScreen))
        compare = app.screen
        await wait_until(pilot, lambda: "wins" in widget_text(compare.query_one("#verdict")), what="the verdict")
        verdict = widget_text(compare.query_one("#verdict"))
        assert "cnn-bn-cifar10 wins on best val acc" in verdict
        body = widget_text(compare.query_one("#compare-body"))
        assert "settings that differ" in body and "cnn-bn" in body and "★" in body
        left = compare.query_one("#compare-left", OverlayChart)
        traces = left.source.traces(60, "epoch", 0.0)
        assert [t.role for t in traces] == ["run0", "run1"] and [t.label for t in traces] == compare.labels
        await pilot.press("k")  # next metric on the focused chart
        assert left.source.key == "epoch/train_acc" and left.chart_title == "train accuracy"
        await pilot.press("escape")
        assert isinstance(app.screen, RunsBrowserScreen)


@run_async
async def test_attach_to_a_run_trained_elsewhere(tmp_path):
    """A run whose worker is not ours (headless in another terminal) shows as running and is followed live."""
    run_dir = tmp_path / "20250101-120000-mlp-mnist"
    run_dir.mkdir()
    runfolder.write_json_atomic(run_dir / runfolder.CONFIG, resolve("mlp-mnist").to_dict())
    script = mlp_script(iterations=300)
    worker = ScriptedWorker(run_dir, script[:20] + [PAUSE] + script[20:], hold=True).start()
    try:
        app = make_app(tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            screen = await open_browser(pilot, app)
            assert rows(screen)[0][1] == "running"
            await pilot.press("enter")
            await wait_until(pilot, lambda: isinstance(app.screen, LiveRunScreen))
            session = app.screen.session
            assert not session.source.owned
            await wait_until(pilot, lambda: session.run.events_seen == 21, what="the log so far")
            worker.release()
            await wait_until(pilot, lambda: session.run.progress.step == 300, what="new events")
            worker.finish()
            await wait_until(pilot, lambda: session.run.state == "completed", what="the end")
            await pilot.press("q")  # not ours: quitting does not ask
            await wait_until(pilot, lambda: not app.is_running)
    finally:
        worker.finish()


@run_async
async def test_attached_run_that_dies_shows_failed(tmp_path):
    run_dir = tmp_path / "20250101-120000-mlp-mnist"
    run_dir.mkdir()
    runfolder.write_json_atomic(run_dir / runfolder.CONFIG, resolve("mlp-mnist").to_dict())
    worker = ScriptedWorker(run_dir, mlp_script()[:10], hold=True).start()
    app = make_app(tmp_path, watch=run_dir)  # what `vitui watch RUN` does
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, LiveRunScreen))
        session = app.screen.session
        await wait_until(pilot, lambda: session.run.events_seen == 11)
        worker.die()  # the lock goes with the process: the status file still says running
        took = await wait_until(pilot, lambda: session.run.state == "failed", timeout=2.0, what="failed")
        assert took < 2.0 and "died" in session.run.detail


@run_async
async def test_watch_opens_a_finished_run_as_its_record(cnn_runs):
    runs_dir, a, b = cnn_runs
    app = make_app(runs_dir, watch=a)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, RunDetailScreen))
        await pilot.press("escape")
        assert isinstance(app.screen, RunsBrowserScreen)


@run_async
async def test_no_color_tells_runs_apart_by_marker(cnn_runs, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    runs_dir, a, b = cnn_runs
    app = make_app(runs_dir)
    assert app.no_color
    async with app.run_test(size=SIZE) as pilot:
        await open_browser(pilot, app)
        app.push_screen(CompareScreen([a, b]))
        await wait_until(pilot, lambda: isinstance(app.screen, CompareScreen))
        assert all(chart.markers for chart in app.screen.query(OverlayChart))


# ---------------------------------------------------------------------------- at 80x24: names, filter, sort, keys

SMALL = (80, 24)
LRS = (0.01, 0.005, 0.02, 0.05, 0.1)  # 0.01 is rnn-dinos's own
VAL_LOSS = (2.08, 2.24, 2.02, 67.31, 12.35)


@pytest.fixture
def dino_runs(tmp_path):
    """Five rnn-dinos runs one minute apart that differ only in learning rate, and an MLP run after them."""
    dinos = [write_run(tmp_path, f"20250101-12{i:02d}00-rnn-dinos",
                       resolve("rnn-dinos", {"iterations": 2000, "lr": lr}),
                       [], "completed", {"best": {"name": "val_loss", "value": loss, "epoch": 1}}, duration=60.0 + i)
             for i, (lr, loss) in enumerate(zip(LRS, VAL_LOSS))]
    mlp = write_run(tmp_path, "20250101-130000-mlp-mnist", resolve("mlp-mnist", {"iterations": 50}), [], "stopped",
                    {"best": {"name": "train_acc", "value": 0.92, "epoch": 1}}, duration=5.0)
    return tmp_path, dinos, mlp


def names(screen) -> list[str]:
    return [r[0].strip() for r in rows(screen)]


@contextlib.asynccontextmanager
async def browsing(runs_dir):
    """The app at 80x24 on the runs browser: (pilot, app, screen)."""
    app = make_app(runs_dir)
    async with app.run_test(size=SMALL) as pilot:
        yield pilot, app, await open_browser(pilot, app)


@run_async
async def test_names_tell_five_runs_apart_at_80_columns(dino_runs):
    runs_dir, dinos, mlp = dino_runs
    async with browsing(runs_dir) as (pilot, app, screen):
        table = screen.query_one(RunTable)
        assert names(screen) == [mlp.name] + [d.name for d in reversed(dinos)]  # in full, newest first
        assert [c.label.plain for c in table.columns.values()] == ["run ▼", "status", "time", "best", "settings"]
        # Every column fits: no sideways scrolling, and the settings that differ lead their cells.
        assert table.virtual_size.width <= table.size.width
        settings = {r[0].strip(): r[4] for r in rows(screen)}
        assert settings[dinos[3].name].startswith("lr=0.05 ") and settings[dinos[0].name].startswith("iterations=")
        assert rows(screen)[0][1:4] == ["stopped", "0m05s", "train_acc 92.00%"]


@run_async
async def test_slash_filters_the_runs(dino_runs):
    runs_dir, dinos, mlp = dino_runs
    async with browsing(runs_dir) as (pilot, app, screen):
        burst(app, "slash", *"lr=0.0", "enter")
        await pilot.pause()
        assert names(screen) == [dinos[3].name, dinos[2].name, dinos[1].name]  # lr 0.05, 0.02, 0.005
        assert "(3 of 6)" in widget_text(screen.query_one("#browser-title"))
        assert isinstance(screen.focused, RunTable)  # enter keeps the filter and goes back to the table
        burst(app, "slash", *" 0.05")
        await pilot.pause()  # more words: all must match, in any column
        assert names(screen) == [dinos[3].name]
        burst(app, "slash", "s", "t", "o", "p")
        await pilot.pause()  # typed into the filter, not taken as keys
        assert screen.query_one(RunTable).filter_text == "lr=0.0 0.05/stop" and names(screen) == []
        assert "(0 of 6)" in widget_text(screen.query_one("#browser-title"))
        burst(app, "enter")
        await pilot.pause()
        assert "no run matches" in widget_text(screen.query_one("#browser-hint"))
        burst(app, "slash", "escape")
        await pilot.pause()  # esc in the filter clears it
        assert len(names(screen)) == 6 and isinstance(screen.focused, RunTable)
        burst(app, "slash", *"mnist", "enter", "escape")
        await pilot.pause()  # esc on the table clears a kept filter first
        assert len(names(screen)) == 6 and isinstance(app.screen, RunsBrowserScreen)


@run_async
async def test_sort_by_key_and_by_header_click(dino_runs):
    runs_dir, dinos, mlp = dino_runs
    async with browsing(runs_dir) as (pilot, app, screen):
        table = screen.query_one(RunTable)
        await pilot.press("s")  # status: completed before stopped
        assert names(screen)[-1] == mlp.name and table.columns["1"].label.plain == "status ▲"
        await pilot.press("s")  # time: longest first
        assert names(screen) == [d.name for d in reversed(dinos)] + [mlp.name]
        await pilot.press("S")  # reversed: shortest first
        assert names(screen) == [mlp.name] + [d.name for d in dinos]
        await pilot.press("s")  # best: lowest loss first, within each figure
        assert names(screen) == [mlp.name] + [dinos[i].name for i in (2, 0, 1, 4, 3)]
        # A click on a header sorts by its column; a second click reverses.
        def header(column: int) -> tuple[int, int]:
            return sum(c.get_render_width(table) for c in list(table.columns.values())[:column]) + 2, 0

        await pilot.click(RunTable, offset=header(1))
        assert table.sort_column == 1 and table.columns["1"].label.plain == "status ▲"
        await pilot.click(RunTable, offset=header(1))
        assert names(screen)[0] == mlp.name and table.columns["1"].label.plain == "status ▼"
        await pilot.click(RunTable, offset=header(0))  # the run column: newest first
        assert names(screen) == [mlp.name] + [d.name for d in reversed(dinos)]
        await pilot.click(RunTable, offset=header(0))
        assert names(screen) == [d.name for d in dinos] + [mlp.name]


@run_async
async def test_home_end_and_copying_the_path(dino_runs):
    runs_dir, dinos, mlp = dino_runs
    async with browsing(runs_dir) as (pilot, app, screen):
        table = screen.query_one(RunTable)
        await pilot.press("end")
        assert table.cursor_row == 5 and table.current_run() == str(dinos[0])
        await pilot.press("y")
        assert app.clipboard == str(dinos[0].resolve())
        hint = widget_text(screen.query_one("#browser-hint"))  # whole, for copying by hand: wrapped, not cut
        assert "".join(hint.split()) == f"copied{dinos[0].resolve()}"
        write_run(runs_dir, "20250101-140000-mlp-mnist", resolve("mlp-mnist"), [], "completed")
        await wait_until(pilot, lambda: len(names(screen)) == 7, what="the refresh")  # the rows are rebuilt...
        await pilot.pause()
        assert table.current_run() == str(dinos[0]) and "copied" in widget_text(screen.query_one("#browser-hint"))
        await pilot.press("home")  # ...but the cursor moving on to another run takes the copied path away
        assert table.cursor_row == 0 and "copied" not in widget_text(screen.query_one("#browser-hint"))
        await pilot.press("down", "y")
        assert app.clipboard == str(mlp.resolve())


@run_async
async def test_empty_state_fits_80_columns(tmp_path):
    runs_dir = tmp_path / "a-runs-folder-with-a-long-name-that-no-terminal-line-could-hold-in-one-go" / "runs"
    runs_dir.mkdir(parents=True)
    app = make_app(runs_dir)
    async with app.run_test(size=SMALL) as pilot:
        app.show_runs()
        await wait_until(pilot, lambda: isinstance(app.screen, RunsBrowserScreen))
        await pilot.pause()
        screen = app.screen
        empty = screen.query_one("#browser-empty")
        assert empty.display and not screen.query_one(RunTable).display and screen.focused is None
        assert empty.region.right <= SMALL[0]
        lines = widget_text(empty).splitlines()
        assert all(len(line) <= SMALL[0] for line in lines)
        whole = "".join("".join(lines).split())  # the path wraps, but nothing is cut off
        assert f"Norunsin{runs_dir}yet." in whole and f"vituirunEXPERIMENT--runs-dir{runs_dir}" in whole
        title = widget_text(screen.query_one("#browser-title"))
        assert title.rstrip().endswith("/runs  (0)") and "…" in title  # the path's end, which names the folder
        footer = " ".join(key.description for key in screen.query("FooterKey"))
        assert "mark" not in footer and "filter" not in footer  # keys that need a run are not offered
        await pilot.press("slash", "y", "s")  # and do nothing
        assert app.clipboard == "" and screen.focused is None
        write_run(runs_dir, "20250101-120000-mlp-mnist", resolve("mlp-mnist"), [], "completed")
        await wait_until(pilot, lambda: screen.runs and not empty.display and isinstance(screen.focused, RunTable),
                         what="the new run to show, focused")  # within REFRESH_S


@run_async
async def test_a_changing_run_does_not_move_the_view(tmp_path):
    """A run's figures change every refresh while it trains: its cells change in place, the view stays put."""
    for i in range(40):
        write_run(tmp_path, f"20250101-12{i:02d}00-mlp-mnist", resolve("mlp-mnist"), [], "completed")
    async with browsing(tmp_path) as (pilot, app, screen):
        table = screen.query_one(RunTable)
        burst(app, *["down"] * 30, *["up"] * 10)
        await pilot.pause()
        scrolled, row = table.scroll_y, table.cursor_row
        assert scrolled > 0
        changing = tmp_path / "20250101-120500-mlp-mnist"  # on screen, above the cursor
        runfolder.write_status(changing, "completed", started=T0, ended=T0 + 601)
        await wait_until(pilot, lambda: table.get_row(str(changing))[2].plain == "10m01s", what="the refresh")
        await pilot.pause()
        assert (table.scroll_y, table.cursor_row) == (scrolled, row)
