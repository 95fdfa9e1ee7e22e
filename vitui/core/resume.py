"""Provides the rules for continuing a run from its last checkpoint (`vitui run --resume`, `r` in the runs browser):
which runs may resume and with which settings, and the run folder made ready for the worker that continues it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from vitui.core import runfolder
from vitui.core.errors import ConfigError
from vitui.core.experiments import RunConfig, flatten_config, resolve_dict

LAST = "last.pt"  # the checkpoint of the whole training state, in the run's checkpoints/ folder
# Settings a resumed run may take anew: they change how often it is saved or how many threads it uses, not what
# it learns.
FREE_SETTINGS = ("checkpoint_every", "threads")
# The length of a run: --resume may raise it, to train a run (a completed one too) further.
LENGTH_SETTINGS = ("epochs", "iterations")
# Named first when they differ: another experiment or model says more than the settings that follow from it.
NAMING_SETTINGS = ("experiment", "model", "dataset")


def last_checkpoint(run_dir: Path) -> Path:
    return run_dir / runfolder.CHECKPOINTS / LAST


def check_resume(run_dir: Path, config: RunConfig) -> None:
    """A usage error, in one line, unless the run can continue from its last checkpoint with these settings."""
    info = runfolder.load_run(run_dir)
    name, state = info.name, info.state
    if state in ("created", "running") or runfolder.is_locked(run_dir):
        raise ConfigError(f"run {name} is {state}: it can be resumed once it has stopped")
    experiment = config.train.experiment or config.train.model
    if not last_checkpoint(run_dir).is_file():
        raise ConfigError(f"run {name} has no checkpoint to resume from ({last_checkpoint(run_dir)} is missing); "
                          f"start it afresh with `vitui run {experiment}`")
    before, after = settings_of(run_settings(run_dir)), settings_of(config)
    length = next(key for key in LENGTH_SETTINGS if key in after)
    changed = sorted((key for key in set(before) | set(after)
                      if before.get(key) != after.get(key) and key not in (*FREE_SETTINGS, length)),
                     key=lambda key: (key not in NAMING_SETTINGS, NAMING_SETTINGS.index(key)
                                      if key in NAMING_SETTINGS else 0, key))
    if changed:
        key = changed[0]
        raise ConfigError(f"run {name} was trained with other settings ({key} {before.get(key)!r} there, "
                          f"{after.get(key)!r} here): --resume continues a run as it was; only {length} may grow")
    if after[length] < before[length]:
        raise ConfigError(f"run {name} has {length}={before[length]}: --resume may raise it, not lower it")
    if state == "completed" and after[length] == before[length]:
        raise ConfigError(f"run {name} is completed ({length}={before[length]}); to train it further, add "
                          f"--set {length}=N with N > {before[length]}")


def run_settings(run_dir: Path) -> RunConfig:
    """The settings a run was trained with, from its config.json."""
    try:
        return RunConfig.from_dict(runfolder.load_run(run_dir).config)
    except (KeyError, TypeError, ValueError, ConfigError):
        raise ConfigError(f"run {run_dir.name} has no readable settings in {run_dir / runfolder.CONFIG}, so it "
                          f"cannot be resumed") from None


def resume_settings(run_dir: Path, overrides: dict[str, Any]) -> RunConfig:
    """The run's own settings with `overrides` on top (--resume RUN without an experiment)."""
    return resolve_dict(run_settings(run_dir).to_dict(), overrides)


def settings_of(config: RunConfig) -> dict[str, Any]:
    """A config as flat settings with JSON's values (tuples as lists), the form config.json holds."""
    return json.loads(json.dumps(flatten_config(config.to_dict())))


def prepare_resume(run_dir: Path, config: RunConfig) -> None:
    """The run folder set for the worker that continues it: config.json with the settings it goes on with (a longer
    run), and status "created", so that a second resume is refused until that worker holds the run's lock. The run's
    first start, its resume count, the time it lay stopped so far and when it stopped this time are kept: the
    worker adds the pause that ends now to `paused`."""
    info = runfolder.load_run(run_dir)
    status = info.status
    runfolder.write_json_atomic(run_dir / runfolder.CONFIG, config.to_dict())
    runfolder.write_status(run_dir, "created", started=status.get("started"), resumed=status.get("resumed", 0),
                           paused=status.get("paused", 0.0), stopped_at=info.ended)
