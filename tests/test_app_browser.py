"""Pilot tests of the runs browser: open a finished run, compare marked runs, attach to a run trained elsewhere."""

import pytest

from app_fakes import wait_until, widget_text, PAUSE, ScriptedWorker, cnn_script, mlp_script, run_async, write_run
from vitui import runstore
from vitui.app import make_app
from vitui.config import resolve
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


async def open_browser(pilot, app) -> RunsBrowserScreen:
    app.show_runs()
    await wait_until(pilot, lambda: isinstance(app.screen, RunsBrowserScreen) and app.screen.runs)
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
        assert [r[0].strip() for r in rows(screen)] == ["cnn-bn-cifar10", "cnn-cifar10"]  # newest first
        assert rows(screen)[0][2:] == ["completed", rows(screen)[0][3], "10m00s", "val_acc 78.00%"]
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, RunDetailScreen))
        detail = app.screen
        await wait_until(pilot, lambda: detail.model.evaluation is not None, what="the log to load")
        assert detail.run_dir == b and detail.model.state == "completed"
        assert detail.model.series["epoch/val_acc"].count == 12
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
    runstore.write_json_atomic(run_dir / runstore.CONFIG, resolve("mlp-mnist").to_dict())
    script = mlp_script(iterations=300)
    worker = ScriptedWorker(run_dir, script[:20] + [PAUSE] + script[20:], hold=True).start()
    try:
        app = make_app(tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            screen = await open_browser(pilot, app)
            assert rows(screen)[0][2] == "running"
            await pilot.press("enter")
            await wait_until(pilot, lambda: isinstance(app.screen, LiveRunScreen))
            session = app.screen.session
            assert not session.source.owned
            await wait_until(pilot, lambda: session.model.events_seen == 21, what="the log so far")
            worker.release()
            await wait_until(pilot, lambda: session.model.progress.step == 300, what="new events")
            worker.finish()
            await wait_until(pilot, lambda: session.model.state == "completed", what="the end")
            await pilot.press("q")  # not ours: quitting does not ask
            await wait_until(pilot, lambda: not app.is_running)
    finally:
        worker.finish()


@run_async
async def test_attached_run_that_dies_shows_failed(tmp_path):
    run_dir = tmp_path / "20250101-120000-mlp-mnist"
    run_dir.mkdir()
    runstore.write_json_atomic(run_dir / runstore.CONFIG, resolve("mlp-mnist").to_dict())
    worker = ScriptedWorker(run_dir, mlp_script()[:10], hold=True).start()
    app = make_app(tmp_path, watch=run_dir)  # what `vitui watch RUN` does
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, LiveRunScreen))
        session = app.screen.session
        await wait_until(pilot, lambda: session.model.events_seen == 11)
        worker.die()  # the lock goes with the process: the status file still says running
        took = await wait_until(pilot, lambda: session.model.state == "failed", timeout=2.0, what="failed")
        assert took < 2.0 and "died" in session.model.detail


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
