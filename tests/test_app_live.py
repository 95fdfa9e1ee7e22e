"""Pilot tests of the live run screen with a scripted worker: charts fill, stop and quit behave, a death shows."""

import io
import json
import time

import pytest
from rich.console import Console
from textual import events
from textual.widgets import TabbedContent, TabPane

from app_fakes import (
    CRASH,
    PAUSE,
    T0,
    ScriptedStarter,
    ScriptedWorker,
    cnn_script,
    mlp_script,
    run_async,
    wait_until,
    widget_text,
)
from vitui.app import make_app
from vitui.core import runfolder
from vitui.core.events import Metric, Progress, Samples
from vitui.core.experiments import resolve
from vitui.messages import RunUpdated
from vitui.screens.browser import RunsBrowserScreen
from vitui.screens.launcher import LauncherScreen
from vitui.screens.quit import QuitDialog
from vitui.screens.run import LiveRunScreen
from vitui.screens.too_small import TooSmallScreen
from vitui.widgets.charts import MetricChart, whole_ticks, y_ticks
from vitui.widgets.names import NamesPanel
from vitui.widgets.progress import status_renderable

SIZE = (100, 30)
BRAILLE = range(0x2801, 0x2900)


def status_text(app) -> str:
    """The live screen's status lines as plain text (what RunStatusBar shows)."""
    screen = app.screen
    console = Console(width=98, record=True, file=io.StringIO())
    console.print(status_renderable(screen.run, screen.stopping))
    return console.export_text()


@pytest.fixture
def starter():
    made = []

    def make(script, hold=True):
        s = ScriptedStarter(script, hold=hold)
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()


def session_of(app):
    return next(iter(app.sessions.values()))


@run_async
async def test_charts_receive_points_and_counter_moves(tmp_path, starter):
    script = mlp_script(iterations=300)
    half = len(script) // 2
    fake = starter(script[:half] + [PAUSE] + script[half:])
    app = make_app(tmp_path, start_run=fake, config=resolve("mlp-mnist"))
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, LiveRunScreen), what="the live screen")
        session = session_of(app)
        await wait_until(pilot, lambda: session.run.events_seen == half + 1, what="the first half")
        app.screen.refresh_view()
        first = session.run.progress.step
        assert f"iteration {first}/300" in status_text(app)
        fake.workers[0].release()
        await wait_until(pilot, lambda: session.run.progress.step == 300, what="the second half")
        app.screen.refresh_view()
        assert "iteration 300/300" in status_text(app)
        charts = {c.id: c for c in app.screen.query(MetricChart)}
        assert set(charts) == {"chart-loss", "chart-accuracy", "chart-lr", "chart-speed"}
        for chart in charts.values():
            traces = chart.source.traces(80, chart.axis, chart.smoothing)
            assert traces and all(t.x for t in traces), chart.id
        loss = charts["chart-loss"].source.traces(80, "step", 0.6)
        assert loss[0].faint and len(loss[1].x) == 30  # raw kept faint, smoothed curve on top
        plot = charts["chart-loss"].render().plain
        assert any(ord(ch) in BRAILLE for ch in plot)


@run_async
async def test_chart_keys_change_smoothing_scale_and_axis(tmp_path, starter):
    app = make_app(tmp_path, start_run=starter(mlp_script()), config=resolve("mlp-mnist"))
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, LiveRunScreen))
        chart = app.screen.query_one("#chart-loss", MetricChart)
        assert app.focused is chart
        await pilot.press("right_square_bracket", "l", "x")
        assert (chart.smoothing, chart.log_y, chart.axis) == (0.8, True, "epoch")
        await pilot.press("left_square_bracket", "left_square_bracket", "left_square_bracket", "x", "x")
        assert (chart.smoothing, chart.axis) == (0.0, "step")
        await pilot.press("z")
        assert app.screen.maximized is chart
        await pilot.press("z")
        assert app.screen.maximized is None
        await pilot.press("p")
        await pilot.pause()
        assert app.screen.query_one("TabbedContent").active == "log"


@run_async
async def test_stop_is_graceful(tmp_path, starter):
    fake = starter(mlp_script())
    app = make_app(tmp_path, start_run=fake, config=resolve("mlp-mnist"))
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, LiveRunScreen))
        session = session_of(app)
        await pilot.press("s")
        assert session.stopping
        await wait_until(pilot, lambda: session.run.state == "stopped", what="the stopped status")
        app.screen.refresh_view()
        assert status_text(app).splitlines()[2].startswith("stopped by the user  elapsed")
        assert fake.workers[0].exitcode == 130
    assert runfolder.load_run(session.run_dir).status["detail"] == "stopped by the user"


@run_async
async def test_dying_worker_shows_failed_within_two_seconds_and_app_keeps_working(tmp_path, starter):
    fake = starter(mlp_script())
    app = make_app(tmp_path, start_run=fake, config=resolve("mlp-mnist"))
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, LiveRunScreen))
        session = session_of(app)
        await wait_until(pilot, lambda: session.run.progress is not None)
        fake.workers[0].die()  # like SIGKILL or the OOM killer: no status, no last words
        took = await wait_until(pilot, lambda: session.run.state == "failed", timeout=2.0, what="failed")
        assert took < 2.0
        app.screen.refresh_view()
        assert "failed: worker process died (killed by signal 9)" in status_text(app)
        # The crash is recorded in the run folder too, and the app goes on: back, launch another run.
        assert '"failed"' in (session.run_dir / "status.json").read_text()
        await pilot.press("escape")
        assert isinstance(app.screen, LauncherScreen)
        await pilot.press("enter")
        await wait_until(pilot, lambda: len(app.sessions) == 2, what="a second run")


@run_async
async def test_trainer_exception_shows_its_error(tmp_path, starter):
    app = make_app(tmp_path, start_run=starter(mlp_script()[:20] + [CRASH]), config=resolve("mlp-mnist"))
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, LiveRunScreen))
        session = session_of(app)
        await wait_until(pilot, lambda: session.run.state == "failed", timeout=2.0)
        app.screen.refresh_view()
        assert "failed: RuntimeError: CUDA out of memory (scripted)" in status_text(app)


@run_async
async def test_quit_with_a_run_in_progress_asks_and_can_leave_it_running(tmp_path, starter):
    fake = starter(mlp_script())
    app = make_app(tmp_path, start_run=fake, config=resolve("mlp-mnist"))
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, LiveRunScreen))
        await pilot.press("q")
        assert isinstance(app.screen, QuitDialog)
        await pilot.press("escape")  # cancel: still here, still running
        assert isinstance(app.screen, LiveRunScreen) and session_of(app).run.running
        await pilot.press("q", "l")
        await wait_until(pilot, lambda: not app.is_running, what="the app to exit")
    assert app.return_code == 0
    worker = fake.workers[0]
    assert worker.exitcode is None  # the run goes on...
    worker._stop_requested()
    assert worker.detached  # ...told to carry on alone


@run_async
async def test_quit_can_stop_the_run_and_is_gone_at_once(tmp_path, starter):
    fake = starter(mlp_script())
    app = make_app(tmp_path, start_run=fake, config=resolve("mlp-mnist"))
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, LiveRunScreen))
        await pilot.press("q")
        chosen = time.monotonic()
        await pilot.press("s")
        # The app does not wait for the run's checkpoint: the worker was asked to stop, then left to do it.
        took = await wait_until(pilot, lambda: not app.is_running, what="the app to exit after the stop")
        assert time.monotonic() - chosen < 1.0, f"quitting took {took:.2f}s"
    worker = fake.workers[0]
    assert worker.ended.wait(5) and worker.exitcode == 130
    assert runfolder.load_run(worker.run_dir).status["detail"] == "stopped by the user on quitting vitui"
    assert app.farewell == [f"{worker.run_dir.name} is stopping: it saves a checkpoint and marks itself stopped "
                            f"(`vitui runs show {worker.run_dir.name}`)"]


@run_async
async def test_a_run_that_ends_while_the_quit_dialog_asks_lets_the_app_quit(tmp_path, starter):
    fake = starter(mlp_script())
    app = make_app(tmp_path, start_run=fake, config=resolve("mlp-mnist"))
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, LiveRunScreen))
        await pilot.press("q")
        assert isinstance(app.screen, QuitDialog)
        fake.workers[0].finish()  # the run completes while the dialog asks whether to leave it running
        await wait_until(pilot, lambda: not app.is_running, what="the app to quit once nothing is left to ask")
    assert app.return_code == 0 and session_of(app).run.state == "completed"


@run_async
async def test_quit_without_running_runs_exits_at_once(tmp_path, starter):
    fake = starter(mlp_script(), hold=False)
    app = make_app(tmp_path, start_run=fake, config=resolve("mlp-mnist"))
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, LiveRunScreen))
        await wait_until(pilot, lambda: session_of(app).run.state == "completed")
        await pilot.press("q")
        await wait_until(pilot, lambda: not app.is_running)


def test_run_updates_replace_each_other_per_run(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    assert RunUpdated(a).can_replace(RunUpdated(a))
    assert not RunUpdated(a).can_replace(RunUpdated(b))


@run_async
async def test_a_burst_of_updates_is_merged(tmp_path, starter):
    """The follower posts one update per batch; queued updates for one run collapse into one redraw."""
    handled = []
    app = make_app(tmp_path, start_run=starter([]), config=resolve("mlp-mnist"))
    async with app.run_test(size=SIZE, message_hook=lambda m: handled.append(m) if isinstance(m, RunUpdated) else None) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, LiveRunScreen))
        await pilot.pause()
        run_dir = session_of(app).run_dir
        handled.clear()
        for _ in range(200):
            app.post_message(RunUpdated(run_dir))
        await pilot.pause()
        # The app handles the newest of the 200 and forwards it to the screen: two handlings in all.
        assert len(handled) == 2


@run_async
async def test_extra_panels_appear_when_their_events_arrive(tmp_path, starter):
    samples = [Samples(step=s, temperature=1.0, texts=[f"tyrannosaurus{s}"], novel=[False], novelty=0.0, t=T0 + s)
               for s in (10, 20)]
    app = make_app(tmp_path, start_run=starter(mlp_script()[:5] + samples), config=resolve("mlp-mnist"))
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, LiveRunScreen))
        screen = app.screen
        await wait_until(pilot, lambda: screen.run.extra_seq == 2, what="the samples")
        screen.refresh_view()
        await wait_until(pilot, lambda: bool(screen.query(NamesPanel)), what="the names panel")
        panel = screen.query_one(NamesPanel)
        await wait_until(pilot, lambda: panel.is_mounted and len(panel.history) == 2, what="the names panel to be fed")
        assert [step for step, _ in panel.history] == [10, 20]
        assert "extra-samples" in [pane.id for pane in screen.query(TabPane)]
        screen.show_panel("extra-samples")
        await pilot.pause()
        log = panel.query_one("#names-log")
        await wait_until(pilot, lambda: len(log.lines) == 2, what="both samples written")
        assert "tyrannosaurus20" in "".join(seg.text for seg in log.lines[-1])


@run_async
async def test_resizes_cleanly(tmp_path, starter):
    app = make_app(tmp_path, start_run=starter(mlp_script()), config=resolve("mlp-mnist"))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, LiveRunScreen))
        chart = app.screen.query_one("#chart-loss", MetricChart)
        await wait_until(pilot, lambda: app.screen.run.progress is not None)
        widths = []
        for size in ((80, 24), (100, 30), (160, 50), (80, 24)):
            await pilot.resize_terminal(*size)
            await pilot.pause()
            app.screen.refresh_view()
            await pilot.pause()
            widths.append(chart.size.width)
            lines = chart.render().plain.splitlines()
            assert max(len(line) for line in lines) <= chart.size.width
        assert widths[0] < widths[2] and widths[0] == widths[3]


@run_async
async def test_below_80x24_one_line_says_the_terminal_is_too_small(tmp_path, starter):
    app = make_app(tmp_path, start_run=starter(mlp_script()), config=resolve("mlp-mnist"))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, LiveRunScreen))
        live = app.screen
        for small in ((79, 24), (80, 23), (40, 10)):
            await pilot.resize_terminal(*small)
            await wait_until(pilot, lambda: isinstance(app.screen, TooSmallScreen), what="the too-small line")
            assert [w.id for w in app.screen.children] == ["too-small"]
            assert widget_text(app.screen.query_one("#too-small")).strip() == "terminal too small: 80x24 needed"
        await pilot.resize_terminal(80, 24)
        await wait_until(pilot, lambda: app.screen is live, what="the live screen back")
        # The quit dialog can open over it; once the terminal is big again and the dialog closes, it goes.
        await pilot.resize_terminal(70, 20)
        await wait_until(pilot, lambda: isinstance(app.screen, TooSmallScreen))
        await pilot.press("q")
        assert isinstance(app.screen, QuitDialog)
        await pilot.resize_terminal(80, 24)
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is live, what="the live screen after the dialog")


def chars_script(until: int = 1500) -> list:
    """An rnn-dinos-like start: training-loss readings every 500 iterations, no evaluation yet (eval_every 2000)."""

    events = []
    for it in range(500, until + 1, 500):
        t = T0 + it / 1000
        events.append(Metric(step=it, epoch=it / 1400, split="train", values={"loss": 3.0 - it / 1000}, t=t))
        events.append(Progress(step=it, total_steps=6000, epoch=0, total_epochs=5, unit="iteration", t=t))
    return events


def flat(text: str) -> str:
    return " ".join(text.split())


@run_async
async def test_a_character_model_has_no_accuracy_chart_and_empty_charts_say_why(tmp_path, starter):
    fake = starter(chars_script())
    app = make_app(tmp_path, start_run=fake, config=resolve("rnn-dinos", {"iterations": "6000"}))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, LiveRunScreen))
        screen = app.screen
        await wait_until(pilot, lambda: screen.run.last_step == 1500, what="the readings")
        screen.refresh_view()
        await pilot.pause()
        assert [c.id for c in screen.query(MetricChart)] == ["chart-loss", "chart-lr", "chart-speed"]
        assert screen.query_one("#chart-loss").has_class("wide")  # three charts: the loss spans the top row
        lr_text = flat(widget_text(screen.query_one("#chart-lr")))
        assert "no learning-rate readings yet: one every 2,000 iterations (eval_every)" in lr_text
        assert "iteration 1,500/6,000" in status_text(app)


@run_async
async def test_without_colour_validation_is_drawn_with_its_own_marker(tmp_path, starter, monkeypatch):
    for no_color in (False, True):
        if no_color:
            monkeypatch.setenv("NO_COLOR", "1")
        app = make_app(tmp_path / str(no_color), start_run=starter(cnn_script(batchnorm=True, epochs=4)),
                       config=resolve("cnn-bn-cifar10"))
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda: isinstance(app.screen, LiveRunScreen))
            await wait_until(pilot, lambda: app.screen.run.series.get("epoch/val_loss") is not None
                             and app.screen.run.series["epoch/val_loss"].count == 4, what="the val loss")
            app.screen.refresh_view()
            await pilot.pause()
            chart = widget_text(app.screen.query_one("#chart-accuracy"))
            assert ("•" in chart) is no_color  # validation: dots; training: braille, as with colour
            assert any(0x2801 <= ord(c) < 0x2900 for c in chart)


@pytest.mark.parametrize("opened_from", ["watch", "browser"])
@run_async
async def test_a_run_started_elsewhere_is_stopped_with_where_it_was_stopped_from(tmp_path, opened_from):
    """The stop reaches the worker through the run folder, saying whether the browser or `vitui watch` sent it."""

    run_dir = tmp_path / "runs" / "20231114-221320-mlp-mnist"
    run_dir.mkdir(parents=True)
    runfolder.write_json_atomic(run_dir / runfolder.CONFIG, resolve("mlp-mnist").to_dict())
    elsewhere = ScriptedWorker(run_dir, mlp_script()[:10]).start()  # another terminal's run
    try:
        watch = run_dir if opened_from == "watch" else None
        app = make_app(tmp_path / "runs", watch=watch, start_run=ScriptedStarter([]))
        async with app.run_test(size=(80, 24)) as pilot:
            if opened_from == "browser":
                await wait_until(pilot, lambda: isinstance(app.screen, LauncherScreen))
                await pilot.press("r")
                await wait_until(pilot, lambda: isinstance(app.screen, RunsBrowserScreen))
                await pilot.press("enter")
            await wait_until(pilot, lambda: isinstance(app.screen, LiveRunScreen), what="the live screen")
            await pilot.press("s")
            assert app.screen.session.stopping
        requests = [json.loads(line) for line in (run_dir / runfolder.CONTROL).read_text().splitlines()]
        reason = {"watch": "stopped from vitui watch", "browser": "stopped from the runs browser"}[opened_from]
        assert requests == [{"action": "stop", "reason": reason}]
    finally:
        elsewhere.finish()
        elsewhere.ended.wait(5)


def test_step_and_epoch_ticks_are_whole_numbers():
    assert whole_ticks(1.0, 12.0, 6) == [2, 4, 6, 8, 10, 12]  # plotext's own: 1.0 3.8 6.5 9.2 12.0
    assert whole_ticks(1.0, 12.0, 5) == [3, 6, 9, 12]
    assert whole_ticks(50, 300, 6) == [50, 100, 150, 200, 250, 300]  # plotext's own: 50.0 112.5 175.0 ...
    assert whole_ticks(500, 35_000, 6) == [10_000, 20_000, 30_000]
    assert whole_ticks(0.1, 0.9, 5) == []  # no whole number inside: plotext's ticks stay


def test_a_flat_accuracy_gets_room_inside_0_to_100_percent():
    ticks, labels = y_ticks(94.5, 94.5, 3, (0.0, 100.0))
    assert ticks[0] < 94.5 < ticks[-1] == 100.0 and float(labels[-1]) == 100.0
    assert y_ticks(100.0, 100.0, 3, (0.0, 100.0))[0][-1] == 100.0


@run_async
async def test_panel_keys_pressed_fast_land_on_the_right_panel(tmp_path, starter):
    """Each `p` moves one panel on, even when the next comes before the screen has redrawn."""
    app = make_app(tmp_path, start_run=starter(mlp_script()), config=resolve("mlp-mnist"))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, LiveRunScreen))
        for _ in range(7):  # queued at once, as a fast typist's (or tmux's) keys arrive
            app.post_message(events.Key("p", "p"))
        await pilot.pause(0.5)
        assert app.screen.query_one("TabbedContent").active == "config"


@run_async
async def test_switching_panels_quickly_shows_the_last_one_with_focus_in_it(tmp_path, starter):
    """Focusing into the charts pane makes it active a few messages later; moving on at once must not bring it back."""

    app = make_app(tmp_path, start_run=starter(mlp_script()), config=resolve("mlp-mnist"))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, LiveRunScreen))
        screen = app.screen
        for _ in range(3):
            screen.show_panel("charts")
            screen.show_panel("log")
            await pilot.pause()
            assert screen.query_one(TabbedContent).active == "log" and app.focused is screen.query_one("#log-panel")
        await pilot.click("#--content-tab-results")  # a click on the tab bar still switches
        assert screen.query_one(TabbedContent).active == "results"
