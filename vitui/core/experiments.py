"""Provides a run's resolved settings (RunConfig): from an experiment file in configs/ (with its table for the device
the run will train on) plus overrides, or from a run's config.json."""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from vitui.core.errors import ConfigError
from vitui.core.models import MODELS, TASKS
from vitui.core.settings import BaseConfig, build, check_dataset_name, name_problem


@dataclass
class RunConfig:
    """The resolved settings of one run: the task's config plus the model's arguments."""

    task: str
    train: BaseConfig
    model_args: Any

    def to_dict(self) -> dict[str, Any]:
        return {"task": self.task, **dataclasses.asdict(self.train), "model_args": dataclasses.asdict(self.model_args)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RunConfig":
        """Rebuild from a run's config.json (ignoring keys a newer or older version wrote)."""
        data = dict(data)
        data.pop("task", None)
        model_args = data.pop("model_args", {}) or {}
        spec = MODELS[data["model"]]  # the task follows from the model (older logs spelt some tasks otherwise)
        return cls(spec.task, build(TASKS[spec.task].config, data, strict=False),
                   build(spec.args, model_args, strict=False))


def flatten_config(config: dict[str, Any]) -> dict[str, Any]:
    """A config.json as flat settings: {"lr": 0.1, "model_args.width": 32, ...}."""
    flat = {}
    for key, value in config.items():
        if isinstance(value, dict):
            for sub, v in value.items():
                flat[f"{key}.{sub}"] = v
        else:
            flat[key] = value
    return flat


def configs_dir() -> Path:
    """Where experiment files live: $VITUI_CONFIGS, else the configs/ folder beside the package."""
    env = os.environ.get("VITUI_CONFIGS")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "configs"


def experiment_names() -> list[str]:
    return sorted(p.stem for p in configs_dir().glob("*.toml"))


def check_experiment_name(name: str) -> None:
    problem = name_problem(name)
    if problem:
        raise ConfigError(f"bad experiment name {name!r}: {problem}; see `vitui experiments` for the known ones")


def load_experiment_file(name: str) -> dict[str, Any]:
    check_experiment_name(name)
    path = configs_dir() / f"{name}.toml"
    if not path.is_file():
        known = ", ".join(experiment_names()) or "none"
        raise ConfigError(f"unknown experiment {name!r}; known experiments: {known}")
    data = read_toml(path)
    data.pop("description", None)
    return data


def read_toml(path: Path) -> dict[str, Any]:
    """A TOML file (an experiment or a study); a usage error naming the file when it is not valid TOML."""
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None


def experiment_description(name: str) -> str:
    with (configs_dir() / f"{name}.toml").open("rb") as fh:
        return str(tomllib.load(fh).get("description", ""))


DEVICE_TABLES = ("cpu", "cuda", "mps")  # an experiment file's [cuda] table (etc.) applies when training there


def detected_device() -> str:
    """Where device=auto will train, told without loading torch (which takes seconds): cuda when the NVIDIA driver
    shows a GPU this process may use, else cpu."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() in ("", "-1"):
        return "cpu"
    driver = Path("/proc/driver/nvidia/gpus")
    if driver.is_dir() and any(driver.iterdir()) or any(Path("/dev").glob("nvidia[0-9]*")):
        return "cuda"
    return "cpu"


def resolve(experiment: str, overrides: dict[str, Any] | None = None) -> RunConfig:
    """Experiment file, then overrides (strings from --set or typed values from the UI), checked."""
    data = load_experiment_file(experiment)
    data["experiment"] = experiment
    return resolve_dict(data, overrides or {})


def resolve_dict(data: dict[str, Any], overrides: dict[str, Any]) -> RunConfig:
    data = dict(data)
    model_args = dict(data.pop("model_args", {}) or {})
    data.pop("task", None)
    # The file's settings for the device the run trains on come first; the overrides still win over them.
    tables = {name: data.pop(name) for name in DEVICE_TABLES if isinstance(data.get(name), dict)}
    device = str(overrides.get("device", data.get("device", "auto")))
    table = dict(tables.get(detected_device() if device == "auto" else device, {}))
    model_args.update(table.pop("model_args", {}) or {})
    data.update(table)
    model = str(overrides.get("model", data.get("model", "")))
    if model not in MODELS:
        raise ConfigError(f"unknown model {model!r}; known models: {', '.join(sorted(MODELS))}")
    task = MODELS[model].task
    train_cls, args_cls = TASKS[task].config, MODELS[model].args
    train_names = {f.name for f in fields(train_cls)}
    args_names = {f.name for f in fields(args_cls)}
    if model != data.get("model"):
        # Switching model: arguments written for the file's model may not fit the new one.
        model_args = {k: v for k, v in model_args.items() if k in args_names}
        data = {k: v for k, v in data.items() if k in train_names}
    for key, value in overrides.items():
        if key.startswith("model_args."):
            key = key.removeprefix("model_args.")
            if key not in args_names:
                raise ConfigError(f"unknown setting {key!r} for model {model}; known: {', '.join(sorted(args_names))}")
            model_args[key] = value
        elif key in train_names:
            data[key] = value
        elif key in args_names:
            model_args[key] = value
        else:
            known = ", ".join(sorted(train_names | args_names))
            raise ConfigError(f"unknown setting {key!r}; known settings: {known}")
    if data.get("experiment"):  # --set experiment=... names the run folder: it must stay a name
        check_experiment_name(str(data["experiment"]))
    if not data.get("dataset"):
        raise ConfigError("no dataset given; set one, e.g. --set dataset=mnist")
    check_dataset_name(str(data["dataset"]), TASKS[task].images)
    return RunConfig(task, build(train_cls, data), build(args_cls, model_args))


