"""Checkpoints written in the background: a copy taken at once, complete and atomic on disk, NaN weights never written,
a failed write raised on the training thread, and a SIGKILL in the middle of a write leaving the old last.pt."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import torch

from conftest import REPO
from runners.checkpoint import CheckpointWriter, NonFiniteWeights, remove_temporary, snapshot, write_checkpoint
from runners.context import Diverged, RunContext
from vitui.core import runfolder
from vitui.core.experiments import resolve


def payload(step: int, value: float = 1.0, size: int = 1000) -> dict:
    return {"model": {"w": torch.full((size,), value)}, "step": step, "epoch": 0.0}


def load(path):
    return torch.load(path, weights_only=True)


def test_snapshot_is_a_copy_training_can_go_on_changing():
    weights = torch.zeros(3)
    arrays = {"h": np.zeros(2)}
    saved = snapshot({"model": {"w": weights}, "h": arrays["h"], "nested": [weights, (1, 2)]})
    weights += 1
    arrays["h"] += 1
    assert saved["model"]["w"].tolist() == [0, 0, 0] and saved["nested"][0].tolist() == [0, 0, 0]
    assert isinstance(saved["h"], torch.Tensor) and saved["h"].tolist() == [0, 0]
    assert saved["nested"][1] == (1, 2)


def test_the_writer_ends_with_the_newest_state_complete_and_no_temporary_file(tmp_path):
    writer = CheckpointWriter(tmp_path)
    for step in range(20):  # faster than the disk: waiting ones are replaced by newer ones
        writer.submit("last", payload(step, float(step), size=200_000))
    writer.wait()
    saved = load(tmp_path / "last.pt")
    assert saved["step"] == 19 and bool((saved["model"]["w"] == 19.0).all())
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


def test_submit_returns_at_once_and_wait_returns_once_the_file_is_on_disk(tmp_path):
    release = threading.Event()
    writer = CheckpointWriter(tmp_path, before_rename=lambda: release.wait(5))
    start = time.monotonic()
    writer.submit("last", payload(1))
    assert time.monotonic() - start < 0.5 and not (tmp_path / "last.pt").exists()  # still being written
    threading.Timer(0.2, release.set).start()
    writer.wait()
    assert load(tmp_path / "last.pt")["step"] == 1


def test_nan_weights_are_never_written_and_the_last_good_checkpoint_stays(tmp_path):
    writer = CheckpointWriter(tmp_path)
    writer.submit("last", payload(5))
    writer.wait()
    writer.submit("last", payload(6, float("nan")))
    with pytest.raises(NonFiniteWeights, match="the weights are nan at step 6"):
        writer.wait()
    assert load(tmp_path / "last.pt")["step"] == 5
    assert not list(tmp_path.glob(".*"))


def test_a_failed_write_is_raised_on_the_training_thread(tmp_path):
    blocker = tmp_path / "checkpoints"
    blocker.write_text("a file where the folder should be")
    writer = CheckpointWriter(blocker)
    writer.submit("last", payload(1))
    with pytest.raises(OSError):
        writer.wait()


def test_run_context_turns_nan_weights_into_a_divergence(tmp_path):
    config = resolve("mlp-mnist")
    run_dir = runfolder.create_run_dir(tmp_path, "mlp-mnist", config.to_dict())
    ctx = RunContext(run_dir, None, None, None)
    ctx.checkpoint("best", model={"w": torch.tensor([float("inf")])}, step=3, epoch=3)
    with pytest.raises(Diverged, match="the weights are inf at step 3") as caught:
        ctx.wait_for_checkpoints()
    assert "lower lr" in caught.value.advice
    ctx.log_file.close()


def test_a_write_killed_half_way_leaves_the_old_file_and_the_next_start_removes_its_remains(tmp_path):
    write_checkpoint(tmp_path, "last", payload(1))
    torn = tmp_path / ".last.pt.tmp"
    torn.write_bytes(b"PK\x03\x04 half a zip")  # what a kill during torch.save leaves
    assert load(tmp_path / "last.pt")["step"] == 1
    assert remove_temporary(tmp_path) == [torn] and not torn.exists()


@pytest.mark.slow
def test_sigkill_during_checkpoint_writes_never_breaks_last_pt_and_resume_cleans_up(tmp_path, mnist_small):
    """A real worker writing a 13 MB last.pt at every logging point is killed while a write is in flight, three times;
    each time last.pt loads, and --resume removes the torn temporary file and goes on from it."""
    runs = tmp_path / "runs"
    args = ["--runs-dir", str(runs), "--data-dir", str(mnist_small), "--no-tui"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "vitui", "run", "mlp-mnist", *args, "--set", "hidden=4096", "--set", "per_class=5",
               "--set", "iterations=100000", "--set", "log_every=1", "--set", "eval_every=100000",
               "--set", "checkpoint_every=0"]
    for attempt in range(3):
        proc = subprocess.Popen(command if attempt == 0 else [*command[:4], "--resume", run_dir.name, *command[4:]],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # this attempt's worker trains (and removed the torn file of the last)
            status = runfolder.list_runs(runs)[0].status if runfolder.list_runs(runs) else {}
            if status.get("state") == "running" and status.get("resumed", 0) == attempt:
                break
            time.sleep(0.01)
        run_dir = runfolder.list_runs(runs)[0].path
        while time.monotonic() < deadline:  # a write in flight: its temporary file is there
            if (run_dir / "checkpoints" / ".last.pt.tmp").exists() and (run_dir / "checkpoints" / "last.pt").exists():
                break
            time.sleep(0.002)
        else:
            proc.kill()
            pytest.fail(f"no checkpoint write seen in 60 s: {proc.stderr.read()}")
        os.kill(status["pid"], signal.SIGKILL)
        proc.wait(timeout=30)
        saved = load(run_dir / "checkpoints" / "last.pt")  # the old one, whole
        assert saved["step"] > 0 and saved["model"]["W1"].shape == (784, 4096)
    # The torn file of the last kill goes when the run is next resumed, before it trains.
    assert list((run_dir / "checkpoints").glob(".*.tmp"))
    proc = subprocess.Popen([*command[:4], "--resume", run_dir.name, *command[4:]], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 60
    while runfolder.load_run(run_dir).status.get("resumed") != 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not list((run_dir / "checkpoints").glob(".*.tmp"))
    os.kill(proc.pid, signal.SIGTERM)
    assert proc.wait(timeout=60) == 130
    assert runfolder.load_run(run_dir).status["state"] == "stopped"
