"""Provides the comparison of runs: labels, the settings that differ, final figures and a one-line verdict.

Pure functions over RunInfo (config, status, summary) and RunState (series from the log), so the
compare screen only lays them out. No Textual.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from vitui.render.formats import format_point
from vitui.runstate import RunState, Trace, series_traces
from vitui.core.experiments import flatten_config
from vitui.core import runfolder
from vitui.core.runfolder import RunInfo

FIRST_KEYS = ("experiment", "model", "dataset")


@dataclass
class FigureRow:
    """One row of the final-figures table: a value per run and which run is best (None when no contest)."""

    name: str
    values: list[str]
    best: int | None


def run_labels(infos: list[RunInfo]) -> list[str]:
    """Short names for the legend: the experiment, with the start time added where two would look alike."""
    base = [str(i.config.get("experiment") or i.config.get("model") or i.name) for i in infos]
    labels = []
    for info, name in zip(infos, base):
        if base.count(name) > 1:
            stamp = info.name.split("-")[1] if info.name.count("-") >= 2 else info.name
            name = f"{name} {stamp[:2]}:{stamp[2:4]}:{stamp[4:6]}" if len(stamp) >= 6 else f"{name} {stamp}"
        labels.append(name)
    return labels


def config_differences(configs: list[dict[str, Any]]) -> list[tuple[str, list[str]]]:
    """Settings whose values are not the same in every run (a missing one shows as '-')."""
    flats = [flatten_config(c) for c in configs]
    keys = list(dict.fromkeys(k for flat in flats for k in flat))
    keys.sort(key=lambda k: (FIRST_KEYS.index(k) if k in FIRST_KEYS else len(FIRST_KEYS), k))
    out = []
    for key in keys:
        values = [flat.get(key, "-") for flat in flats]
        if any(v != values[0] for v in values):
            out.append((key, [_show(v) for v in values]))
    return out


def with_env(info: RunInfo) -> dict[str, Any]:
    """A run's settings with its env.json under "env" (flattened to env.host, env.torch, ...), so the settings that
    differ include where and how runs trained. Not the command line: it repeats the settings that differ, at length."""
    env = {k: v for k, v in runfolder.load_env(info.path).items() if k != "command"}
    if isinstance(env.get("git"), dict):
        env = {**env, "git": env["git"].get("commit", "")[:12] + (" dirty" if env["git"].get("dirty") else "")}
    return {**info.config, **({"env": env} if env else {})}


def _show(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def headline_metric(runs: list[RunState]) -> tuple[str, bool]:
    """The figure runs are judged on: validation accuracy if every run has it, else train accuracy, else loss."""
    for key, higher in (("epoch/val_acc", True), ("epoch/train_acc", True), ("epoch/val_loss", False), ("train/loss", False)):
        if runs and all(key in m.series for m in runs):
            return key, higher
    return "", True


def _best(run: RunState, key: str, higher: bool) -> tuple[float, tuple[float, float, float]] | None:
    series = run.series.get(key)
    if series is None:
        return None
    return series.max() if higher else series.min()


def final_figures(infos: list[RunInfo], runs: list[RunState]) -> list[FigureRow]:
    """Best and last figures per run, the better one marked (higher accuracy, lower loss, shorter time)."""
    rows: list[FigureRow] = []

    def add(name: str, raw: list[float | None], fmt: str, higher: bool | None) -> None:
        if all(v is None for v in raw):
            return
        values = [fmt.format(v) if v is not None else "-" for v in raw]
        best = None
        present = [(v, i) for i, v in enumerate(raw) if v is not None]
        if higher is not None and len(present) > 1 and len({v for v, _ in present}) > 1:
            best = (max if higher else min)(present)[1]
        rows.append(FigureRow(name, values, best))

    for key, name, higher in (("epoch/val_acc", "best val acc", True), ("epoch/train_acc", "best train acc", True),
                              ("epoch/val_loss", "lowest val loss", False), ("train/loss", "lowest train loss", False)):
        found = [_best(m, key, higher) for m in runs]
        if all(f is None for f in found):
            continue
        is_acc = key.endswith("acc")
        raw = [f[0] * (100 if is_acc else 1) if f else None for f in found]
        add(name, raw, "{:.2f}%" if is_acc else "{:.4f}", higher)
        if is_acc or key == "epoch/val_loss":  # where: "epoch 12", or "iteration 6,000" for runs counted so
            rows.append(FigureRow("  reached at", [format_point(m.config, f[1][0], f[1][1]) if f else "-"
                                                   for m, f in zip(runs, found)], None))
    final_keys = list(dict.fromkeys(k for m in runs for k in (m.latest.get("test") or {})))
    for key in final_keys:
        if "acc" not in key and "loss" not in key:
            continue  # lr, throughput and times of the last epoch are not final figures
        vals = [(m.latest.get("test") or {}).get(key) for m in runs]
        if "acc" in key:
            add(f"final {key}", [v * 100 if v is not None else None for v in vals], "{:.2f}%", True)
        else:
            add(f"final {key}", vals, "{:.4f}", False if "loss" in key else None)
    for key in dict.fromkeys(k for m in runs for k in m.series if k.startswith("epoch/") and k.endswith("/s")):
        add(f"mean {key.split('/', 1)[1]}", [m.series[key].mean() if key in m.series else None for m in runs],
            "{:,.0f}", True)
    add("duration", [i.duration for i in infos], "{:.0f}s", False)
    return rows


def verdict(labels: list[str], runs: list[RunState]) -> str:
    """One line saying which run did best and how much sooner it got where the others ended up."""
    key, higher = headline_metric(runs)
    if not key or len(runs) < 2:
        return ""
    found = [_best(m, key, higher) for m in runs]
    if any(b is None for b in found):
        return ""
    bests = cast("list[tuple[float, tuple[float, float, float]]]", found)
    order = sorted(range(len(runs)), key=lambda i: bests[i][0], reverse=higher)
    win, second = order[0], order[1]
    name = key.split("/", 1)[1].replace("_", " ")
    is_acc = key.endswith("acc")

    def show(v: float) -> str:
        return f"{v * 100:.1f}%" if is_acc else f"{v:.4f}"

    w, s = bests[win][0], bests[second][0]
    if w == s:
        return f"{labels[win]} and {labels[second]} tie on best {name} ({show(w)})"
    gap = f"{(w - s) * 100:+.1f} points" if is_acc else f"{w - s:+.4f}"
    line = f"{labels[win]} wins on best {name}: {show(w)} against {show(s)} for {labels[second]} ({gap})"
    # How soon did the winner reach the runner-up's best? That is where BatchNorm shines.
    reached = runs[win].series[key].first_reaching(s, higher)
    if reached is not None:
        there = bests[second][1]
        line += (f"; it reached {show(s)} at {_point(runs[win], key, reached)}, "
                 f"{labels[second]} at {_point(runs[second], key, there)}")
    return line


def _point(run: RunState, key: str, where: tuple[float, float, float]) -> str:
    """Where a series point lies, in its run's unit; a per-interval series of an image run by step."""
    if key.startswith("epoch/") or "iterations" in run.config:
        return format_point(run.config, where[0], where[1])
    return f"step {int(where[0]):,}"


# Metrics a comparison chart can overlay, in the order its key cycles through them.
OVERLAY_METRICS = [("epoch/val_acc", "val accuracy"), ("epoch/train_acc", "train accuracy"),
                   ("epoch/val_loss", "val loss"), ("train/loss", "train loss"), ("epoch/train_loss", "train loss per epoch"),
                   ("epoch/lr", "learning rate")]


class OverlaySource:
    """One metric of several runs on one chart, run i in colour role `run{i}` (a ChartSource)."""

    def __init__(self, runs: list[RunState], labels: list[str], key: str):
        self.runs, self.labels, self.key = runs, labels, key

    @property
    def version(self) -> tuple:
        return self.key, tuple(m.version for m in self.runs)

    def available(self) -> list[tuple[str, str]]:
        found = [(k, t) for k, t in OVERLAY_METRICS if any(k in m.series for m in self.runs)]
        speed = dict.fromkeys(k for m in self.runs for k in m.series if k.startswith("epoch/") and k.endswith("/s"))
        return found + [(k, k.split("/", 1)[1]) for k in speed]

    def title(self) -> str:
        return dict(self.available()).get(self.key, self.key)

    @property
    def y_unit(self) -> str:
        return "%" if is_accuracy(self.key) else ""

    y_span = None  # the runs' own range

    def traces(self, columns: int, axis: str, smoothing: float) -> list[Trace]:
        out = []
        scale = 100.0 if is_accuracy(self.key) else 1.0  # in percent, as in the figures table
        for i, (run, label) in enumerate(zip(self.runs, self.labels)):
            with run.lock:
                series = run.series.get(self.key)
                if series is None:
                    continue
                lines = series_traces(series, columns, axis, smoothing, label, f"run{i}", run.t0 or 0.0, scale)
            out += [t for t in lines if not t.faint]  # several runs' raw envelopes would hide the curves
        return out

    def empty_note(self) -> str:
        if not any(m.events_seen for m in self.runs):
            return "reading the runs' logs…"
        return f"none of these runs recorded {self.title()}"


def is_accuracy(key: str) -> bool:
    return key.endswith("_acc")
