"""Provides HelpScreen: every key of the screen underneath, read from its live bindings so the list cannot drift."""

from __future__ import annotations

import re

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import ActiveBinding, Binding
from textual.containers import VerticalScroll
from textual.dom import DOMNode
from textual.screen import ModalScreen, Screen
from textual.widgets import Static


def node_title(node: DOMNode) -> str:
    """What to call a screen or widget in the help: RunsBrowserScreen -> runs browser, the app -> everywhere."""
    if isinstance(node, App):
        return "everywhere"
    words = re.findall(r"[A-Z][a-z0-9]*", type(node).__name__)
    return " ".join(w.lower() for w in words if w != "Screen")


def active_keys(screen: Screen) -> list[ActiveBinding]:
    """The bindings that answer keys on `screen` now: the focused widget's, its containers', the screen's, the app's."""
    active = dict(screen.active_bindings)
    if screen.is_modal:  # a dialog stops the app's keys, except the ones the app binds with priority
        for binding in Binding.make_bindings(screen.app.BINDINGS):
            if binding.priority:
                active[binding.key] = ActiveBinding(screen.app, binding, True)
    return list(active.values())


def vitui_actions(node: DOMNode) -> set[str]:
    """The actions bound by vitui's own classes of a node (not those it inherits from Textual's)."""
    return {binding.action for cls in type(node).__mro__ if cls.__module__.startswith("vitui.")
            for binding in Binding.make_bindings(cls.__dict__.get("BINDINGS", []))}


def key_groups(screen: Screen) -> list[tuple[str, list[tuple[str, str]]]]:
    """(where, [(keys, what they do)]): the screen's keys first, then the focused widget's, then the app's.

    Keys bound to the same action in one place share a row ("q, ^q, ^c  quit"); in each place vitui's own
    keys come before those Textual binds for every screen or widget (tab, cursor keys). A key bound in two
    places shows only where it takes effect, as active_bindings resolves it.
    """
    app = screen.app
    groups: dict[DOMNode, dict[tuple[str, str], list[str]]] = {}
    for node, binding, *_ in active_keys(screen):
        description = binding.description or binding.action
        if description[:1].isupper():  # Textual's widgets write "Cursor up", vitui "cursor up"
            description = description.lower()
        groups.setdefault(node, {}).setdefault((binding.action, description), []).append(app.get_key_display(binding))
    order = sorted(groups, key=lambda node: (node is app, node is not screen))  # stable: widgets stay focus first
    out = []
    for node in order:
        ours = vitui_actions(node)
        rows = sorted(groups[node].items(), key=lambda item: item[0][0] not in ours)
        title = node_title(node) + (" (focused)" if node is screen.focused else "")
        out.append((title, [(", ".join(keys), description) for (_, description), keys in rows]))
    return out


def keys_text(groups: list[tuple[str, list[tuple[str, str]]]]) -> Group:
    """Each place's title over its keys, the keys of every place in one column."""
    width = max((len(keys) for _, rows in groups for keys, _ in rows), default=0)
    parts: list[Text | Table] = []
    for title, rows in groups:
        table = Table.grid(padding=(0, 2))
        table.add_column(min_width=width + 1, no_wrap=True)
        table.add_column()
        for keys, description in rows:
            table.add_row(Text(" " + keys, style="bold cyan"), description)
        parts += [Text(title, style="bold"), table, Text("")]
    return Group(*parts[:-1])


class HelpScreen(ModalScreen[None]):
    """The keys of the screen it was opened on, grouped by where they are bound; esc, ? or q closes it."""

    BINDINGS = [Binding("escape,question_mark,q", "dismiss", "close")]

    def __init__(self, screen: Screen):
        super().__init__()
        self.title_text = node_title(screen)
        self.groups = key_groups(screen)

    def compose(self) -> ComposeResult:
        # The box scrolls when the keys outgrow the terminal; the title and the hint, docked, stay in view.
        with VerticalScroll(id="help-box"):
            yield Static(f"keys: {self.title_text}", id="help-title")
            yield Static(keys_text(self.groups), id="help-keys")
            yield Static("esc, ? or q closes this; ↑ ↓ scroll", id="help-hint")
