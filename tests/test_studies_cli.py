"""A tiny real study through the command line: real workers, one failing run, the table, Ctrl-C, resuming."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import REPO, run_vitui

pytestmark = pytest.mark.slow

TINY = ["--set", "iterations=20", "--set", "eval_every=10", "--set", "log_every=10", "--set", "per_class=50"]


def test_a_tiny_study_runs_end_to_end_goes_on_past_a_failure_and_resumes(tmp_path, mnist_small):
    # fashion-mnist is not in the data folder and nothing may be downloaded here: those runs fail in the worker.
    args = ["sweep", "mlp-mnist", "--grid", "dataset=mnist,fashion-mnist", "--grid", "lr=0.1,0.3", "--repeat", "2",
            "--metric", "test_acc",
            *TINY, "--no-tui", "--data-dir", str(mnist_small), "--runs-dir", str(tmp_path)]
    result = run_vitui(*args)
    assert result.returncode == 1, result.stderr  # a run failed
    lines = result.stdout.splitlines()
    finished = [line for line in lines if line.startswith("[")]
    assert len(finished) == 8
    assert sum("completed  test_acc" in line for line in finished) == 4
    assert sum("failed" in line and "fashion-mnist" in line for line in finished) == 4
    table = result.stdout[result.stdout.index("test_acc: mean ± sd over seeds"):]
    assert "dataset=mnist lr=0.3" in table and "2/2" in table and "0/2" in table

    shown = json.loads(run_vitui("studies", "show", "sweep-mlp-mnist", "--json", "--runs-dir", str(tmp_path)).stdout)
    for point in shown["results"]["points"]:
        if point["done"]:
            runs = [r for r in shown["runs"] if r["point"] == point["label"]]
            accs = [json.loads((tmp_path / r["run"] / "summary.json").read_text())["metrics"]["test_acc"] for r in runs]
            assert point["final"]["values"] == accs

    again = run_vitui(*args)  # the four failures are retried, the completed runs skipped
    assert "4 of 8 runs completed before: skipping them" in again.stdout
    assert sum(1 for line in again.stdout.splitlines() if line.startswith("[")) == 4
    assert len([p for p in tmp_path.iterdir() if p.name != "studies"]) == 12


def test_ctrl_c_stops_the_run_in_flight_and_running_again_continues_it_from_its_checkpoint(tmp_path, mnist_small):
    # Two points: a run long enough to be cut, then a short one that must not start after the stop.
    args = ["sweep", "mlp-mnist", "--grid", "iterations=2000,40", "--set", "eval_every=20", "--set", "log_every=20",
            "--set", "per_class=20", "--metric", "test_acc", "--no-tui", "--data-dir", str(mnist_small),
            "--runs-dir", str(tmp_path)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    study = subprocess.Popen([sys.executable, "-m", "vitui", *args], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any('"step":100,' in p.read_text()
                                                  for p in tmp_path.glob("*-mlp-mnist/events.jsonl")):
        time.sleep(0.05)
    study.send_signal(signal.SIGINT)
    out, err = study.communicate(timeout=60)
    assert study.returncode == 130, err
    assert "run the same command again to resume" in out
    runs = [p for p in tmp_path.iterdir() if p.name != "studies"]
    assert len(runs) == 1  # no new run was taken after the stop
    status = json.loads((runs[0] / "status.json").read_text())
    assert status["state"] == "stopped" and "SIGINT" in status["detail"]
    assert (runs[0] / "checkpoints" / "last.pt").is_file()
    shown = json.loads(run_vitui("studies", "list", "--json", "--runs-dir", str(tmp_path)).stdout)
    assert shown[0]["state"] == "incomplete" and shown[0]["completed"] == 0

    again = run_vitui(*args)
    assert again.returncode == 0, again.stderr
    assert f"[1/2] iterations=2000 seed 0: continues {runs[0]} from its last checkpoint" in again.stdout
    assert sorted(p for p in tmp_path.iterdir() if p.name != "studies")[0] == runs[0]
    assert len([p for p in tmp_path.iterdir() if p.name != "studies"]) == 2  # the cut run went on in its folder
    status = json.loads((runs[0] / "status.json").read_text())
    assert (status["state"], status["resumed"]) == ("completed", 1)
    resumed_at = next(json.loads(line)["message"] for line in (runs[0] / "events.jsonl").read_text().splitlines()
                      if "resumed from checkpoints/last.pt" in line)
    assert "at step 0," not in resumed_at
