"""Provides checkpoint files that load with torch.load(path, weights_only=True) and survive a kill mid-write, written
by a background thread from a copy of the state, so that training never waits on the disk."""

from __future__ import annotations

import math
import os
import threading
from pathlib import Path
from typing import Any, Callable

import numpy as np

TMP_SUFFIX = ".tmp"  # checkpoints/.<name>.pt.tmp while written; renamed over <name>.pt once complete


class NonFiniteWeights(ValueError):
    """A checkpoint whose weights are NaN or infinite: it is not written, so the last good one stays."""


def snapshot(value: Any) -> Any:
    """A copy of `value` that training can go on changing: tensors copied to the CPU, arrays copied into tensors,
    NumPy scalars as Python numbers, containers rebuilt. This is all a checkpoint costs the training thread."""
    import torch

    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu", copy=True)
    if isinstance(value, np.ndarray):
        return torch.from_numpy(value.copy())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {key: snapshot(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(snapshot(item) for item in value)
    return value


def check_finite(payload: dict[str, Any]) -> None:
    """Raise NonFiniteWeights when any floating-point weight of payload["model"] is NaN or infinite."""
    import torch

    for name, tensor in (payload.get("model") or {}).items():
        if isinstance(tensor, torch.Tensor) and tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            bad = next(v for v in tensor.flatten().tolist() if not math.isfinite(v))
            raise NonFiniteWeights(f"the weights are {bad} at step {payload.get('step')} ({name})")


def write_checkpoint(folder: Path, name: str, payload: dict[str, Any], before_rename: Callable[[], None] | None = None
                     ) -> Path:
    """Write folder/<name>.pt atomically: a temporary file, fsynced, renamed over the old one (then the folder
    fsynced). A kill at any moment leaves the old file or the new one, and at worst a temporary file that
    remove_temporary() clears. `before_rename` runs just before the rename (the event log's fsync)."""
    import torch

    check_finite(payload)
    folder.mkdir(exist_ok=True)
    path = folder / f"{name}.pt"
    tmp = folder / f".{name}.pt{TMP_SUFFIX}"
    try:
        with open(tmp, "wb") as fh:
            torch.save(payload, fh)
            fh.flush()
            os.fsync(fh.fileno())
        if before_rename is not None:
            before_rename()
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # the rename itself survives a power cut
    finally:
        os.close(dir_fd)
    return path


def remove_temporary(folder: Path) -> list[Path]:
    """Delete what a write killed half-way left behind (call with the run's lock held: no writer is alive)."""
    removed = []
    if folder.is_dir():
        for tmp in folder.glob(f".*.pt{TMP_SUFFIX}"):
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def load_checkpoint(path: Path, map_location: str = "cpu") -> dict[str, Any]:
    import torch

    return torch.load(path, map_location=map_location, weights_only=True)


class CheckpointWriter:
    """One background thread that writes checkpoints in the order they were handed over.

    A newer checkpoint of a name replaces one of that name still waiting (only the newest state matters), so the
    backlog is at most one per name however slow the disk. A failed write is raised on the training thread at
    its next submit() or wait().
    """

    def __init__(self, folder: Path, before_rename: Callable[[], None] | None = None):
        self.folder = folder
        self._before_rename = before_rename
        self._pending: dict[str, dict[str, Any]] = {}  # name -> payload, in the order submitted
        self._busy = False
        self._error: BaseException | None = None
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None

    def submit(self, name: str, payload: dict[str, Any]) -> None:
        """Queue a payload (a snapshot: the thread writes it later) to become folder/<name>.pt."""
        with self._changed:
            self._raise_error()
            self._pending.pop(name, None)
            self._pending[name] = payload
            if self._thread is None:
                # A daemon: the worker waits for it before it ends, and a killed process must not hang on it.
                self._thread = threading.Thread(target=self._write_forever, name="checkpoint-writer", daemon=True)
                self._thread.start()
            self._changed.notify_all()

    def wait(self) -> None:
        """Until every submitted checkpoint is on disk; raises a write's error."""
        with self._changed:
            while self._pending or self._busy:
                self._changed.wait()
            self._raise_error()

    def _raise_error(self) -> None:
        error, self._error = self._error, None
        if error is not None:
            raise error

    def _write_forever(self) -> None:
        while True:
            with self._changed:
                while not self._pending:
                    self._changed.wait()
                name = next(iter(self._pending))
                payload = self._pending.pop(name)
                self._busy = True
            try:
                write_checkpoint(self.folder, name, payload, self._before_rename)
            except BaseException as exc:  # noqa: BLE001 - handed to the training thread, which fails the run
                with self._changed:
                    self._error = self._error or exc
            finally:
                with self._changed:
                    self._busy = False
                    self._changed.notify_all()
