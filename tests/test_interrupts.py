"""Nothing is lost: Ctrl-C stops gracefully, SIGKILL of the worker or the whole tree leaves a readable log."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from conftest import REPO, run_vitui
from vitui.core import runfolder
from vitui.render.formats import format_duration

pytestmark = pytest.mark.slow  # every test here starts a real worker


def start_long_run(tmp_path, data_dir):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "vitui", "run", "mlp-mnist", "--no-tui", "--runs-dir", str(tmp_path), "--data-dir",
         str(data_dir), "--set", "iterations=1000000", "--set", "per_class=50", "--set", "log_every=5",
         "--set", "eval_every=50"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        runs = runfolder.list_runs(tmp_path)
        if runs and runs[0].status.get("state") == "running":
            log = runs[0].path / runfolder.EVENTS
            if log.exists() and log.read_text().count('"split":"epoch"') >= 2:
                return proc, runs[0].path
        time.sleep(0.1)
    proc.kill()
    pytest.fail("the run did not get going within 60 s")


def assert_every_line_parses(run_dir):
    lines = (run_dir / runfolder.EVENTS).read_bytes().split(b"\n")
    assert lines[-1] == b""
    for line in lines[:-1]:
        json.loads(line)
    return len(lines) - 1


def test_ctrl_c_saves_a_checkpoint_and_exits_130(tmp_path, mnist_small):
    proc, run_dir = start_long_run(tmp_path, mnist_small)
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal does on Ctrl-C: the whole foreground group
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "stopped" in out
    assert runfolder.load_run(run_dir).state == "stopped"
    # No terminal here (a new session): the SIGINT came from kill, and the run says so, not "Ctrl-C".
    assert runfolder.load_run(run_dir).status["detail"] == "stopped by SIGINT"
    state = torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)
    assert state["step"] > 0
    assert_every_line_parses(run_dir)


def test_sigterm_to_the_headless_command_stops_the_run_gracefully_and_says_so(tmp_path, mnist_small):
    proc, run_dir = start_long_run(tmp_path, mnist_small)
    os.kill(proc.pid, signal.SIGTERM)  # only the command, as `kill PID` does: it asks its worker to stop
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "run stopped by SIGTERM" in out
    run = runfolder.load_run(run_dir)
    assert run.state == "stopped" and run.status["detail"] == "stopped by SIGTERM"
    assert (run_dir / "checkpoints" / "last.pt").is_file()


def test_sigkill_of_the_worker_is_recorded_as_failed(tmp_path, mnist_small):
    proc, run_dir = start_long_run(tmp_path, mnist_small)
    worker = runfolder.load_run(run_dir).status["pid"]
    os.kill(worker, signal.SIGKILL)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 1
    assert "killed by signal 9" in err
    assert assert_every_line_parses(run_dir) > 5
    run = runfolder.load_run(run_dir)
    assert run.state == "failed" and "signal 9" in run.status["detail"]


def test_sigkill_of_the_whole_tree_shows_as_crashed_with_how_long_it_ran(tmp_path, mnist_small):
    proc, run_dir = start_long_run(tmp_path, mnist_small)
    time.sleep(2.0)  # let it train a while: its duration must show that, not 0m00s
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    time.sleep(0.5)  # the worker is killed with its group; give the kernel a moment to reap it
    assert assert_every_line_parses(run_dir) > 5
    run = runfolder.load_run(run_dir)
    assert run.status["state"] == "running"  # nobody was left to say otherwise
    last = list(runfolder.read_events(run_dir))[-1].t
    assert run.duration == pytest.approx(last - run.status["started"]) and run.duration >= 1.5
    listing = run_vitui("runs", "list", "--runs-dir", str(tmp_path))
    assert "crashed" in listing.stdout  # the status column, as in the runs browser
    assert format_duration(run.duration) in listing.stdout and "0m00s" not in listing.stdout
