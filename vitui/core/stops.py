"""Provides the words for how a run stopped: the reasons sent with a stop request, and an ended run described.

The worker records the reason of the first stop request it gets as its final status detail, so the run
folder, the app and the CLI all say what happened ("stopped by SIGTERM"), not a guess. No Textual.
"""

from __future__ import annotations

import os
import signal

BY_USER = "stopped by the user"  # `s` on the live screen of a run this app started
ON_QUIT = "stopped by the user on quitting vitui"  # the quit dialog's "stop & quit"
FROM_BROWSER = "stopped from the runs browser"  # `s` on a run started elsewhere, opened in the browser
FROM_WATCH = "stopped from vitui watch"  # `s` on a run started elsewhere, opened with `vitui watch`
PARENT_EXITED = "stopped because the vitui that started it exited without leaving it running"


def by_signal(signum: int) -> str:
    """The reason for a stop asked by a signal; SIGINT is Ctrl-C only when it came through our terminal."""
    if signum == signal.SIGINT:
        return "stopped by Ctrl-C" if in_terminal_foreground() else "stopped by SIGINT"
    return f"stopped by {signal.Signals(signum).name}"


def in_terminal_foreground() -> bool:
    """True when this process's group is its terminal's foreground group: the one a Ctrl-C there reaches."""
    try:
        fd = os.open("/dev/tty", os.O_RDONLY | os.O_NOCTTY)
    except OSError:
        return False  # no controlling terminal: a SIGINT here came from kill
    try:
        return os.tcgetpgrp(fd) == os.getpgrp()
    except OSError:
        return False
    finally:
        os.close(fd)


def describe_end(state: str, detail: str) -> str:
    """How a run ended in a few words: "stopped by SIGTERM", "failed: OSError: ...", "completed"."""
    if not detail:
        return state
    if detail.startswith(state):  # the reasons above already say "stopped ..."
        return detail
    return f"{state}: {detail}"
