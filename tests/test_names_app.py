"""Pilot tests of the names panel inside the app at 80x24: samples from a (scripted) run fill it, + and - reach the
worker at once after `p` (through the control queue, or control.jsonl for a run started elsewhere), and a run
that has ended turns them off with a line saying so."""

from __future__ import annotations

from contextlib import asynccontextmanager

from textual import events

from app_fakes import PAUSE, T0, ScriptedStarter, ScriptedWorker, run_async, screen_text, wait_until, write_run
from vitui.app import make_app
from vitui.core import runfolder
from vitui.core.events import Metric, Progress, Samples
from vitui.core.experiments import resolve
from vitui.screens.run import LiveRunScreen, RunDetailScreen
from vitui.widgets.names import NamesPanel

SIZE = (80, 24)


def names_script(steps: tuple[int, ...] = (1, 2000), temperature: float = 1.0) -> list:
    events_ = []
    for step in steps:
        t = T0 + step / 1000
        names, novel = ["aurus", "stegosaurus"], [True, False]
        events_.append(Metric(step=step, epoch=step / 1390, split="train", values={"loss": 2.0, "smooth_loss": 23.0}, t=t))
        events_.append(Progress(step=step, total_steps=35_000, epoch=0, total_epochs=26, unit="iteration", t=t))
        events_.append(Samples(step=step, temperature=temperature, texts=names, novel=novel, novelty=0.5, t=t))
    return events_


async def names_panel(pilot, app, count: int = 2) -> NamesPanel:
    """The names panel once `count` samples are in it (its tab appears with the first)."""
    await wait_until(pilot, lambda: bool(app.screen.query(NamesPanel))
                     and len(app.screen.query_one(NamesPanel).history) >= count, what=f"{count} samples in the panel")
    return app.screen.query_one(NamesPanel)


@asynccontextmanager
async def live_names_run(tmp_path):
    """The app running a scripted rnn-dinos worker at 80x24, once its names panel holds two samples:
    yields (app, pilot, panel, starter)."""
    fake = ScriptedStarter(names_script())
    app = make_app(tmp_path, start_run=fake, config=resolve("rnn-dinos"))
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(pilot, lambda: isinstance(app.screen, LiveRunScreen), what="the live screen")
            yield app, pilot, await names_panel(pilot, app), fake
    finally:
        fake.close()


def keys_at_once(app, *keys: str) -> None:
    """Keys in one burst, as a terminal delivers a fast hand, a paste or tmux send-keys: no pause between them."""
    characters = {"plus": "+", "minus": "-"}
    for key in keys:
        app.post_message(events.Key(key, characters.get(key, key)))


@run_async
async def test_plus_works_right_after_p_and_reaches_the_worker(tmp_path):
    async with live_names_run(tmp_path) as (app, pilot, panel, _):
        sent = []
        app.screen.session.source.send = sent.append  # what would reach the worker's control queue
        keys_at_once(app, "p", "p", "p", "p", "plus")  # charts -> log -> results -> config -> names, then +
        await wait_until(pilot, lambda: sent, what="the request")
        assert sent == [{"action": "set", "values": {"temperature": 1.1}}]
        assert app.focused is panel
        await pilot.pause()
        assert "temperature 1.1 asked, samples still at 1" in screen_text(app)
        assert "+ hotter  - cooler" in screen_text(app).splitlines()[-1]  # the footer shows the keys


@run_async
async def test_the_control_turns_off_with_a_reason_when_the_run_ends(tmp_path):
    async with live_names_run(tmp_path) as (app, pilot, panel, fake):
        app.screen.show_panel("extra-samples")
        assert not panel.control_off
        fake.close()  # the worker finishes its script: the run completes
        await wait_until(pilot, lambda: panel.control_off, what="the control to turn off")
        assert "+/- off: the run completed; `vitui sample` draws new names" in screen_text(app)
        sent = []
        app.screen.session.source.send = sent.append
        keys_at_once(app, "plus")
        await pilot.pause()
        assert sent == [] and panel.asked is None
        assert panel.check_action("temperature", (1,)) is None  # greyed out in the footer, not hidden


@run_async
async def test_a_past_run_shows_its_names_with_the_control_off(tmp_path):
    run_dir = write_run(tmp_path, "20250101-120000-rnn-dinos", resolve("rnn-dinos"), names_script(), "stopped")
    app = make_app(tmp_path, watch=run_dir)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, RunDetailScreen), what="the run's record")
        panel = await names_panel(pilot, app)
        keys_at_once(app, "p", "p", "p", "p", "plus")
        await wait_until(pilot, lambda: app.focused is panel, what="the names tab")
        await pilot.pause()
        assert "temperature 1  +/- off: the run stopped" in screen_text(app)
        assert panel.asked is None


@run_async
async def test_a_watched_run_gets_the_temperature_through_its_folder(tmp_path):
    """A run started elsewhere (vitui watch, the runs browser): the request goes to control.jsonl, which its
    worker reads (tests/test_chars_run.py checks a real one); the header follows it until samples use it."""
    run_dir = tmp_path / "20250101-120000-rnn-dinos"
    run_dir.mkdir()
    runfolder.write_json_atomic(run_dir / runfolder.CONFIG, resolve("rnn-dinos").to_dict())
    later = names_script(steps=(4000,), temperature=1.1)  # what the worker logs once it has read the request
    worker = ScriptedWorker(run_dir, names_script() + [PAUSE] + later, hold=True).start()
    try:
        app = make_app(tmp_path, watch=run_dir)  # what `vitui watch RUN` does
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(pilot, lambda: isinstance(app.screen, LiveRunScreen), what="the live screen")
            assert not app.screen.session.source.owned
            panel = await names_panel(pilot, app)
            keys_at_once(app, "p", "p", "p", "p", "plus")
            await wait_until(pilot, lambda: (run_dir / runfolder.CONTROL).exists(), what="control.jsonl")
            assert runfolder.ControlReader(run_dir).read() == [{"action": "set", "values": {"temperature": 1.1}}]
            await pilot.pause()
            assert "temperature 1.1 asked, samples still at 1" in screen_text(app)
            worker.release()
            await wait_until(pilot, lambda: len(panel.history) == 3, what="samples drawn at 1.1")
            await pilot.pause()
            assert "temperature 1.1 in use since iteration 4,000" in screen_text(app)
            worker.finish()
            await wait_until(pilot, lambda: panel.control_off, what="the control to turn off")
            await pilot.press("q")  # not ours: quitting does not ask
            await wait_until(pilot, lambda: not app.is_running, what="the app to quit")
    finally:
        worker.finish()


@run_async
async def test_a_request_that_cannot_be_sent_turns_the_control_off(tmp_path):
    def refuse(message: dict) -> None:
        raise OSError("Read-only file system")

    async with live_names_run(tmp_path) as (app, pilot, panel, _):
        app.screen.session.source.send = refuse
        keys_at_once(app, "p", "p", "p", "p", "plus")
        await wait_until(pilot, lambda: panel.control_off, what="the control to turn off")
        await pilot.pause()
        assert "+/- off: could not ask the worker: Read-only file system" in screen_text(app)
