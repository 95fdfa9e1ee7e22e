"""Provides small tmpfs mounts for tests of read-only and full file systems (root only; skipped elsewhere)."""

from __future__ import annotations

import os
import subprocess
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest


@contextmanager
def tmpfs(path: Path, size: str = "4m", *options: str) -> Iterator[Path]:
    """A small tmpfs mounted at `path` for the block's time; skips the test where mounting is not allowed."""
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", ",".join([f"size={size}", *options]),
                                            "tmpfs", str(path)], capture_output=True).returncode != 0:
        pytest.skip("needs root and mount to make a read-only or full file system")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)
