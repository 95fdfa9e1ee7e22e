"""Provides JSON reading that survives whatever a run folder holds: orjson when installed (the standard library
otherwise), regular files only, capped sizes, and one short reason when a file cannot be used.

A run folder is written by a worker that may die at any moment, may sit on a shared disk, and may be edited by
hand, so a reader must expect a FIFO, a directory, a file it may not read, or JSON of the wrong shape in place of
any file, and say which in a few words instead of hanging or raising.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any, BinaryIO, Callable

try:  # an optional speed-up (pip install 'vitui[fast]'): parses event lines about five times faster
    import orjson
except ImportError:  # pragma: no cover - depends on what is installed
    orjson = None

MAX_FILE_BYTES = 16 << 20  # config, status, summary and notes are kilobytes; a larger file is not one of ours


def _stdlib_loads(data: bytes | str) -> Any:
    return json.loads(data)


def _orjson_loads(data: bytes | str) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        # orjson refuses what json accepts: NaN and Infinity (old summaries hold them), integers past 64 bits.
        return json.loads(data)


def backend() -> str:
    """The parser in use: "orjson" or "json"."""
    return "orjson" if loads is _orjson_loads else "json"


def use_backend(name: str) -> None:
    """Parse with "orjson" or "json" from now on (the benchmark compares them; tests check the fallback)."""
    global loads
    if name == "orjson" and orjson is None:
        raise RuntimeError("orjson is not installed: pip install 'vitui[fast]'")
    loads = _orjson_loads if name == "orjson" else _stdlib_loads


loads: Callable[[bytes | str], Any] = _orjson_loads if orjson is not None else _stdlib_loads

# What parsing may raise on hostile input: bad JSON (ValueError, orjson's error is one), bad UTF-8
# (UnicodeDecodeError is a ValueError), and nesting deep enough to exhaust the stack in the standard library.
PARSE_ERRORS = (ValueError, RecursionError)


def parse(data: bytes | str) -> Any:
    """Any JSON value, or raises ValueError (never RecursionError) when the text is not JSON."""
    try:
        return loads(data)
    except RecursionError:
        raise ValueError("JSON nested too deep") from None


def _open_fd(path: Path) -> int:
    """A descriptor on a regular file; OSError with a short reason for anything else (a FIFO, a device, a
    folder). Opened without blocking, so a FIFO in place of a file cannot hang the reader."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise OSError(f"{Path(path).name} is {_kind(mode)}, not a file")
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_regular(path: Path) -> BinaryIO:
    """A regular file opened for reading in binary; OSError with a short reason for anything else."""
    return os.fdopen(_open_fd(path), "rb")


def read_bytes(path: Path, limit: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of a regular file of at most `limit` bytes; OSError with a short reason otherwise."""
    fd = _open_fd(path)
    try:
        chunks, size = [], 0
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                raise OSError(f"{Path(path).name} is larger than {limit >> 20} MiB")
        return b"".join(chunks)
    finally:
        os.close(fd)


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device")):
        if test(mode):
            return name
    return "not a regular file"


def read_object(path: Path, missing_ok: bool = True) -> tuple[dict[str, Any], str]:
    """A JSON object file: (the object, "") or ({}, a short reason it cannot be used). A missing file is ({}, "")
    when `missing_ok`, else ({}, "no <name>")."""
    try:
        data = parse(read_bytes(path))
    except FileNotFoundError:
        return {}, "" if missing_ok else f"no {path.name}"
    except OSError as exc:
        return {}, reason(exc, path)
    except ValueError:
        return {}, f"{path.name} is not valid JSON"
    if not isinstance(data, dict):
        return {}, f"{path.name} holds {type(data).__name__}, not an object"
    return data, ""


def reason(exc: OSError, path: Path) -> str:
    """An OSError in a few words, naming the file: "config.json: permission denied"."""
    if exc.strerror:
        return f"{path.name}: {exc.strerror.lower()}"
    return str(exc)
