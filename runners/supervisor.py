"""Provides the supervisor of a distributed run that `vitui run --gpus N` (or the launcher's gpus setting) started: the
worker process starts the N ranks through torch's elastic launcher, the one torchrun uses, and waits for them.

Rank 0 trains and writes the run folder as a lone worker would. The supervisor holds the run's lock, passes on stop
signals, and has the last word only when a rank died: the elastic agent sees which rank and why (a signal, an exit
status, an exception), ends the other ranks (SIGTERM, then SIGKILL after 30 s) instead of leaving them waiting in a
collective, and the supervisor records the run as failed naming that rank.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

from torch.distributed.elastic.multiprocessing.errors import ChildFailedError, ProcessFailure
from torch.distributed.launcher.api import LaunchConfig, elastic_launch

from runners.worker import rank_main
from vitui.core import runfolder, stops
from vitui.core.events import Log, Status

MONITOR_S = 0.1  # how often the agent looks at its ranks (torchrun's default)


def supervise(run_dir: Path, data_dir: str | None, events: Any, control: Any, resume: bool,
              command: list[str] | None, ranks: int, device: str) -> int:
    """Start `ranks` rank processes for the run in `run_dir`, wait for them, and return the run's exit code."""
    launch = LaunchConfig(min_nodes=1, max_nodes=1, nproc_per_node=ranks, run_id=f"vitui-{run_dir.name}",
                          rdzv_backend="c10d", rdzv_endpoint="localhost:0", max_restarts=0,
                          monitor_interval=MONITOR_S, start_method="spawn")
    # We record failures ourselves; the agent's own report (a traceback per rank) would only repeat them.
    for name in ("torch.distributed.elastic", "torch.multiprocessing"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    outcome: dict[str, Any] = {}

    def run_ranks() -> None:
        try:
            outcome["codes"] = elastic_launch(launch, rank_main)(str(run_dir), data_dir, events, control, resume,
                                                                 command, device, True)
        except ChildFailedError as failed:
            outcome["failed"] = failed
        except Exception as exc:  # noqa: BLE001 - e.g. the rendezvous could not start: the run must say so
            outcome["error"] = exc

    # The agent runs in a thread: in the main thread it would take SIGINT, SIGTERM and SIGHUP and end the ranks on
    # any of them, a closed SSH session included. Here a signal becomes a stop request that rank 0 reads and shares
    # at the next logging point (a Ctrl-C in a terminal also reaches every rank directly).
    def ask_to_stop(signum: int, _: Any) -> None:
        runfolder.send_control(run_dir, {"action": "stop", "reason": stops.by_signal(signum)})

    signal.signal(signal.SIGINT, ask_to_stop)
    signal.signal(signal.SIGTERM, ask_to_stop)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    agent = threading.Thread(target=run_ranks, name="launch-ranks")
    agent.start()
    while agent.is_alive():
        agent.join(0.2)  # short waits, so the signal handlers above run promptly
    if "codes" in outcome:
        return int(outcome["codes"].get(0) or 0)
    return _record_end(run_dir, events, outcome)


def _record_end(run_dir: Path, events: Any, outcome: dict[str, Any]) -> int:
    """After a rank failed: keep rank 0's own record of the end when it made one about itself, else record the run
    as failed by the rank that died first. Returns the exit code."""
    status = runfolder.load_run(run_dir).status
    failed: ChildFailedError | None = outcome.get("failed")
    if failed is None:
        detail = f"could not start the ranks: {_one_line(outcome.get('error'))}"
    else:
        rank, failure = root_cause(failed.failures, rank0_lost_contact=bool(status.get("lost_rank")))
        detail = f"rank {rank} {describe_failure(failure)}"
    recorded = status.get("state") in runfolder.FINISHED and not status.get("lost_rank")
    if recorded:  # rank 0 said how the run ended (its own error, a stop, or it completed before another rank failed)
        if status["state"] != "failed":
            _emit(run_dir, events, Log(level="warning", message=f"after the run ended, {detail}"))
        return {"completed": 0, "stopped": 130}.get(status["state"], 2 if status.get("usage_error") else 1)
    _emit(run_dir, events, Log(level="error", message=detail), Status(state="failed", detail=detail))
    runfolder.write_status(run_dir, "failed", detail, pid=os.getpid(), started=status.get("started"),
                           ended=time.time(), resumed=status.get("resumed", 0))
    return 1


def root_cause(failures: dict[int, ProcessFailure], rank0_lost_contact: bool) -> tuple[int, ProcessFailure]:
    """The rank whose failure ended the run: one killed by a signal (the others fail after it, in their collectives),
    else the earliest; rank 0 only when it did not itself report losing the others."""
    candidates = {r: f for r, f in failures.items() if not (r == 0 and rank0_lost_contact)} or failures
    by_signal = {r: f for r, f in candidates.items() if f.exitcode < 0} or candidates
    rank = min(by_signal, key=lambda r: (by_signal[r].timestamp, r))
    return rank, by_signal[rank]


def describe_failure(failure: ProcessFailure) -> str:
    """ "died: killed by SIGKILL", "failed: RuntimeError: ...", "exited with status 1"."""
    if failure.exitcode < 0:
        return f"died: killed by {failure.signal_name()}"
    message = failure.message
    if isinstance(message, dict):  # an exception the rank raised, as the elastic error file records it
        message = message.get("message")
    if message and "To enable traceback" not in str(message):
        return f"failed: {_one_line(message)}"
    return f"exited with status {failure.exitcode}"


def _one_line(value: Any) -> str:
    lines = [line.strip() for line in str(value).strip().splitlines() if line.strip()]
    return lines[-1] if lines else str(value)


def _emit(run_dir: Path, events: Any, *records: Any) -> None:
    """Append to the run's log and the app's queue; rank 0 is gone by now, so nobody else writes the log."""
    log = runfolder.EventLog(run_dir)
    try:
        for record in records:
            log.write(record)
            if events is not None:
                try:
                    events.put_nowait(record)
                except (ValueError, OSError):
                    pass
    finally:
        log.close()
