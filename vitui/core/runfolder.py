"""Provides the run directory: its layout, the append-only event log, the status file and run listing.

runs/<YYYYmmdd-HHMMSS>-<experiment>/
    config.json     resolved settings, written before training starts
    env.json        where it trained: Python, torch, CUDA, GPUs, ranks, host, command line, git commit
    events.jsonl    one JSON event per line, flushed (and fsynced at checkpoints) as written
    status.json     running / completed / failed / stopped, replaced atomically
    lock            held (flock) by the live worker; free lock + "running" means it crashed
    summary.json    final figures
    checkpoints/    last.pt and best.pt
    control.jsonl   requests to the worker from a vitui that did not start it (stop, live settings)
    notes.json      the user's note and tags, and whether the run is archived
"""

from __future__ import annotations

import errno
import fcntl
import json
import math
import os
import shutil
import socket
import stat
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from vitui.core import jsonfile
from vitui.core.errors import RunFolderError
from vitui.core.events import Event, event_from_dict
from vitui.core.settings import name_problem

CONFIG, EVENTS, STATUS, LOCK, SUMMARY, CHECKPOINTS, CONTROL, ENV = (
    "config.json", "events.jsonl", "status.json", "lock", "summary.json", "checkpoints", "control.jsonl", "env.json")
FINISHED = ("completed", "failed", "stopped")
TMP_SUFFIX = ".tmp"  # a file being written: ".<name>.<random>.tmp", renamed over <name> when whole
FULL = (errno.ENOSPC, errno.EDQUOT)  # a full disk or quota: the write fails, nothing else is wrong
MIN_FREE = 1 << 20  # bytes free below which a new run is refused: its config, status and first events need room
RUNS_DIR_FIX = "pass --runs-dir (or set VITUI_RUNS) to a writable folder with free space"
# Files are made 0600 by mkstemp; a run folder's files are for others on a shared disk to read, as the umask says.
_UMASK = os.umask(0o022)
os.umask(_UMASK)


def default_runs_dir() -> Path:
    return Path(os.environ.get("VITUI_RUNS", "runs"))


def write_json_atomic(path: Path, data: Any) -> None:
    """Write to a temporary file then rename: a reader sees the old or the new file, never half of one.

    Strict JSON: a non-finite number (a diverged loss) is written as null, never as a bare NaN. The temporary
    file's name is unique (mkstemp: two writers never share one) and it is removed when the write fails (a full
    disk), so nothing is left behind but the old file.
    """
    text = strict_json(data, indent=2).encode()
    fd, tmp = temporary_beside(path)
    try:
        try:
            write_all(fd, text)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise OSError(exc.errno, exc.strerror, str(path)) from None
        raise


def write_all(fd: int, data: bytes) -> None:
    """os.write until all of `data` is written: a full disk takes part of it, and the next write says why."""
    written = 0
    while written < len(data):
        written += os.write(fd, data[written:])


def temporary_beside(path: Path) -> tuple[int, str]:
    """A new temporary file in path's folder, for writing `path` atomically: (descriptor, name). Its name is unique
    (mkstemp: no two writers share one, nobody can plant it) and marked so remove_temporaries() finds a killed
    writer's leftovers; it gets the mode the umask gives a new file (mkstemp's 0600 would hide it from others)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TMP_SUFFIX)
    os.fchmod(fd, 0o666 & ~_UMASK)
    return fd, tmp


def create_run_dir(runs_dir: Path, experiment: str, config: dict[str, Any]) -> Path:
    """A new run folder runs_dir/<time>-<experiment> holding config.json and status.json "created".

    RunFolderError says why when it cannot be made (a read-only, unwritable or full runs folder, or a name that
    would leave it), and nothing is left behind.
    """
    problem = name_problem(experiment)
    if problem:
        raise RunFolderError(f"bad experiment name {experiment!r} for a run folder: {problem}")
    check_runs_dir(runs_dir)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for n in range(1, 1000):
        path = runs_dir / (f"{stamp}-{experiment}" + (f"-{n}" if n > 1 else ""))
        try:
            path.mkdir()
            break
        except FileExistsError:
            continue
        except OSError as exc:
            raise RunFolderError(f"cannot create a run folder in {runs_dir} ({exc.strerror}); {RUNS_DIR_FIX}") from None
    else:
        raise RunFolderError(f"cannot create a run folder in {runs_dir}: 999 runs started this second; try again")
    try:
        write_json_atomic(path / CONFIG, config)
        write_status(path, "created")
    except OSError as exc:
        shutil.rmtree(path, ignore_errors=True)
        raise RunFolderError(f"cannot write a run folder in {runs_dir} ({exc.strerror}); {RUNS_DIR_FIX}") from None
    return path


def check_runs_dir(runs_dir: Path) -> None:
    """RunFolderError, saying why, unless a run folder can be made in `runs_dir` (created when missing): read-only,
    unwritable, not a folder, or a full disk. The CLI asks before it starts anything."""
    if runs_dir.exists() and not runs_dir.is_dir():
        raise RunFolderError(f"the runs folder {runs_dir} is not a folder; {RUNS_DIR_FIX}")
    try:
        runs_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunFolderError(f"cannot create the runs folder {runs_dir} ({exc.strerror}); {RUNS_DIR_FIX}") from None
    if not os.access(runs_dir, os.W_OK | os.X_OK):
        raise RunFolderError(f"cannot write in the runs folder {runs_dir} (read-only or not yours); {RUNS_DIR_FIX}")
    free = shutil.disk_usage(runs_dir).free
    if free < MIN_FREE:
        raise RunFolderError(f"the runs folder {runs_dir} is on a full disk ({free:,} bytes free); {RUNS_DIR_FIX}")


def write_status(run_dir: Path, state: str, detail: str = "", **extra: Any) -> None:
    """status.json, replaced atomically. On a full disk, where the temporary copy finds no room, the old file is
    overwritten in place (its blocks are already there): a run that fails for want of space still says so."""
    data = {"state": state, "detail": detail, "time": time.time(), "host": socket.gethostname(), **extra}
    try:
        write_json_atomic(run_dir / STATUS, data)
    except OSError as exc:
        if exc.errno not in FULL or not _overwrite_in_place(run_dir / STATUS, json.dumps(data).encode()):
            raise


def _overwrite_in_place(path: Path, data: bytes) -> bool:
    """Write `data` over an existing small file without asking the disk for a new block; False when that fails."""
    try:
        fd = os.open(path, os.O_WRONLY)
    except OSError:
        return False
    try:
        if os.write(fd, data) != len(data):
            return False
        os.ftruncate(fd, len(data))
        os.fsync(fd)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def remove_temporaries(run_dir: Path) -> None:
    """Delete the temporary files a killed writer left in the run folder and its checkpoints (the caller holds
    the run's lock, so no live writer owns them)."""
    for folder in (run_dir, run_dir / CHECKPOINTS):
        for tmp in folder.glob(f".*{TMP_SUFFIX}"):
            tmp.unlink(missing_ok=True)


class EventLog:
    """Appends events to events.jsonl, one complete line per write, so a kill loses at most nothing.

    Each line goes out in one write() on an O_APPEND descriptor, so the file always ends on a line
    boundary the kernel has accepted; fsync is left to checkpoints, where it costs little. A write the
    disk cuts short (full) is undone, so the log never ends in a fragment, and raises OSError naming the file.
    """

    def __init__(self, run_dir: Path):
        self.path = run_dir / EVENTS
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._size = os.fstat(self._fd).st_size  # where the next line starts (only this writer appends)

    def write(self, event: Event) -> None:
        line = strict_json(event.to_dict(), separators=(",", ":"))
        self._append((line + "\n").encode())

    def _append(self, data: bytes) -> None:
        """The whole line or nothing: os.write may take only part of it when the disk fills."""
        try:
            write_all(self._fd, data)
        except OSError as exc:
            try:
                os.ftruncate(self._fd, self._size)  # drop the fragment: the log ends on its last whole line
            except OSError:
                pass
            raise OSError(exc.errno, exc.strerror, str(self.path)) from None
        self._size += len(data)

    def sync(self) -> None:
        os.fsync(self._fd)

    def close(self) -> None:
        if self._fd >= 0:
            os.fsync(self._fd)
            os.close(self._fd)
            self._fd = -1


def strict_json(data: Any, **options: Any) -> str:
    """json.dumps, with NaN and infinities (a diverged loss; not JSON) written as null. The common case, all
    finite, pays for one dumps only."""
    try:
        return json.dumps(data, allow_nan=False, **options)
    except ValueError:
        return json.dumps(_finite(data), allow_nan=False, **options)


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
        write_all(fd, line.encode())  # a full disk raises, for the caller to say, rather than drop the request's end
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


# ----------------------------------------------------------------------------------------------- reading
# Everything below reads run folders that anyone may have written, on any host, in any state: it never raises
# for what it finds there (a FIFO for a file, JSON of the wrong shape, a folder it may not read) and never
# writes. A run it cannot use is listed as "unreadable (reason)" beside the others.

NOTES = "notes.json"  # the user's note, tags and archived flag (vitui.core.notes writes it)
KNOWN_STATES = ("created", "running", *FINISHED)
STALE_AFTER_S = 180.0  # a run on another host that has not beaten its heart for this long shows as stale
CREATED_GRACE_S = 60.0  # a run still "created" this long after, with nobody holding its lock, never started
LIVENESS_TTL_S = 1.0  # how long one lock check answers for a RunInfo (its state is read several times a redraw)


def lock_state(run_dir: Path) -> bool | None:
    """True while a live process holds the run's lock, False when none does, None when this process cannot tell
    (no permission to open the lock file, or a file system without flock, such as some shared NFS folders).
    Opens the lock read-only: looking at a run never writes in its folder."""
    try:
        fd = os.open(run_dir / LOCK, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        return False  # the worker takes the lock before it says "running": nobody ever held it
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        except OSError:
            return None
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def is_locked(run_dir: Path) -> bool:
    """True while some live process holds the run's lock (the run is really training)."""
    return lock_state(run_dir) is True


class EventReader:
    """The events of a run's log in order, from byte `start` on: it skips lines that are not events (junk, valid
    JSON that is not a well-formed event, a torn last line) and counts them in `skipped`. `offset` is where the
    next read should start (after the last whole line handed out), `size` the log's size when it was opened, and
    `problem` says why the log could not be read at all ("" when it could). With `end`, only the lines in its first
    `end` bytes: what was written after the caller looked comes to it another way (a resumed run's queue)."""

    BATCH_EVENTS = 5000  # events per batch at most, and
    BATCH_BYTES = 4 << 20  # bytes of lines: a batch of attention maps stays a few megabytes

    def __init__(self, run_dir: Path, start: int = 0, end: int | None = None):
        self.path = run_dir / EVENTS
        self.end = end
        self.offset = start
        self.size = 0
        self.skipped = 0
        self.torn = False  # the last line has no newline yet: still being written, or cut short by a kill
        self.problem = ""

    def __iter__(self) -> Iterator[Event]:
        for batch in self.batches():
            yield from batch

    def batches(self) -> Iterator[list[Event]]:
        """The events in lists (`offset` is past each list when it is handed out): the quick way through a long
        log, which spends its time here, one line at a time, so the loop keeps what it uses in local names."""
        try:
            fh = jsonfile.open_regular(self.path)
        except FileNotFoundError:
            return
        except OSError as exc:
            self.problem = jsonfile.reason(exc, self.path)
            return
        with fh:
            self.size = os.fstat(fh.fileno()).st_size
            fh.seek(self.offset)
            loads, end, offset, batch, batch_end = jsonfile.loads, self.end, self.offset, [], self.offset
            for raw in fh:
                if end is not None and offset + len(raw) > end:
                    break
                if raw[-1] != 10:  # no b"\n" at its end
                    self.torn = True
                    self.skipped += 1
                    break
                offset += len(raw)
                try:
                    batch.append(event_from_dict(loads(raw)))
                except (ValueError, TypeError, RecursionError):  # not JSON, or JSON that is not an event
                    self.skipped += 1
                if len(batch) >= self.BATCH_EVENTS or offset - batch_end >= self.BATCH_BYTES:
                    self.offset = batch_end = offset
                    yield batch
                    batch = []
            self.offset = offset
            if batch:
                yield batch


def log_size(run_dir: Path) -> int:
    """The bytes events.jsonl holds now (0 when there is none)."""
    try:
        return (run_dir / EVENTS).stat().st_size
    except OSError:
        return 0


def read_events(run_dir: Path, end: int | None = None) -> Iterator[Event]:
    """Yield the events of a run (those in its first `end` bytes when given), skipping a torn last line (a writer
    killed mid-write) or junk."""
    yield from EventReader(run_dir, end=end)


def last_event_time(run_dir: Path, block: int = 1 << 16) -> float | None:
    """The time of the log's last complete event, read from the end of the file: when a run that died
    without a word (SIGKILL, OOM) was last seen alive."""
    try:
        with jsonfile.open_regular(run_dir / EVENTS) as fh:
            size = fh.seek(0, os.SEEK_END)
            while True:
                start = max(0, size - block)
                fh.seek(start)
                lines = fh.read(size - start).split(b"\n")[:-1]  # the last piece is torn or empty
                for raw in reversed(lines[1:] if start else lines):  # the first may be cut in half
                    try:
                        t = jsonfile.parse(raw)["t"]
                    except (ValueError, KeyError, TypeError, IndexError):
                        continue
                    if _number(t):
                        return float(t)
                if start == 0:
                    return None
                block *= 4  # an event longer than the block (an attention map): read further back
    except OSError:
        return None


class EventTail:
    """Follows a growing events.jsonl (a run started elsewhere), returning new complete events."""

    MAX_READ = 16 << 20  # bytes per poll at most, so a follower starting on a long log hands events on as it goes

    def __init__(self, run_dir: Path):
        self.path = run_dir / EVENTS
        self._offset = 0
        self._partial = b""
        self.problem = ""  # why the log cannot be read now ("" while it can)

    def poll(self) -> list[Event]:
        try:
            with jsonfile.open_regular(self.path) as fh:
                fh.seek(self._offset)
                chunk = fh.read(self.MAX_READ)
        except FileNotFoundError:
            return []
        except OSError as exc:
            self.problem = jsonfile.reason(exc, self.path)
            return []
        self.problem = ""
        self._offset += len(chunk)
        data = self._partial + chunk
        lines = data.split(b"\n")
        self._partial = lines.pop()
        events = []
        for raw in lines:
            try:
                events.append(event_from_dict(jsonfile.parse(raw)))
            except (ValueError, TypeError):
                continue
        return events


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


class Timestamp(float):
    """A type tag for _typed: Unix seconds a clock can show (1970 to 5138), not just any number."""


def _typed(data: dict[str, Any], types: dict[str, type]) -> dict[str, Any]:
    """`data` less the keys named in `types` whose values are of another type (floats: finite numbers)."""
    out = dict(data)
    for key, kind in types.items():
        if key not in out:
            continue
        value = out[key]
        if kind is Timestamp:
            ok = _number(value) and 0 <= value < 1e11
        elif kind is float:
            ok = _number(value)
        else:
            ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
        if not ok:
            del out[key]
    return out


STATUS_TYPES = {"state": str, "detail": str, "host": str, "pid": int, "time": Timestamp, "started": Timestamp,
                "ended": Timestamp, "heartbeat": Timestamp, "resumed": int, "paused": float, "stopped_at": Timestamp}
CONFIG_TYPES = {"task": str, "experiment": str, "model": str, "dataset": str, "model_args": dict, "log_every": int,
                "eval_every": int, "iterations": int, "epochs": int}
SUMMARY_TYPES = {"metrics": dict, "model": dict, "best": dict, "distributed": dict}
DISTRIBUTED_TYPES = {"world_size": int, "backend": str, "batch_size": int, "rank_batch": int, "img_per_s": float,
                     "img_per_s_rank": list, "straggler": float}
BEST_TYPES = {"name": str, "value": float, "step": float, "epoch": float, "time": float}


def clean_summary(summary: dict[str, Any]) -> dict[str, Any]:
    """A summary.json with only the figures a reader can use: numbers where numbers are due."""
    out = _typed(summary, SUMMARY_TYPES)
    if "metrics" in out:
        out["metrics"] = {k: v for k, v in out["metrics"].items()
                          if v is None or isinstance(v, (int, float)) and not isinstance(v, bool)}
    if "model" in out:
        out["model"] = _typed(out["model"], {"params": float, "macs": float})
    if "best" in out:
        best = _typed(out["best"], BEST_TYPES)
        out["best"] = best if "name" in best and "value" in best else {}
    if "distributed" in out:
        ranks = _typed(out["distributed"], DISTRIBUTED_TYPES)
        ranks["img_per_s_rank"] = [v for v in ranks.get("img_per_s_rank", []) if _number(v)]
        out["distributed"] = ranks if "world_size" in ranks else {}
    return out


def clean_notes(notes: dict[str, Any]) -> dict[str, Any]:
    """notes.json as {"note": text, "tags": [words], "archived": bool}, whatever the file held."""
    note = notes.get("note")
    tags = notes.get("tags")
    return {"note": note if isinstance(note, str) else "",
            "tags": [t for t in tags if isinstance(t, str) and t] if isinstance(tags, list) else [],
            "archived": notes.get("archived") is True}


@dataclass
class RunInfo:
    """What the runs list shows of one run. `problem` says why the folder cannot be used ("" when it can): such a
    run is listed as `unreadable (problem)`."""

    path: Path
    config: dict[str, Any]
    status: dict[str, Any]
    summary: dict[str, Any] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=lambda: clean_notes({}))
    problem: str = ""
    _alive: tuple[float, bool | None] = field(default=(-math.inf, None), repr=False, compare=False)
    _last_event: tuple[float | None] | None = field(default=None, repr=False, compare=False)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def note(self) -> str:
        return self.notes.get("note", "")

    @property
    def tags(self) -> list[str]:
        return self.notes.get("tags", [])

    @property
    def archived(self) -> bool:
        return self.notes.get("archived", False)

    @property
    def recorded_state(self) -> str:
        """The state status.json records, "unknown" when it records none that vitui knows."""
        state = self.status.get("state")
        return state if state in KNOWN_STATES else "unknown"

    @property
    def heartbeat(self) -> float | None:
        """When the worker was last known alive: its heartbeat, else when it last wrote its status."""
        return self.status.get("heartbeat", self.status.get("time"))

    def _locked(self) -> bool | None:
        checked, locked = self._alive
        now = time.monotonic()
        if now - checked > LIVENESS_TTL_S:
            locked = lock_state(self.path)
            self._alive = (now, locked)
        return locked

    @property
    def same_host(self) -> bool:
        return self.status.get("host") == socket.gethostname()

    @property
    def state(self) -> str:
        """The recorded state, corrected for a worker that died without saying so: on this host its lock is free
        ("failed"); on another host, or where the lock cannot be checked, its heartbeat is old ("stale")."""
        if self.problem:
            return "unreadable"
        state = self.recorded_state
        if state not in ("running", "created"):
            return state
        locked = self._locked() if self.same_host else None
        if locked is True:
            return state
        if locked is False:
            if state == "running" or time.time() - self.status.get("time", 0) > CREATED_GRACE_S:
                return "failed"
            return state
        beat = self.heartbeat
        if beat is None or time.time() - beat > STALE_AFTER_S:
            return "stale"
        return state

    @property
    def crashed(self) -> bool:
        return self.state == "failed" and self.recorded_state in ("running", "created")

    @property
    def state_label(self) -> str:
        state = self.state
        if state == "unreadable":
            return f"unreadable ({self.problem})"
        if state == "unknown":
            missing = not os.path.lexists(self.path / STATUS)
            return "unknown (no status.json)" if missing else "unknown (no known state in status.json)"
        if state == "stale":
            beat = self.heartbeat
            when = "-" if beat is None else time.strftime(
                "%H:%M" if time.time() - beat < 86400 else "%Y-%m-%d %H:%M", time.localtime(beat))
            return f"stale (no heartbeat since {when})"
        if self.crashed:
            return "failed (crashed)"
        return state

    @property
    def started(self) -> float | None:
        return self.status.get("started")

    @property
    def ended(self) -> float | None:
        """When the run stopped training: when it ended, now while it runs, its last event if it crashed."""
        end = self.status.get("ended")
        if end is None:
            state = self.state
            if state == "running":
                end = time.time()
            elif self.crashed or state == "stale":  # nobody wrote "ended": status.json has when it said "running"
                if self._last_event is None:  # read once: the log of a dead run does not grow
                    self._last_event = (last_event_time(self.path),)
                end = self._last_event[0]
        return end or self.status.get("time")

    @property
    def duration(self) -> float | None:
        """How long the run trained: from its first start to its end, less the time it lay stopped between its
        resumes (`paused`: a run preempted on Friday and resumed on Monday did not train all weekend)."""
        start = self.status.get("started")
        if start is None:
            return None
        return max(0.0, (self.ended or start) - start - self.status.get("paused", 0.0))


def load_run(run_dir: Path) -> RunInfo:
    """A run folder as the runs list sees it; never raises. A config.json or status.json that cannot be read or is
    not a JSON object makes the run unreadable (with the reason); a missing status.json leaves its state unknown;
    values of the wrong type are dropped."""
    run_dir = Path(run_dir)
    config, config_problem = jsonfile.read_object(run_dir / CONFIG, missing_ok=False)
    status, status_problem = jsonfile.read_object(run_dir / STATUS)
    summary, _ = jsonfile.read_object(run_dir / SUMMARY)
    notes, _ = jsonfile.read_object(run_dir / NOTES)
    return RunInfo(run_dir, _typed(config, CONFIG_TYPES), _typed(status, STATUS_TYPES), clean_summary(summary),
                   clean_notes(notes), config_problem or status_problem)


def run_folders(runs_dir: Path) -> Iterator[tuple[Path, str]]:
    """The run folders in `runs_dir` by name, each with why it cannot be looked into ("" when it can): every
    folder holding a config.json (of any kind), or that this process may not look into. Hidden folders (the
    trash) are left out."""
    for entry in folder_entries(runs_dir):
        problem = run_folder_problem(entry.path)
        if problem is not None:
            yield Path(entry.path), problem


def folder_entries(runs_dir: Path) -> list[os.DirEntry]:
    """The folders (or links to folders) in `runs_dir` by name, hidden ones left out; none if it cannot be read."""
    try:
        entries = sorted(os.scandir(runs_dir), key=lambda e: e.name)
    except OSError:
        return []
    found = []
    for entry in entries:
        try:
            if not entry.name.startswith(".") and entry.is_dir():
                found.append(entry)
        except OSError:
            continue
    return found


def run_folder_problem(path: str) -> str | None:
    """None when the folder is not a run's (no config.json); else why it cannot be looked into, "" when it can."""
    try:
        os.lstat(os.path.join(path, CONFIG))
    except FileNotFoundError:
        return None
    except OSError as exc:
        return jsonfile.reason(exc, Path(path))
    return ""


ENV_TYPES = {"python": str, "torch": str, "cuda": str, "cudnn": int, "gpus": list, "world_size": int, "host": str,
             "platform": str, "command": list, "git": dict}


def load_env(run_dir: Path) -> dict[str, Any]:
    """The run's env.json ({} for a run from before it was written, or one that cannot be read), with only values of
    the types it is written with (lists of text, git's commit and dirty flag). Read apart from load_run, which the runs
    list calls for every run every two seconds."""
    env, _ = jsonfile.read_object(run_dir / ENV)
    env = _typed(env, ENV_TYPES)
    for key in ("gpus", "command"):
        if key in env:
            env[key] = [item for item in env[key] if isinstance(item, str)]
    if "git" in env:
        env["git"] = _typed(env["git"], {"commit": str, "dirty": bool})
    return env


def list_runs(runs_dir: Path) -> list[RunInfo]:
    """Every run in the runs folder, by name (oldest first); one that cannot be read is listed with its reason."""
    return [load_run(path) if not problem else RunInfo(path, {}, {}, problem=problem)
            for path, problem in run_folders(runs_dir)]


def find_run(runs_dir: Path, name: str) -> Path:
    """A run by folder path, exact name, or a unique part of its name (e.g. its timestamp)."""
    return find_runs(runs_dir, name, several=False)[0]


def find_runs(runs_dir: Path, name: str, several: bool = False) -> list[Path]:
    """The runs a name means: a folder path, an exact name, or part of names; with `several` False, a part must
    match exactly one run. LookupError names the runs folder, or every match, when the name does not do."""
    direct = Path(name)
    if (direct / CONFIG).exists():
        return [direct]
    if name and (runs_dir / name / CONFIG).exists():
        return [runs_dir / name]
    matches = [path for path, _ in run_folders(runs_dir) if name and name in path.name]
    if not matches:
        raise LookupError(f"no run {name!r} in {runs_dir}; see `vitui runs list`")
    if len(matches) > 1 and not several:
        shown = ", ".join(m.name for m in matches[:20]) + (f" and {len(matches) - 20} more" if len(matches) > 20 else "")
        raise LookupError(f"{name!r} matches {len(matches)} runs in {runs_dir}: {shown}; give more of the name")
    return matches
