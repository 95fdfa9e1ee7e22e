"""Provides a study's definition and its expansion into runs: the ready studies in configs/studies/, a sweep built
from the command line, the grid points, the seeds, and the check of every run's settings before any run starts.

A study varies settings of one experiment. Its points are the combinations of its grid (every value of every
key), crossed with its named points (a few settings that go together, such as a batch size with the number of
steps that makes the same number of passes). Every point runs once per seed, seeds 0..K-1 for `repeat = K`.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from vitui.core.errors import ConfigError
from vitui.core.experiments import RunConfig, configs_dir, read_toml, resolve

MAX_RUNS = 10_000  # a grid bigger than this is a typo, not a study


@dataclass
class Study:
    """What to run: an experiment, the settings every run shares, what varies, over which seeds."""

    name: str
    experiment: str
    description: str = ""
    metric: str = ""  # the figure of summary.json the table sorts by; "" = the figure each run keeps its best of
    seeds: list[int] = field(default_factory=lambda: [0])
    set: dict[str, Any] = field(default_factory=dict)  # over the experiment file, for every run
    grid: dict[str, list[Any]] = field(default_factory=dict)  # every combination of these values
    points: list[dict[str, Any]] = field(default_factory=list)  # named groups of settings, crossed with the grid
    overrides: dict[str, Any] = field(default_factory=dict)  # from the command line: over everything else
    reference: dict[str, float] = field(default_factory=dict)  # the original report's figure by point label
    reference_note: str = ""  # what that figure is ("validation accuracy after 25 epochs")

    @property
    def id(self) -> str:
        """The name and a digest of everything that decides the runs: the same command finds the same study."""
        decisive = {k: getattr(self, k) for k in ("experiment", "metric", "seeds", "set", "grid", "points", "overrides")}
        digest = hashlib.sha1(json.dumps(decisive, sort_keys=True, default=str).encode()).hexdigest()[:8]
        return f"{self.name}-{digest}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Study":
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(frozen=True)
class Point:
    """One place in the grid: a label for tables ("model=cnn-bn") and the settings it sets."""

    index: int
    label: str
    settings: dict[str, Any]


@dataclass(frozen=True)
class Job:
    """One run of a study: a point with one seed. `index` is its place in the queue."""

    index: int
    point: Point
    seed: int
    repeat: int  # 0..K-1: the seed's place in the study's seeds


# --------------------------------------------------------------------------- the ready studies

def studies_dir() -> Path:
    return configs_dir() / "studies"


def study_names() -> list[str]:
    return sorted(p.stem for p in studies_dir().glob("*.toml"))


def study_description(name: str) -> str:
    try:
        return load_study(name).description
    except ConfigError:
        return ""


def load_study(name_or_file: str) -> Study:
    """A ready study by name (configs/studies/NAME.toml), or a study file by path."""
    path = Path(name_or_file)
    if not (path.suffix == ".toml" and path.is_file()):
        path = studies_dir() / f"{name_or_file}.toml"
    if not path.is_file():
        known = ", ".join(study_names()) or "none"
        raise ConfigError(f"unknown study {name_or_file!r}; ready studies: {known} (or give a .toml file)")
    return study_from_file(path.stem, read_toml(path))


def study_from_file(name: str, data: dict[str, Any]) -> Study:
    data = dict(data)
    experiment = str(data.pop("experiment", ""))
    repeat = data.pop("repeat", None)
    seeds = data.pop("seeds", None)
    if repeat is not None and seeds is not None:
        raise ConfigError(f"study {name}: give repeat or seeds, not both")
    study = Study(name=name, experiment=experiment, description=str(data.pop("description", "")),
                  metric=str(data.pop("metric", "")),
                  seeds=list(seeds) if seeds is not None else list(range(check_repeat(repeat or 1))),
                  set=dict(data.pop("set", {})), grid={k: list(v) if isinstance(v, list) else [v]
                                                       for k, v in data.pop("grid", {}).items()},
                  points=[dict(p) for p in data.pop("points", [])],
                  reference={str(k): float(v) for k, v in data.pop("reference", {}).items()},
                  reference_note=str(data.pop("reference_note", "")))
    if data:
        raise ConfigError(f"study {name}: unknown entries {', '.join(sorted(data))}; a study file has experiment, "
                          f"description, metric, repeat or seeds, [set], [grid], [[points]], [reference]")
    return study


def check_repeat(repeat: Any) -> int:
    if isinstance(repeat, bool) or not isinstance(repeat, int) or not 1 <= repeat <= 1000:
        raise ConfigError(f"bad repeat {repeat!r}: give a whole number of seeds from 1 to 1000, e.g. --repeat 3")
    return repeat


# --------------------------------------------------------------------------- from the command line

def parse_grid(pairs: list[str]) -> dict[str, list[str]]:
    """["lr=0.1,0.01", "model=cnn,cnn-bn"] -> {"lr": ["0.1", "0.01"], "model": ["cnn", "cnn-bn"]}."""
    grid: dict[str, list[str]] = {}
    for pair in pairs:
        key, sep, values = pair.partition("=")
        key = key.strip()
        items = [v.strip() for v in values.split(",")]
        if not sep or not key or not all(items):
            raise ConfigError(f"bad --grid {pair!r}: write it as key=value1,value2, e.g. --grid lr=0.1,0.01")
        if key in grid:
            raise ConfigError(f"--grid {key} given twice: list all its values in one, e.g. --grid {key}=a,b,c")
        grid[key] = items
    return grid


def sweep(experiment: str, grid: dict[str, list[Any]], settings: dict[str, Any], repeat: int | None = None,
          metric: str = "") -> Study:
    """A study built on the fly (`vitui sweep`): one experiment, its grid, the settings every run shares.
    `--grid seed=...` gives the seeds themselves (repeats), like --repeat does 0..K-1."""
    grid = dict(grid)
    seeds = seed_list(grid.pop("seed", None), repeat)
    return Study(name=f"sweep-{experiment}", experiment=experiment, metric=metric, seeds=seeds, grid=grid,
                 overrides=dict(settings))


def seed_list(values: list[Any] | None, repeat: int | None) -> list[int]:
    if values is not None and repeat is not None:
        raise ConfigError("seeds given twice: use --repeat K (seeds 0..K-1) or --grid seed=..., not both")
    if values is None:
        return list(range(check_repeat(repeat or 1)))
    try:
        seeds = [int(v) for v in values]
    except ValueError:
        raise ConfigError(f"bad seeds {','.join(map(str, values))}: seeds are whole numbers, e.g. --grid seed=0,1,2") from None
    if len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise ConfigError(f"bad seeds {','.join(map(str, values))}: give distinct whole numbers from 0 up")
    return seeds


def with_command_line(study: Study, settings: dict[str, Any], repeat: int | None) -> Study:
    """A ready study with --set (over all of its settings) and --repeat K (seeds 0..K-1) from the command line."""
    clash = sorted(k for k in settings if k in study.grid)
    if clash:
        raise ConfigError(f"--set {clash[0]}: the study {study.name} varies {clash[0]}; use `vitui sweep` to choose "
                          f"its values")
    if "seed" in settings:
        raise ConfigError("--set seed: a study's seeds come from --repeat K (seeds 0..K-1)")
    seeds = list(range(check_repeat(repeat))) if repeat is not None else study.seeds
    return Study(**{**study.to_dict(), "overrides": {**study.overrides, **settings}, "seeds": seeds})


# --------------------------------------------------------------------------- expansion

def grid_points(study: Study) -> list[Point]:
    """Every point: each named point (or none) crossed with every combination of the grid, in file order."""
    named = study.points or [{}]
    keys = list(study.grid)
    points = []
    for group in named:
        name = str(group.get("name", ""))
        settings = {k: v for k, v in group.items() if k != "name"}
        for combo in itertools.product(*(study.grid[k] for k in keys)):
            chosen = {**settings, **dict(zip(keys, combo))}
            words = ([name] if name else [f"{k}={setting_text(v)}" for k, v in settings.items()])
            words += [f"{k}={setting_text(v)}" for k, v in zip(keys, combo)]
            points.append(Point(len(points), " ".join(words) or study.experiment or "-", chosen))
    return points


def jobs(study: Study) -> list[Job]:
    """The runs in queue order: every point with the first seed, then every point with the next, so a study cut
    short still has each point at least once, and the first repeats compare early."""
    points = grid_points(study)
    if len(points) * len(study.seeds) > MAX_RUNS:
        raise ConfigError(f"study {study.name} has {len(points) * len(study.seeds):,} runs; more than {MAX_RUNS:,} "
                          f"is surely a mistake: make the grid smaller")
    out = []
    for repeat, seed in enumerate(study.seeds):
        for point in points:
            out.append(Job(len(out), point, seed, repeat))
    return out


def job_settings(study: Study, job: Job) -> tuple[str, dict[str, Any]]:
    """A run's experiment and its settings over that experiment's file: the study's, the point's, the command
    line's, the seed. A point may name its own experiment (the CNN against the ViT, each with its own recipe)."""
    merged = {**study.set, **job.point.settings, **study.overrides}
    experiment = str(merged.pop("experiment", "") or study.experiment)
    return experiment, {**merged, "seed": job.seed}


def experiments_of(study: Study) -> str:
    """The experiments a study runs, for its headings: "cnn-cifar10", or "rnn-dinos, lstm-dinos, gru-dinos"."""
    names = [str({**study.set, **p.settings, **study.overrides}.get("experiment") or study.experiment)
             for p in grid_points(study)]
    return ", ".join(dict.fromkeys(names))


def resolve_jobs(study: Study) -> list[tuple[Job, RunConfig]]:
    """Every run's resolved settings, checked: a bad setting or value anywhere fails here, before any run starts."""
    if "seed" in study.set or any("seed" in p for p in study.points) or "seed" in study.overrides:
        raise ConfigError(f"study {study.name}: seed is set per repeat (seeds 0..K-1 with repeat = K); remove it")
    empty = [k for k, v in study.grid.items() if not v]
    if empty:
        raise ConfigError(f"study {study.name}: the grid gives no values for {empty[0]}")
    resolved = []
    for job in jobs(study):
        experiment, settings = job_settings(study, job)
        try:
            if not experiment:
                raise ConfigError("no experiment: name one for the study or for this point")
            resolved.append((job, resolve(experiment, settings)))
        except ConfigError as exc:
            where = f" (point {job.point.label})" if len(study.grid) + len(study.points) else ""
            raise ConfigError(f"study {study.name}{where}: {exc}") from None
    return resolved


def setting_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
