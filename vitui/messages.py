"""Provides the app's messages: run updates from its follower threads, and the requests screens make of the app.

Screens never call the app: they post one of these and the app, at the top of the DOM, handles it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from textual.message import Message

if TYPE_CHECKING:
    from vitui.core.experiments import RunConfig


class RunUpdated(Message, bubble=False):
    """New events reached a run's state; a newer one for the same run supersedes it in the queue.

    The app forwards it to the screen on top, which redraws from the run's state (so it does not bubble back).
    """

    def __init__(self, run_dir: Path):
        super().__init__()
        self.run_dir = run_dir

    def can_replace(self, message: Message) -> bool:
        # Views redraw from the run's state, not from the message, so only the newest one matters.
        return isinstance(message, RunUpdated) and message.run_dir == self.run_dir


class RunFinished(Message):
    """A followed run ended (completed, stopped or failed) and its final state is in its RunState."""

    def __init__(self, run_dir: Path, state: str, detail: str):
        super().__init__()
        self.run_dir = run_dir
        self.state = state
        self.detail = detail


class LaunchRequested(Message):
    """Start a worker for these settings and show its live screen."""

    def __init__(self, config: "RunConfig"):
        super().__init__()
        self.config = config


class OpenRun(Message):
    """Show a run: live if it is training (here or elsewhere), else its record."""

    def __init__(self, run_dir: Path):
        super().__init__()
        self.run_dir = run_dir


class ResumeRun(Message):
    """Continue a stopped, failed or crashed run from its last checkpoint and show it live."""

    def __init__(self, run_dir: Path):
        super().__init__()
        self.run_dir = run_dir


class ShowRuns(Message):
    """Show the runs browser (back to it if it is open underneath)."""


class ShowLauncher(Message):
    """Show the launcher (back to it if it is open underneath)."""


class StopRun(Message):
    """Ask a followed run's worker to stop gracefully; the app records why and says so."""

    def __init__(self, run_dir: Path):
        super().__init__()
        self.run_dir = run_dir
