"""Provides typed, validated settings: how each task trains, every field with its help text, choices and range.

A run's settings are a task config (how to train, below) plus the model's own arguments (vitui.core.models).
Every field carries a one-line help text and, where it matters, the allowed choices or range, so the CLI's
--set, the launcher form and the worker all check values with the same rules.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from vitui.core.errors import ConfigError, DataError


def setting(default: Any, help: str, *, choices: tuple[str, ...] | None = None,
            min: float | None = None, max: float | None = None) -> Any:
    return field(default=default, metadata={"help": help, "choices": choices, "min": min, "max": max})


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
    # A killed run (preemption, a crash) loses at most this much training: `vitui run --resume` continues from it.
    checkpoint_every: int = setting(120, "seconds between checkpoints of the whole training state (last.pt), taken "
                                    "at the next logging point; 0 = at every one", min=0, max=86_400)
    system_every: int = setting(2, "seconds between samples of the machine (CPU, memory, GPUs) for the system tab; "
                                "0 = off", min=0, max=3600)


@dataclass
class MLPConfig(BaseConfig):
    """Gradient descent for the from-scratch NumPy network: full batch by default (the seed's first experiment)."""

    per_class: int = setting(1000, "training images per class taken from the train split (0 = all)", min=0, max=10**7)
    lr: float = setting(0.2, "learning rate of plain gradient descent", min=0.0, max=100.0)
    iterations: int = setting(2000, "gradient steps", min=1, max=10**9)
    batch_size: int = setting(0, "images per gradient step: 0 = all of them (full batch), 1 = stochastic, "
                                 "else mini-batches of a reshuffled order", min=0, max=10**7)
    eval_every: int = setting(100, "iterations between validation passes", min=1, max=10**9)
    l2: float = setting(0.0, "L2 penalty on the weights", min=0.0, max=10.0)
    dtype: str = setting("float32", "floating-point type of the computation", choices=("float32", "float64"))


@dataclass
class ImageConfig(BaseConfig):
    """Mini-batch training of a PyTorch image classifier."""

    epochs: int = setting(25, "passes over the training images", min=1, max=100_000)
    batch_size: int = setting(128, "images per step", min=1, max=1 << 20)
    # Each rank is a process with its own device; the launcher (vitui run --gpus N, or torchrun) starts them.
    gpus: int = setting(1, "ranks to train on, one process per GPU with DistributedDataParallel, each taking "
                        "batch_size / gpus images a step (with device cpu: CPU processes over gloo)", min=1, max=1024)
    optimizer: str = setting("adam", "update rule", choices=("sgd", "momentum", "nesterov", "rmsprop", "adam", "adamw"))
    lr: float = setting(1e-3, "peak learning rate", min=0.0, max=100.0)
    momentum: float = setting(0.9, "momentum for momentum, nesterov and rmsprop", min=0.0, max=0.9999)
    weight_decay: float = setting(0.0, "decoupled weight decay (adamw) or the optimizer's own decay", min=0.0, max=10.0)
    l1: float = setting(0.0, "L1 penalty on weights added to the loss", min=0.0, max=10.0)
    l2: float = setting(0.0, "L2 penalty on weights added to the loss", min=0.0, max=10.0)
    schedule: str = setting("cosine", "learning-rate schedule after warm-up (linear: straight down to 0 at the end)",
                            choices=("constant", "cosine", "step", "linear"))
    warmup_epochs: float = setting(0.0, "epochs of linear warm-up from 0 to lr", min=0.0, max=10_000.0)
    step_epochs: int = setting(10, "with schedule=step: epochs between decays", min=1, max=100_000)
    step_gamma: float = setting(0.1, "with schedule=step: factor per decay", min=0.0, max=1.0)
    grad_clip: float = setting(0.0, "clip the gradient norm to this (0 = off)", min=0.0, max=1e9)
    label_smoothing: float = setting(0.0, "label smoothing of the cross-entropy", min=0.0, max=0.99)
    augment: str = setting("flip-crop", "augmentation of training batches: flip-crop (4-pixel shifts, random flips) or "
                           "translate-flip (2-pixel reflected shifts, each image flipped every other epoch)",
                           choices=("none", "flip-crop", "translate-flip"))
    randaugment: int = setting(0, "RandAugment on the device: operations per image after the augmentation (0 = off)",
                               min=0, max=8)
    randaugment_magnitude: int = setting(9, "RandAugment strength of each operation, 0 .. 30", min=0, max=30)
    lookahead: int = setting(0, "steps between lookahead syncs of slow and fast weights (0 = off; airbench: 5)",
                             min=0, max=10**6)
    flip_test: bool = setting(False, "evaluate on each image and its mirror image, averaging the logits")
    eval_batch_size: int = setting(1000, "images per step when evaluating", min=1, max=1 << 20)
    threads: int = setting(0, "CPU threads for PyTorch (0 = the cores free when the run starts)", min=0, max=4096)
    amp: str = setting("auto", "mixed precision: auto is bf16 autocast on CUDA, and on CPUs with bf16 instructions for "
                       "models that gain from it", choices=("auto", "off", "bf16"))
    compile: str = setting("auto", "compile the whole training step with torch.compile (auto: on CUDA only)",
                           choices=("auto", "on", "off"))
    compile_mode: str = setting("auto", "torch.compile mode (auto: reduce-overhead, i.e. CUDA graphs, on CUDA; "
                                "default elsewhere)", choices=("auto", "default", "reduce-overhead", "max-autotune",
                                                               "max-autotune-no-cudagraphs"))
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
    max_name_len: int = setting(100, "longest training name in characters; longer lines of the names file are skipped "
                                     "(one huge line would make every evaluation crawl)", min=1, max=100_000)
    lr: float = setting(0.01, "learning rate (the course's 0.01 for plain SGD)", min=0.0, max=100.0)
    optimizer: str = setting("sgd", "update rule; rnn-numpy trains with plain sgd only", choices=("sgd", "adam", "adamw"))
    weight_decay: float = setting(0.0, "weight decay (adamw: decoupled)", min=0.0, max=10.0)
    batch_size: int = setting(64, "names per step for lstm / gru (rnn-numpy always takes one)", min=1, max=1 << 20)
    clip: float = setting(5.0, "clip every gradient element to [-clip, clip] (the course used 5; 0 = off)", min=0.0, max=1e9)
    # One thread: these small recurrent steps gain nothing from more, and on a busy machine extra threads spin.
    threads: int = setting(1, "CPU threads for PyTorch (0 = all cores)", min=0, max=4096)


# --------------------------------------------------------------------------- checking values

def build(cls: type, values: dict[str, Any], *, strict: bool = True) -> Any:
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
            value = _switch_word(value) if f.metadata.get("choices") and "on" in f.metadata["choices"] else str(value)
    except (TypeError, ValueError):
        raise ConfigError(f"bad value for {f.name}: {value!r} is not {_kind_word(kind)}") from None
    meta = f.metadata
    if meta.get("choices") and value not in meta["choices"]:
        raise ConfigError(f"bad value for {f.name}: {value!r}; choose one of {', '.join(meta['choices'])}")
    lo, hi = meta.get("min"), meta.get("max")
    if lo is not None and value < lo or hi is not None and value > hi:
        raise ConfigError(f"bad value for {f.name}: {value!r} is outside {lo} .. {hi}")
    return value


def _switch_word(value: Any) -> str:
    """An on / off choice also takes true / false, as it did when it was a yes-or-no setting (older config.json)."""
    if isinstance(value, bool):
        return "on" if value else "off"
    low = str(value).strip().lower()
    return {"true": "on", "yes": "on", "1": "on", "false": "off", "no": "off", "0": "off"}.get(low, str(value))


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


# --------------------------------------------------------------------------- data set names

DATASETS = ("mnist", "fashion-mnist", "cifar10")  # image sets known by name
NAME_DATASETS = ("dinos",)  # name lists known by name
IMAGEFOLDER, NAMES = "imagefolder", "names"  # the kinds given with a path: imagefolder:PATH, names:PATH


def split_dataset(name: str) -> tuple[str, str]:
    """'imagefolder:PATH' -> ('imagefolder', 'PATH'), 'names:PATH' -> ('names', 'PATH'), 'mnist' -> ('mnist', '')."""
    kind, sep, path = name.partition(":")
    return (kind, path) if sep and kind in (IMAGEFOLDER, NAMES) else (name, "")


def check_dataset_name(name: str, images: bool = True) -> None:
    """A usage error unless `name` is a data set the task can take (images, or a list of names) that exists."""
    kind, path = split_dataset(name)
    if images and kind in DATASETS or not images and kind in NAME_DATASETS:
        return
    if images and kind == IMAGEFOLDER and path:
        if not Path(path).expanduser().exists():
            raise DataError(f"data set {name}: {Path(path).expanduser()} does not exist; give a folder with one "
                            f"subfolder of images per class, or a .tar.gz of one")
        return
    if not images and kind == NAMES and path:
        if not Path(path).expanduser().is_file():
            raise DataError(f"data set {name}: {Path(path).expanduser()} is not a file; give a text file with one "
                            f"name per line")
        return
    if images:
        raise ConfigError(f"unknown dataset {name!r}; use one of {', '.join(DATASETS)} or imagefolder:PATH")
    raise ConfigError(f"unknown dataset {name!r} for a character model; use dinos or names:PATH "
                      f"(a text file with one name per line)")


NAME_LIMIT = 100  # characters of an experiment name: a run folder's name adds a time stamp, within 255 bytes


def name_problem(name: str) -> str:
    """Why `name` cannot name a file or folder of its own, in a sentence ("" when it can): experiment names become
    run folder names and pick configs/NAME.toml, so "x/../../y" must not reach outside either."""
    if not name:
        return "it is empty"
    if "/" in name or "\\" in name:
        return "it holds a / or \\ (a name, not a path)"
    if name.startswith("."):
        return "it starts with a dot"
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        return "it holds control characters"
    if len(name) > NAME_LIMIT:
        return f"it is longer than {NAME_LIMIT} characters"
    return ""


def settings_help(cls: type) -> list[tuple[str, Any, str]]:
    return [(f.name, f.default, f.metadata.get("help", "")) for f in fields(cls)]
