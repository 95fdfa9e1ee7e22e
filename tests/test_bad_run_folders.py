"""Listing and showing survive any one bad run folder (issue 10, part 3): every shape of broken folder is listed
beside the good ones, as `unreadable (reason)` where it cannot be read, and the readers of events skip lines
that are valid JSON but not well-formed events."""

import json
import os
import socket
import time

import pytest
from typer.testing import CliRunner

from app_fakes import T0, run_async, wait_until, write_run
from vitui.app import make_app
from vitui.cli import app as cli
from vitui.core import runfolder
from vitui.core.events import Attention, Metric
from vitui.core.experiments import resolve
from vitui.render.runs import runs_table, status_text
from vitui.runstate import load_run_state
from vitui.screens.run import RunDetailScreen

GOOD = "20250101-120000-rnn-dinos"


def good_run(runs_dir):
    return write_run(runs_dir, GOOD, resolve("rnn-dinos"), [], "completed",
                     {"best": {"name": "val_loss", "value": 2.0, "step": 10}})


def bad_folder(runs_dir, name, status=None, config=None):
    """A run folder with config.json (by default a real one) and status.json as given (bytes, a JSON value, or
    None for none)."""
    path = runs_dir / name
    path.mkdir()
    for file, value in ((runfolder.CONFIG, resolve("rnn-dinos").to_dict() if config is None else config),
                        (runfolder.STATUS, status)):
        if value is None:
            continue
        (path / file).write_bytes(value if isinstance(value, bytes) else json.dumps(value).encode())
    return path


def fifo_in_place_of(runs_dir, name, file):
    path = bad_folder(runs_dir, name, {"state": "completed", "time": T0, "host": "elsewhere"})
    (path / file).unlink(missing_ok=True)
    os.mkfifo(path / file)
    return path


# Each case: how the folder is broken, and what its status cell says.
CASES = {
    "no-status": (lambda d: bad_folder(d, "20250102-000000-no-status"), "unknown (no status.json)"),
    "bad-json": (lambda d: bad_folder(d, "20250102-000001-bad-json", b'{"state": "comp'),
                 "unreadable (status.json is not valid JSON)"),
    "list": (lambda d: bad_folder(d, "20250102-000002-list", []), "unreadable (status.json holds list, not an object)"),
    "string-times": (lambda d: bad_folder(d, "20250102-000003-string-times",
                                          {"state": "completed", "time": "noon", "started": "x", "ended": "y"}),
                     "completed"),
    "unknown-state": (lambda d: bad_folder(d, "20250102-000004-unknown-state", {"state": "banana", "time": T0}),
                      "unknown (no known state in status.json)"),
    "state-not-text": (lambda d: bad_folder(d, "20250102-000005-state-not-text", {"state": 7, "detail": ["x"]}),
                       "unknown (no known state in status.json)"),
    "fifo-status": (lambda d: fifo_in_place_of(d, "20250102-000006-fifo-status", runfolder.STATUS),
                    "unreadable (status.json is a FIFO, not a file)"),
    "fifo-config": (lambda d: fifo_in_place_of(d, "20250102-000007-fifo-config", runfolder.CONFIG),
                    "unreadable (config.json is a FIFO, not a file)"),
    "config-list": (lambda d: bad_folder(d, "20250102-000008-config-list", {"state": "completed"}, config=[1]),
                    "unreadable (config.json holds list, not an object)"),
    "folder-status": (lambda d: (bad_folder(d, "20250102-000009-folder-status") / runfolder.STATUS).mkdir() or
                      d / "20250102-000009-folder-status", "unreadable (status.json is a folder, not a file)"),
    # Root reads any file, so "unreadable" is made with a symbolic link that loops.
    "unreadable": (lambda d: os.symlink("config.json", bad_folder(d, "20250102-000010-unreadable", {}, config={})
                                        / "loop") or _loop_config(d / "20250102-000010-unreadable"),
                   "unreadable (config.json: too many levels of symbolic links)"),
    "markup-name": (lambda d: bad_folder(d, "20250102-000011-[bold]x[red", {"state": "completed"}), "completed"),
    "created": (lambda d: bad_folder(d, "20250102-000012-created",
                                     {"state": "created", "detail": "", "time": time.time(), "host": socket.gethostname()}),
                "created"),
    "fifo-events-summary-lock": (lambda d: _fifos_everywhere(d / "20250102-000013-fifo-events"), "completed"),
}


def _loop_config(path):
    (path / runfolder.CONFIG).unlink()
    os.symlink("loop", path / runfolder.CONFIG)  # config.json -> loop -> config.json
    return path


def _fifos_everywhere(path):
    bad_folder(path.parent, path.name, {"state": "completed", "started": T0, "time": T0, "host": socket.gethostname()})
    for name in (runfolder.EVENTS, runfolder.SUMMARY, runfolder.LOCK, runfolder.NOTES):
        os.mkfifo(path / name)
    return path


@pytest.fixture
def broken_runs(tmp_path):
    good_run(tmp_path)
    return {case: (make(tmp_path), label) for case, (make, label) in CASES.items()}


@pytest.mark.timeout(30)  # a FIFO read would block for ever: the timeout turns that into a failure
def test_every_broken_folder_is_listed_beside_the_good_one(tmp_path, broken_runs):
    runs = {r.name: r for r in runfolder.list_runs(tmp_path)}
    assert status_text(runs[GOOD]) == "completed"
    for case, (path, label) in broken_runs.items():
        assert status_text(runs[path.name]) == label, case
    run = runs[broken_runs["string-times"][0].name]
    assert run.duration is None and run.started is None
    result = CliRunner().invoke(cli, ["runs", "list", "--runs-dir", str(tmp_path)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert GOOD in result.output and "unreadable (status.json is a FIFO, not a file)" in result.output
    assert "20250102-000011-[bold]x[red" in result.output  # a name is text, never markup


@pytest.mark.timeout(30)
def test_runs_show_and_watch_a_folder_that_only_holds_a_config(tmp_path):
    path = bad_folder(tmp_path, "20250103-000000-bare")
    result = CliRunner().invoke(cli, ["runs", "show", path.name, "--runs-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "unknown (no status.json)" in result.output
    state = load_run_state(path)
    assert state.events_seen == 0


def test_events_that_are_json_but_not_events_are_skipped(tmp_path):
    good = Metric(step=1, epoch=0.1, split="train", values={"loss": 2.0}, t=T0)
    lines = ["[]", "3", '"metric"', "null", json.dumps({"kind": "metric", "t": T0, "step": "one", "epoch": 0,
                                                         "split": "train", "values": {}}),
             json.dumps({"kind": "metric", "t": T0, "step": 2, "epoch": 0, "split": "train", "values": {"loss": "x"}}),
             json.dumps({"kind": "attention", "t": T0, "step": 1, "grid": 2, "labels": [0], "predictions": [0],
                         "class_names": ["cat"], "images": [[[[0, 0, 0]]]], "maps": [[[[[1.0]]]]],
                         "rollout": [[[1.0, 0.0], [0.0, 1.0]]]}),  # a 1 x 1 map on a grid of 2
             "[" * 100_000,  # deep enough to exhaust the standard library's recursion limit
             json.dumps(good.to_dict())]
    (tmp_path / runfolder.EVENTS).write_text("\n".join(lines) + "\n")
    reader = runfolder.EventReader(tmp_path)
    assert list(reader) == [good] and reader.skipped == len(lines) - 1
    assert runfolder.EventTail(tmp_path).poll() == [good]
    assert runfolder.last_event_time(tmp_path) == T0


def test_a_malformed_attention_event_is_skipped_by_the_attention_command(tmp_path):
    run = write_run(tmp_path, "20250101-120000-vit-cifar10", resolve("vit-cifar10"), [], "completed")
    bad = Attention(step=1, grid=2, labels=[0], predictions=[5], class_names=["cat"], images=[[[[0, 0, 0]] * 2] * 2],
                    maps=[[[[[0.5, 0.5], [0.5, 0.5]]]]], rollout=[[[0.5, 0.5], [0.5, 0.5]]], t=T0)  # class 5 of 1
    with open(run / runfolder.EVENTS, "a") as fh:
        fh.write(json.dumps(bad.to_dict()) + "\n")
    result = CliRunner().invoke(cli, ["attention", run.name, "--runs-dir", str(tmp_path)])
    assert result.exit_code == 2 and "has no attention maps yet" in result.output


def test_stale_heartbeat_from_another_host_shows_stale(tmp_path):
    old = time.time() - 600
    run = bad_folder(tmp_path, "20250104-000000-remote", {"state": "running", "time": old, "heartbeat": old,
                                                           "started": old - 60, "host": "another-host"})
    info = runfolder.load_run(run)
    when = time.strftime("%H:%M", time.localtime(old))
    assert info.state == "stale" and info.state_label == f"stale (no heartbeat since {when})"
    fresh = time.time()
    runfolder.write_json_atomic(run / runfolder.STATUS, {"state": "running", "time": fresh, "heartbeat": fresh,
                                                         "started": fresh - 60, "host": "another-host"})
    assert runfolder.load_run(run).state == "running"  # another host, heartbeat fresh: trusted


def test_same_host_keeps_the_lock_check(tmp_path):
    now = time.time()
    run = bad_folder(tmp_path, "20250104-000001-here", {"state": "running", "time": now, "heartbeat": now,
                                                         "started": now, "host": socket.gethostname()})
    assert runfolder.load_run(run).state == "failed"  # fresh heartbeat, but nobody holds the lock: crashed


@run_async
async def test_watch_a_broken_run_opens_its_record(tmp_path):
    path = bad_folder(tmp_path, "20250105-000000-broken", {"state": "completed", "time": T0})
    (path / runfolder.EVENTS).write_text('[]\n{"kind": "metric"}\n{"kind":"log","t":1,"level":"info","message":3}\n')
    (path / runfolder.SUMMARY).write_text('{"best": "x", "metrics": [1]}')
    app = make_app(tmp_path, watch=path)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, RunDetailScreen))
        await pilot.press("p", "p", "p")
        await pilot.pause()
        assert isinstance(app.screen, RunDetailScreen)


def test_runs_table_renders_a_broken_listing(broken_runs, tmp_path):
    from rich.console import Console

    console = Console(width=80, record=True)
    console.print(runs_table(runfolder.list_runs(tmp_path), 80))
    assert GOOD in console.export_text()
