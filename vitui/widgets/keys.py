"""Provides KeysInOrder: a focusable widget takes the keys of a burst (typed fast, pasted, sent by tmux) in order.

Textual hands every key of a burst to the widget that has the focus when the key arrives, and runs key bindings
(a field's backspace, the screen's tab, esc or `/`) only once the key has bubbled up to the App
(Textualize/textual#6605). So in "⌫⌫12" the text went in before the deletes, and in "/lr" or "3<tab>64" the keys
after the one that moves the focus still landed in the widget left behind. A widget with this mixin runs a
bound key's action as the key comes, and hands on a key that arrives after the focus has moved away.
"""

from __future__ import annotations

from typing import Any

from textual import events


class KeysInOrder:
    """Mixin, first among the bases of a focusable widget; TEXT_ENTRY widgets (fields) keep printable keys as
    text. Not a Widget itself: Textual would give it Widget's class settings (can_focus=False) over the widget's."""

    TEXT_ENTRY = False

    async def _on_key(self: Any, event: events.Key) -> None:
        if self.screen.focused is not self:  # has_focus lags: it follows the Focus / Blur messages
            event.stop()
            event.prevent_default()
            self.app.post_message(events.Key(event.key, event.character))
            return
        typed = self.TEXT_ENTRY and event.is_printable
        active = None if typed else self.screen.active_bindings.get(event.key)
        if active is not None and active.enabled and not active.binding.priority:
            if await self.app.run_action(active.binding.action, active.node):
                event.stop()
                event.prevent_default()
                return
        await super()._on_key(event)
