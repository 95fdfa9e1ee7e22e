"""Provides the messages that carry run updates from the app's follower threads to its screens."""

from __future__ import annotations

from pathlib import Path

from textual.message import Message


class RunUpdated(Message):
    """New events reached a run's model; a newer one for the same run supersedes it in the queue."""

    def __init__(self, run_dir: Path):
        super().__init__()
        self.run_dir = run_dir

    def can_replace(self, message: Message) -> bool:
        # Views redraw from the model, not from the message, so only the newest one matters.
        return isinstance(message, RunUpdated) and message.run_dir == self.run_dir


class RunFinished(Message):
    """A followed run ended (completed, stopped or failed) and its final state is in the model."""

    def __init__(self, run_dir: Path, state: str, detail: str):
        super().__init__()
        self.run_dir = run_dir
        self.state = state
        self.detail = detail

