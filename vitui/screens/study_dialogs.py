"""Provides the dialogs that start a study: StudyPickerDialog (a ready study from configs/studies/, with settings
for every run and a number of seeds) and SweepDialog (the launcher's form with one setting turned into a list of
values). Both check every run's settings before they close, and say what is wrong on their bottom line."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList, Select, Static
from textual.widgets.option_list import Option

from vitui.core.errors import ConfigError
from vitui.core.settings import parse_overrides
from vitui.studies.definition import (Study, jobs, load_study, parse_grid, resolve_jobs, study_description,
                                      study_names, sweep, with_command_line)

DIALOG_CSS = """
StudyDialog { align: center middle; }
.study-box { width: 76; max-width: 100%; height: auto; max-height: 100%; border: round $primary;
             background: $surface; padding: 0 1; }
.study-box .dialog-title { text-style: bold; }
.study-box .row { height: 1; }
.study-box .row Label { width: 9; color: $text-muted; }
.study-box .row Input, .study-box .row Select { width: 1fr; }
.study-box OptionList { height: auto; max-height: 8; border: none; }
.study-box .dialog-help { height: auto; max-height: 3; color: $text-muted; }
.study-box .dialog-message { height: 2; }
.study-box .dialog-message.error { color: $error; text-style: bold; }
"""


def repeat_value(text: str) -> int | None:
    """The repeat field: empty for the study's own, else a whole number of seeds."""
    text = text.strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise ConfigError(f"bad repeat {text!r}: give a whole number of seeds, e.g. 3") from None


class StudyDialog(ModalScreen["Study | None"]):
    """What both dialogs share: a message line, enter to start (when every run's settings check), esc to cancel."""

    DEFAULT_CSS = DIALOG_CSS
    BINDINGS = [Binding("escape", "cancel", "cancel"), Binding("enter", "start", "start", priority=True)]

    def show_message(self, text: str, error: bool = False) -> None:
        line = self.query_one(".dialog-message", Static)
        line.update(text)
        line.set_class(error, "error")

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_start(self) -> None:
        try:
            study = self.build()
            resolve_jobs(study)
        except ConfigError as exc:
            self.show_message(str(exc), error=True)
            return
        self.dismiss(study)

    def build(self) -> Study:
        raise NotImplementedError


class StudyPickerDialog(StudyDialog):
    """A ready study, with settings for every run (e.g. epochs=1 threads=1) and the number of seeds."""

    def compose(self) -> ComposeResult:
        with Vertical(classes="study-box"):
            yield Static("Start a study", classes="dialog-title")
            yield OptionList(*[Option(name, id=name) for name in study_names()], id="study-names")
            yield Static("", classes="dialog-help", id="study-description")
            with Horizontal(classes="row"):
                yield Label("set")
                yield Input(placeholder="key=value ... for every run, e.g. epochs=1 threads=1", id="study-set",
                            compact=True)
            with Horizontal(classes="row"):
                yield Label("repeat")
                yield Input(placeholder="seeds per point [the study's own]", id="study-repeat", compact=True)
            yield Static("enter starts it in the background · esc cancels", classes="dialog-message")

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        self.query_one("#study-description", Static).update(self.describe(event.option.id or ""))

    def describe(self, name: str) -> str:
        try:
            study = load_study(name)
        except ConfigError as exc:
            return str(exc)
        return f"{study_description(name)} ({len(jobs(study))} runs)"

    def build(self) -> Study:
        names = self.query_one("#study-names", OptionList)
        if names.highlighted is None:
            raise ConfigError("no ready studies in configs/studies/")
        name = names.get_option_at_index(names.highlighted).id or ""
        settings = parse_overrides(self.query_one("#study-set", Input).value.split())
        return with_command_line(load_study(name), settings, repeat_value(self.query_one("#study-repeat", Input).value))


class SweepDialog(StudyDialog):
    """One setting of the launcher's form turned into a list of values; the form's other settings for every run."""

    def __init__(self, experiment: str, settings: dict[str, Any], names: list[str]):
        super().__init__()
        self.experiment, self.settings, self.names = experiment, settings, names

    def compose(self) -> ComposeResult:
        with Vertical(classes="study-box"):
            yield Static(f"Sweep {self.experiment}: one setting over a list of values", classes="dialog-title")
            with Horizontal(classes="row"):
                yield Label("setting")
                yield Select([(n, n) for n in self.names], id="sweep-setting", allow_blank=False, compact=True)
            with Horizontal(classes="row"):
                yield Label("values")
                yield Input(placeholder="comma-separated, e.g. 0.1,0.01,0.001", id="sweep-values", compact=True)
            with Horizontal(classes="row"):
                yield Label("repeat")
                yield Input("1", placeholder="seeds per value", id="sweep-repeat", compact=True)
            yield Static("the form's other settings go to every run; each value runs with seeds 0..repeat-1",
                         classes="dialog-help")
            yield Static("enter starts it in the background · esc cancels", classes="dialog-message")

    def on_mount(self) -> None:
        self.query_one("#sweep-values", Input).focus()

    def build(self) -> Study:
        setting = str(self.query_one("#sweep-setting", Select).value)
        values = self.query_one("#sweep-values", Input).value
        grid = parse_grid([f"{setting}={values}"])
        settings = {k: v for k, v in self.settings.items() if k != setting}
        repeat = repeat_value(self.query_one("#sweep-repeat", Input).value)
        return sweep(self.experiment, grid, settings, None if setting == "seed" else repeat)  # seeds are the repeats
