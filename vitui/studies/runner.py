"""Provides running a study's queue: workers started the way `vitui run` starts them, one at a time, one per GPU, or
N at once; a run that fails is recorded and the study goes on; a stop request stops the runs in flight; a run an
earlier try left unfinished continues from its last checkpoint (as `vitui run --resume` would).

Each run is an ordinary worker (vitui.launch.start_run) in its own run folder. With GPUs, each slot's worker sees
only its own GPU through CUDA_VISIBLE_DEVICES, set in this process just while the worker is spawned (a spawned
process copies the environment when it starts). No Textual.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from vitui.core import runfolder, stops
from vitui.core.errors import ConfigError
from vitui.core.events import Event
from vitui.core.experiments import RunConfig
from vitui.core.resume import check_resume
from vitui.studies.definition import Job
from vitui.studies.folder import StudyFolder, mark_run

POLL_S = 0.2  # how often the runs in flight are read; also how soon a finished one makes room for the next


def visible_gpus() -> list[str]:
    """The GPUs a run could be given, without loading torch: CUDA_VISIBLE_DEVICES when set, else nvidia-smi's list."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        return [g.strip() for g in env.split(",") if g.strip() and g.strip() != "-1"]
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=index", "--format=csv,noheader"], capture_output=True,
                             text=True, timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in out.splitlines() if line.strip()]


def plan_slots(parallel: int | None, devices: set[str], gpus: list[str], ranks: int = 1) -> list[str | None]:
    """What each slot's runs see as CUDA_VISIBLE_DEVICES (None: this process's own environment).

    On GPUs (runs not pinned to the CPU), one run per GPU unless --parallel says how many, GPUs then dealt in
    turn; a run on several ranks (`gpus` = `ranks`) gets that many GPUs of its own ("0,1"). On a CPU, one run at a
    time unless --parallel says otherwise.
    """
    if gpus and devices & {"auto", "cuda"}:
        groups = [",".join(gpus[i:i + ranks]) for i in range(0, len(gpus) - ranks + 1, ranks)] or [",".join(gpus)]
        count = parallel or len(groups)
        return [groups[i % len(groups)] for i in range(count)]
    return [None] * (parallel or 1)


def run_to_continue(previous: runfolder.RunInfo | None, config: RunConfig) -> Path | None:
    """The earlier try of a run to continue from its checkpoints/last.pt, as `vitui run --resume` would: one that
    stopped or failed (Ctrl-C, a kill, a crash, an error part-way) and left a last.pt made with these same settings.
    None: start the run afresh in a new folder (no checkpoint, other settings, or a run on another host that may
    still be alive)."""
    if previous is None or previous.state not in ("stopped", "failed"):
        return None
    try:
        check_resume(previous.path, config)
    except ConfigError:
        return None
    return previous.path


@dataclass
class Flight:
    """A run in progress: its job, its worker and the slot it holds."""

    job: Job
    handle: Any
    slot: int


@dataclass
class StudyOutcome:
    """What this process did: the runs it finished by final state, and whether it was stopped."""

    finished: dict[int, str] = field(default_factory=dict)  # job index -> completed / failed / stopped
    stopped: bool = False


class StudyRunner:
    """Runs a study's queue in this process until nothing is left to take or it is asked to stop.

    `start_run` is vitui.launch.start_run (tests pass a fake); the callbacks tell a printer what happens.
    """

    def __init__(self, folder: StudyFolder, configs: dict[int, RunConfig], runs_dir: Path, data_dir: Path | None,
                 slots: list[str | None], *, start_run: Callable[..., Any] | None = None,
                 on_start: Callable[[Job, Path, bool], None] = lambda job, run_dir, resumed: None,
                 on_event: Callable[[Job, Event], None] = lambda job, event: None,
                 on_finish: Callable[[Job, Path, str], None] = lambda job, run_dir, state: None):
        if start_run is None:
            from vitui.launch import start_run
        self.folder, self.configs, self.runs_dir, self.data_dir = folder, configs, runs_dir, data_dir
        self.slots = slots
        self._start_run = start_run
        self.on_start, self.on_event, self.on_finish = on_start, on_event, on_finish
        self.flights: list[Flight] = []
        self.outcome = StudyOutcome()
        self._stop_reason = ""
        self._kill = False
        self._asked: set[int] = set()  # runs in flight already asked to stop
        self.continued: set[int] = set()  # runs this process continued from their last checkpoint
        self._since = time.time()

    # ------------------------------------------------------------------ asked from outside (signal handlers too)
    def stop(self, reason: str) -> None:
        """Stop the runs in flight gracefully (checkpoint, status stopped) and take no new ones. Only recorded here
        (a signal handler may call it); the loop sends the requests, so a queue is never written to halfway."""
        if not self._stop_reason:
            self._stop_reason = reason

    def kill(self) -> None:
        self._kill = True

    @property
    def stopping(self) -> bool:
        return bool(self._stop_reason)

    # ------------------------------------------------------------------ the loop
    def run(self) -> StudyOutcome:
        self.folder.add_runner()
        try:
            while True:
                if not self.stopping:
                    self._fill_slots()
                if not self.flights:
                    break
                self._poll()
                self._pass_on_requests()
        finally:
            for flight in self.flights:  # an exception on the way: do not leave workers behind without a word
                flight.handle.stop(stops.PARENT_EXITED)
            self.folder.remove_runner()
        self.outcome.stopped = self.stopping
        return self.outcome

    def _pass_on_requests(self) -> None:
        for flight in self.flights:
            if self._kill:
                flight.handle.kill()
            elif self.stopping and flight.job.index not in self._asked:
                flight.handle.stop(self._stop_reason)
                self._asked.add(flight.job.index)

    def _fill_slots(self) -> None:
        taken = {f.slot for f in self.flights}
        for slot in range(len(self.slots)):
            if slot in taken:
                continue
            # Runs taken since this process began are not taken again: a failure is not retried in a loop.
            claimed = self.folder.claim(self._since, lambda job, previous: self._start(job, slot, previous))
            if claimed is None:
                return
            job, run_dir = claimed
            self.on_start(job, run_dir, job.index in self.continued)

    def _start(self, job: Job, slot: int, previous: runfolder.RunInfo | None) -> Path:
        """Start a job's worker in `slot`: a new run, or the earlier try of it continued from its last checkpoint."""
        config = self.configs[job.index]
        resume = run_to_continue(previous, config)
        if resume is not None:
            self.continued.add(job.index)
        gpu = self.slots[slot]
        saved = os.environ.get("CUDA_VISIBLE_DEVICES")
        if gpu is not None:
            os.environ["CUDA_VISIBLE_DEVICES"] = gpu
        try:
            # quiet: a worker's own stray output goes to its run folder, not between the study's lines
            handle = self._start_run(config, self.runs_dir, self.data_dir, quiet=True, resume=resume)
        finally:
            if gpu is not None:
                if saved is None:
                    os.environ.pop("CUDA_VISIBLE_DEVICES", None)
                else:
                    os.environ["CUDA_VISIBLE_DEVICES"] = saved
        mark_run(handle.run_dir, self.folder.id, job)
        self.flights.append(Flight(job, handle, slot))
        return Path(handle.run_dir)

    def _poll(self) -> None:
        """Read every run in flight (a worker whose queue nobody reads cannot exit); end the ones that ended."""
        waited = False
        for flight in list(self.flights):
            for event in flight.handle.poll(timeout=0 if waited or len(self.flights) > 1 else POLL_S):
                self.on_event(flight.job, event)
            waited = True
            if not flight.handle.alive:
                while events := flight.handle.poll():
                    for event in events:
                        self.on_event(flight.job, event)
                state = flight.handle.reap()
                self.flights.remove(flight)
                self.outcome.finished[flight.job.index] = state
                self.on_finish(flight.job, Path(flight.handle.run_dir), state)
        if len(self.flights) > 1:
            time.sleep(POLL_S)
