"""Untrusted text (run and runs-folder names, config values, class names, names, log lines) is printed plain: a "[/]"
is shown, never taken as markup, and terminal control sequences (ESC, OSC, C1) never reach the terminal."""

import io
import json
import os
import subprocess
import sys

import pytest
from rich.console import Console
from typer.testing import CliRunner

from app_fakes import T0, fake_evaluation, run_async, screen_text, wait_until, write_run
from conftest import REPO, run_vitui
from vitui.app import make_app
from vitui.cli import app as cli_app
from vitui.core import runfolder
from vitui.core.events import Attention, Evaluation, Log, Metric, Misclassified, Progress, Samples, Status
from vitui.core.experiments import resolve
from vitui.headless import HeadlessPrinter
from vitui.render.formats import plain, safe_text
from vitui.render.pictures import MisclassifiedGrid, attention_report
from vitui.render.reports import comparison_table, show_run
from vitui.render.runs import runs_table
from vitui.render.tables import config_table, confusion_table, evaluation_table
from vitui.runstate import RunState
from vitui.screens.browser import RunsBrowserScreen
from vitui.screens.compare import CompareScreen
from vitui.screens.run import RunDetailScreen
from vitui.widgets.progress import status_renderable
from vitui.widgets.results import results_renderable

MARKUP = "[/]a[bold]b[/bold][link=x]c"  # a closing tag with nothing to close ends a markup render
NAME_MARKUP = "[red]a[link=x]b"  # in one file name (no "/"): tags that would take effect
# An OSC title change with BEL, a colour, a one-byte C1 CSI (0x9b) that clears the screen, a bidi override.
CONTROLS = "\x1b]0;pwned\x07\x1b[31m\x9b2J\u202e"
HOSTILE = f"x{MARKUP}{CONTROLS}y"
SHOWN = "x[/]a[bold]b[/bold][link=x]cy"  # what is left to print: the text, sequences gone
NAME = f"n{NAME_MARKUP}{CONTROLS}"  # a run folder's name
BAD = ("\x1b", "\x07", "\x9b", "\u202e")


def assert_clean(text: str) -> None:
    assert not any(ch in text for ch in BAD), repr(text)


def rendered(renderable, width: int = 200) -> str:
    """What a renderable prints on a terminal with no colour: any ESC in it came from the data."""
    out = io.StringIO()
    Console(file=out, width=width, color_system=None, markup=False).print(renderable)
    return out.getvalue()


def hostile_evaluation() -> Evaluation:
    return fake_evaluation(T0, names=[HOSTILE, "dog[/]"])


def hostile_run_folder(tmp_path):
    """A runs folder and a run folder with hostile names, hostile config values, class names, summary and log."""
    runs = tmp_path / f"runs{MARKUP}{CONTROLS}"  # its path holds "[/]"
    runs.mkdir(parents=True)
    config = resolve("cnn-cifar10", {"epochs": 2})
    run_dir = write_run(runs, f"20231114-221320-{NAME}", config, [
        Log(level="info", message=f"info {HOSTILE}", t=T0 + 1),
        Metric(step=1, epoch=1, split="epoch", values={"val_acc": 0.5, HOSTILE: 0.25}, t=T0 + 2),
        hostile_evaluation(),
        Log(level="error", message=f"Traceback\n  error {HOSTILE}", t=T0 + 3),
    ], "failed", {"metrics": {HOSTILE: 0.5, "val_acc": 0.5}, "best": {"name": HOSTILE, "value": 0.5, "epoch": 1}})
    data = {**config.to_dict(), "experiment": HOSTILE, "dataset": f"imagefolder:/tmp/{HOSTILE}",
            "model_args": {**config.to_dict()["model_args"], HOSTILE: HOSTILE}}
    (run_dir / runfolder.CONFIG).write_text(json.dumps(data))
    runfolder.write_status(run_dir, "failed", f"detail {HOSTILE}", started=T0, ended=T0 + 60)
    other = write_run(runs, "20231114-221321-cnn-cifar10", config, [hostile_evaluation()], "completed",
                      {"best": {"name": "val_acc", "value": 0.7, "epoch": 2}})
    return runs, run_dir, other


def test_plain_strips_controls_and_keeps_the_text():
    assert plain(HOSTILE) == SHOWN
    assert plain("two\nlines\tand a tab") == "two lines and a tab"
    assert plain("a traceback\n\tline", lines=True) == "a traceback\n\tline"
    assert plain("dinosaure ünicode ✓ 恐竜") == "dinosaure ünicode ✓ 恐竜"
    assert safe_text(MARKUP).plain == MARKUP  # a Text: no markup parsed


def test_every_table_and_report_prints_hostile_text_plain(tmp_path):
    runs, run_dir, other = hostile_run_folder(tmp_path)
    infos = runfolder.list_runs(runs)
    evaluation = hostile_evaluation()
    attention = Attention(step=1, grid=1, labels=[0, 1], predictions=[1, 0], class_names=[HOSTILE, "b[/]"],
                          images=[[[[1, 2, 3]]]] * 2, maps=[[[[[0.5]]]]] * 2, rollout=[[[0.5]]] * 2)
    wrong = Misclassified(step=1, class_names=[HOSTILE, "b[/]"], images=[[[[1, 2, 3]] * 2] * 2], labels=[0],
                          predictions=[1])
    for renderable in (runs_table(infos, 200), comparison_table(infos), evaluation_table(evaluation),
                       confusion_table(evaluation), config_table(infos[0].config), attention_report(attention),
                       MisclassifiedGrid(wrong)):
        text = rendered(renderable)
        assert_clean(text)
        assert "[/]" in text
    out = io.StringIO()
    show_run(Console(file=out, width=200, color_system=None), run_dir)
    assert_clean(out.getvalue())
    assert SHOWN in out.getvalue() and "error x[/]" in out.getvalue()


def test_the_app_widgets_render_hostile_text_plain(tmp_path):
    _, run_dir, _ = hostile_run_folder(tmp_path)
    info = runfolder.load_run(run_dir)
    run = RunState(info.name, info.config)
    run.apply([Status(state="running", t=T0), Metric(step=1, epoch=1, split="epoch", values={"val_acc": 0.5}, t=T0),
               hostile_evaluation(), Log(level="error", message=HOSTILE, t=T0), Status(state="failed", detail=HOSTILE)])
    for renderable in (status_renderable(run), results_renderable(run, info.summary)):
        text = rendered(renderable)
        assert_clean(text)
        assert "[/]" in text


def test_the_headless_printer_prints_every_event_kind_plain():
    out = io.StringIO()
    printer = HeadlessPrinter(out, progress_bar=False)
    events = [Progress(step=1, total_steps=2, epoch=1, total_epochs=1, unit="step"),
              Metric(step=1, epoch=1, split="epoch", values={HOSTILE: 0.5}), hostile_evaluation(),
              Samples(step=1, temperature=1.0, texts=[HOSTILE, "rex"], novel=[True, False], novelty=0.5),
              Log(level="info", message=HOSTILE), Status(state="failed", detail=HOSTILE)]
    for event in events:
        printer.handle(event)
    printer.say(f"run folder /tmp/{HOSTILE}")
    assert not printer.failed
    assert_clean(out.getvalue())
    assert out.getvalue().count(SHOWN) >= 5


def test_a_printer_that_cannot_print_goes_quiet_and_says_so_once(capsys):
    class Broken(io.StringIO):
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

    printer = HeadlessPrinter(Broken(), progress_bar=False)
    for step in range(3):
        printer.handle(Metric(step=step, epoch=step, split="epoch", values={"loss": 1.0}))  # never raises
    assert "BrokenPipeError" in printer.failed
    assert capsys.readouterr().err.count("cannot print the run's progress") == 1


def test_the_cli_lists_shows_and_compares_hostile_runs(tmp_path):
    runs, run_dir, other = hostile_run_folder(tmp_path)
    for args in (["runs", "list"], ["runs", "show", run_dir.name], ["runs", "compare", run_dir.name, other.name]):
        result = CliRunner().invoke(cli_app, [*args, "--runs-dir", str(runs)], env={"COLUMNS": "200"})
        assert result.exit_code == 0, result.output
        assert_clean(result.output)
        assert "[/]" in result.output


def test_a_one_line_error_quoting_user_input_is_plain(tmp_path):
    for args in (["run", f"no-such{CONTROLS}"], ["run", "mlp-mnist", "--set", f"lr=1{CONTROLS}"],
                 ["run", "mlp-mnist", "--set", f"dataset=x{CONTROLS}\nsecond line"],
                 ["run", "cnn-cifar10", "--set", f"dataset=imagefolder:/nowhere{CONTROLS}\nsecond line"]):
        result = CliRunner().invoke(cli_app, [*args, "--no-tui", "--runs-dir", str(tmp_path)])
        assert result.exit_code == 2
        assert_clean(result.output)
        assert result.output.startswith("vitui: error: ") and len(result.output.strip().splitlines()) == 1


@run_async
async def test_the_app_shows_hostile_names_and_runs_folder(tmp_path):
    runs, run_dir, other = hostile_run_folder(tmp_path)
    app = make_app(runs)
    async with app.run_test(size=(80, 24)) as pilot:
        app.push_screen(RunsBrowserScreen())
        await wait_until(pilot, lambda: "runs[/]a" in screen_text(app) and "n[red]a" in screen_text(app),
                         what="the browser")
        assert_clean(screen_text(app))
        app.push_screen(RunDetailScreen(run_dir))
        await wait_until(pilot, lambda: isinstance(app.screen, RunDetailScreen) and "failed" in screen_text(app))
        for panel in ("results", "log", "config"):
            app.screen.show_panel(panel)
            await pilot.pause()
            assert_clean(screen_text(app))
        app.push_screen(CompareScreen([run_dir, other]))
        await wait_until(pilot, lambda: "comparing" in screen_text(app), what="comparison")
        assert_clean(screen_text(app))
        assert "x[/]" in screen_text(app)


@pytest.mark.slow
def test_headless_run_in_a_runs_folder_named_with_markup_completes(tmp_path, mnist_small):
    """The issue's case: the printer crashed on the folder's name, then parent and worker waited on each other."""
    runs = tmp_path / f"r{MARKUP}{CONTROLS}"
    runs.mkdir(parents=True)
    result = run_vitui("run", "mlp-mnist", "--no-tui", "--runs-dir", str(runs), "--data-dir", str(mnist_small),
                       "--set", "iterations=20", "--set", "per_class=20", "--set", "eval_every=10",
                       "--set", f"experiment=e{NAME_MARKUP}", timeout=120)
    assert result.returncode == 0, result.stderr
    assert "run completed" in result.stdout and "[/]" in result.stdout
    assert_clean(result.stdout + result.stderr)
    assert runfolder.list_runs(runs)[0].state == "completed"


@pytest.mark.slow
def test_headless_run_whose_output_pipe_closes_still_ends(tmp_path, mnist_small):
    """Printing fails (the reader went away): the parent keeps reading the worker's queue, so both end."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "vitui", "run", "mlp-mnist", "--no-tui", "--runs-dir", str(tmp_path),
                             "--data-dir", str(mnist_small), "--set", "iterations=300", "--set", "per_class=20",
                             "--set", "log_every=5", "--set", "eval_every=10"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc.stdout.readline()
    proc.stdout.close()  # `vitui run ... | head -1`
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 0, err
    assert "cannot print the run's progress" in err
    assert runfolder.list_runs(tmp_path)[0].state == "completed"


@pytest.mark.slow
def test_names_and_their_vocabulary_with_controls_print_plain(tmp_path):
    """A names file full of escapes: the headless samples and `vitui sample` from its checkpoint print none."""
    names = tmp_path / "names.txt"
    names.write_text("".join(f"{stem}\x1b[2j\x1b]0;t\x07[/]\n" for stem in ("rex", "tex", "lex", "max", "pax") * 4))
    result = run_vitui("run", "rnn-dinos", "--no-tui", "--runs-dir", str(tmp_path / "runs"), "--set",
                       f"dataset=names:{names}", "--set", "iterations=200", "--set", "sample_every=100",
                       "--set", "eval_every=100", "--set", "val_fraction=0", timeout=120)
    assert result.returncode == 0, result.stderr
    assert "samples @" in result.stdout
    assert_clean(result.stdout + result.stderr)
    sampled = run_vitui("sample", "rnn-dinos", "--runs-dir", str(tmp_path / "runs"), "--n", "30", "--seed", "1",
                        "--temperature", "2")
    assert sampled.returncode == 0, sampled.stderr
    assert_clean(sampled.stdout)
