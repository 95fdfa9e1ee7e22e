"""Which runs --resume continues and with which settings, and how a resumed run's log reads back: no reading twice."""

from __future__ import annotations

import time

import pytest

from runners import worker
from vitui.core import runfolder
from vitui.core.errors import ConfigError
from vitui.core.events import Metric, Progress, Resumed, Status
from vitui.core.experiments import resolve
from vitui.core.resume import check_resume, prepare_resume, resume_settings
from vitui.runstate import RunState
from vitui.series import ReducedSeries


def stopped_run(tmp_path, state: str = "stopped", checkpoint: bool = True, experiment: str = "mlp-mnist",
                **overrides: str):
    config = resolve(experiment, overrides)
    run_dir = runfolder.create_run_dir(tmp_path, experiment, config.to_dict())
    runfolder.write_status(run_dir, state, started=1.0, ended=2.0)
    if checkpoint:
        (run_dir / "checkpoints").mkdir()
        (run_dir / "checkpoints" / "last.pt").write_bytes(b"a checkpoint")
    return run_dir, config


def refusal(run_dir, config) -> str:
    with pytest.raises(ConfigError) as caught:
        check_resume(run_dir, config)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_a_stopped_or_failed_run_resumes_with_its_own_settings(tmp_path):
    for state in ("stopped", "failed"):
        run_dir, config = stopped_run(tmp_path / state, state)
        check_resume(run_dir, config)
        check_resume(run_dir, resume_settings(run_dir, {}))
        check_resume(run_dir, resume_settings(run_dir, {"checkpoint_every": "30", "iterations": "5000"}))


def test_a_crashed_run_resumes(tmp_path):
    run_dir, config = stopped_run(tmp_path, "running")  # "running" with nobody holding the lock: it crashed
    assert runfolder.load_run(run_dir).crashed
    check_resume(run_dir, config)


def test_a_completed_run_is_refused_unless_it_is_made_longer(tmp_path):
    run_dir, config = stopped_run(tmp_path, "completed", iterations="300")
    assert refusal(run_dir, config) == (f"run {run_dir.name} is completed (iterations=300); to train it further, "
                                        f"add --set iterations=N with N > 300")
    check_resume(run_dir, resume_settings(run_dir, {"iterations": "600"}))


def test_other_settings_are_refused_in_one_line(tmp_path):
    run_dir, _ = stopped_run(tmp_path, lr="0.2")
    assert refusal(run_dir, resume_settings(run_dir, {"lr": "0.1"})) == (
        f"run {run_dir.name} was trained with other settings (lr 0.2 there, 0.1 here): --resume continues a run as "
        f"it was; only iterations may grow")
    assert "(experiment 'mlp-mnist' there, 'rnn-dinos' here)" in refusal(run_dir, resolve("rnn-dinos"))
    assert "not lower it" in refusal(run_dir, resume_settings(run_dir, {"iterations": "10"}))


def test_a_run_without_a_checkpoint_or_still_training_is_refused(tmp_path):
    run_dir, config = stopped_run(tmp_path / "a", checkpoint=False)
    assert "has no checkpoint to resume from" in refusal(run_dir, config)
    run_dir, config = stopped_run(tmp_path / "b", "running")
    lock = runfolder.RunLock(run_dir)
    try:
        assert refusal(run_dir, config) == f"run {run_dir.name} is running: it can be resumed once it has stopped"
    finally:
        lock.release()


def test_prepare_resume_keeps_the_first_start_and_the_count_and_refuses_a_second_resume(tmp_path):
    run_dir, config = stopped_run(tmp_path)
    runfolder.write_status(run_dir, "stopped", started=1.0, resumed=2)
    longer = resume_settings(run_dir, {"iterations": "9000"})
    prepare_resume(run_dir, longer)
    info = runfolder.load_run(run_dir)
    assert (info.status["state"], info.status["started"], info.status["resumed"]) == ("created", 1.0, 2)
    assert info.config["iterations"] == 9000
    assert "is created" in refusal(run_dir, longer)  # a second `r` before the first worker holds the lock


def test_the_time_a_run_lay_stopped_between_resumes_is_not_counted_as_training(tmp_path):
    run_dir, config = stopped_run(tmp_path)
    now = time.time()
    # Trained 100 s, then lay stopped for three days (a preemption on Friday), resumed now.
    runfolder.write_status(run_dir, "stopped", started=now - 3 * 86400 - 100, ended=now - 3 * 86400, resumed=1,
                           paused=60.0)
    prepare_resume(run_dir, config)
    history = worker._resume_history(runfolder.load_run(run_dir).status)
    assert history["resumed"] == 2 and history["paused"] == pytest.approx(60 + 3 * 86400, abs=2)
    # It trains 50 s more and is stopped again.
    runfolder.write_status(run_dir, "stopped", started=now - 3 * 86400 - 100, ended=now + 50, **history)
    assert runfolder.load_run(run_dir).duration == pytest.approx(100 + 50 - 60, abs=2)


def test_a_resumed_event_drops_the_readings_past_its_step_so_each_step_is_drawn_once():
    run = RunState("r", {"task": "mlp"})
    first = [Metric(step=s, epoch=s, split="train", values={"loss": 1.0 / s}) for s in range(10, 101, 10)]
    run.apply([Status(state="running"), *first, Progress(step=100, total_steps=200, epoch=100, total_epochs=200,
                                                         unit="iteration"), Status(state="failed")])
    # The worker died at step 100; its last checkpoint was at step 60. The resumed run logs 70, 80, ... again.
    again = [Metric(step=s, epoch=s, split="train", values={"loss": 2.0 / s}) for s in range(70, 201, 10)]
    run.apply([Status(state="running"), Resumed(step=60, epoch=60, count=1)])
    assert run.current_progress().step == 60 and run.last_step == 60
    run.apply(again)
    points = run.series["train/loss"].reduce(1000)
    steps = points.mean_x
    assert steps == list(range(10, 201, 10))  # no gap, no step twice
    assert points.mean_y[5] == 1.0 / 60 and points.mean_y[6] == 2.0 / 70  # the old attempt up to 60, then the new


def test_drop_after_is_exact_while_buckets_hold_one_point_and_keeps_counts():
    series = ReducedSeries(capacity=8)
    for step in range(1, 7):
        series.append(float(step), step, step, step)
    series.drop_after(3)
    assert (series.count, series.last, len(series)) == (3, 3.0, 3)
    series.append(9.0, 4, 4, 4)
    assert series.reduce(10).mean_y == [1.0, 2.0, 3.0, 9.0]


def test_the_elapsed_time_of_a_resumed_run_leaves_out_the_pause():
    run = RunState("r", {"task": "mlp"})
    run.apply([Status(state="running", t=100.0), Metric(step=10, epoch=10, split="train", values={"loss": 1.0}, t=130.0),
               Status(state="stopped", t=140.0)])
    assert run.elapsed() == 40.0
    run.apply([Status(state="running", t=10_000.0), Resumed(step=10, epoch=10, count=1, t=10_001.0),
               Metric(step=20, epoch=20, split="train", values={"loss": 0.5}, t=10_020.0)])
    assert run.elapsed() == 60.0
