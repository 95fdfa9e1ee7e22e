"""Provides small tmpfs mounts for tests of read-only and full file systems (root only; the test is skipped elsewhere)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest


def mount_tmpfs(path: Path, size: str = "4m", *options: str) -> None:
    """A small tmpfs at `path`; skips the test where mounting is not allowed (not root, no mount)."""
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", ",".join([f"size={size}", *options]),
                                            "tmpfs", str(path)], capture_output=True).returncode != 0:
        pytest.skip("needs root and mount to make a read-only or full file system")


@pytest.fixture
def mounts():
    """Mount points to unmount after the test, however it ends: append each one mounted."""
    made: list[Path] = []
    yield made
    for path in reversed(made):
        subprocess.run(["umount", "-l", str(path)], capture_output=True)
