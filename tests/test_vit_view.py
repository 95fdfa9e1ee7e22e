"""Tests of the terminal views: heatmap colours for a known matrix, legend, panels, the widget's keys, the CLI."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from rich.console import Console
from textual.app import App, ComposeResult
from textual.widgets import TabbedContent
from typer.testing import CliRunner

from app_fakes import run_async, screen_text, turn_wheel, wait_until, widget_text, write_run
from vitui.app import make_app
from vitui.cli import app
from vitui.core.events import Attention, Misclassified
from vitui.core.experiments import resolve
from vitui.render.pictures import (
    HALF,
    VIRIDIS,
    MisclassifiedGrid,
    attention_panel,
    colormap,
    heatmap,
    legend,
    mistake_caption,
    pick_by_step,
    select_map,
)
from vitui.screens.run import RunDetailScreen
from vitui.widgets.attention import AttentionView
from vitui.widgets.misclassified import MisclassifiedView


def fake_attention(step: int = 10, layers: int = 2, heads: int = 3, probes: int = 2, grid: int = 2) -> Attention:
    """A hand-made event (no model): map values encode probe, layer and head so selections can be checked."""
    maps = [[[[[p + 10 * l + 100 * h + r * grid + c for c in range(grid)] for r in range(grid)]
               for h in range(heads)] for l in range(layers)] for p in range(probes)]
    rollout = [[[float(r * grid + c) for c in range(grid)] for r in range(grid)] for _ in range(probes)]
    images = [[[[40 * p, 100, 200] for _ in range(4 * grid)] for _ in range(4 * grid)] for p in range(probes)]
    return Attention(step=step, grid=grid, labels=list(range(probes)), predictions=[0] * probes,
                     class_names=["cat", "dog", "frog"], images=images, maps=maps, rollout=rollout)


def cell_colours(text, console: Console) -> list[tuple[tuple, tuple]]:
    """(foreground, background) RGB of each drawn cell, read from the rendered segments."""
    cells = []
    for seg in console.render(text):
        if seg.text == HALF:
            bg = seg.style.bgcolor
            cells.append((tuple(seg.style.color.triplet), tuple(bg.triplet) if bg else None))
    return cells


def test_colormap_ends_and_middle():
    assert colormap(0.0) == VIRIDIS[0]
    assert colormap(1.0) == VIRIDIS[-1]
    assert colormap(0.5) == VIRIDIS[2]
    assert colormap(-3) == VIRIDIS[0] and colormap(7) == VIRIDIS[-1]


def test_heatmap_of_a_known_matrix():
    console = Console(color_system="truecolor", width=40)
    # Values 0..4 map to 0, .25, .5, .75, 1 of the range: exactly the five viridis stops.
    text = heatmap([[0.0, 4.0], [2.0, 1.0]])
    assert text.plain == HALF * 2  # 2 x 2 cells: one line, the top row in front, the bottom row behind
    assert cell_colours(text, console) == [(VIRIDIS[0], VIRIDIS[2]), (VIRIDIS[4], VIRIDIS[1])]
    # Drawn at 4 x 4 pixels, each cell covers 2 x 2 pixels: 2 lines of 4 half blocks.
    big = heatmap([[0.0, 4.0], [2.0, 1.0]], 4, 4)
    assert big.plain == (HALF * 4 + "\n") + HALF * 4
    colours = cell_colours(big, console)
    assert colours[:4] == [(VIRIDIS[0], VIRIDIS[0])] * 2 + [(VIRIDIS[4], VIRIDIS[4])] * 2
    assert colours[4:] == [(VIRIDIS[2], VIRIDIS[2])] * 2 + [(VIRIDIS[1], VIRIDIS[1])] * 2


def test_flat_map_and_legend():
    console = Console(color_system="truecolor", width=40)
    # A flat map has no range: drawn mid-ramp. One pixel row: the lower half is left to the terminal.
    assert cell_colours(heatmap([[0.3, 0.3]]), console) == [(colormap(0.5), None)] * 2
    text = legend(0.0012, 0.145, width=4)
    assert text.plain == "0.0012 ████ 0.1450"


def test_select_map_layers_heads_rollout_and_mean():
    event = fake_attention()
    grid, title = select_map(event, probe=1, layer=1, head=2)
    assert grid[0][0] == 1 + 10 + 200 and title == "layer 2/2, head 3/3"
    grid, title = select_map(event, probe=0, layer=0, head=3)  # head == heads: mean over heads
    assert grid[0][0] == (0 + 100 + 200) / 3 and "mean of 3 heads" in title
    grid, title = select_map(event, probe=0, layer=2, head=0)  # layer == layers: rollout
    assert grid == event.rollout[0] and title == "rollout over all layers"


def test_attention_panel_and_misclassified_grid_render():
    event = fake_attention()
    console = Console(color_system="truecolor", width=100, record=True)
    console.print(attention_panel(event, probe=1, layer=0, head=1))
    out = console.export_text()
    assert "true dog" in out and "pred cat" in out and "layer 1/2, head 2/3" in out and "step 10" in out
    wrong = Misclassified(step=5, class_names=["cat", "dog"], images=[[[[9]] * 6] * 6] * 3,
                          labels=[0, 1, 0], predictions=[1, 0, 1])
    console = Console(color_system="truecolor", width=30, record=True)
    console.print(MisclassifiedGrid(wrong))
    out = console.export_text()
    assert "3 misclassified images" in out and out.count("→ dog") == 2 and out.count("→ cat") == 1


def test_pick_by_step():
    events = [fake_attention(step=s) for s in (10, 20, 30)]
    assert pick_by_step(events, None).step == 30
    assert pick_by_step(events, 25).step == 20
    assert pick_by_step(events, 5).step == 10


@pytest.mark.app
def test_attention_widget_keys_cycle_and_step():
    class AttentionApp(App):
        def compose(self) -> ComposeResult:
            yield AttentionView([fake_attention(step=10), fake_attention(step=20)])

    async def scenario() -> None:
        app = AttentionApp()
        async with app.run_test(size=(110, 40)) as pilot:
            view = app.query_one(AttentionView)
            view.focus()
            assert (view.layer_index, view.head_index, view.map_index) == (None, None, None)
            await pilot.press("l", "h", "h", "i")
            assert (view.layer_index, view.head_index, view.probe_index) == (0, 1, 1)
            await pilot.press("L", "L")  # back past the first layer to the rollout, then the last layer
            assert view.layer_index == 1
            await pilot.press("left_square_bracket")
            assert view.current.step == 10
            view.add_event(fake_attention(step=30))  # not following: stays on the older map
            assert view.current.step == 10
            await pilot.press("end")
            assert view.current.step == 30
            await pilot.pause()
            body = view.query_one("#attention-body")
            lines = widget_text(body).splitlines()
            assert "step 30" in lines[0] and "layer 2/2, head 2/3" in lines[0] and "█" in lines[0]  # label, legend
            assert "probe 2/2" in lines[1] and "map 3/3, following" in lines[1]
            assert body.size.height == 1 + 1 + 4  # label and legend, caption, 8 pixel rows

    asyncio.run(scenario())


def write_fake_run(folder: Path, events: list) -> Path:
    """A run folder written by hand (no training): config, status and an events log."""
    run = folder / "20260101-000000-vit-fake"
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"task": "image", "model": "vit", "experiment": "vit-fake"}))
    (run / "status.json").write_text(json.dumps({"state": "completed"}))
    (run / "events.jsonl").write_text("".join(json.dumps(e.to_dict()) + "\n" for e in events))
    return run


def test_cli_attention_and_misclassified(tmp_path):
    wrong = Misclassified(step=5, class_names=["cat", "dog"], images=[[[[9, 9, 9]] * 4] * 4],
                          labels=[0], predictions=[1])
    write_fake_run(tmp_path, [fake_attention(step=10), fake_attention(step=20), wrong])
    runner = CliRunner()
    result = runner.invoke(app, ["attention", "vit-fake", "--runs-dir", str(tmp_path), "--step", "15",
                                 "--layer", "2", "--head", "1", "--probe", "2"])
    assert result.exit_code == 0, result.output
    assert "attention at step 10" in result.output and "layer 2/2, head 1/3" in result.output
    assert "probe 2/2" in result.output and "probe 1/2" not in result.output
    result = runner.invoke(app, ["attention", "vit-fake", "--runs-dir", str(tmp_path)])
    assert result.exit_code == 0 and "rollout over all layers" in result.output and "step 20" in result.output
    result = runner.invoke(app, ["attention", "vit-fake", "--runs-dir", str(tmp_path), "--layer", "9"])
    assert result.exit_code == 2 and "use 1..2 or rollout" in result.output
    result = runner.invoke(app, ["misclassified", "vit-fake", "--runs-dir", str(tmp_path)])
    assert result.exit_code == 0 and "→ dog" in result.output


def test_cli_attention_on_a_run_without_maps(tmp_path):
    write_fake_run(tmp_path, [])
    result = CliRunner().invoke(app, ["attention", "vit-fake", "--runs-dir", str(tmp_path)])
    assert result.exit_code == 2 and "no attention maps" in result.output


def test_narrow_terminal_drops_the_overlay_instead_of_cropping():
    event = fake_attention(grid=8)  # 32 x 32 pixel images: 32 columns per picture
    wide = Console(color_system="truecolor", width=110, record=True)
    wide.print(attention_panel(event))
    narrow = Console(color_system="truecolor", width=80, record=True)
    narrow.print(attention_panel(event))
    wide_row = wide.export_text().splitlines()[2]  # under the label-and-legend line and the caption
    narrow_row = narrow.export_text().splitlines()[2]
    assert wide_row.count(HALF) == 3 * 32 and narrow_row.count(HALF) == 2 * 32


@pytest.mark.app
def test_finished_vit_run_in_the_app_has_attention_and_mistakes_tabs(tmp_path):
    wrong = Misclassified(step=30, class_names=["cat", "dog", "frog"], images=[[[[9, 9, 9]] * 8] * 8] * 2,
                          labels=[0, 2], predictions=[1, 1])
    events = [fake_attention(step=10), fake_attention(step=20), fake_attention(step=30), wrong]
    run_dir = write_run(tmp_path, "20250101-120000-vit-cifar10", resolve("vit-cifar10"), events, "completed")

    @run_async
    async def scenario() -> None:
        app = make_app(tmp_path, watch=run_dir)
        async with app.run_test(size=(110, 40)) as pilot:
            await wait_until(pilot, lambda: isinstance(app.screen, RunDetailScreen))
            screen = app.screen
            await wait_until(pilot, lambda: screen.query(AttentionView) and screen.query(MisclassifiedView)
                             and screen.query_one(MisclassifiedView).event is not None, what="extra panels")
            view = screen.query_one(AttentionView)
            assert [e.step for e in view.events] == [10, 20, 30]
            screen.query_one(TabbedContent).active = "extra-attention"
            await pilot.pause()
            view.focus()
            await pilot.press("i", "left_square_bracket")
            assert view.probe_index == 1 and view.current.step == 20

    scenario()


CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
# Five mistakes on 32 x 32 pictures, as CIFAR-10's: each caption names the true class and the next one.
CAPTIONS = [f"{CIFAR_CLASSES[i]} → {CIFAR_CLASSES[i + 1]}" for i in range(5)]


def vit_run_at_cifar_size(tmp_path: Path) -> Path:

    wrong = Misclassified(step=30, class_names=CIFAR_CLASSES, labels=list(range(5)), predictions=list(range(1, 6)),
                          images=[[[[30 * i, 90, 200]] * 32] * 32 for i in range(5)])
    events = [fake_attention(step=10, grid=8), fake_attention(step=30, grid=8), wrong]  # grid 8: 32 x 32 images
    return write_run(tmp_path, "20250101-120000-vit-cifar10", resolve("vit-cifar10"), events, "completed")


async def open_tab(pilot, app, presses: int):
    """The run's record with its extra tabs filled, then `p` pressed `presses` times."""

    await wait_until(pilot, lambda: isinstance(app.screen, RunDetailScreen), what="the run's record")
    await wait_until(pilot, lambda: app.screen.query(MisclassifiedView)
                     and app.screen.query_one(MisclassifiedView).event is not None, what="the extra tabs")
    await pilot.press(*"p" * presses)
    await pilot.pause()


@pytest.mark.app
def test_attention_tab_at_80x24_puts_label_and_legend_first_and_scrolls(tmp_path):
    @run_async
    async def scenario() -> None:
        app = make_app(tmp_path, watch=vit_run_at_cifar_size(tmp_path))
        async with app.run_test(size=(80, 24)) as pilot:
            await open_tab(pilot, app, 4)  # charts -> log -> results -> config -> attention
            view = app.screen.query_one(AttentionView)
            assert app.focused is view
            lines = screen_text(app).splitlines()
            assert "step 30  rollout over all layers" in lines[5] and "█" * 16 in lines[5]  # label and legend
            assert "probe 1/2" in lines[6] and "map 2/2, following" in lines[6]
            assert sum(HALF * 32 in line for line in lines) == 16  # the whole 32-pixel picture is in sight
            await pilot.press("l", "h")
            assert "layer 1/2, head 1/3" in screen_text(app).splitlines()[5]
            # A shorter view cuts the pictures: the keys and the wheel bring the rest into sight. (Held to the 14
            # rows it has in an 80x20 terminal: below 80x24 the app itself shows one "terminal too small" line.)
            view.styles.max_height = 14
            await pilot.pause()
            assert view.max_scroll_y == 4
            await pilot.press("down")
            assert view.scroll_y == 1
            await turn_wheel(pilot, view)
            assert view.scroll_y > 1
            await pilot.press("pagedown")
            await pilot.pause()
            assert view.scroll_y == view.max_scroll_y
            assert sum(HALF * 32 in line for line in screen_text(app).splitlines()) == 14  # the picture's last rows
            await turn_wheel(pilot, view, down=False)
            assert view.scroll_y < view.max_scroll_y

    scenario()


@pytest.mark.app
def test_mistakes_tab_at_80x24_scrolls_to_every_caption_by_keys_and_wheel(tmp_path):
    def captions_in_sight() -> set[str]:
        text = screen_text(app)
        return {caption for caption in CAPTIONS if caption in text}

    app = make_app(tmp_path, watch=vit_run_at_cifar_size(tmp_path))

    @run_async
    async def scenario() -> None:
        async with app.run_test(size=(80, 24)) as pilot:
            await open_tab(pilot, app, 5)  # ... -> attention -> mistakes
            view = app.screen.query_one(MisclassifiedView)
            assert app.focused is view
            lines = screen_text(app).splitlines()
            assert "5 misclassified images at step 30 (true → predicted)" in lines[5]
            assert CAPTIONS[0] in lines[6] and CAPTIONS[1] in lines[6]  # each caption above its picture
            seen = captions_in_sight()
            while view.scroll_y < view.max_scroll_y:
                await pilot.press("pagedown")
                seen |= captions_in_sight()
            assert seen == set(CAPTIONS)
            await pilot.press("home")
            assert view.scroll_y == 0
            seen = captions_in_sight()
            while view.scroll_y < view.max_scroll_y:
                await turn_wheel(pilot, view)
                seen |= captions_in_sight()
            assert seen == set(CAPTIONS)
            # At the end the last caption and the whole of its picture are in sight, above the footer.
            lines = screen_text(app).splitlines()
            last = next(i for i, line in enumerate(lines) if CAPTIONS[-1] in line)
            assert all(HALF * 32 in line for line in lines[last + 1:last + 17]) and last + 17 <= len(lines) - 1

    scenario()


def test_mistake_captions_shorten_both_names_to_fit():
    assert mistake_caption("cat", "dog", 12).plain == "cat → dog"
    assert mistake_caption("automobile", "airplane", 12).plain == "auto… → air…"
    assert mistake_caption("cat", "automobile", 12).plain == "cat → autom…"
    assert mistake_caption("automobile", "airplane", 32).plain == "automobile → airplane"
