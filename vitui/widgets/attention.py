"""Provides AttentionView, a Textual widget that browses a ViT's attention maps as they are logged.

Keys: i / I next / previous probe image, l / L next / previous layer (the rollout comes after the
last layer), h / H next / previous head (the mean of all heads comes after the last head),
[ / ] older / newer map, end back to the newest (and follow new maps as they arrive).
"""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.text import Text
from textual.binding import Binding
from textual.widget import Widget

from vitui.attention_view import attention_panel, map_count
from vitui.events import Attention


class AttentionView(Widget, can_focus=True):
    """Probe image, attention heatmap and overlay for the chosen probe, layer, head and logged step."""

    DEFAULT_CSS = """
    AttentionView { height: auto; min-height: 3; padding: 0 1; }
    AttentionView:focus { background: $boost; }
    """
    BINDINGS = [
        # Not p: the run screen uses it to switch panels.
        Binding("i", "probe(1)", "image"), Binding("I", "probe(-1)", "prev image", show=False),
        Binding("l", "layer(1)", "layer"), Binding("L", "layer(-1)", "prev layer", show=False),
        Binding("h", "head(1)", "head"), Binding("H", "head(-1)", "prev head", show=False),
        Binding("left_square_bracket", "step(-1)", "older"), Binding("right_square_bracket", "step(1)", "newer"),
        Binding("end", "latest", "newest", show=False),
    ]

    def __init__(self, events: list[Attention] | None = None, **kwargs):
        super().__init__(**kwargs)
        self.events: list[Attention] = list(events or [])
        self.map_index: int | None = None  # None: follow the newest map
        self.probe_index = 0
        self.layer_index: int | None = None  # None: the rollout (shown as position `layers` in the cycle)
        self.head_index: int | None = None  # None: the mean over heads

    # ---- feeding
    def add_event(self, event: Attention) -> None:
        """Append a newly logged map; the view moves to it only while it follows the newest."""
        self.events.append(event)
        if self.map_index is None:
            self.refresh(layout=True)

    @property
    def current(self) -> Attention | None:
        if not self.events:
            return None
        return self.events[-1 if self.map_index is None else self.map_index]

    # ---- keys
    def action_probe(self, delta: int) -> None:
        if self.current is not None:
            self.probe_index = (self.probe_index + delta) % len(self.current.labels)
            self.refresh(layout=True)

    def action_layer(self, delta: int) -> None:
        if self.current is not None:
            layers, _ = map_count(self.current)
            position = layers if self.layer_index is None else self.layer_index
            position = (position + delta) % (layers + 1)
            self.layer_index = None if position == layers else position
            self.refresh(layout=True)

    def action_head(self, delta: int) -> None:
        if self.current is not None:
            _, heads = map_count(self.current)
            position = heads if self.head_index is None else self.head_index
            position = (position + delta) % (heads + 1)
            self.head_index = None if position == heads else position
            self.refresh(layout=True)

    def action_step(self, delta: int) -> None:
        if not self.events:
            return
        position = len(self.events) - 1 if self.map_index is None else self.map_index
        position = max(0, min(len(self.events) - 1, position + delta))
        self.map_index = None if position == len(self.events) - 1 else position
        self.refresh(layout=True)

    def action_latest(self) -> None:
        self.map_index = None
        self.refresh(layout=True)

    # ---- drawing
    def render(self) -> RenderableType:
        event = self.current
        if event is None:
            return Text("no attention maps yet: a ViT run logs them every attention_every steps and at the end",
                        style="dim")
        layers, heads = map_count(event)
        # A run's maps all have the same shape; clamp anyway so a stale choice never indexes past the end.
        probe = min(self.probe_index, len(event.labels) - 1)
        layer = None if self.layer_index is None or self.layer_index >= layers else self.layer_index
        head = None if self.head_index is None or self.head_index >= heads else self.head_index
        position = len(self.events) if self.map_index is None else self.map_index + 1
        follow = "  (following)" if self.map_index is None else ""
        header = Text(f"map {position}/{len(self.events)} at step {event.step}{follow}", style="bold")
        header.append("   i image  l layer  h head  [ ] older/newer  end newest", style="dim")
        return Group(header, attention_panel(event, probe=probe, layer=layer, head=head))
