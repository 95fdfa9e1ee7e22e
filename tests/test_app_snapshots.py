"""Snapshot tests (pytest-textual-snapshot) of the main screens at 80x24, from fixed data and fixed times.

Update after an intended change with: pytest tests/test_app_snapshots.py --snapshot-update
"""

import time
from pathlib import Path

import pytest

from app_fakes import PAUSE, ScriptedStarter, cnn_script, mlp_script, wait_until, write_run
from vitui.app import make_app
from vitui.core.experiments import resolve
from vitui.screens.browser import RunsBrowserScreen
from vitui.screens.compare import CompareScreen
from vitui.screens.launcher import LauncherScreen
from vitui.screens.run import LiveRunScreen, RunDetailScreen

SIZE = (80, 24)
CONFIGS = {
    "cnn-bn-cifar10": 'description = "The seed\'s CNN with BatchNorm after every conv and the dense layer"\n'
                      'model = "cnn-bn"\ndataset = "cifar10"\nepochs = 25\nval_fraction = 0.1\n',
    "cnn-cifar10": 'description = "The seed\'s CNN: two conv blocks, dropout, a dense layer"\n'
                   'model = "cnn"\ndataset = "cifar10"\nepochs = 25\nval_fraction = 0.1\n',
    "mlp-mnist": 'description = "Two-layer MLP from scratch in NumPy on 1,000 MNIST digits per class"\n'
                 'model = "mlp-numpy"\ndataset = "mnist"\nlr = 0.2\niterations = 2000\n',
}


@pytest.fixture(autouse=True)
def fixed_world(tmp_path, monkeypatch):
    """Fixed experiments, a fixed time zone: nothing in a screenshot may depend on the machine or the clock."""
    configs = tmp_path / "configs"
    configs.mkdir()
    for name, text in CONFIGS.items():
        (configs / f"{name}.toml").write_text(text)
    monkeypatch.setenv("VITUI_CONFIGS", str(configs))
    monkeypatch.chdir(tmp_path)  # the browser's title shows the runs folder: make it "runs"
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def cnn_runs():
    runs = Path("runs")
    best = {"name": "val_acc", "epoch": 12}
    a = write_run(runs, "20231114-221320-cnn-cifar10", resolve("cnn-cifar10"), cnn_script(batchnorm=False),
                  "completed", {"metrics": {"val_acc": 0.70}, "best": {**best, "value": 0.70}})
    b = write_run(runs, "20231114-231320-cnn-bn-cifar10", resolve("cnn-bn-cifar10"), cnn_script(batchnorm=True),
                  "completed", {"metrics": {"val_acc": 0.78}, "best": {**best, "value": 0.78}})
    write_run(runs, "20231115-091320-mlp-mnist", resolve("mlp-mnist"), mlp_script()[:30], "stopped",
              {"best": {"name": "train_acc", "value": 0.912, "epoch": 100}}, duration=95)
    return runs, a, b


def test_launcher(snap_compare, tmp_path):
    app = make_app(Path("runs"), start_run=ScriptedStarter([]))

    async def ready(pilot):
        await wait_until(pilot, lambda: isinstance(app.screen, LauncherScreen) and len(app.screen.fields) > 20)
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=ready)


def test_live_screen_mid_run(snap_compare, tmp_path):
    script = mlp_script(iterations=600)
    starter = ScriptedStarter(script[:100] + [PAUSE] + script[100:])
    app = make_app(Path("runs"), start_run=starter, config=resolve("mlp-mnist"))

    async def mid_run(pilot):
        await wait_until(pilot, lambda: isinstance(app.screen, LiveRunScreen))
        screen = app.screen
        await wait_until(pilot, lambda: screen.run.events_seen == 101, what="the first part of the run")
        screen.refresh_view()
        await pilot.pause()

    try:
        assert snap_compare(app, terminal_size=SIZE, run_before=mid_run)
    finally:
        starter.close()


def test_runs_browser(snap_compare, cnn_runs):
    runs, a, b = cnn_runs
    app = make_app(runs)

    async def browse(pilot):
        app.show_runs()
        await wait_until(pilot, lambda: isinstance(app.screen, RunsBrowserScreen) and app.screen.runs)
        await pilot.press("down", "space", "space")

    assert snap_compare(app, terminal_size=SIZE, run_before=browse)


def test_comparison_cnn_against_cnn_bn(snap_compare, cnn_runs):
    runs, a, b = cnn_runs
    app = make_app(runs)

    async def compare(pilot):
        app.show_runs()
        await wait_until(pilot, lambda: isinstance(app.screen, RunsBrowserScreen) and app.screen.runs)
        app.push_screen(CompareScreen([a, b]))
        await wait_until(pilot, lambda: isinstance(app.screen, CompareScreen) and app.screen.runs[1].evaluation)
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=compare)


def test_run_results_panel(snap_compare, cnn_runs):
    runs, a, b = cnn_runs
    app = make_app(runs, watch=b)

    async def results(pilot):
        await wait_until(pilot, lambda: isinstance(app.screen, RunDetailScreen) and app.screen.run.evaluation)
        app.screen.show_panel("results")
        await pilot.pause()

    assert snap_compare(app, terminal_size=(100, 34), run_before=results)
