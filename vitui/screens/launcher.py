"""Provides LauncherScreen: pick an experiment, choose model and data set, edit settings (checked as you type), launch.

The form is built from the typed config dataclasses through vitui.forms, so every field has its help text,
choices and range; a bad value shows its one-line error at once and blocks the launch, never the typing.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, cast

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.validation import ValidationResult, Validator
from textual.widget import Widget
from textual.widgets import Footer, Input, Label, OptionList, Select, Static, Switch
from textual.widgets.option_list import Option

if TYPE_CHECKING:
    from vitui.app import VituiApp

from vitui import forms
from vitui.messages import LaunchRequested, RunUpdated, ShowRuns, ShowStudies, StudyRequested
from vitui.widgets.keys import KeysInOrder
from vitui.core.errors import ConfigError
from vitui.core.experiments import RunConfig, configs_dir, experiment_description, experiment_names, resolve
from vitui.core.models import MODELS, task_of
from vitui.render.formats import plain
from vitui.core.settings import DATASETS, IMAGEFOLDER, check_dataset_name


# The form's own controls (above the settings) and the setting whose help they show.
CONTROL_HELP = {"model-select": "model", "dataset-select": "dataset"}
FOLDER_HELP = "folder: a folder or .tar.gz with one subfolder of images per class"


class SettingValidator(Validator):
    """Validation as you type with the same check the CLI's --set uses (vitui.core.settings.check_value)."""

    def __init__(self, screen: "LauncherScreen", name: str):
        super().__init__()
        self.launcher, self.setting = screen, name

    def validate(self, value: str) -> ValidationResult:
        config = self.launcher.config
        error = forms.field_error(config, self.setting, value) if config is not None else None
        return self.failure(error) if error else self.success()


class ExperimentList(OptionList):
    """The experiments in configs/; Enter launches the highlighted one."""

    BINDINGS = [Binding("enter", "select", "launch")]


class SettingInput(KeysInOrder, Input):
    """A setting's text field; Enter launches (when every field is valid); keys typed fast stay in order."""

    TEXT_ENTRY = True

    BINDINGS = [Binding("enter", "submit", "launch")]


class LauncherScreen(Screen):
    """The home screen: experiments on the left, the chosen one's settings on the right."""

    BINDINGS = [
        Binding("tab", "app.focus_next", "next field"),
        Binding("r", "runs", "runs"),
        Binding("t", "studies", "studies"),
        Binding("w", "sweep", "sweep a setting", show=False),  # in the ? help: the footer keeps "? help" at 80 columns
        Binding("escape", "to_list", "experiments"),
    ]
    AUTO_FOCUS = "#experiment-list"

    def __init__(self) -> None:
        super().__init__()
        self.experiment = ""
        self.model_name = ""
        self.dataset_choice = ""
        self.folder = ""
        self.edits: dict[str, str] = {}
        self.config: RunConfig | None = None
        self.fields: dict[str, forms.FieldSpec] = {}
        self.load_error = ""  # why the experiment list has nothing to launch, shown while it has the focus
        self._form_lock = asyncio.Lock()

    def compose(self) -> ComposeResult:
        yield Static("vitui · new run", id="launcher-title", markup=False)  # holds run names: text, not markup
        with Horizontal(id="launcher-body"):
            with Vertical(id="experiments"):
                yield ExperimentList(*[Option(name, id=name) for name in experiment_names()], id="experiment-list")
                yield Static("", id="experiment-description", markup=False)
            with VerticalScroll(id="settings-form", can_focus=False):  # tab goes straight to the fields
                with Horizontal(classes="row"):
                    yield Label("model", classes="setting-label")
                    yield Select([(m, m) for m in MODELS], id="model-select", allow_blank=True, compact=True)
                with Horizontal(classes="row"):
                    yield Label("dataset", classes="setting-label")
                    yield Select([(d, d) for d in (*DATASETS, IMAGEFOLDER)], id="dataset-select",
                                 allow_blank=True, compact=True)
                with Horizontal(classes="row", id="folder-row"):
                    yield Label("folder", classes="setting-label")
                    yield SettingInput(placeholder="folder or .tar.gz with one subfolder per class",
                                       id="folder-input", compact=True)
                yield Vertical(id="setting-rows")
        yield Static("", id="form-message", markup=False)  # errors quote what was typed
        yield Footer()

    def on_mount(self) -> None:
        # After the first refresh: the nested form widgets may not be mounted yet at Mount time.
        self.call_after_refresh(self.first_load)

    async def first_load(self) -> None:
        names = experiment_names()
        if not names:
            self.load_error = f"no experiments in {configs_dir()}: add a .toml file there"
            self.show_message(self.load_error, error=True)
        elif not self.experiment:  # the list's first highlight usually loaded it already
            await self.load_experiment(names[0])

    def on_screen_resume(self) -> None:
        self.update_title()

    def on_run_updated(self, message: RunUpdated) -> None:
        self.update_title()

    def update_title(self) -> None:
        running = [s for s in cast("VituiApp", self.app).sessions.values() if s.owned_and_running]
        title = "vitui · new run"
        if running:
            title += f"   ({len(running)} training: {', '.join(s.run.name for s in running[:2])}; r to see runs)"
        self.query_one("#launcher-title", Static).update(plain(title))

    # ------------------------------------------------------------------ loading the form
    async def load_experiment(self, name: str) -> None:
        try:
            config = resolve(name)
        except ConfigError as exc:
            self.load_error = str(exc)
            self.show_message(self.load_error, error=True)
            return
        self.experiment, self.edits, self.load_error = name, {}, ""
        self.query_one("#experiment-description", Static).update(plain(experiment_description(name)))
        await self.set_config(config)

    async def set_config(self, config: RunConfig) -> None:
        """Show a resolved config: model and data set choices, then one row per setting."""
        # One rebuild at a time (arrowing through the list fires loads faster than rows mount).
        async with self._form_lock:
            await self._set_config(config)

    async def _set_config(self, config: RunConfig) -> None:
        self.config = config
        self.model_name = config.train.model
        self.dataset_choice, self.folder = forms.split_dataset(config.train.dataset)
        # Programmatic changes must not come back as user choices: their Changed messages are suppressed.
        model_select = self.query_one("#model-select", Select)
        with model_select.prevent(Select.Changed):
            model_select.value = self.model_name
        dataset_select = self.query_one("#dataset-select", Select)
        choices = forms.dataset_choices(self.model_name, self.dataset_choice)
        with dataset_select.prevent(Select.Changed):
            dataset_select.set_options([(d, d) for d in choices])
            if self.dataset_choice in choices:
                dataset_select.value = self.dataset_choice
        folder_input = self.query_one("#folder-input", Input)
        with folder_input.prevent(Input.Changed):
            folder_input.value = self.folder
        self.query_one("#folder-row").display = self.dataset_choice == IMAGEFOLDER
        specs = forms.form_fields(config)
        self.fields = {spec.name: spec for spec in specs}
        rows = self.query_one("#setting-rows", Vertical)
        await rows.remove_children()
        await rows.mount_all([self._row(spec) for spec in specs])
        self.follow_focus()

    def _row(self, spec: forms.FieldSpec) -> Widget:
        value = self.edits.get(spec.name, spec.value)
        control: Widget
        if spec.kind == "choice":
            control = Select([(c, c) for c in spec.choices], value=value, allow_blank=False, compact=True,
                             id=f"set-{spec.name}")
        elif spec.kind == "bool":
            control = Switch(value=value == "true", id=f"set-{spec.name}")
        else:
            control = SettingInput(value, id=f"set-{spec.name}", compact=True,
                                   validators=[SettingValidator(self, spec.name)], validate_on=["changed", "submitted"])
        return Horizontal(Label(spec.name, classes="setting-label"), control, classes="row")

    # ------------------------------------------------------------------ events
    @on(OptionList.OptionHighlighted, "#experiment-list")
    async def experiment_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if event.option.id and event.option.id != self.experiment:
            await self.load_experiment(event.option.id)

    @on(OptionList.OptionSelected, "#experiment-list")
    async def experiment_selected(self, event: OptionList.OptionSelected) -> None:
        if event.option.id and event.option.id != self.experiment:
            await self.load_experiment(event.option.id)
        self.action_launch()

    @on(Select.Changed, "#model-select")
    async def model_changed(self, event: Select.Changed) -> None:
        if event.value == self.model_name or not isinstance(event.value, str):
            return
        self.model_name = event.value
        choices = forms.dataset_choices(self.model_name, self.dataset_choice)
        dataset = self._dataset() if self.dataset_choice in choices else choices[0] if choices else ""
        try:
            base = forms.build_config(self.experiment, self.model_name, dataset, {})
            self.edits = forms.keep_edits(base, self.edits)
            await self.set_config(forms.build_config(self.experiment, self.model_name, dataset, self.edits))
        except ConfigError as exc:
            self.show_message(str(exc), error=True)

    @on(Select.Changed, "#dataset-select")
    def dataset_changed(self, event: Select.Changed) -> None:
        if not isinstance(event.value, str) or event.value == self.dataset_choice:
            return
        self.dataset_choice = event.value
        self.query_one("#folder-row").display = self.dataset_choice == IMAGEFOLDER
        self.follow_focus()

    @on(Input.Changed, "#folder-input")
    def folder_changed(self, event: Input.Changed) -> None:
        self.folder = event.value
        self.follow_focus()

    def dataset_error(self) -> str | None:
        """What is wrong with the chosen data set (an imagefolder without a folder, a name the model cannot use)."""
        if self.dataset_choice == IMAGEFOLDER and not self.folder.strip():
            return "imagefolder: type the folder (or .tar.gz) that has one subfolder of images per class"
        try:
            check_dataset_name(self._dataset(), self.model_name not in MODELS or task_of(self.model_name).images)
        except ConfigError as exc:
            return str(exc)
        return None

    def _dataset(self) -> str:
        return forms.join_dataset(self.dataset_choice, self.folder)

    @on(Input.Changed, "#setting-rows Input")
    def setting_typed(self, event: Input.Changed) -> None:
        self._record((event.input.id or "").removeprefix("set-"), event.value)
        self.follow_focus()

    @on(Select.Changed, "#setting-rows Select")
    def setting_chosen(self, event: Select.Changed) -> None:
        if isinstance(event.value, str):
            self._record((event.select.id or "").removeprefix("set-"), event.value)

    @on(Switch.Changed, "#setting-rows Switch")
    def setting_switched(self, event: Switch.Changed) -> None:
        self._record((event.switch.id or "").removeprefix("set-"), "true" if event.value else "false")

    def _record(self, name: str, value: str) -> None:
        spec = self.fields.get(name)
        if spec is None:
            return
        if value == spec.value:
            self.edits.pop(name, None)
        else:
            self.edits[name] = value

    @on(Input.Submitted)
    def input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_launch()

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        self.follow_focus()

    def follow_focus(self) -> None:
        """The bottom line speaks of the focused field: its error when its value is bad, else its help.

        Computed from the focus itself, never from the event that asked, so a late Changed message of the
        field just left cannot put its words under the next one.
        """
        text, error = self.focus_message()
        self.show_message(text, error=error)

    def focus_message(self) -> tuple[str, bool]:
        widget = self.focused
        # A Select's pop-up list takes the focus while open: it speaks for its Select.
        name = next((node.id for node in (widget.ancestors_with_self if widget else []) if node.id), "")
        if name.startswith("set-"):
            setting = name.removeprefix("set-")
            if isinstance(widget, Input):
                result = widget.validate(widget.value)
                if result is not None and not result.is_valid:
                    return result.failure_descriptions[0], True
            spec = self.fields.get(setting)
            return (f"{setting}: {spec.help}" if spec else ""), False
        if name in ("dataset-select", "folder-input"):
            error = self.dataset_error()
            if error:
                return error, True
            if name == "folder-input":
                return FOLDER_HELP, False
        if name in CONTROL_HELP and self.config is not None:
            setting = CONTROL_HELP[name]
            return f"{setting}: {forms.control_help(self.config, setting)}", False
        return self.load_error, bool(self.load_error)

    def show_message(self, text: str, error: bool = False) -> None:
        message = self.query_one("#form-message", Static)
        message.update(plain(text))
        message.set_class(error, "error")

    # ------------------------------------------------------------------ actions
    def action_to_list(self) -> None:
        # set_focus, not focus(): that one waits a message, and list keys typed right after esc went to the field
        self.set_focus(self.query_one("#experiment-list", OptionList))

    def action_runs(self) -> None:
        self.post_message(ShowRuns())

    def action_studies(self) -> None:
        self.post_message(ShowStudies())

    def action_sweep(self) -> None:
        """Turn one setting into a list of values: a study of this form's settings, started in the background."""
        from vitui.screens.study_dialogs import SweepDialog

        if not self.experiment:
            return
        # The seed is left out: a study's seeds are its repeats, 0..K-1.
        settings = {"model": self.model_name, "dataset": self._dataset(),
                    **{k: v for k, v in self.edits.items() if k != "seed"}}
        self.app.push_screen(SweepDialog(self.experiment, settings, ["model", *self.fields]), self._sweep_chosen)

    def _sweep_chosen(self, study) -> None:
        if study is not None:
            self.post_message(StudyRequested(study))

    def action_launch(self) -> None:
        if not self.experiment:
            return
        for widget in self.query("#setting-rows Input").results(Input):
            result = widget.validate(widget.value)
            if result is not None and not result.is_valid:
                widget.focus()
                self.show_message(result.failure_descriptions[0], error=True)
                return
        error = self.dataset_error()
        if error:
            self.show_message(error, error=True)
            return
        try:
            config = forms.build_config(self.experiment, self.model_name, self._dataset(), self.edits)
        except ConfigError as exc:
            self.show_message(str(exc), error=True)
            return
        self.post_message(LaunchRequested(config))
