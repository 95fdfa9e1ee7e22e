"""Provides the completion notice: a terminal bell, or a desktop notification through the terminal's OSC 9 or
OSC 777 escape, when a run the app follows ends. Off unless asked for (`vitui --notify MODE`, or $VITUI_NOTIFY).

OSC 9 is understood by iTerm2, Windows Terminal, WezTerm, kitty and ConEmu; OSC 777 by foot, WezTerm and the
VTE terminals (GNOME Terminal, Tilix); tmux passes neither on unless allow-passthrough is on. A terminal that
knows neither ignores the sequence.
"""

from __future__ import annotations

import os

MODES = ("off", "bell", "osc9", "osc777")
ENV = "VITUI_NOTIFY"


def notice_mode(value: str | None = None) -> str:
    """The mode asked for (the argument, else $VITUI_NOTIFY, else off); ValueError naming the modes for another."""
    mode = (value if value is not None else os.environ.get(ENV, "off")).strip().lower() or "off"
    if mode not in MODES:
        raise ValueError(f"bad notify mode {mode!r}: choose {', '.join(MODES)}")
    return mode


def _plain(text: str, banned: str = "") -> str:
    """No control characters (they would end the escape early or start another) and none of `banned`."""
    return "".join(c for c in text if c.isprintable() and c not in banned)


def notice_sequence(mode: str, title: str, body: str) -> str:
    """What to write to the terminal for a notice ("" for off)."""
    if mode == "bell":
        return "\a"
    if mode == "osc9":
        return f"\x1b]9;{_plain(title)}: {_plain(body)}\x07"
    if mode == "osc777":
        return f"\x1b]777;notify;{_plain(title, ';')};{_plain(body, ';')}\x07"
    return ""
