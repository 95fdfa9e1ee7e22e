"""Provides a run's note, tags and archived flag (notes.json in its folder), changed under a lock and replaced
atomically, so two vituis changing one run at once both keep their change and a reader never sees half a file."""

from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

from vitui.core import jsonfile, runfolder

NOTES_LOCK = ".notes.lock"  # taken while notes.json is read, changed and replaced
MAX_TAG = 40
MAX_NOTE = 2000


@contextmanager
def _changing(run_dir: Path) -> Iterator[None]:
    fd = os.open(run_dir / NOTES_LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing drops the lock


def update_notes(run_dir: Path, change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """Read notes.json, apply `change` to it and write it back, all under the run's notes lock; the new notes."""
    with _changing(run_dir):
        notes, _ = jsonfile.read_object(run_dir / runfolder.NOTES)
        notes = runfolder.clean_notes(notes)
        change(notes)
        runfolder.write_json_atomic(run_dir / runfolder.NOTES, notes)
    return notes


def set_note(run_dir: Path, text: str) -> str:
    """Replace the run's note ("" clears it); ValueError for a note too long or holding control characters."""
    text = text.strip()
    if len(text) > MAX_NOTE:
        raise ValueError(f"a note is at most {MAX_NOTE} characters; this one has {len(text)}")
    if any(ord(c) < 32 and c not in "\n\t" or c == "\x7f" for c in text):
        raise ValueError("a note cannot hold control characters (escape sequences); write plain text")
    return update_notes(run_dir, lambda notes: notes.update(note=text))["note"]


def check_tag(tag: str) -> str:
    if not tag or len(tag) > MAX_TAG or not all(c.isalnum() or c in "-_.:/" for c in tag):
        raise ValueError(f"bad tag {tag!r}: use up to {MAX_TAG} letters, digits and - _ . : /")
    return tag


def parse_tag_changes(changes: list[str]) -> tuple[list[str], list[str]]:
    """("+best", "-old", "new") -> tags to add (best, new) and to remove (old); ValueError for a bad tag."""
    add, remove = [], []
    for change in changes:
        if change.startswith("-"):
            remove.append(check_tag(change[1:]))
        else:
            add.append(check_tag(change.removeprefix("+")))
    return add, remove


def change_tags(run_dir: Path, add: list[str], remove: list[str]) -> list[str]:
    """Add and remove tags (a tag is kept once, in the order it came); the run's tags after."""
    def change(notes: dict[str, Any]) -> None:
        tags = [t for t in notes["tags"] if t not in remove]
        notes["tags"] = tags + [t for t in dict.fromkeys(add) if t not in tags]
    return update_notes(run_dir, change)["tags"]


def set_tags(run_dir: Path, tags: list[str]) -> list[str]:
    """Replace the run's tags (the browser's `t` edits them all at once)."""
    tags = [check_tag(t) for t in dict.fromkeys(tags)]
    return update_notes(run_dir, lambda notes: notes.update(tags=tags))["tags"]


def set_archived(run_dir: Path, archived: bool) -> None:
    update_notes(run_dir, lambda notes: notes.update(archived=archived))
