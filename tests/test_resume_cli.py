"""`vitui run --resume` as a batch scheduler uses it: SIGTERM before preemption, the same command again with --resume;
a crash (SIGKILL) loses at most one checkpoint interval; refusals are one line with exit 2."""

from __future__ import annotations

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
from vitui.core.events import Metric, Resumed
from vitui.runstate import load_run_state

pytestmark = pytest.mark.slow  # real workers in subprocesses

# 2,000 full-batch iterations on 500 images: a few seconds, long enough to interrupt, short enough to finish.
SETTINGS = ["--set", "per_class=50", "--set", "iterations=2000", "--set", "log_every=10", "--set", "eval_every=200",
            "--set", "hidden=32"]


def command(tmp_path, data_dir, *extra: str) -> list[str]:
    return [sys.executable, "-m", "vitui", "run", "mlp-mnist", "--no-tui", "--runs-dir", str(tmp_path / "runs"),
            "--data-dir", str(data_dir), *SETTINGS, *extra]


def start(cmd: list[str]) -> subprocess.Popen:
    return subprocess.Popen(cmd, env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def wait_for_step(runs_dir, step: int, proc: subprocess.Popen, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = runfolder.list_runs(runs_dir)
        steps = [e.step for e in runfolder.read_events(runs[0].path) if isinstance(e, Metric)] if runs else []
        if max(steps, default=0) >= step:
            return runs[0].path
        time.sleep(0.05)
    proc.kill()
    pytest.fail(f"the run did not reach step {step} in {timeout} s")


def figures(run_dir) -> dict:
    summary = json.loads((run_dir / runfolder.SUMMARY).read_text())
    summary["metrics"].pop("time")
    summary["best"].pop("time")
    return summary


def assert_each_step_once(run_dir) -> None:
    """The charts of the run, as the app reads them back from the log: every logging step once, none missing."""
    steps = load_run_state(run_dir).series["train/loss"].reduce(10_000).mean_x
    assert steps == list(range(10, 2001, 10))


def test_sigterm_then_the_same_command_with_resume_loses_nothing_and_ends_as_if_never_stopped(tmp_path, mnist_small):
    straight = subprocess.run(command(tmp_path / "straight", mnist_small), env={**os.environ, "PYTHONPATH": str(REPO)},
                              capture_output=True, text=True, timeout=240)
    assert straight.returncode == 0, straight.stderr
    [straight_run] = runfolder.list_runs(tmp_path / "straight" / "runs")

    proc = start(command(tmp_path, mnist_small))
    run_dir = wait_for_step(tmp_path / "runs", 300, proc)
    os.kill(proc.pid, signal.SIGTERM)  # what a batch scheduler sends before it preempts the job
    assert proc.wait(timeout=60) == 130, proc.stderr.read()
    logged = max(e.step for e in runfolder.read_events(run_dir) if isinstance(e, Metric))
    saved = torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)
    assert saved["step"] == logged  # a graceful stop saves where it stopped: nothing is lost

    resumed = subprocess.run([*command(tmp_path, mnist_small), "--resume", run_dir.name], capture_output=True,
                             text=True, timeout=240, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming run folder {run_dir}" in resumed.stdout
    assert f"resumed from checkpoints/last.pt at step {logged:,} (resume 1)" in resumed.stdout
    assert figures(run_dir) == figures(straight_run.path)  # bit for bit
    assert_each_step_once(run_dir)
    assert run_vitui("runs", "show", run_dir.name, "--runs-dir", str(tmp_path / "runs")).stdout.count("resumed   once")


def test_a_crash_loses_at_most_one_checkpoint_interval_and_the_charts_go_on_without_a_step_twice(tmp_path, mnist_small):
    every = 1  # second
    proc = start(command(tmp_path, mnist_small, "--set", f"checkpoint_every={every}"))
    run_dir = wait_for_step(tmp_path / "runs", 1000, proc)
    os.kill(runfolder.load_run(run_dir).status["pid"], signal.SIGKILL)  # the worker, without warning
    assert proc.wait(timeout=60) == 1
    before = [e for e in runfolder.read_events(run_dir) if isinstance(e, Metric) and e.split == "train"]

    result = run_vitui("run", "--resume", run_dir.name, "--runs-dir", str(tmp_path / "runs"), "--data-dir",
                       str(mnist_small), "--no-tui")
    assert result.returncode == 0, result.stderr
    [resume] = [e for e in runfolder.read_events(run_dir) if isinstance(e, Resumed)]
    at_checkpoint = next(e.t for e in before if e.step == resume.step)
    lost = before[-1].t - at_checkpoint
    # last.pt is due once `every` seconds have passed, and is taken at the next logging point: on a busy machine
    # those can lie far apart, so the bound is the interval plus the longest gap between two logging points.
    gap = max(b.t - a.t for a, b in zip(before, before[1:]))
    assert 0 <= lost <= every + gap + 0.5, (f"lost {lost:.2f} s of training from step {resume.step} to "
                                           f"{before[-1].step} (longest gap between logging points {gap:.2f} s)")
    assert resume.step < before[-1].step  # it really went back to the checkpoint, and logged those steps again
    assert_each_step_once(run_dir)
    status = runfolder.load_run(run_dir).status
    assert (status["state"], status["resumed"]) == ("completed", 1)


def test_refusals_are_one_line_with_exit_2_and_leave_the_run_as_it_was(tmp_path, mnist_small):
    result = run_vitui("run", "mlp-mnist", "--no-tui", "--runs-dir", str(tmp_path), "--data-dir", str(mnist_small),
                       "--set", "per_class=5", "--set", "iterations=20", "--set", "log_every=5")
    assert result.returncode == 0, result.stderr
    [run] = runfolder.list_runs(tmp_path)
    kept = {name: (run.path / name).read_bytes() for name in (runfolder.CONFIG, runfolder.STATUS, runfolder.EVENTS)}
    for args, words in [([], "is completed (iterations=20); to train it further, add --set iterations=N with N > 20"),
                        (["--set", "lr=0.5"], "was trained with other settings (lr 0.2 there, 0.5 here)"),
                        (["--set", "iterations=10"], "has iterations=20: --resume may raise it, not lower it")]:
        refused = run_vitui("run", "--resume", run.name, "--runs-dir", str(tmp_path), "--no-tui", *args)
        assert refused.returncode == 2
        assert refused.stderr == f"vitui: error: run {run.name} {words}" + (
            ": --resume continues a run as it was; only iterations may grow" if "other" in words else "") + "\n"
    assert run_vitui("run", "--no-tui").stderr.startswith("vitui: error: give an experiment to train")
    assert {name: (run.path / name).read_bytes() for name in kept} == kept

    longer = run_vitui("run", "--resume", run.name, "--runs-dir", str(tmp_path), "--data-dir", str(mnist_small),
                       "--no-tui", "--set", "iterations=30")  # on purpose: a completed run trained further
    assert longer.returncode == 0, longer.stderr
    assert json.loads((run.path / runfolder.SUMMARY).read_text())["iterations"] == 30
