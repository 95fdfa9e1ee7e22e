"""Tests of the names panel, headless with Pilot: samples scroll in, novelty is charted, +/- ask for a temperature."""

from __future__ import annotations

import asyncio

import pytest
from textual.app import App, ComposeResult
from textual.widgets import RichLog

from app_fakes import burst
from vitui.core.events import Samples
from vitui.widgets.names import NamesPanel, samples_line


def samples(step: int, texts: list[str], novel: list[bool], temperature: float = 1.0) -> Samples:
    return Samples(step=step, temperature=temperature, texts=texts, novel=novel, novelty=sum(novel) / len(novel))


class PanelApp(App):
    """A tiny host app that records the temperature requests the panel posts."""

    def __init__(self, backlog: list[Samples] = ()):
        super().__init__()
        self.backlog = list(backlog)
        self.requests: list[float] = []

    def compose(self) -> ComposeResult:
        panel = NamesPanel(id="names")
        for event in self.backlog:  # fed before mounting, as a screen replaying a run log would
            panel.add_event(event)
        yield panel

    def on_names_panel_temperature_changed(self, message: NamesPanel.TemperatureChanged) -> None:
        self.requests.append(message.temperature)


def header_text(panel: NamesPanel) -> str:
    return str(panel.query_one("#names-header").render())


def log_text(panel: NamesPanel) -> str:
    return "\n".join(line.text for line in panel.query_one("#names-log", RichLog).lines)


def test_line_marks_copies_and_highlights_novel_names():
    line = samples_line(samples(2000, ["turosaurus", "velociraptor"], [True, False]))
    assert line.plain.split() == ["2,000", "T", "1", "novel", "1/2", "turosaurus", "*velociraptor"]
    styles = {line.plain[s.start:s.end]: str(s.style) for s in line.spans}
    assert styles["turosaurus"] == "bold green" and styles["*velociraptor"] == "dim"


@pytest.mark.app
def test_samples_scroll_in_and_novelty_is_tracked():
    asyncio.run(samples_scroll_in())  # no pytest async plugin here: run the Pilot under asyncio


async def samples_scroll_in():
    app = PanelApp(backlog=[samples(1, ["xqzt", "aaab"], [True, True])])
    async with app.run_test(size=(100, 30)) as pilot:
        panel = app.query_one(NamesPanel)
        panel.add_event(samples(2000, ["aurus", "stegosaurus"], [True, False]))
        panel.add_event(samples(4000, ["rhomaleosaurus", "stegosaurus", "tyrannosaurus", "aurus"],
                                  [True, False, False, True]))
        await pilot.pause()
        text = log_text(panel)
        assert text.index("xqzt") < text.index("*stegosaurus") < text.index("rhomaleosaurus")
        assert "4,000" in text and "novel 2/4" in text
        assert panel.history == [(1, 1.0), (2000, 0.5), (4000, 0.5)]
        header = header_text(panel)
        assert "iteration 4,000" in header and "novelty 50%" in header and "temperature 1" in header


@pytest.mark.app
def test_plus_and_minus_ask_for_a_new_temperature():
    asyncio.run(plus_and_minus())


async def plus_and_minus():
    app = PanelApp(backlog=[samples(1, ["a"], [True], temperature=0.8)])
    async with app.run_test(size=(100, 30)) as pilot:
        panel = app.query_one(NamesPanel)
        panel.focus()
        await pilot.press("plus", "plus", "minus")
        await pilot.pause()
        assert app.requests == [0.9, 1.0, 0.9]
        assert "temperature 0.9 asked, samples still at 0.8" in header_text(panel)
        panel.add_event(samples(2000, ["b"], [True], temperature=0.9))
        await pilot.pause()
        assert "temperature 0.9 in use since iteration 2,000" in header_text(panel)
        assert "asked" not in header_text(panel)
        burst(app, *["minus"] * 40)
        await pilot.pause()
        assert app.requests[-1] == 0.1 and panel.temperature == 0.1  # clamped: no request below the floor
