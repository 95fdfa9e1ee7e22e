"""Provides the run directory: its layout, the append-only event log, the status file and run listing.

runs/<YYYYmmdd-HHMMSS>-<experiment>/
    config.json     resolved settings, written before training starts
    events.jsonl    one JSON event per line, flushed (and fsynced at checkpoints) as written
    status.json     running / completed / failed / stopped, replaced atomically
    lock            held (flock) by the live worker; free lock + "running" means it crashed
    summary.json    final figures
    checkpoints/    last.pt and best.pt
    control.jsonl   requests to the worker from a vitui that did not start it (stop, live settings)
"""

from __future__ import annotations

import fcntl
import json
import math
import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from vitui.core.events import Event, event_from_dict

CONFIG, EVENTS, STATUS, LOCK, SUMMARY, CHECKPOINTS, CONTROL = (
    "config.json", "events.jsonl", "status.json", "lock", "summary.json", "checkpoints", "control.jsonl")
FINISHED = ("completed", "failed", "stopped")


def default_runs_dir() -> Path:
    return Path(os.environ.get("VITUI_RUNS", "runs"))


def write_json_atomic(path: Path, data: Any) -> None:
    """Write to a temporary file then rename: a reader sees the old or the new file, never half of one.

    Strict JSON: a non-finite number (a diverged loss) is written as null, never as a bare NaN.
    """
    try:
        text = json.dumps(data, indent=2, allow_nan=False)
    except ValueError:
        text = json.dumps(_finite(data), indent=2, allow_nan=False)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("w") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def create_run_dir(runs_dir: Path, experiment: str, config: dict[str, Any]) -> Path:
    runs_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for n in range(1, 1000):
        name = f"{stamp}-{experiment}" + (f"-{n}" if n > 1 else "")
        try:
            path = runs_dir / name
            path.mkdir()
            break
        except FileExistsError:
            continue
    else:
        raise RuntimeError(f"cannot create a run folder in {runs_dir}")
    write_json_atomic(path / CONFIG, config)
    write_status(path, "created")
    return path


def write_status(run_dir: Path, state: str, detail: str = "", **extra: Any) -> None:
    data = {"state": state, "detail": detail, "time": time.time(), "host": socket.gethostname(), **extra}
    write_json_atomic(run_dir / STATUS, data)


class EventLog:
    """Appends events to events.jsonl, one complete line per write, so a kill loses at most nothing.

    Each line goes out in one write() on an O_APPEND descriptor, so the file always ends on a line
    boundary the kernel has accepted; fsync is left to checkpoints, where it costs little.
    """

    def __init__(self, run_dir: Path):
        self.path = run_dir / EVENTS
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def write(self, event: Event) -> None:
        data = event.to_dict()
        try:
            line = json.dumps(data, separators=(",", ":"), allow_nan=False)
        except ValueError:  # a diverged loss: NaN/inf are not JSON, so they are written as null
            line = json.dumps(_finite(data), separators=(",", ":"), allow_nan=False)
        os.write(self._fd, (line + "\n").encode())

    def sync(self) -> None:
        os.fsync(self._fd)

    def close(self) -> None:
        if self._fd >= 0:
            os.fsync(self._fd)
            os.close(self._fd)
            self._fd = -1


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def send_control(run_dir: Path, message: dict[str, Any]) -> None:
    """Ask a run's worker for something (stop, a live setting) through its folder: it reads the request at its
    next logging point. For runs this process did not start (another terminal, another host on a shared disk)."""
    line = json.dumps(message, separators=(",", ":")) + "\n"
    fd = os.open(run_dir / CONTROL, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def control_problem(run_dir: Path) -> str:
    """Why send_control() would fail for this process ("" when it would not): a folder or file we cannot write."""
    control = run_dir / CONTROL
    target = control if control.exists() else run_dir
    if os.access(target, os.W_OK):
        return ""
    return f"cannot write {control} (no write permission here), so the worker cannot be asked"


class ControlReader:
    """The worker's side of control.jsonl: the requests appended since the last read (whole lines, objects only)."""

    def __init__(self, run_dir: Path, *, skip_existing: bool = False):
        """skip_existing: start at the end of the file, as a resumed run must: the requests there were for the worker
        that ran before (its stop request above all)."""
        self.path = run_dir / CONTROL
        self._offset = 0
        if skip_existing:
            try:
                self._offset = self.path.stat().st_size
            except OSError:
                pass

    def read(self) -> list[dict[str, Any]]:
        try:
            with self.path.open("rb") as fh:
                fh.seek(self._offset)
                chunk = fh.read()
        except OSError:
            return []
        complete = chunk[: chunk.rfind(b"\n") + 1]
        self._offset += len(complete)
        messages = []
        for raw in complete.splitlines():
            try:
                message = json.loads(raw)
            except ValueError:
                continue
            if isinstance(message, dict):
                messages.append(message)
        return messages


class RunLock:
    """An exclusive flock on run_dir/lock held by the process that trains; the kernel drops it on death."""

    def __init__(self, run_dir: Path):
        self._fh = (run_dir / LOCK).open("a")
        fcntl.flock(self._fh, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def release(self) -> None:
        fcntl.flock(self._fh, fcntl.LOCK_UN)
        self._fh.close()


def is_locked(run_dir: Path) -> bool:
    """True while some live process holds the run's lock (the run is really training)."""
    try:
        with (run_dir / LOCK).open("a") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(fh, fcntl.LOCK_UN)
            return False
    except OSError:
        return False


def log_size(run_dir: Path) -> int:
    """The bytes events.jsonl holds now (0 when there is none)."""
    try:
        return (run_dir / EVENTS).stat().st_size
    except OSError:
        return 0


def read_events(run_dir: Path, end: int | None = None) -> Iterator[Event]:
    """Yield the events of a run (those in its first `end` bytes when given), skipping a torn last line (a writer
    killed mid-write) or junk."""
    path = run_dir / EVENTS
    if not path.exists():
        return
    read = 0
    with path.open("rb") as fh:
        for raw in fh:
            read += len(raw)
            if end is not None and read > end:
                break  # written after the caller's look at the file: it gets these another way
            if not raw.endswith(b"\n"):
                break  # still being written, or torn by a kill: not an event yet
            try:
                yield event_from_dict(json.loads(raw))
            except (ValueError, TypeError):
                continue


def last_event_time(run_dir: Path, block: int = 1 << 16) -> float | None:
    """The time of the log's last complete event, read from the end of the file: when a run that died
    without a word (SIGKILL, OOM) was last seen alive."""
    try:
        with (run_dir / EVENTS).open("rb") as fh:
            size = fh.seek(0, os.SEEK_END)
            while True:
                start = max(0, size - block)
                fh.seek(start)
                lines = fh.read(size - start).split(b"\n")[:-1]  # the last piece is torn or empty
                for raw in reversed(lines[1:] if start else lines):  # the first may be cut in half
                    try:
                        return float(json.loads(raw)["t"])
                    except (ValueError, KeyError, TypeError):
                        continue
                if start == 0:
                    return None
                block *= 4  # an event longer than the block (an attention map): read further back
    except OSError:
        return None


class EventTail:
    """Follows a growing events.jsonl (a run started elsewhere), returning new complete events."""

    def __init__(self, run_dir: Path):
        self.path = run_dir / EVENTS
        self._offset = 0
        self._partial = b""

    def poll(self) -> list[Event]:
        try:
            with self.path.open("rb") as fh:
                fh.seek(self._offset)
                chunk = fh.read()
        except FileNotFoundError:
            return []
        self._offset += len(chunk)
        data = self._partial + chunk
        lines = data.split(b"\n")
        self._partial = lines.pop()
        events = []
        for raw in lines:
            try:
                events.append(event_from_dict(json.loads(raw)))
            except (ValueError, TypeError):
                continue
        return events


@dataclass
class RunInfo:
    """What the runs list shows of one run."""

    path: Path
    config: dict[str, Any]
    status: dict[str, Any]
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def state(self) -> str:
        """The recorded state, corrected for a worker that died without saying so."""
        state = self.status.get("state", "unknown")
        if state in ("running", "created") and not is_locked(self.path) and self.status.get("host") == socket.gethostname():
            if state == "running" or time.time() - self.status.get("time", 0) > 60:
                return "failed"
        return state

    @property
    def crashed(self) -> bool:
        return self.state == "failed" and self.status.get("state") in ("running", "created")

    @property
    def state_label(self) -> str:
        if self.crashed:
            return "failed (crashed)"
        return self.state

    @property
    def started(self) -> float | None:
        return self.status.get("started")

    @property
    def duration(self) -> float | None:
        """How long the run trained: until it ended, until now while it runs, until its last event if it crashed."""
        start = self.status.get("started")
        if start is None:
            return None
        end = self.status.get("ended")
        if end is None:
            state = self.state
            if state == "running":
                end = time.time()
            elif self.crashed:  # nobody wrote "ended": status.json still has the time it said "running"
                end = last_event_time(self.path)
        end = end or self.status.get("time")
        return max(0.0, (end or start) - start)


def load_run(run_dir: Path) -> RunInfo:
    def read(name: str) -> dict[str, Any]:
        try:
            return json.loads((run_dir / name).read_text())
        except (OSError, ValueError):
            return {}
    return RunInfo(run_dir, read(CONFIG), read(STATUS), read(SUMMARY))


def list_runs(runs_dir: Path) -> list[RunInfo]:
    if not runs_dir.is_dir():
        return []
    runs = [load_run(p) for p in sorted(runs_dir.iterdir()) if (p / CONFIG).is_file()]
    return runs


def find_run(runs_dir: Path, name: str) -> Path:
    """A run by folder path, exact name, or a unique part of its name (e.g. its timestamp)."""
    direct = Path(name)
    if (direct / CONFIG).is_file():
        return direct
    if (runs_dir / name / CONFIG).is_file():
        return runs_dir / name
    matches = [r.path for r in list_runs(runs_dir) if name in r.name]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise LookupError(f"no run {name!r} in {runs_dir}; see `vitui runs list`")
    raise LookupError(f"{name!r} matches {len(matches)} runs in {runs_dir}: {', '.join(m.name for m in matches[:5])}")
