"""Pilot tests of the `?` help: on every screen it lists the keys that screen and its focused widget really bind."""

import pytest
from textual.binding import Binding
from textual.geometry import Region
from textual.widgets import Input

from app_fakes import ScriptedStarter, cnn_script, mlp_script, run_async, wait_until, write_run
from vitui.app import make_app
from vitui.core.experiments import resolve
from vitui.screens.browser import RunsBrowserScreen
from vitui.screens.compare import CompareScreen
from vitui.screens.help import HelpScreen
from vitui.screens.launcher import LauncherScreen
from vitui.screens.quit import QuitDialog
from vitui.screens.run import LiveRunScreen, RunDetailScreen

SIZE = (80, 24)


@pytest.fixture
def two_runs(tmp_path):
    best = {"name": "val_acc", "epoch": 12}
    a = write_run(tmp_path, "20250101-120000-cnn-cifar10", resolve("cnn-cifar10"), cnn_script(batchnorm=False),
                  "completed", {"best": {**best, "value": 0.70}})
    b = write_run(tmp_path, "20250101-130000-cnn-bn-cifar10", resolve("cnn-bn-cifar10"), cnn_script(batchnorm=True),
                  "completed", {"best": {**best, "value": 0.78}})
    return tmp_path, a, b


def help_text(help_screen: HelpScreen) -> str:
    keys = help_screen.query_one("#help-keys")
    return "\n".join(strip.text for strip in keys.render_lines(Region(0, 0, *keys.outer_size)))


async def check_help(pilot, app, title: str, must: list[tuple[str, str]]) -> None:
    """Open the help on the current screen: it lists every key that works there, `must` among them; then close it."""
    under = app.screen
    # What answers each key there: Textual's active bindings, after the app's priority ones, which Textual tries
    # first even on a dialog (where active_bindings leaves the app out).
    answers = {key: b.binding for key, b in under.active_bindings.items()}
    answers.update({b.key: b for b in Binding.make_bindings(app.BINDINGS) if b.priority})
    works = {(app.get_key_display(b), b.description.lower()) for b in answers.values()}
    await pilot.press("question_mark")
    await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen), what="the help")
    shown = app.screen
    assert shown.title_text == title
    rows = {(key, description) for _, group in shown.groups for keys, description in group for key in keys.split(", ")}
    assert rows == works  # every key, and no other
    for key, description in must:
        assert (key, description) in rows
    text = help_text(shown)
    assert all(key in text and description in text for key, description in rows)
    await pilot.press("escape")
    assert app.screen is under


@run_async
async def test_help_on_the_launcher_browser_and_comparison(two_runs):
    runs_dir, a, b = two_runs
    app = make_app(runs_dir)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, LauncherScreen) and app.screen.fields)
        await check_help(pilot, app, "launcher", [("r", "runs"), ("⏎", "launch"), ("q", "quit"), ("?", "help")])
        field = app.screen.query(Input).first()
        field.focus()
        await pilot.press("end", "question_mark")  # in a text field "?" is a character, not the help
        assert isinstance(app.screen, LauncherScreen) and field.value.endswith("?")
        await pilot.press("backspace", "escape")
        await pilot.press("r")
        await wait_until(pilot, lambda: isinstance(app.screen, RunsBrowserScreen) and app.screen.runs)
        await check_help(pilot, app, "runs browser", [
            ("/", "filter"), ("s", "sort"), ("S", "reverse order"), ("y", "copy path"), ("space", "mark"),
            ("c", "compare"), ("home", "first run"), ("end", "last run"), ("⏎", "open")])
        await pilot.press("space", "space", "c")
        await wait_until(pilot, lambda: isinstance(app.screen, CompareScreen))
        await check_help(pilot, app, "compare", [("k", "metric"), ("z", "zoom"), ("esc", "back")])


@run_async
async def test_help_on_a_live_run_and_the_quit_dialog(tmp_path):
    starter = ScriptedStarter(mlp_script(iterations=300), hold=True)
    app = make_app(tmp_path, start_run=starter, config=resolve("mlp-mnist"))
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(pilot, lambda: isinstance(app.screen, LiveRunScreen))
            await pilot.pause()
            await check_help(pilot, app, "live run", [("s", "stop"), ("p", "panel"), ("l", "log y"), ("q", "quit")])
            await pilot.press("q")
            await wait_until(pilot, lambda: isinstance(app.screen, QuitDialog))
            await check_help(pilot, app, "quit dialog",
                             [("l", "leave running"), ("s", "stop & quit"), ("esc", "cancel")])
            for close in ("question_mark", "q"):  # the other keys that close it
                await pilot.press("question_mark")
                await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen))
                await pilot.press(close)
                assert isinstance(app.screen, QuitDialog)  # closed the help, did not quit
            await pilot.press("escape")
            assert isinstance(app.screen, LiveRunScreen)
    finally:
        starter.close()


@run_async
async def test_help_on_a_run_record(two_runs):
    runs_dir, a, b = two_runs
    app = make_app(runs_dir, watch=b)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, RunDetailScreen) and app.screen.run.evaluation)
        await pilot.pause()
        await check_help(pilot, app, "run detail", [("p", "panel"), ("esc", "back"), ("[", "less smoothing")])
        assert ("s", "stop") not in [(k, d) for _, g in HelpScreen(app.screen).groups for k, d in g]
