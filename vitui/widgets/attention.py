"""Provides AttentionView, a Textual widget that browses a ViT's attention maps as they are logged.

Keys: i / I next / previous probe image, l / L next / previous layer (the rollout comes after the
last layer, then a sequence-pooling ViT's pooling weights), h / H next / previous head (the mean of all
heads comes after the last head),
[ / ] older / newer map, end back to the newest (and follow new maps as they arrive).
The view scrolls (arrows, page keys, the mouse wheel) when the pictures are taller than the terminal.
"""

from __future__ import annotations

from rich.console import RenderableType
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Static

from vitui.render.pictures import attention_panel, map_count, map_positions
from vitui.core.events import Attention


class AttentionView(VerticalScroll, can_focus=True):
    """Map label and legend, then the probe image, heatmap and overlay for the chosen probe, layer, head and step."""

    DEFAULT_CSS = """
    AttentionView { height: 1fr; padding: 0 1; }
    AttentionView > #attention-body { width: 100%; height: auto; }
    """
    BINDINGS = [
        # Not p: the run screen uses it to switch panels.
        Binding("i", "probe(1)", "image"), Binding("I", "probe(-1)", "prev image", show=False),
        Binding("l", "layer(1)", "layer"), Binding("L", "layer(-1)", "prev layer", show=False),
        Binding("h", "head(1)", "head"), Binding("H", "head(-1)", "prev head", show=False),
        Binding("left_square_bracket", "step(-1)", "older"), Binding("right_square_bracket", "step(1)", "newer"),
        # Instead of the scroll container's "end": a map fits in a few screens, home / page keys reach it all.
        Binding("end", "latest", "newest", show=False),
    ]

    def __init__(self, events: list[Attention] | None = None, **kwargs):
        super().__init__(**kwargs)
        self.events: list[Attention] = list(events or [])
        self.map_index: int | None = None  # None: follow the newest map
        self.probe_index = 0
        self.layer_index: int | None = None  # None: the last map of the cycle (pooling weights, else the rollout)
        self.head_index: int | None = None  # None: the mean over heads

    def compose(self) -> ComposeResult:
        yield Static(id="attention-body")

    def on_mount(self) -> None:
        self._draw()  # maps fed before the tab was mounted (is_mounted is still False here)

    # ---- feeding
    def add_event(self, event: Attention) -> None:
        """Append a newly logged map; the view moves to it only while it follows the newest."""
        self.events.append(event)
        if self.is_mounted:
            self._draw()

    @property
    def current(self) -> Attention | None:
        if not self.events:
            return None
        return self.events[-1 if self.map_index is None else self.map_index]

    # ---- keys
    def action_probe(self, delta: int) -> None:
        if self.current is not None:
            self.probe_index = (self.probe_index + delta) % len(self.current.labels)
            self._draw()

    def action_layer(self, delta: int) -> None:
        if self.current is not None:
            last = map_positions(self.current) - 1
            position = last if self.layer_index is None else self.layer_index
            position = (position + delta) % (last + 1)
            self.layer_index = None if position == last else position
            self._draw()

    def action_head(self, delta: int) -> None:
        if self.current is not None:
            _, heads = map_count(self.current)
            position = heads if self.head_index is None else self.head_index
            position = (position + delta) % (heads + 1)
            self.head_index = None if position == heads else position
            self._draw()

    def action_step(self, delta: int) -> None:
        if not self.events:
            return
        position = len(self.events) - 1 if self.map_index is None else self.map_index
        position = max(0, min(len(self.events) - 1, position + delta))
        self.map_index = None if position == len(self.events) - 1 else position
        self._draw()

    def action_latest(self) -> None:
        self.map_index = None
        self._draw()

    # ---- drawing
    def _draw(self) -> None:
        self.query_one("#attention-body", Static).update(self.content())

    def content(self) -> RenderableType:
        """What the view shows now: the chosen map with its label, legend and caption."""
        event = self.current
        if event is None:
            return Text("no attention maps yet: a ViT run logs them every attention_every steps and at the end\n"
                        "keys: i image  l layer  h head  [ ] older/newer  end newest", style="dim")
        _, heads = map_count(event)
        # A run's maps all have the same shape; clamp anyway so a stale choice never indexes past the end.
        probe = min(self.probe_index, len(event.labels) - 1)
        layer = None if self.layer_index is None or self.layer_index >= map_positions(event) - 1 else self.layer_index
        head = None if self.head_index is None or self.head_index >= heads else self.head_index
        position = len(self.events) if self.map_index is None else self.map_index + 1
        note = f"map {position}/{len(self.events)}" + (", following" if self.map_index is None else "")
        return attention_panel(event, probe=probe, layer=layer, head=head, note=note)
