"""Provides the launcher's form logic: which settings to show, in what order, and turning edits into a RunConfig.

The field list comes from the typed settings dataclasses (vitui.core), so a setting added there shows up
in the launcher with its help text, choices and range checks. No Textual.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from vitui.core import settings
from vitui.core.errors import ConfigError
from vitui.core.experiments import RunConfig, resolve
from vitui.core.models import MODELS, task_of
from vitui.core.settings import DATASETS, IMAGEFOLDER, check_value, field_info

# Shown first: the settings people change most. The rest follow in their dataclass order.
KEY_SETTINGS = ("epochs", "iterations", "batch_size", "optimizer", "lr", "device", "gpus", "seed")
# Chosen with their own controls above the settings.
OWN_CONTROLS = ("experiment", "model", "dataset")


@dataclass
class FieldSpec:
    """One editable setting: its name, current text, help, and choices (a Select) or a bool (a Switch)."""

    name: str
    value: str
    help: str
    kind: str  # "text", "choice" or "bool"
    choices: tuple[str, ...] = ()
    model_arg: bool = False


def _field_kind(f: Any) -> tuple[str, tuple[str, ...]]:
    if f.metadata.get("choices"):
        return "choice", tuple(f.metadata["choices"])
    if isinstance(f.default, bool):
        return "bool", ()
    return "text", ()


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def form_fields(config: RunConfig) -> list[FieldSpec]:
    """The settings of a resolved config as form fields, key settings first, then the model's, then the rest."""
    specs = []
    for obj, is_arg in ((config.train, False), (config.model_args, True)):
        for f in fields(obj):
            if f.name in OWN_CONTROLS:
                continue
            kind, choices = _field_kind(f)
            specs.append(FieldSpec(f.name, _text(getattr(obj, f.name)), f.metadata.get("help", ""), kind, choices, is_arg))

    def order(spec: FieldSpec) -> tuple[int, int]:
        if spec.name in KEY_SETTINGS:
            return 0, KEY_SETTINGS.index(spec.name)
        return (1, 0) if spec.model_arg else (2, 0)

    return sorted(specs, key=order)  # sorted() is stable: dataclass order within a group


def control_help(config: RunConfig, name: str) -> str:
    """The help of a setting the launcher shows as its own control (model, dataset)."""
    return field_info(type(config.train), name).metadata.get("help", "")


def field_error(config: RunConfig, name: str, text: str) -> str | None:
    """The one-line complaint about a value typed for setting `name`, or None when it is fine."""
    for obj in (config.train, config.model_args):
        known = {f.name: f for f in fields(obj)}
        if name in known:
            try:
                check_value(known[name], text)
            except ConfigError as exc:
                return str(exc)
            return None
    return f"unknown setting {name!r}"


def dataset_choices(model: str, current: str) -> list[str]:
    """Data sets offered for a model: the image sets for an image model, else the experiment's own."""
    if model in MODELS and task_of(model).images:
        return [*DATASETS, IMAGEFOLDER]
    return [current] if current else []


def split_dataset(dataset: str) -> tuple[str, str]:
    """The launcher's two controls for a data set: 'imagefolder:PATH' -> ('imagefolder', 'PATH'), else (name, '')."""
    kind, path = settings.split_dataset(dataset)
    return (kind, path) if kind == IMAGEFOLDER else (dataset, "")


def join_dataset(choice: str, folder: str) -> str:
    return f"{IMAGEFOLDER}:{folder.strip()}" if choice == IMAGEFOLDER else choice


def build_config(experiment: str, model: str, dataset: str, edits: dict[str, str]) -> RunConfig:
    """Resolve the experiment with the chosen model, data set and edited settings (raises ConfigError)."""
    overrides: dict[str, Any] = {"model": model, "dataset": dataset}
    overrides.update(edits)
    return resolve(experiment, overrides)


def keep_edits(config: RunConfig, edits: dict[str, str]) -> dict[str, str]:
    """After a model switch, the edits that still name a setting of the new model's task."""
    names = {f.name for obj in (config.train, config.model_args) for f in fields(obj)}
    return {k: v for k, v in edits.items() if k in names}
