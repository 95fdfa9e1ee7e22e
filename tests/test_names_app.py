"""Pilot test of the names panel inside the app: samples from a (scripted) run fill it, +/- reach the worker."""

from __future__ import annotations

from app_fakes import T0, ScriptedStarter, run_async, wait_until
from vitui.app import make_app
from vitui.config import resolve
from vitui.events import Metric, Progress, Samples
from vitui.screens.run import LiveRunScreen
from vitui.widgets.names import NamesPanel


def names_script() -> list:
    events = []
    for step, names, novel in ((1, ["xqzt", "aab"], [True, True]), (2000, ["aurus", "stegosaurus"], [True, False])):
        t = T0 + step / 1000
        events.append(Metric(step=step, epoch=step / 1390, split="train", values={"loss": 2.0, "smooth_loss": 23.0}, t=t))
        events.append(Progress(step=step, total_steps=35_000, epoch=0, total_epochs=26, unit="iteration", t=t))
        events.append(Samples(step=step, temperature=1.0, texts=names, novel=novel, novelty=sum(novel) / 2, t=t))
    return events


@run_async
async def test_names_panel_fills_and_sends_the_temperature(tmp_path):
    fake = ScriptedStarter(names_script())
    app = make_app(tmp_path, start_run=fake, config=resolve("rnn-dinos"))
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_until(pilot, lambda: isinstance(app.screen, LiveRunScreen), what="the live screen")
            screen = app.screen
            await wait_until(pilot, lambda: bool(screen.query(NamesPanel))
                             and len(screen.query_one(NamesPanel).history) == 2, what="two samples in the panel")
            panel = screen.query_one(NamesPanel)
            sent = []
            session = next(iter(app.sessions.values()))
            session.source.send = sent.append  # record what would reach the worker's control queue
            screen.show_panel("extra-samples")
            await wait_until(pilot, lambda: app.focused is panel, what="focus on the names panel")
            await pilot.press("minus")
            await pilot.pause()
            assert sent == [{"action": "set", "values": {"temperature": 0.9}}]
    finally:
        fake.close()
