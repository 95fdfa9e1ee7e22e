"""Long logs: read once with progress, kept for reopening (only what was appended is read again), and the
standard library's json takes over where orjson is missing."""

import gc
import os

import pytest

from app_fakes import T0, cnn_script, write_run
from vitui.core import jsonfile, runfolder
from vitui.core.events import Metric
from vitui.core.experiments import resolve
from vitui import logindex
from vitui.logindex import LogIndex


@pytest.fixture
def run(tmp_path):
    return write_run(tmp_path, "20250101-120000-cnn-cifar10", resolve("cnn-cifar10"), cnn_script(batchnorm=False),
                     "completed")


def test_reopening_reads_only_what_was_appended(run):
    index = LogIndex()
    state = index.state(run)
    seen = []
    assert index.read(run, progress=lambda done, total: seen.append((done, total))) is state
    first = state.events_seen
    assert first == sum(1 for _ in runfolder.read_events(run)) and index.offset(run) == os.path.getsize(
        run / runfolder.EVENTS)
    log = runfolder.EventLog(run)
    for step in range(1000, 1010):
        log.write(Metric(step=step, epoch=30, split="train", values={"loss": 0.1}, t=T0 + step))
    log.close()
    assert index.state(run) is state  # reopened: the same state, drawn at once
    index.read(run)
    assert state.events_seen == first + 10 and state.series["train/loss"].count > 0


def test_progress_is_reported_in_batches(run, monkeypatch):
    monkeypatch.setattr(runfolder.EventReader, "BATCH_EVENTS", 20)
    seen = []
    LogIndex().read(run, progress=lambda done, total: seen.append((done, total)))
    assert len(seen) >= 3 and all(total == os.path.getsize(run / runfolder.EVENTS) for _, total in seen)
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)


def test_a_replaced_log_is_read_afresh(run, tmp_path):
    index = LogIndex()
    state = index.state(run)
    index.read(run)
    events = run / runfolder.EVENTS
    copy = tmp_path / "copy"
    copy.write_bytes(events.read_bytes()[: events.stat().st_size // 2])
    os.replace(copy, events)
    assert index.state(run) is not state


def test_the_standard_library_parses_when_orjson_is_absent(run):
    before = jsonfile.backend()
    try:
        jsonfile.use_backend("json")
        plain = list(runfolder.read_events(run))
        if jsonfile.orjson is not None:
            jsonfile.use_backend("orjson")
            assert list(runfolder.read_events(run)) == plain
    finally:
        jsonfile.use_backend(before)
    assert len(plain) > 100


def test_the_cycle_collector_is_paused_while_a_log_is_read_and_left_as_it_was(run, monkeypatch):
    seen = []
    real = logindex.load_run_state
    monkeypatch.setattr(logindex, "load_run_state", lambda *a, **k: (seen.append(gc.isenabled()), real(*a, **k))[1])
    assert gc.isenabled()
    LogIndex().read(run)
    assert seen == [False] and gc.isenabled()
    gc.disable()
    try:
        LogIndex().read(run)
        assert not gc.isenabled()  # off stays off
    finally:
        gc.enable()
