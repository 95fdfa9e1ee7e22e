"""The completion notice: off by default; a bell or an OSC 9 / 777 notification when a followed run ends."""

import pytest
from typer.testing import CliRunner

from app_fakes import ScriptedStarter, mlp_script, run_async, wait_until
from vitui.app import make_app
from vitui.cli import app as cli
from vitui.core.experiments import resolve
from vitui.notice import notice_mode, notice_sequence


def test_sequences_and_modes(monkeypatch):
    assert notice_sequence("off", "vitui", "x") == "" and notice_sequence("bell", "vitui", "x") == "\a"
    assert notice_sequence("osc9", "vitui", "run completed") == "\x1b]9;vitui: run completed\x07"
    assert notice_sequence("osc777", "vitui", "a;b\x1b[31m") == "\x1b]777;notify;vitui;ab[31m\x07"  # no ; nor ESC
    monkeypatch.delenv("VITUI_NOTIFY", raising=False)
    assert notice_mode() == "off"
    monkeypatch.setenv("VITUI_NOTIFY", "bell")
    assert notice_mode() == "bell"
    with pytest.raises(ValueError, match="choose off, bell, osc9, osc777"):
        notice_mode("loud")


def test_a_bad_mode_is_one_line():
    result = CliRunner().invoke(cli, ["--notify", "loud", "runs", "list"])
    assert result.exit_code == 2 and "bad notify mode 'loud'" in result.output


@pytest.mark.parametrize("mode, expected", [("osc9", ["\x1b]9;vitui: 20231114-221320-mlp-mnist completed\x07"]),
                                            (None, [])])
@run_async
async def test_a_followed_run_that_ends_sends_the_notice(tmp_path, monkeypatch, mode, expected):
    monkeypatch.delenv("VITUI_NOTIFY", raising=False)
    starter = ScriptedStarter(mlp_script(iterations=50), hold=False)
    app = make_app(tmp_path, start_run=starter, config=resolve("mlp-mnist"), notify=mode)
    written = []
    app.write_notice = lambda sequence: written.append(sequence) if sequence else None
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            session = next(iter(app.sessions.values()))
            await wait_until(pilot, lambda: not session.run.running, what="the run to end")
            await pilot.pause()
    finally:
        starter.close()
    assert written == expected
