"""Provides typed, validated experiment settings: defaults here, overrides from configs/*.toml and --set.

A run's settings are a task config (how to train) plus the model's own arguments (what to train).
Every field carries a one-line help text and, where it matters, the allowed choices or range, so
the CLI, the launcher form and the run log all share one source of truth.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any


class ConfigError(ValueError):
    """A setting is unknown or has a bad value; the message says which and how to fix it."""


class DataError(ConfigError):
    """A data set is missing or unreadable; the message names it, where we looked and how to provide it."""


def setting(default: Any, help: str, *, choices: tuple[str, ...] | None = None,
            min: float | None = None, max: float | None = None) -> Any:
    return field(default=default, metadata={"help": help, "choices": choices, "min": min, "max": max})


# --------------------------------------------------------------------------- model arguments

@dataclass
class MLPArgs:
    hidden: int = setting(64, "hidden units of the two-layer network", min=1, max=100_000)


@dataclass
class CNNArgs:
    dropout_conv: float = setting(0.25, "dropout after each conv block", min=0.0, max=0.95)
    dropout_fc: float = setting(0.5, "dropout before the last dense layer", min=0.0, max=0.95)
    width: int = setting(32, "filters of the first block (the second has twice as many)", min=1, max=1024)
    dense: int = setting(512, "units of the hidden dense layer", min=1, max=65_536)


@dataclass
class ViTArgs:
    """A small Vision Transformer: 4x4 patches of a 32x32 image give 64 tokens plus the class token."""

    dim: int = setting(192, "token width: size of each patch embedding", min=8, max=8192)
    depth: int = setting(6, "encoder blocks", min=1, max=128)
    heads: int = setting(3, "attention heads per block (dim must be a multiple)", min=1, max=128)
    patch: int = setting(4, "patch side in pixels (must divide the image side)", min=1, max=1024)
    mlp_ratio: float = setting(2.0, "MLP hidden width as a multiple of dim", min=0.25, max=16.0)
    dropout: float = setting(0.0, "dropout on embeddings, attention and MLP outputs", min=0.0, max=0.95)
    drop_path: float = setting(0.1, "stochastic depth: drop rate of the last block's branches", min=0.0, max=0.95)


@dataclass
class RNNArgs:
    hidden: int = setting(50, "hidden units of the vanilla RNN (the course used 50)", min=1, max=4096)
    init_scale: float = setting(0.01, "weights start as normal noise times this (the course's 0.01)", min=0.0, max=10.0)
    carry_state: bool = setting(True, "carry the hidden state from one name into the next, as the course does")


@dataclass
class CharRNNArgs:
    hidden: int = setting(128, "hidden units per recurrent layer", min=1, max=65_536)
    layers: int = setting(1, "stacked recurrent layers", min=1, max=16)
    embedding: int = setting(32, "size of the learned character embedding", min=1, max=65_536)
    dropout: float = setting(0.3, "dropout on the recurrent outputs (and between layers)", min=0.0, max=0.95)


# --------------------------------------------------------------------------- task configs

@dataclass
class BaseConfig:
    experiment: str = setting("", "name of the experiment (the configs/ file it came from)")
    model: str = setting("", "which model to train")
    dataset: str = setting("", "data set: mnist, fashion-mnist, cifar10 or imagefolder:PATH")
    seed: int = setting(0, "seed for weights, data split and shuffling", min=0, max=2**32 - 1)
    device: str = setting("auto", "where to train", choices=("auto", "cpu", "cuda", "mps"))
    val_fraction: float = setting(0.1, "share of the train split held out for validation", min=0.0, max=0.9)
    log_every: int = setting(50, "steps between training-loss readings", min=1, max=10**9)


@dataclass
class NumpyMLPConfig(BaseConfig):
    """Full-batch gradient descent for the from-scratch NumPy network (the seed's first experiment)."""

    per_class: int = setting(1000, "training images per class taken from the train split (0 = all)", min=0, max=10**7)
    lr: float = setting(0.2, "learning rate of plain gradient descent", min=0.0, max=100.0)
    iterations: int = setting(2000, "full-batch gradient steps", min=1, max=10**9)
    eval_every: int = setting(100, "iterations between validation passes", min=1, max=10**9)
    l2: float = setting(0.0, "L2 penalty on the weights", min=0.0, max=10.0)
    dtype: str = setting("float32", "floating-point type of the computation", choices=("float32", "float64"))


@dataclass
class ImageConfig(BaseConfig):
    """Mini-batch training of a PyTorch image classifier."""

    epochs: int = setting(25, "passes over the training images", min=1, max=100_000)
    batch_size: int = setting(128, "images per step", min=1, max=1 << 20)
    optimizer: str = setting("adam", "update rule", choices=("sgd", "momentum", "nesterov", "rmsprop", "adam", "adamw"))
    lr: float = setting(1e-3, "peak learning rate", min=0.0, max=100.0)
    momentum: float = setting(0.9, "momentum for momentum, nesterov and rmsprop", min=0.0, max=0.9999)
    weight_decay: float = setting(0.0, "decoupled weight decay (adamw) or the optimizer's own decay", min=0.0, max=10.0)
    l1: float = setting(0.0, "L1 penalty on weights added to the loss", min=0.0, max=10.0)
    l2: float = setting(0.0, "L2 penalty on weights added to the loss", min=0.0, max=10.0)
    schedule: str = setting("cosine", "learning-rate schedule after warm-up", choices=("constant", "cosine", "step"))
    warmup_epochs: float = setting(0.0, "epochs of linear warm-up from 0 to lr", min=0.0, max=10_000.0)
    step_epochs: int = setting(10, "with schedule=step: epochs between decays", min=1, max=100_000)
    step_gamma: float = setting(0.1, "with schedule=step: factor per decay", min=0.0, max=1.0)
    grad_clip: float = setting(0.0, "clip the gradient norm to this (0 = off)", min=0.0, max=1e9)
    label_smoothing: float = setting(0.0, "label smoothing of the cross-entropy", min=0.0, max=0.99)
    augment: str = setting("flip-crop", "augmentation of training batches", choices=("none", "flip-crop"))
    eval_batch_size: int = setting(1000, "images per step when evaluating", min=1, max=1 << 20)
    threads: int = setting(0, "CPU threads for PyTorch (0 = all cores)", min=0, max=4096)
    amp: str = setting("auto", "mixed precision: bf16 autocast on CUDA when auto", choices=("auto", "off", "bf16"))
    compile: bool = setting(False, "wrap the model in torch.compile")
    misclassified: int = setting(16, "wrong validation images kept at the end (0 = off)", min=0, max=1000)
    mixup: float = setting(0.0, "Mixup: Beta(a, a) of the blend between two images (0 = off; DeiT uses 0.8)", min=0.0, max=100.0)
    cutmix: float = setting(0.0, "CutMix: Beta(a, a) of the pasted box's share (0 = off; DeiT uses 1.0)", min=0.0, max=100.0)
    attention_every: int = setting(0, "ViT only: steps between attention probes (0 = only at the end)", min=0, max=10**9)
    attention_probes: int = setting(4, "ViT only: validation images whose attention is logged (0 = off)", min=0, max=64)


@dataclass
class CharConfig(BaseConfig):
    """Character-level name generation: a vanilla NumPy RNN (one name per SGD step) or a batched LSTM / GRU."""

    dataset: str = setting("dinos", "names to learn: dinos (the course's list) or names:PATH (one name per line)")
    iterations: int = setting(35_000, "training steps: one name each for rnn-numpy, one batch for lstm / gru", min=1, max=10**9)
    log_every: int = setting(500, "steps between training-loss readings (an RNN step takes ~0.1 ms)", min=1, max=10**9)
    eval_every: int = setting(2000, "steps between held-out evaluations (and best checkpoints)", min=1, max=10**9)
    sample_every: int = setting(2000, "steps between sampled names (the course printed names every 2,000)", min=1, max=10**9)
    samples: int = setting(7, "names sampled each time (the course sampled 7)", min=1, max=1000)
    temperature: float = setting(1.0, "sampling temperature: < 1 safer names, > 1 wilder (changeable live)", min=0.05, max=10.0)
    max_len: int = setting(50, "longest sampled name in characters (the course stopped at 50)", min=1, max=10_000)
    lr: float = setting(0.01, "learning rate (the course's 0.01 for plain SGD)", min=0.0, max=100.0)
    optimizer: str = setting("sgd", "update rule; rnn-numpy trains with plain sgd only", choices=("sgd", "adam", "adamw"))
    weight_decay: float = setting(0.0, "weight decay (adamw: decoupled)", min=0.0, max=10.0)
    batch_size: int = setting(64, "names per step for lstm / gru (rnn-numpy always takes one)", min=1, max=1 << 20)
    clip: float = setting(5.0, "clip every gradient element to [-clip, clip] (the course used 5; 0 = off)", min=0.0, max=1e9)
    # One thread: these small recurrent steps gain nothing from more, and on a busy machine extra threads spin.
    threads: int = setting(1, "CPU threads for PyTorch (0 = all cores)", min=0, max=4096)


MODEL_TASK: dict[str, str] = {"mlp-numpy": "numpy-mlp", "cnn": "image", "cnn-bn": "image"}
MODEL_ARGS: dict[str, type] = {"mlp-numpy": MLPArgs, "cnn": CNNArgs, "cnn-bn": CNNArgs}
MODEL_TASK["vit"] = "image"
MODEL_ARGS["vit"] = ViTArgs
TASK_CONFIGS: dict[str, type[BaseConfig]] = {"numpy-mlp": NumpyMLPConfig, "image": ImageConfig}
MODEL_TASK.update({"rnn-numpy": "chars", "lstm": "chars", "gru": "chars"})
MODEL_ARGS.update({"rnn-numpy": RNNArgs, "lstm": CharRNNArgs, "gru": CharRNNArgs})
TASK_CONFIGS["chars"] = CharConfig


# --------------------------------------------------------------------------- resolution

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
        task = data.pop("task")
        model_args = data.pop("model_args", {}) or {}
        train_cls = TASK_CONFIGS[task]
        args_cls = MODEL_ARGS[data["model"]]
        return cls(task, _build(train_cls, data, strict=False), _build(args_cls, model_args, strict=False))

    def get(self, key: str) -> Any:
        if hasattr(self.train, key):
            return getattr(self.train, key)
        return getattr(self.model_args, key)


def _build(cls: type, values: dict[str, Any], *, strict: bool = True) -> Any:
    known = {f.name: f for f in fields(cls)}
    kwargs = {}
    for key, value in values.items():
        if key not in known:
            if strict:
                raise ConfigError(f"unknown setting {key!r}; known settings: {', '.join(sorted(known))}")
            continue
        kwargs[key] = check_value(known[key], value)
    return cls(**kwargs)


def field_info(cls: type, name: str) -> dataclasses.Field:
    return {f.name: f for f in fields(cls)}[name]


def check_value(f: dataclasses.Field, value: Any) -> Any:
    """Coerce `value` (from TOML or text) to the field's type and check its choices and range."""
    kind = type(f.default)
    try:
        if kind is bool:
            if isinstance(value, str):
                low = value.strip().lower()
                if low not in ("true", "false", "1", "0", "yes", "no", "on", "off"):
                    raise ValueError
                value = low in ("true", "1", "yes", "on")
            elif not isinstance(value, bool):
                raise ValueError
        elif kind is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            value = int(str(value).replace("_", "")) if isinstance(value, str) else int(value)
        elif kind is float:
            if isinstance(value, bool):
                raise ValueError
            value = float(value)
            if value != value:  # NaN
                raise ValueError
        else:
            value = str(value)
    except (TypeError, ValueError):
        raise ConfigError(f"bad value for {f.name}: {value!r} is not {_kind_word(kind)}") from None
    meta = f.metadata
    if meta.get("choices") and value not in meta["choices"]:
        raise ConfigError(f"bad value for {f.name}: {value!r}; choose one of {', '.join(meta['choices'])}")
    lo, hi = meta.get("min"), meta.get("max")
    if lo is not None and value < lo or hi is not None and value > hi:
        raise ConfigError(f"bad value for {f.name}: {value!r} is outside {lo} .. {hi}")
    return value


def _kind_word(kind: type) -> str:
    return {bool: "true or false", int: "a whole number", float: "a number"}.get(kind, "text")


def parse_overrides(pairs: list[str]) -> dict[str, str]:
    """Turn ["lr=0.1", "epochs=3"] into a dict, rejecting anything that is not key=value."""
    result = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"bad --set {pair!r}: write it as key=value, e.g. --set lr=0.01")
        result[key] = value.strip()
    return result


def configs_dir() -> Path:
    """Where experiment files live: $VITUI_CONFIGS, else the configs/ folder beside the package."""
    env = os.environ.get("VITUI_CONFIGS")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent / "configs"


def experiment_names() -> list[str]:
    return sorted(p.stem for p in configs_dir().glob("*.toml"))


def load_experiment_file(name: str) -> dict[str, Any]:
    path = configs_dir() / f"{name}.toml"
    if not path.is_file():
        known = ", ".join(experiment_names()) or "none"
        raise ConfigError(f"unknown experiment {name!r}; known experiments: {known}")
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    data.pop("description", None)
    return data


def experiment_description(name: str) -> str:
    with (configs_dir() / f"{name}.toml").open("rb") as fh:
        return str(tomllib.load(fh).get("description", ""))


def resolve(experiment: str, overrides: dict[str, Any] | None = None) -> RunConfig:
    """Experiment file, then overrides (strings from --set or typed values from the UI), checked."""
    data = load_experiment_file(experiment)
    data["experiment"] = experiment
    return resolve_dict(data, overrides or {})


def resolve_dict(data: dict[str, Any], overrides: dict[str, Any]) -> RunConfig:
    data = dict(data)
    model_args = dict(data.pop("model_args", {}) or {})
    data.pop("task", None)
    model = str(overrides.get("model", data.get("model", "")))
    if model not in MODEL_TASK:
        raise ConfigError(f"unknown model {model!r}; known models: {', '.join(sorted(MODEL_TASK))}")
    task = MODEL_TASK[model]
    train_cls, args_cls = TASK_CONFIGS[task], MODEL_ARGS[model]
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
    if not data.get("dataset"):
        raise ConfigError("no dataset given; set one, e.g. --set dataset=mnist")
    check_dataset_name(str(data["dataset"]), task)
    return RunConfig(task, _build(train_cls, data), _build(args_cls, model_args))


DATASETS = ("mnist", "fashion-mnist", "cifar10")
NAME_DATASETS = ("dinos",)


def check_dataset_name(name: str, task: str | None = None) -> None:
    if task == "chars":
        _check_names_dataset(name)
        return
    if name in DATASETS:
        return
    if name.startswith("imagefolder:") and len(name) > len("imagefolder:"):
        path = Path(name.removeprefix("imagefolder:")).expanduser()
        if not path.exists():
            raise DataError(f"data set {name}: {path} does not exist; give a folder with one subfolder of "
                            f"images per class, or a .tar.gz of one")
        return
    raise ConfigError(f"unknown dataset {name!r}; use one of {', '.join(DATASETS)} or imagefolder:PATH")


def _check_names_dataset(name: str) -> None:
    """Character models learn from a list of names, not images."""
    if name in NAME_DATASETS:
        return
    if name.startswith("names:") and len(name) > len("names:"):
        path = Path(name.removeprefix("names:")).expanduser()
        if not path.is_file():
            raise DataError(f"data set {name}: {path} is not a file; give a text file with one name per line")
        return
    raise ConfigError(f"unknown dataset {name!r} for a character model; use dinos or names:PATH "
                      f"(a text file with one name per line)")


def settings_help(cls: type) -> list[tuple[str, Any, str]]:
    return [(f.name, f.default, f.metadata.get("help", "")) for f in fields(cls)]
