"""Provides what the real-worker app tests share: tiny settings for every experiment and a freeze watchdog.

Tiny settings keep each experiment's real worker to a few seconds on a 2-core machine while still producing
every kind of event its screen shows (samples, attention maps, mistakes, the final evaluation).
"""

from __future__ import annotations

import ctypes
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from app_fakes import screen_text

# Each experiment's overrides, by the data it needs: "mnist" and "dinos" come from the data folder,
# "cifar" is a small image folder passed as imagefolder:PATH.
TINY: dict[str, dict[str, str]] = {
    "mlp-mnist": {"per_class": "50", "iterations": "60", "eval_every": "20", "log_every": "10", "hidden": "16"},
    "cnn-cifar10": {"epochs": "2", "batch_size": "50", "width": "8", "dense": "32", "log_every": "2",
                    "threads": "1", "misclassified": "8"},
    "cnn-bn-cifar10": {"epochs": "2", "batch_size": "50", "width": "8", "dense": "32", "log_every": "2",
                       "threads": "1", "misclassified": "8"},
    "vit-cifar10": {"epochs": "2", "batch_size": "50", "dim": "32", "depth": "2", "heads": "2", "log_every": "2",
                    "warmup_epochs": "0", "attention_every": "3", "threads": "1", "misclassified": "8"},
    "airbench-cifar10": {"epochs": "2", "batch_size": "50", "width1": "8", "width2": "16", "width3": "16",
                         "log_every": "2", "threads": "1", "misclassified": "8"},
    "vit-cifar10-fast": {"epochs": "2", "batch_size": "50", "dim": "32", "depth": "2", "heads": "2", "log_every": "2",
                         "warmup_epochs": "0", "attention_every": "3", "threads": "1", "misclassified": "8"},
    "rnn-dinos": {"iterations": "3000", "sample_every": "500", "eval_every": "1000", "log_every": "100"},
    "lstm-dinos": {"iterations": "30", "sample_every": "10", "eval_every": "10", "log_every": "5", "hidden": "16",
                   "batch_size": "16"},
    "gru-dinos": {"iterations": "30", "sample_every": "10", "eval_every": "10", "log_every": "5", "hidden": "16",
                  "batch_size": "16"},
}
CIFAR_EXPERIMENTS = ("cnn-cifar10", "cnn-bn-cifar10", "vit-cifar10", "airbench-cifar10", "vit-cifar10-fast")

# The extra tabs each experiment's run must fill (beyond charts, log, results and config).
EXTRA_TABS: dict[str, tuple[str, ...]] = {
    "mlp-mnist": (),
    "cnn-cifar10": ("mistakes",),
    "cnn-bn-cifar10": ("mistakes",),
    "vit-cifar10": ("attention", "mistakes"),
    "airbench-cifar10": ("mistakes",),
    "vit-cifar10-fast": ("attention", "mistakes"),
    "rnn-dinos": ("names",),
    "lstm-dinos": ("names",),
    "gru-dinos": ("names",),
}


def tiny_overrides(experiment: str, cifar: Path) -> dict[str, str]:
    overrides = dict(TINY[experiment])
    if experiment in CIFAR_EXPERIMENTS:
        overrides["dataset"] = f"imagefolder:{cifar}"
    return overrides


class ScreenFrozen(Exception):
    """Raised in the app's thread by FreezeWatchdog: the live screen stopped redrawing while events arrived."""


def all_stacks() -> str:
    frames = sys._current_frames()
    names = {t.ident: t.name for t in threading.enumerate()}
    return "\n".join(f"--- thread {names.get(ident, ident)}\n" + "".join(traceback.format_stack(frame))
                     for ident, frame in frames.items())


class FreezeWatchdog:
    """Fails a Pilot test when the app stops answering, or the run screen stops redrawing, for `stall_s` while
    the run's events keep arriving.

    The run's state is fed by the app's follower thread even when the UI is stuck, so a thread compares it with
    two signs of life: a timer in the app (which also copies what the screen shows, for the failure message)
    and the run screen's last redraw. Not "the screen looks the same": a log line arriving while the charts
    are shown changes nothing in sight, and on a loaded machine the next event may be seconds away. On a
    freeze the thread keeps every thread's stack and raises ScreenFrozen in the app's thread to unwind it; the
    test fails on that, or on `check()`, with the stacks.
    """

    def __init__(self, app: Any, stall_s: float = 8.0):
        self.app = app
        self.stall_s = stall_s
        self.failure = ""
        self._frame: tuple[float, str] = (time.monotonic(), "")  # (when the app last looked, what it saw)
        self._done = threading.Event()
        self._app_thread = threading.get_ident()
        self._thread = threading.Thread(target=self._watch, name="freeze-watchdog", daemon=True)

    def __enter__(self) -> "FreezeWatchdog":
        self._timer = self.app.set_interval(0.25, self._look)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._done.set()
        self._timer.stop()
        self._thread.join(5)
        self.check()

    def check(self) -> None:
        if self.failure:
            raise AssertionError(self.failure)

    def _look(self) -> None:
        """In the app's loop: note that it runs, and what the screen shows."""
        self._frame = (time.monotonic(), screen_text(self.app))

    def _run_screen(self) -> tuple[int, float] | None:
        """(events the run's state has seen, when the run screen last redrew), or None off a run screen."""
        try:
            screen = self.app.screen
            return screen.run.events_seen, screen._last_refresh
        except Exception:  # noqa: BLE001 - not on a run screen (yet), or between screens
            return None

    def _watch(self) -> None:
        drawn_at, events_then, since = None, 0, time.monotonic()
        while not self._done.wait(0.25):
            now = time.monotonic()
            looked_at, shown = self._frame
            seen = self._run_screen()
            if seen is None:
                drawn_at, since = None, now
                continue
            events, last_draw = seen
            if last_draw != drawn_at:  # the screen redrew: it has shown what there was
                drawn_at, events_then, since = last_draw, events, now
                continue
            if events > events_then and now - since > self.stall_s:
                what = ("the app has not run a timer" if now - looked_at > self.stall_s
                        else "the run screen has not redrawn")
                self.failure = (f"{what} for {now - since:.1f}s while the run's events went from {events_then} "
                                f"to {events}; the screen shows:\n{shown}\nstacks:\n{all_stacks()}")
                print(self.failure, file=sys.stderr)  # shown with the test's failure, whichever exception wins
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(self._app_thread),
                                                           ctypes.py_object(ScreenFrozen))
                return
