"""Provides test fakes for studies: a start_run whose runs end at once with a chosen outcome (FinishedStarter), and
a small study of the real mlp-mnist experiment with the event logs its runs would leave."""

from __future__ import annotations

import itertools
import math
import shutil
from pathlib import Path
from typing import Any, Callable

from app_fakes import T0, mlp_script, write_run
from vitui.core import runfolder
from vitui.core.events import Metric
from vitui.core.experiments import RunConfig
from vitui.studies.definition import Study


class FinishedHandle:
    """A RunHandle whose worker has already ended (its run folder says how)."""

    def __init__(self, run_dir: Path):
        self.run_dir = run_dir
        self.stopped = ""
        self.polls_alive = 0  # looks alive this many more times (a run still in flight)

    def poll(self, timeout: float = 0.0, limit: int = 10_000) -> list:
        return []

    @property
    def alive(self) -> bool:
        self.polls_alive -= 1
        return self.polls_alive >= 0

    def stop(self, reason: str = "") -> None:
        self.stopped = reason

    def kill(self) -> None:
        pass

    def reap(self) -> str:
        return runfolder.load_run(self.run_dir).state


def figure(config: RunConfig) -> float:
    """A fixed test accuracy per run: better for a larger lr, a little different per seed."""
    return round(0.5 + config.train.lr + 0.01 * config.train.seed, 6)


RUN_NUMBERS = itertools.count(1)  # run folder names stay distinct across starters in one test


class FinishedStarter:
    """A start_run for StudyRunner: each run's folder is written finished, completed with figure(config) as its
    test_acc, or failed when `fails(config)` says so. It records the order runs were started in, and the folders it
    was asked to continue (`resume`), which it writes over."""

    def __init__(self, fails: Callable[[RunConfig], bool] = lambda config: False):
        self.fails = fails
        self.started: list[RunConfig] = []
        self.resumed: list[Path] = []

    def __call__(self, config: RunConfig, runs_dir: Path, data_dir: Path | None = None, *, resume: Path | None = None,
                 **_: Any) -> FinishedHandle:
        self.started.append(config)
        name = f"20231114-221320-{config.train.experiment}-{next(RUN_NUMBERS)}"
        if resume is not None:
            self.resumed.append(resume)
            shutil.rmtree(resume)
            runs_dir, name = resume.parent, resume.name
        acc = figure(config)
        events = [e for e in mlp_script(iterations=100, eval_every=20) if not isinstance(e, Metric) or e.split != "epoch"]
        for i, it in enumerate(range(20, 101, 20)):  # the accuracy curve rises to this run's figure
            events.append(Metric(step=it, epoch=it, split="epoch", t=T0 + it,
                                 values={"train_acc": acc * (1 - math.exp(-(i + 1))), "train_loss": 1.0 / (i + 1)}))
        if self.fails(config):
            return FinishedHandle(write_run(runs_dir, name, config, events[:3], "failed", {}, duration=5.0))
        summary = {"metrics": {"test_acc": acc, "train_acc": acc, "time": 10.0},
                   "best": {"name": "train_acc", "value": acc, "step": 100, "epoch": 100, "time": 9.0}}
        return FinishedHandle(write_run(runs_dir, name, config, events, "completed", summary,
                                        duration=10.0 + config.train.seed))


def small_study(**changes: Any) -> Study:
    """mlp-mnist over two learning rates, three seeds: six runs."""
    fields: dict[str, Any] = {"name": "lrs", "experiment": "mlp-mnist", "metric": "test_acc", "seeds": [0, 1, 2],
                              "grid": {"lr": [0.1, 0.3]}, "set": {"iterations": 100},
                              "reference": {"lr=0.3": 81.5}, "reference_note": "a figure from elsewhere"}
    fields.update(changes)
    return Study(**fields)
