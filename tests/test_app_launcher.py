"""Pilot tests of the launcher: settings checked as you type, model and data set choices, Enter launches."""

from app_fakes import wait_until, widget_text, ScriptedStarter, mlp_script, run_async
from vitui.app import make_app
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
        screen.query_one("#dataset-select").value = "imagefolder"
        await pilot.pause()
        assert message(screen)[1] and "imagefolder" in message(screen)[0]
        folder = tmp_path / "images"
        folder.mkdir()
        screen.query_one("#folder-input").value = str(folder)
        await pilot.pause()
        assert message(screen) == ("", False)
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
