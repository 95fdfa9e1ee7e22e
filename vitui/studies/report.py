"""Provides `vitui report`: a Markdown file for a write-up, with its pictures as SVG beside it.

For a study: its table (mean ± sd over the seeds, the original report's figures beside it), the line on the first
two against the seeds' spread, the settings that differ between its points, its charts (mean and band per point),
every run, and for image runs the confusion matrix and the mistakes of each point's best run. For runs: the same
for the runs side by side. The charts are drawn by the terminal's own chart code (vitui.widgets.charts) and
exported by rich as SVG, so they look as they do in the app.
"""

from __future__ import annotations

import io
import re
import time
from pathlib import Path
from typing import Any, Iterable

from rich.console import Console

from vitui.comparison import OverlaySource, config_differences, run_labels
from vitui.core import runfolder
from vitui.core.events import Evaluation, Misclassified
from vitui.render.formats import format_duration, format_value
from vitui.render.pictures import MisclassifiedGrid
from vitui.render.studies import reference_line, reference_text
from vitui.runstate import load_run_state
from vitui.studies.definition import experiments_of
from vitui.studies.folder import StudyFolder
from vitui.studies.results import format_figure, format_spread, run_time, study_results
from vitui.studies.watch import StudyChart, StudyWatch

CHART_SIZE = (100, 24)  # columns and lines of an exported chart: a wide terminal's
PICTURE_WIDTH = 100
SKIPPED_CHARTS = ("epoch/lr", "train/lr", "epoch/epoch_time")  # a setting and a cost, not results


def write_report(out: Path, *, study: StudyFolder | None = None, run_dirs: Iterable[Path] = ()) -> Path:
    """Write out/report.md and its SVG pictures; returns the Markdown file's path."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    lines = study_report(out, study) if study is not None else runs_report(out, [Path(d) for d in run_dirs])
    path = out / "report.md"
    path.write_text("\n".join(lines) + "\n")
    return path


# --------------------------------------------------------------------------- a study

def study_report(out: Path, folder: StudyFolder) -> list[str]:
    watch = StudyWatch(folder)
    watch.refresh()
    results = study_results(folder)
    study = folder.study
    lines = [f"# Study {folder.id}", ""]
    if study.description:
        lines += [study.description, ""]
    lines += [f"{len(results.jobs)} runs of {experiments_of(study)}: {len(watch.points)} points × {len(study.seeds)} "
              f"seeds ({', '.join(map(str, study.seeds))}), {results.done} completed. Written "
              f"{time.strftime('%Y-%m-%d %H:%M')} by `vitui report {folder.id}`.", ""]

    lines += ["## Comparison", "", f"{results.metric}: mean ± standard deviation over the completed seeds, best first.", ""]
    metric, best = results.metric or "metric", results.best_name or "best"
    with_reference = any(r.reference is not None for r in results.rows)
    header = ["point", "runs", metric, f"best {best}", "time"] + (["original report"] if with_reference else [])
    rows = [[r.point.label, f"{r.done}/{len(r.jobs)}", format_spread(metric, r.final), format_spread(best, r.best),
             format_duration(r.time.mean)] + ([reference_text(results, r.reference)] if with_reference else [])
            for r in results.rows]
    lines += markdown_table(header, rows) + [""]
    if results.verdict():
        lines += [results.verdict() + ".", ""]
    if reference_line(results):
        lines += [f"Original report: {study.reference_note}.", ""]

    first_runs = [next((s.run for s in results.jobs if s.job.point.index == p.index and s.run is not None), None)
                  for p in watch.points]
    shown = [(p.label, r.config) for p, r in zip(watch.points, first_runs) if r is not None]
    lines += settings_section([label for label, _ in shown], [config for _, config in shown], skip=("seed",))

    lines += ["## Charts", ""]
    for key, title in watch.chart_keys():
        if key in SKIPPED_CHARTS:
            continue
        chart = StudyChart(watch, key)
        name = f"chart-{slug(key)}.svg"
        export_chart(chart, f"{chart.title()}, by epoch", out / name)
        lines += [f"![{chart.title()}]({name})", ""]

    lines += ["## Runs", ""]
    run_rows = []
    for s in results.jobs:
        value = (s.run.summary.get("metrics") or {}).get(metric) if s.run is not None else None
        run_rows.append([str(s.job.index + 1), s.job.point.label, str(s.job.seed), s.state,
                         format_figure(metric, value) if isinstance(value, (int, float)) else "-",
                         format_duration(run_time(s.run)) if s.run is not None else "-",
                         f"`{s.run.name}`" if s.run is not None else "-"])
    lines += markdown_table(["#", "point", "seed", "state", metric, "time", "run folder"], run_rows) + [""]

    # Image runs: what each point's best run got wrong.
    for row in results.rows:
        done = [s.run for s in row.jobs if s.done and s.run is not None]
        if not done:
            continue
        best_run = max(done, key=lambda r: _signed(r.summary, metric, results.higher_is_better))
        lines += image_sections(out, best_run.path, f"{row.point.label}: seed {best_run.config.get('seed')}, "
                                                    f"the best of its seeds")
    return lines


def _signed(summary: dict[str, Any], metric: str, higher: bool) -> float:
    value = (summary.get("metrics") or {}).get(metric)
    if not isinstance(value, (int, float)):
        return float("-inf")
    return value if higher else -value


# --------------------------------------------------------------------------- runs

def runs_report(out: Path, run_dirs: list[Path]) -> list[str]:
    infos = [runfolder.load_run(d) for d in run_dirs]
    labels = run_labels(infos)
    states = [load_run_state(d) for d in run_dirs]
    lines = [f"# {len(infos)} run{'s' if len(infos) != 1 else ''} compared", "",
             f"Written {time.strftime('%Y-%m-%d %H:%M')} by `vitui report {' '.join(i.name for i in infos)}`.", ""]
    lines += ["## Comparison", ""]
    rows = []
    for label, info in zip(labels, infos):
        metrics = info.summary.get("metrics") or {}
        best = info.summary.get("best") or {}
        finals = [format_value(k, v) for k, v in metrics.items()
                  if isinstance(v, (int, float)) and ("acc" in k or "loss" in k)]
        best_text = format_value(best["name"], best["value"]) if best.get("value") is not None else "-"
        rows.append([label, f"`{info.name}`", info.state_label, best_text, ", ".join(finals) or "-",
                     format_duration(info.duration)])
    lines += markdown_table(["run", "folder", "state", "best", "final", "time"], rows) + [""]
    lines += settings_section(labels, [i.config for i in infos])
    lines += ["## Charts", ""]
    for key, title in OverlaySource(states, labels, "").available():
        if key in SKIPPED_CHARTS:
            continue
        name = f"chart-{slug(key)}.svg"
        export_chart(OverlaySource(states, labels, key), title, out / name)
        lines += [f"![{title}]({name})", ""]
    for label, info in zip(labels, infos):
        lines += image_sections(out, info.path, label)
    return lines


# --------------------------------------------------------------------------- sections and pictures

def settings_section(labels: list[str], configs: list[dict[str, Any]], skip: tuple[str, ...] = ()) -> list[str]:
    differences = [(k, v) for k, v in config_differences(configs) if k not in skip]
    lines = ["## Settings that differ", ""]
    if not differences:
        return lines + ["None: every setting is the same.", ""]
    return lines + markdown_table(["setting", *labels], [[f"`{k}`", *values] for k, values in differences]) + [""]


def image_sections(out: Path, run_dir: Path, title: str) -> list[str]:
    """An image run's confusion matrix (a Markdown table) and its mistakes (an SVG of the terminal's grid)."""
    evaluation, mistakes = None, None
    for event in runfolder.read_events(run_dir):
        if isinstance(event, Evaluation):
            evaluation = event
        elif isinstance(event, Misclassified):
            mistakes = event
    if evaluation is None or not evaluation.confusion or len(evaluation.class_names) > 20:
        return []
    lines = [f"## {title}", "", f"`{run_dir.name}`: {evaluation.split} accuracy {evaluation.accuracy * 100:.2f}%.", "",
             "Confusion matrix (rows: true class, columns: predicted):", ""]
    lines += markdown_table(["", *evaluation.class_names],
                            [[f"**{name}**", *map(str, row)] for name, row in zip(evaluation.class_names,
                                                                                  evaluation.confusion)]) + [""]
    if mistakes is not None and mistakes.images:
        name = f"mistakes-{slug(run_dir.name)}.svg"
        save_svg(MisclassifiedGrid(mistakes), out / name, PICTURE_WIDTH, f"mistakes of {run_dir.name}")
        lines += [f"![mistakes of {run_dir.name}]({name})", ""]
    return lines


def export_chart(source: Any, title: str, path: Path, size: tuple[int, int] = CHART_SIZE, axis: str = "epoch") -> None:
    """One chart as the terminal draws it (MetricChart's drawing on a plotext figure), saved as SVG by rich."""
    from rich.text import Text
    from textual_plotext.plot import Plot

    from vitui.widgets.charts import draw_traces

    width, height = size
    traces = [t for t in source.traces(width - 10, axis, 0.0) if t.x]
    if not traces:
        return
    plot = Plot()
    plot.plotsize(width, height)
    plot._set_size(width, height)  # as textual-plotext's widget does before each build
    draw_traces(plot, traces, describe=lambda unit: title, y_unit=source.y_unit, log_y=False, axis=axis,
                size=(width, height))
    plot.theme("dark")
    save_svg(Text.from_ansi(plot.build()), path, width, title)


def save_svg(renderable: Any, path: Path, width: int, title: str) -> None:
    console = Console(record=True, width=width, file=io.StringIO(), color_system="truecolor", force_terminal=True)
    console.print(renderable)
    console.save_svg(str(path), title=title)


def markdown_table(header: list[str], rows: list[list[str]]) -> list[str]:
    def cell(text: str) -> str:
        return str(text).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")
