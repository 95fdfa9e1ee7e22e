"""The real app with a real worker, for every experiment in configs/: the run completes on screen, its tabs fill.

Scripted workers prove the widgets; only these prove the product. Each experiment trains for a few seconds
on real data (small cuts of MNIST and CIFAR-10, the course's dinosaur names) in a real worker process started
by the app, while a watchdog thread fails the test, with every thread's stack, if the screen stops redrawing.
"""

from __future__ import annotations

import shutil
import threading
import time
from types import SimpleNamespace

import pytest
from textual.app import App
from textual.screen import Screen

from app_fakes import run_async, screen_text, wait_until
from conftest import require, shared_data
from real_runs import EXTRA_TABS, TINY, FreezeWatchdog, ScreenFrozen, tiny_overrides
from vitui.app import make_app
from vitui.core.experiments import experiment_names, resolve
from vitui.screens.run import LiveRunScreen

SIZE = (80, 24)
RUN_TIMEOUT = 150.0  # seconds for a tiny run on a loaded 2-core machine, worker start-up and torch import included


@pytest.fixture(scope="module")
def data_dir(mnist_small):
    """MNIST (small) and the dinosaur names in one data folder, as a user's --data-dir would hold them."""
    shutil.copy(require(shared_data() / "dinos.txt"), mnist_small / "dinos.txt")
    return mnist_small


def test_every_experiment_has_tiny_settings():
    assert sorted(TINY) == experiment_names()


@pytest.mark.slow
@pytest.mark.parametrize("experiment", sorted(TINY))
@run_async
async def test_a_real_run_completes_on_screen_and_fills_its_tabs(experiment, data_dir, cifar_small, tmp_path):
    config = resolve(experiment, tiny_overrides(experiment, cifar_small))
    app = make_app(tmp_path / "runs", data_dir, config=config)
    async with app.run_test(size=SIZE) as pilot:
        with FreezeWatchdog(app) as watchdog:
            await wait_until(pilot, lambda: isinstance(app.screen, LiveRunScreen), what="the live screen")
            screen = app.screen
            try:
                await wait_until(pilot, lambda: not screen.run.running, timeout=RUN_TIMEOUT, what="the run to end")
            except AssertionError as exc:
                raise AssertionError(f"{exc}; {where_it_stands(app)}; the screen shows:\n{screen_text(app)}") from None
            await wait_for_screen(pilot, app, lambda text: "completed" in text, "the completed state")
            assert screen.run.state == "completed", screen.run.last_error
            for title in ("charts", "log", "results", "config") + EXTRA_TABS[experiment]:
                pane, mark = TABS[title]
                screen.show_panel(pane)
                await wait_for_screen(pilot, app, lambda text: mark in below_tab_bar(text), f"{mark!r} in the {title} tab")
            watchdog.check()
        await pilot.press("q")
        await wait_until(pilot, lambda: app.return_code is not None, what="the app to quit")
    assert app.return_code == 0


def where_it_stands(app) -> str:
    """What a run that never ended was doing: the worker process, the app's follower, what the app said."""
    session = next(iter(app.sessions.values()), None)
    if session is None:
        return "no run started"
    process = getattr(session.source.handle, "process", None)
    workers = [(w.description, w.state.name, str(w.error or "")) for w in app.workers]
    return (f"worker pid {getattr(process, 'pid', None)} alive {session.source.alive} exit {getattr(process, 'exitcode', None)}; "
            f"events seen {session.run.events_seen}, state {session.run.state}; app workers {workers}; "
            f"the app said {[n.message for n in app._notifications]}; its threads that failed {app.worker_errors}")


# Each tab's pane id and a word its content shows once the run has ended (not its placeholder).
TABS = {
    "charts": ("charts", "⣀"),  # braille dots: drawn curves
    "log": ("log", "finished"),
    "results": ("results", "final figures"),
    "config": ("config", "experiment"),
    "names": ("extra-samples", "novel"),
    "attention": ("extra-attention", "probe 1/"),
    "mistakes": ("extra-misclassified", "→"),
}


def below_tab_bar(text: str) -> str:
    """The screen below the status lines and the tab bar."""
    return "\n".join(text.splitlines()[5:])


async def wait_for_screen(pilot, app, predicate, what: str) -> None:
    """wait_until on what the screen shows, failing with the screen in the message."""
    try:
        await wait_until(pilot, lambda: predicate(screen_text(app)), what=f"{what} on screen")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; the screen shows:\n{screen_text(app)}") from None


class SpinningScreen(Screen):
    """A screen whose key handler never returns, like the live screen's old wait for its new tab."""

    BINDINGS = [("x", "spin")]

    def __init__(self):
        super().__init__()
        self.run = SimpleNamespace(events_seen=0)
        self._last_refresh = 0.0  # when it last redrew, as a run screen records it: never

    def action_spin(self) -> None:
        while True:
            pass


@run_async
async def test_the_watchdog_fails_a_frozen_screen_and_unwinds_it():
    app = App()
    screen = SpinningScreen()
    watchdog = FreezeWatchdog(app, stall_s=0.3)
    with pytest.raises(ScreenFrozen):  # raised in the app's loop: the app ends with it
        async with app.run_test(size=SIZE) as pilot:
            await app.push_screen(screen)
            feeding = threading.Thread(target=lambda: [time.sleep(0.05) or setattr(screen.run, "events_seen", n)
                                                        for n in range(1, 80)], daemon=True)
            with pytest.raises(AssertionError):
                with watchdog:
                    feeding.start()
                    await pilot.press("x")
                    await pilot.pause(0.5)
    assert "has not run a timer" in watchdog.failure
    assert "action_spin" in watchdog.failure  # with the stack of the stuck code
