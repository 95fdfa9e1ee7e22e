"""Nothing is lost: Ctrl-C stops gracefully, SIGKILL of the worker or the whole tree leaves a readable log."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from tests.conftest import REPO, run_vitui
from vitui import runstore


def start_long_run(tmp_path, data_dir):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "vitui", "run", "mlp-mnist", "--no-tui", "--runs-dir", str(tmp_path), "--data-dir",
         str(data_dir), "--set", "iterations=1000000", "--set", "per_class=50", "--set", "log_every=5",
         "--set", "eval_every=50"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        runs = runstore.list_runs(tmp_path)
        if runs and runs[0].status.get("state") == "running":
            log = runs[0].path / runstore.EVENTS
            if log.exists() and log.read_text().count('"split":"epoch"') >= 2:
                return proc, runs[0].path
        time.sleep(0.1)
    proc.kill()
    pytest.fail("the run did not get going within 60 s")


def assert_every_line_parses(run_dir):
    lines = (run_dir / runstore.EVENTS).read_bytes().split(b"\n")
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
    assert runstore.load_run(run_dir).state == "stopped"
    state = torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)
    assert state["step"] > 0
    assert_every_line_parses(run_dir)


def test_sigkill_of_the_worker_is_recorded_as_failed(tmp_path, mnist_small):
    proc, run_dir = start_long_run(tmp_path, mnist_small)
    worker = runstore.load_run(run_dir).status["pid"]
    os.kill(worker, signal.SIGKILL)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 1
    assert "killed by signal 9" in err
    assert assert_every_line_parses(run_dir) > 5
    run = runstore.load_run(run_dir)
    assert run.state == "failed" and "signal 9" in run.status["detail"]


def test_sigkill_of_the_whole_tree_shows_as_crashed(tmp_path, mnist_small):
    proc, run_dir = start_long_run(tmp_path, mnist_small)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    time.sleep(0.5)  # the worker is killed with its group; give the kernel a moment to reap it
    assert assert_every_line_parses(run_dir) > 5
    assert runstore.load_run(run_dir).status["state"] == "running"  # nobody was left to say otherwise
    listing = run_vitui("runs", "list", "--runs-dir", str(tmp_path))
    assert "crashed" in listing.stdout  # the status column, as in the runs browser
