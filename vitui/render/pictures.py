"""Provides rich renderables for looking inside image models: pictures in half blocks, attention heatmaps, legends.

A terminal cell holds two pixels stacked: the upper half block "▀" in the top pixel's colour on a
background of the bottom pixel's colour, in true colour. Pictures, heatmaps and overlays share one
drawing function so they line up cell for cell. Nothing here imports torch: events are plain lists.
"""

from __future__ import annotations

from typing import Sequence

from rich.console import Console, ConsoleOptions, Group, RenderResult
from rich.style import Style
from rich.table import Table
from rich.text import Text

from vitui.core.events import Attention, Misclassified
from vitui.render.formats import plain

HALF = "▀"
RGB = tuple[int, int, int]
# Viridis at five stops: perceptually even, readable for colour-blind eyes, dark = little attention.
VIRIDIS: list[RGB] = [(68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37)]
MAX_SIDE = 32  # pixels across a drawn picture at most: larger images are sampled down to fit


# --------------------------------------------------------------------------- drawing

def colormap(value: float) -> RGB:
    """0..1 -> an RGB colour on the viridis ramp (values outside are clamped)."""
    value = min(1.0, max(0.0, value)) * (len(VIRIDIS) - 1)
    i = min(int(value), len(VIRIDIS) - 2)
    frac = value - i
    a, b = VIRIDIS[i], VIRIDIS[i + 1]
    return tuple(round(a[c] + (b[c] - a[c]) * frac) for c in range(3))  # type: ignore[return-value]


def blocks(pixels: Sequence[Sequence[RGB]]) -> Text:
    """Rows of RGB pixels -> Text, two pixel rows per line (an odd last row gets the default background)."""
    text = Text(no_wrap=True, overflow="crop")
    styles: dict[tuple[RGB, RGB | None], Style] = {}
    for y in range(0, len(pixels), 2):
        top = pixels[y]
        bottom = pixels[y + 1] if y + 1 < len(pixels) else None
        for x, upper in enumerate(top):
            lower = bottom[x] if bottom is not None else None
            style = styles.get((upper, lower))
            if style is None:
                style = styles[(upper, lower)] = Style(color=_hex(upper), bgcolor=_hex(lower) if lower else None)
            text.append(HALF, style)
        if y + 2 < len(pixels):
            text.append("\n")
    return text


def _hex(rgb: RGB) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def display_size(height: int, width: int, max_side: int = MAX_SIDE) -> tuple[int, int]:
    """Drawn size in pixels: the image's own, or sampled down by a whole factor so the longer side fits."""
    step = max(1, -(-max(height, width) // max_side))
    return -(-height // step), -(-width // step)


def image_pixels(image: Sequence, max_side: int = MAX_SIDE) -> list[list[RGB]]:
    """H x W x C bytes (C = 1 grey or 3 RGB) -> rows of RGB tuples at the display size."""
    height, width = len(image), len(image[0])
    dh, dw = display_size(height, width, max_side)
    rows = []
    for y in range(dh):
        row = image[y * height // dh]
        out = []
        for x in range(dw):
            px = row[x * width // dw]
            out.append((px[0], px[0], px[0]) if len(px) == 1 else (px[0], px[1], px[2]))
        rows.append(out)
    return rows


def normalised(matrix: Sequence[Sequence[float]]) -> tuple[list[list[float]], float, float]:
    """Scale a map to 0..1 by its own range (so its structure shows) and return that range for the legend."""
    values = [v for row in matrix for v in row]
    lo, hi = min(values), max(values)
    span = hi - lo
    if span <= 1e-12:
        return [[0.5 for _ in row] for row in matrix], lo, hi
    return [[(v - lo) / span for v in row] for row in matrix], lo, hi


def upsample(matrix: Sequence[Sequence[float]], height: int, width: int) -> list[list[float]]:
    """Nearest-neighbour: each map cell covers the pixels of its patch."""
    rows, cols = len(matrix), len(matrix[0])
    return [[matrix[y * rows // height][x * cols // width] for x in range(width)] for y in range(height)]


def heatmap(matrix: Sequence[Sequence[float]], height: int | None = None, width: int | None = None) -> Text:
    """A map drawn in viridis at height x width pixels (default: one pixel per cell)."""
    scaled, _, _ = normalised(matrix)
    height, width = height or len(matrix), width or len(matrix[0])
    return blocks([[colormap(v) for v in row] for row in upsample(scaled, height, width)])


def overlay(image: Sequence, matrix: Sequence[Sequence[float]], max_side: int = MAX_SIDE) -> Text:
    """The picture dimmed where the map is low: shows which parts of the image the model looked at."""
    pixels = image_pixels(image, max_side)
    scaled, _, _ = normalised(matrix)
    weights = upsample(scaled, len(pixels), len(pixels[0]))
    return blocks([[tuple(round(c * (0.15 + 0.85 * w)) for c in px) for px, w in zip(row, wrow)]  # type: ignore[misc]
                   for row, wrow in zip(pixels, weights)])


def legend(lo: float, hi: float, width: int = 16) -> Text:
    """'0.0012 ████████ 0.1450': the colours of a heatmap and the values at its ends."""
    text = Text(f"{lo:.4f} ", no_wrap=True)
    for i in range(width):
        text.append("█", Style(color=_hex(colormap(i / max(1, width - 1)))))
    text.append(f" {hi:.4f}")
    return text


# --------------------------------------------------------------------------- attention

def map_count(event: Attention) -> tuple[int, int]:
    """(layers, heads) in an event."""
    layers = event.maps[0] if event.maps else []
    return len(layers), len(layers[0]) if layers else 0


def map_positions(event: Attention) -> int:
    """How many maps a probe has across layers: each layer, the rollout, and the pooling weights of a ViT with
    sequence pooling."""
    layers, _ = map_count(event)
    return layers + 1 + bool(event.pooling)


def select_map(event: Attention, probe: int, layer: int, head: int) -> tuple[list[list[float]], str]:
    """One map and its title. layer == layers means the rollout, layers + 1 the pooling weights (a ViT with
    sequence pooling); head == heads means the mean over heads."""
    layers, heads = map_count(event)
    if layer > layers and event.pooling:
        return event.pooling[probe], "sequence pooling: each patch's weight in what the head reads"
    if layer >= layers:
        return event.rollout[probe], "rollout over all layers" + (", read through the pooling" if event.pooling else "")
    per_head = event.maps[probe][layer]
    if head >= heads:
        grid = [[sum(h[r][c] for h in per_head) / heads for c in range(len(per_head[0][0]))]
                for r in range(len(per_head[0]))]
        return grid, f"layer {layer + 1}/{layers}, mean of {heads} heads"
    return per_head[head], f"layer {layer + 1}/{layers}, head {head + 1}/{heads}"


def probe_caption(event: Attention, probe: int) -> Text:
    names = event.class_names
    true, pred = event.labels[probe], event.predictions[probe]
    ok = true == pred
    text = Text(f"probe {probe + 1}/{len(event.labels)}  true ")
    text.append(_name(names, true), "bold")
    text.append("  pred ")
    text.append(_name(names, pred), "bold green" if ok else "bold red")
    text.append(" ✓" if ok else " ✗", "green" if ok else "red")
    return text


def _name(names: list[str], index: int) -> str:
    """A class's name as printed: class folder names are untrusted text."""
    return plain(names[index]) if 0 <= index < len(names) else str(index)


class AttentionPanel:
    """What the map is and its legend first, then the probe's caption, then image, heatmap and overlay side by side.

    The label and legend lead so they stay in sight above pictures that may not fit a short terminal.
    Narrow terminals (an 80-column tmux pane) drop the overlay rather than crop the pictures.
    """

    def __init__(self, event: Attention, probe: int, layer: int, head: int, note: str = ""):
        self.event, self.probe, self.note = event, probe, note
        self.matrix, self.title = select_map(event, probe, layer, head)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        image = self.event.images[self.probe]
        pixels = image_pixels(image)
        height, width = len(pixels), len(pixels[0])
        pictures = [blocks(pixels), heatmap(self.matrix, height, width)]
        if options.max_width >= 3 * width + 4:
            pictures.append(overlay(image, self.matrix))
        row = Table.grid(padding=(0, 2))
        row.add_row(*pictures)
        _, lo, hi = normalised(self.matrix)
        label = Text(f"step {self.event.step}  ", "dim")
        label.append(self.title, "bold")
        key = legend(lo, hi)
        # One line for label and legend when they fit side by side: every line saved is picture in sight.
        heading = [Text.assemble(label, "   ", key)] if label.cell_len + 3 + key.cell_len <= options.max_width \
            else [label, key]
        caption = probe_caption(self.event, self.probe)
        if self.note:
            caption.append(f"   {self.note}", "dim")
        yield Group(*heading, caption, row)


def attention_panel(event: Attention, *, probe: int = 0, layer: int | None = None,
                    head: int | None = None, note: str = "") -> AttentionPanel:
    """The panel for one probe; layer None shows the last map of the cycle (the pooling weights of a ViT with
    sequence pooling, else the rollout), == layers the rollout; head None (or == heads) the mean.

    `note` goes at the end of the caption line (the app puts which logged map is shown there).
    """
    _, heads = map_count(event)
    return AttentionPanel(event, probe, map_positions(event) - 1 if layer is None else layer,
                          heads if head is None else head, note)


def attention_report(event: Attention, *, layer: int | None = None, head: int | None = None,
                     probes: Sequence[int] | None = None) -> Group:
    """Every probe (or the chosen ones) as panels, one under another: what `vitui attention` prints."""
    chosen = range(len(event.labels)) if probes is None else probes
    parts = []
    for p in chosen:
        parts += [attention_panel(event, probe=p, layer=layer, head=head), Text("")]
    return Group(*parts)


# --------------------------------------------------------------------------- misclassified images

class MisclassifiedGrid:
    """Wrong predictions as a grid of pictures, each under its own "true → predicted" caption; as many columns
    as the width allows. The caption leads so that a picture scrolled into view comes with its labels."""

    def __init__(self, event: Misclassified, max_side: int = MAX_SIDE):
        self.event = event
        self.max_side = max_side

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        event = self.event
        yield mistakes_title(event)
        if not event.images:
            return
        _, cell = mistake_size(event, self.max_side)
        columns = max(1, (options.max_width + 1) // (cell + 1))
        grid = Table.grid(padding=(0, 1))
        for _ in range(columns):
            grid.add_column(width=cell, no_wrap=True)
        cells = [mistake_cell(event, i, self.max_side) for i in range(len(event.images))]
        for start in range(0, len(cells), columns):
            grid.add_row(*cells[start:start + columns])
        yield grid


def mistakes_title(event: Misclassified) -> Text:
    if not event.images:
        return Text("no misclassified images: every validation image was right", "green")
    return Text(f"{len(event.images)} misclassified images at step {event.step} (true → predicted)", "bold")


def mistake_size(event: Misclassified, max_side: int = MAX_SIDE) -> tuple[int, int]:
    """(lines, columns) one captioned picture takes: a caption line over the picture's half-block lines, at least
    12 columns wide so that captions stay readable."""
    height, width = display_size(len(event.images[0]), len(event.images[0][0]), max_side)
    return 1 + -(-height // 2), max(width, 12)


def mistake_cell(event: Misclassified, index: int, max_side: int = MAX_SIDE) -> Group:
    """One wrong prediction: its caption, then its picture."""
    caption = mistake_caption(_name(event.class_names, event.labels[index]),
                              _name(event.class_names, event.predictions[index]), mistake_size(event, max_side)[1])
    return Group(caption, blocks(image_pixels(event.images[index], max_side)))


def mistake_caption(true: str, pred: str, width: int) -> Text:
    """'cat → dog' in one line of `width` cells; long names are shortened alike, so both stay readable."""
    arrow = " → "
    room = width - len(arrow)
    if len(true) + len(pred) > room:
        # The predicted name gets at least half the room, more when the true one is short; the true one the rest.
        pred = _shorten(pred, min(len(pred), max(room // 2, room - len(true))))
        true = _shorten(true, room - len(pred))
    return Text.assemble((true, "bold"), (arrow, "red"), (pred, "bold red"), no_wrap=True, overflow="crop")


def _shorten(name: str, size: int) -> str:
    return name if len(name) <= size else name[:max(0, size - 1)] + "…"


def pick_by_step(events: Sequence[Attention], step: int | None) -> Attention:
    """The event logged at `step` or the last one before it (the first if `step` precedes them all); None: the newest."""
    if step is None:
        return events[-1]
    before = [e for e in events if e.step <= step]
    return before[-1] if before else events[0]
