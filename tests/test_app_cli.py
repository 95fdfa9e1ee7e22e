"""Tests of the app's CLI entry points: Textual loads only when the app starts, bad input is one line."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def vitui(*args: str, **kwargs) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "VITUI_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "vitui", *args], capture_output=True, text=True, env=env,
                          stdin=subprocess.DEVNULL, timeout=60, **kwargs)


@pytest.mark.slow
def test_cli_import_leaves_textual_and_the_app_unloaded():
    code = "import sys, vitui.cli; print(sorted(m for m in ('textual', 'vitui.app', 'torch') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.stdout.strip() == "[]"


@pytest.mark.slow
def test_no_arguments_without_a_terminal_prints_help():
    result = vitui()
    assert result.returncode == 0 and "watch" in result.stdout and "run" in result.stdout


@pytest.mark.slow
def test_watch_an_unknown_run_is_one_line(tmp_path):
    result = vitui("watch", "nope", "--runs-dir", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"vitui: error: no run 'nope' in {tmp_path}; see `vitui runs list`"]
