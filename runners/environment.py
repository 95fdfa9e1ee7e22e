"""Provides the description of where a run trained, for its env.json: Python, torch, CUDA and cuDNN, the GPUs, the
ranks, the host, the exact command line, and the git commit of the code with a flag for uncommitted changes when the
code is a git checkout."""

from __future__ import annotations

import platform
import socket
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from runners.system import GpuReader

CODE_DIR = Path(__file__).resolve().parent.parent  # the checkout (or installed tree) the worker runs from


def git_state(folder: Path = CODE_DIR) -> dict[str, Any] | None:
    """{"commit": sha, "dirty": bool} when `folder` is in a git checkout (and git is installed), else None. Dirty means
    tracked files changed; untracked ones (a runs/ folder) do not count."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True, timeout=10,
                              check=True).stdout.strip()
    try:
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit, "dirty": dirty}


def torch_versions() -> dict[str, Any]:
    """The installed torch's version, and the CUDA and cuDNN it was built with where the task loaded torch (a NumPy
    task does not, and loading it only to ask would cost seconds): None then."""
    try:
        version = metadata.version("torch")  # the same whether loaded or not, so runs of every task compare
    except metadata.PackageNotFoundError:
        version = None
    torch = sys.modules.get("torch")
    if torch is None:
        return {"torch": version, "cuda": None, "cudnn": None}
    cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    return {"torch": version, "cuda": torch.version.cuda, "cudnn": cudnn}


def gpu_names() -> list[str]:
    """The visible GPUs' names, from NVML (no CUDA context is made for it), else from torch when it is loaded."""
    names = [str(gpu["name"]) for gpu in GpuReader().read()]
    torch = sys.modules.get("torch")
    if not names and torch is not None and torch.cuda.is_available():
        names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return names


def describe(world_size: int, command: list[str] | None) -> dict[str, Any]:
    """env.json's content. `command` is the command line that started the run (the CLI's or the app's, or torchrun's),
    which a worker process cannot see; without it, this process's own."""
    return {
        "python": platform.python_version(),
        **torch_versions(),  # cuda: the CUDA torch was built with; None for a CPU build
        "gpus": gpu_names(),
        "world_size": world_size,
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "command": command or list(sys.orig_argv),
        "git": git_state(),
    }
