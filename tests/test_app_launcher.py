"""Pilot tests of the launcher: settings checked as you type, model and data set choices, Enter launches."""

from contextlib import asynccontextmanager

from app_fakes import ScriptedStarter, burst, mlp_script, run_async, screen_text, wait_until, widget_text
from vitui.app import make_app
from vitui.core.experiments import experiment_names
from vitui.screens.launcher import LauncherScreen
from vitui.screens.run import LiveRunScreen

SIZE = (80, 24)


async def open_launcher(pilot, app, experiment: str) -> LauncherScreen:
    await wait_until(pilot, lambda: isinstance(app.screen, LauncherScreen) and app.screen.config is not None)
    screen = app.screen
    options = screen.query_one("#experiment-list")
    options.highlighted = next(i for i in range(options.option_count) if options.get_option_at_index(i).id == experiment)
    await wait_until(pilot, lambda: screen.experiment == experiment and bool(screen.fields))
    await pilot.pause()
    return screen


def message(screen) -> tuple[str, bool]:
    widget = screen.query_one("#form-message")
    return str(widget.render()), widget.has_class("error")


@run_async
async def test_bad_value_shows_its_error_and_blocks_launch(tmp_path):
    starter = ScriptedStarter(mlp_script(), hold=False)
    app = make_app(tmp_path, start_run=starter)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_launcher(pilot, app, "cnn-bn-cifar10")
        screen.query_one("#set-epochs").focus()
        await pilot.press("2", "x")  # focus selected the old value: typing replaces it
        await pilot.pause()
        assert message(screen) == ("bad value for epochs: '2x' is not a whole number", True)
        assert screen.query_one("#set-epochs").has_class("-invalid")
        await pilot.press("enter")
        assert not starter.configs and isinstance(app.screen, LauncherScreen)
        await pilot.press("backspace")
        await pilot.pause()
        assert message(screen) == ("epochs: passes over the training images", False)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, LiveRunScreen), what="the live screen")
    config = starter.configs[0]
    assert (config.train.experiment, config.train.model, config.train.epochs) == ("cnn-bn-cifar10", "cnn-bn", 2)
    starter.close()


@run_async
async def test_model_and_data_set_are_separate_choices(tmp_path):
    starter = ScriptedStarter(mlp_script(), hold=False)
    app = make_app(tmp_path, start_run=starter)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_launcher(pilot, app, "cnn-cifar10")
        assert "epochs" in screen.fields and "iterations" not in screen.fields
        screen.query_one("#model-select").value = "mlp-numpy"  # what choosing in the Select does
        await wait_until(pilot, lambda: "iterations" in screen.fields, what="the MLP's settings")
        assert "epochs" not in screen.fields
        screen.query_one("#dataset-select").focus()
        screen.query_one("#dataset-select").value = "imagefolder"
        await pilot.pause()
        assert message(screen)[1] and "imagefolder" in message(screen)[0]
        folder = tmp_path / "images"
        folder.mkdir()
        screen.query_one("#folder-input").focus()
        screen.query_one("#folder-input").value = str(folder)
        await pilot.pause()
        assert message(screen) == ("folder: a folder or .tar.gz with one subfolder of images per class", False)
        screen.query_one("#experiment-list").focus()
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, LiveRunScreen))
    config = starter.configs[0]
    assert (config.train.model, config.train.dataset) == ("mlp-numpy", f"imagefolder:{folder}")
    starter.close()


@run_async
async def test_keyboard_only_launch_from_the_experiment_list(tmp_path):
    starter = ScriptedStarter(mlp_script(), hold=True)
    app = make_app(tmp_path, start_run=starter)
    async with app.run_test(size=SIZE) as pilot:
        await open_launcher(pilot, app, "mlp-mnist")
        assert app.focused.id == "experiment-list"
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, LiveRunScreen))
        await pilot.press("escape")  # back to the launcher, the run goes on
        assert isinstance(app.screen, LauncherScreen)
        await pilot.pause()
        assert "1 training" in widget_text(app.screen.query_one("#launcher-title"))
    assert starter.configs[0].train.experiment == "mlp-mnist"
    starter.close()


@asynccontextmanager
async def launcher_on(tmp_path, experiment: str):
    """The app at 80x24 on the launcher with `experiment` loaded: (app, pilot, screen)."""
    starter = ScriptedStarter(mlp_script(), hold=False)
    app = make_app(tmp_path, start_run=starter)
    try:
        async with app.run_test(size=SIZE) as pilot:
            yield app, pilot, await open_launcher(pilot, app, experiment)
    finally:
        starter.close()


@run_async
async def test_keys_typed_in_a_burst_give_exactly_the_typed_text(tmp_path):
    async with launcher_on(tmp_path, "cnn-bn-cifar10") as (app, pilot, screen):
        epochs, lr = screen.query_one("#set-epochs"), screen.query_one("#set-lr")
        epochs.focus()
        await pilot.pause()
        burst(app, "end", "backspace", "backspace", "backspace", "1", "2")
        await wait_until(pilot, lambda: screen.edits.get("epochs") == "12", timeout=5, what="epochs 12")
        assert epochs.value == "12"
        lr.focus()
        await pilot.pause()
        burst(app, "end", "backspace", "5", "left", "left", "delete", "2", "home", "delete", "7")
        await pilot.pause()
        assert lr.value == "7.025" and screen.edits["lr"] == "7.025"  # 0.001 -> 0.005 -> 0.025 -> 7.025


@run_async
async def test_the_help_line_follows_the_focused_field(tmp_path):
    async with launcher_on(tmp_path, "cnn-bn-cifar10") as (app, pilot, screen):
        assert message(screen) == ("", False)  # the experiment list: no field
        await pilot.press("tab")
        assert message(screen) == ("model: which model to train", False)
        await pilot.press("tab")
        assert message(screen)[0].startswith("dataset: ")
        await pilot.press("tab")
        assert message(screen) == ("epochs: passes over the training images", False)
        await pilot.press("x")
        assert message(screen) == ("bad value for epochs: 'x' is not a whole number", True)
        await pilot.press("tab")
        assert message(screen) == ("batch_size: images per step", False)
        await pilot.press("shift+tab")
        assert message(screen) == ("bad value for epochs: 'x' is not a whole number", True)
        # Typing and moving on in one burst: the late Changed message of the field left behind must not
        # put its error under the next field.
        burst(app, "backspace", "y", "tab")
        await wait_until(pilot, lambda: app.focused.id == "set-batch_size", timeout=5, what="the next field")
        await pilot.pause()
        assert message(screen) == ("batch_size: images per step", False)
        await pilot.press("escape")
        assert app.focused.id == "experiment-list" and message(screen) == ("", False)


@run_async
async def test_keys_after_tab_in_a_burst_go_to_the_next_field(tmp_path):
    """A key that moves the focus (tab) and the keys typed after it, all in one burst: each lands where it was aimed."""
    async with launcher_on(tmp_path, "cnn-bn-cifar10") as (app, pilot, screen):
        epochs, batch = screen.query_one("#set-epochs"), screen.query_one("#set-batch_size")
        epochs.focus()
        await pilot.pause()
        burst(app, "end", "backspace", "backspace", "3", "tab", "end", "backspace", "backspace", "backspace", "6", "4")
        await wait_until(pilot, lambda: batch.value == "64", timeout=5, what="batch size 64")
        assert epochs.value == "3" and app.focused is batch


@run_async
async def test_escape_then_list_keys_in_a_burst_launch_the_chosen_experiment(tmp_path):
    starter = ScriptedStarter(mlp_script(), hold=False)
    app = make_app(tmp_path, start_run=starter)
    try:
        async with app.run_test(size=SIZE) as pilot:
            screen = await open_launcher(pilot, app, "cnn-bn-cifar10")
            screen.query_one("#set-epochs").focus()
            await pilot.pause()
            names = experiment_names()
            burst(app, "escape", "home", *["down"] * names.index("mlp-mnist"), "enter")
            await wait_until(pilot, lambda: isinstance(app.screen, LiveRunScreen), timeout=10, what="a launch")
            await wait_until(pilot, lambda: "charts" in screen_text(app), what="the live screen drawn")
        assert [c.train.experiment for c in starter.configs] == ["mlp-mnist"]
    finally:
        starter.close()
