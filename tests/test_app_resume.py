"""Pilot tests of `r` in the runs browser: a stopped run goes on live from its checkpoint, its charts without a gap
or a step twice; a run that cannot resume says why in one line."""

from __future__ import annotations

import pytest

from app_fakes import T0, ScriptedStarter, mlp_script, run_async, wait_until, widget_text, write_run
from vitui.app import make_app
from vitui.core import runfolder
from vitui.core.events import Metric, Progress, Resumed
from vitui.core.experiments import resolve
from vitui.screens import browser
from vitui.screens.browser import RunsBrowserScreen
from vitui.screens.run import LiveRunScreen

SIZE = (80, 24)


@pytest.fixture(autouse=True)
def quick_refresh(monkeypatch):
    monkeypatch.setattr(browser, "REFRESH_S", 0.2)


def training(script, first: int, last: int) -> list:
    """The script's readings and progress from step `first` to `last`."""
    return [e for e in script if isinstance(e, (Metric, Progress)) and first <= e.step <= last
            and getattr(e, "split", "") != "test"]


def stopped_mlp_run(tmp_path, state: str = "stopped"):
    """An MLP run that logged up to iteration 150 and saved its last checkpoint at 120 (a crash leaves readings past
    its checkpoint: the resumed run logs 130..150 again)."""
    script = mlp_script(iterations=300)
    run_dir = write_run(tmp_path, "20231114-221320-mlp-mnist", resolve("mlp-mnist", {"iterations": "300"}),
                        training(script, 0, 150), state)
    (run_dir / "checkpoints").mkdir()
    (run_dir / "checkpoints" / "last.pt").write_bytes(b"the weights at iteration 120")
    return run_dir, script


@run_async
async def test_r_resumes_a_stopped_run_live_and_its_charts_go_on_without_a_gap_or_a_step_twice(tmp_path):
    run_dir, script = stopped_mlp_run(tmp_path)
    starter = ScriptedStarter([Resumed(step=120, epoch=120, count=1, t=T0 + 2000), *training(script, 121, 300)],
                              hold=False)
    app = make_app(tmp_path, start_run=starter)
    async with app.run_test(size=SIZE) as pilot:
        app.show_runs()
        await wait_until(pilot, lambda: isinstance(app.screen, RunsBrowserScreen) and app.screen.runs)
        hint = widget_text(app.screen.query_one("#browser-hint"))
        assert "r resumes this run from its last checkpoint" in hint
        await pilot.press("r")
        await wait_until(pilot, lambda: isinstance(app.screen, LiveRunScreen), what="the live screen")
        assert starter.resumed == [run_dir.resolve()]
        run = app.screen.session.run
        await wait_until(pilot, lambda: run.state == "completed", what="the resumed run to end")
        steps = run.series["train/loss"].reduce(1000).mean_x
        assert steps == list(range(10, 301, 10))  # the first attempt's to 120, then the new one's: each step once
        assert run.series["epoch/train_acc"].reduce(1000).mean_x == [50, 100, 150, 200, 250, 300]
    starter.close()


@run_async
async def test_r_on_a_completed_run_says_how_to_train_it_further_and_starts_nothing(tmp_path):
    stopped_mlp_run(tmp_path, state="completed")
    starter = ScriptedStarter([])
    app = make_app(tmp_path, start_run=starter)
    async with app.run_test(size=SIZE) as pilot:
        app.show_runs()
        await wait_until(pilot, lambda: isinstance(app.screen, RunsBrowserScreen) and app.screen.runs)
        assert "r resumes" not in widget_text(app.screen.query_one("#browser-hint"))
        await pilot.press("r")
        await wait_until(pilot, lambda: app._notifications, what="a notification")
        [note] = [n.message for n in app._notifications]
        assert note.endswith("is completed (iterations=300); to train it further, add --set iterations=N with N > 300")
        assert isinstance(app.screen, RunsBrowserScreen) and not starter.workers
        assert runfolder.load_run(tmp_path / "20231114-221320-mlp-mnist").status["state"] == "completed"
