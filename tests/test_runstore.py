"""The run folder: torn lines, crash detection through the lock, atomic status, following a live log."""

import json
import multiprocessing
import os
import signal

from vitui.core import runfolder
from vitui.core.events import Log, Metric, Status, event_from_dict
from vitui.sources import TailSource


def test_event_round_trip_and_nan_survives(tmp_path):
    log = runfolder.EventLog(tmp_path)
    log.write(Metric(step=1, epoch=0.5, split="train", values={"loss": float("nan"), "acc": 0.5}))
    log.write(Log(level="info", message="hello\nworld"))
    log.close()
    events = list(runfolder.read_events(tmp_path))
    assert events[0].values == {"loss": None, "acc": 0.5}
    assert events[1].message == "hello\nworld"
    assert event_from_dict(events[1].to_dict()) == events[1]


def test_torn_last_line_is_skipped_and_tail_waits_for_it(tmp_path):
    log = runfolder.EventLog(tmp_path)
    tail = runfolder.EventTail(tmp_path)
    log.write(Status(state="running"))
    assert [e.state for e in tail.poll()] == ["running"]
    with open(tmp_path / runfolder.EVENTS, "a") as fh:
        fh.write('{"kind":"status","t":1,"state":"compl')
    assert len(list(runfolder.read_events(tmp_path))) == 1
    assert tail.poll() == []
    with open(tmp_path / runfolder.EVENTS, "a") as fh:
        fh.write('eted","detail":""}\n')
    assert [e.state for e in tail.poll()] == ["completed"]


def hold_lock(run_dir, ready):
    lock = runfolder.RunLock(run_dir)  # noqa: F841 - held until this process dies
    ready.set()
    signal.pause()


def test_a_dead_lock_holder_turns_running_into_crashed(tmp_path):
    run_dir = runfolder.create_run_dir(tmp_path, "demo", {"experiment": "demo"})
    runfolder.write_status(run_dir, "running", started=1.0)
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Event()
    holder = ctx.Process(target=hold_lock, args=(run_dir, ready))
    holder.start()
    try:
        assert ready.wait(30)
        assert runfolder.load_run(run_dir).state == "running" and runfolder.is_locked(run_dir)
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.join()
    run = runfolder.load_run(run_dir)
    assert run.state == "failed" and run.crashed and run.state_label == "failed (crashed)"


def test_status_is_replaced_whole(tmp_path):
    runfolder.write_status(tmp_path, "running", pid=1)
    runfolder.write_status(tmp_path, "completed")
    data = json.loads((tmp_path / runfolder.STATUS).read_text())
    assert data["state"] == "completed" and "pid" not in data
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


def test_run_names_do_not_collide(tmp_path):
    a = runfolder.create_run_dir(tmp_path, "x", {})
    b = runfolder.create_run_dir(tmp_path, "x", {})
    assert a != b and runfolder.find_run(tmp_path, b.name) == b


def test_a_crashed_run_lasted_until_its_last_event(tmp_path):
    """SIGKILL leaves no "ended": the run lasted until the last event it wrote, not 0 s."""
    run_dir = runfolder.create_run_dir(tmp_path, "demo", {"experiment": "demo"})
    runfolder.write_status(run_dir, "running", started=1000.0)  # nobody holds the lock: it crashed
    log = runfolder.EventLog(run_dir)
    log.write(Status(state="running", t=1000.0))
    log.write(Metric(step=1, epoch=0.1, split="train", values={"loss": 2.0}, t=1100.0))
    log.write(Log(level="info", message="x" * 200_000, t=1125.5))  # longer than one read from the end
    log.close()
    with open(run_dir / runfolder.EVENTS, "a") as fh:
        fh.write('{"kind":"metric","t":99999,"st')  # torn by the kill: not an event
    run = runfolder.load_run(run_dir)
    assert run.crashed and run.duration == 125.5


def test_control_problem_names_a_folder_this_process_cannot_write(tmp_path, monkeypatch):
    assert runfolder.control_problem(tmp_path) == "" and TailSource(tmp_path).send_problem() == ""
    monkeypatch.setattr(os, "access", lambda path, mode: False)  # as for a run folder owned by someone else
    problem = TailSource(tmp_path).send_problem()
    assert "cannot write" in problem and str(tmp_path / runfolder.CONTROL) in problem
