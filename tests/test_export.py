"""`vitui export`: TensorBoard reads back the scalars of the log, CSV and JSON lines hold one row per reading, a
truncated log exports what parses and says what it skipped, and a missing writer names the extra to install."""

import csv
import json
import sys

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from typer.testing import CliRunner

from app_fakes import T0, cnn_script, write_run
from vitui.cli import app
from vitui.core import runfolder
from vitui.core.events import Attention, Metric, Misclassified, Resumed, Samples
from vitui.core.experiments import resolve

IMAGE = [[[40, 80, 120]] * 8] * 8


def extra_events():
    return [Attention(step=480, grid=2, labels=[0, 1], predictions=[0, 2], class_names=["a", "b", "c"],
                      images=[IMAGE, IMAGE], maps=[[[[[0.1, 0.2], [0.3, 0.4]]]]] * 2,
                      rollout=[[[0.1, 0.2], [0.3, 0.4]]] * 2, t=T0 + 500),
            Misclassified(step=480, class_names=["a", "b"], images=[IMAGE, IMAGE], labels=[0, 1], predictions=[1, 0],
                          t=T0 + 501),
            Samples(step=480, temperature=0.8, texts=["rexus", "tyranno"], novel=[True, False], novelty=0.5, t=T0 + 502)]


@pytest.fixture
def run(tmp_path):
    events = cnn_script(batchnorm=True) + extra_events()
    return write_run(tmp_path / "runs", "20250101-120000-vit-cifar10", resolve("vit-cifar10"), events, "completed",
                     {"metrics": {"val_acc": 0.78, "val_loss": 0.6}})


def export(run, fmt, out, *extra):
    return CliRunner().invoke(app, ["export", run.name, "--to", fmt, str(out), "--runs-dir", str(run.parent), *extra])


def logged_scalars(run):
    found = {}
    for event in runfolder.read_events(run):
        if isinstance(event, Metric):
            for name, value in event.values.items():
                found.setdefault(f"{event.split}/{name}", []).append((event.step, value))
    return found


def test_tensorboard_reads_back_the_same_scalars(run, tmp_path):
    result = export(run, "tfevents", tmp_path / "tb")
    assert result.exit_code == 0, result.output
    accumulator = EventAccumulator(str(tmp_path / "tb" / run.name), size_guidance={"scalars": 0, "images": 0})
    accumulator.Reload()
    expected = logged_scalars(run)
    assert set(expected) <= set(accumulator.Tags()["scalars"])
    for tag, points in expected.items():
        read = [(s.step, s.value) for s in accumulator.Scalars(tag)]
        assert [step for step, _ in read] == [step for step, _ in points], tag
        assert [value for _, value in read] == pytest.approx([value for _, value in points], rel=1e-6), tag
    assert [s.value for s in accumulator.Scalars("final/val_acc")] == pytest.approx([0.78])
    assert {"attention/probe_1", "attention/probe_2", "mistakes"} <= set(accumulator.Tags()["images"])
    assert accumulator.Images("attention/probe_1")[0].width == 2 * 8 * 4  # the picture beside its heatmap
    assert "exported" in result.output and "skipped" not in result.output
    again = export(run, "tfevents", tmp_path / "tb")
    assert again.exit_code == 2 and "--force" in again.output


def test_csv_and_jsonl_hold_one_row_per_reading(run, tmp_path):
    expected = sum(len(points) for points in logged_scalars(run).values())
    assert export(run, "csv", tmp_path / "out").exit_code == 0
    rows = list(csv.DictReader((tmp_path / "out" / f"{run.name}.csv").open()))
    assert len(rows) == expected and rows[0].keys() == {"run", "time", "step", "epoch", "split", "metric", "value"}
    assert export(run, "jsonl", tmp_path / "out").exit_code == 0
    lines = [json.loads(line) for line in (tmp_path / "out" / f"{run.name}.jsonl").read_text().splitlines()]
    assert len(lines) == expected and lines[0]["run"] == run.name and isinstance(lines[0]["step"], int)


def test_a_truncated_log_exports_what_parses_and_counts_the_rest(run, tmp_path):
    expected = sum(len(points) for points in logged_scalars(run).values())
    with open(run / runfolder.EVENTS, "a") as fh:
        fh.write('not json\n[1, 2]\n{"kind": "metric", "t": 1, "step": 9, "epoch": 1, "split": "tr')
    result = export(run, "csv", tmp_path / "out")
    assert result.exit_code == 0
    assert "skipped 3 log lines that did not parse" in result.output
    assert len(list(csv.DictReader((tmp_path / "out" / f"{run.name}.csv").open()))) == expected


def test_a_missing_writer_names_the_extra(run, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # as if tensorboard were not installed
    result = export(run, "tfevents", tmp_path / "tb")
    assert result.exit_code == 2
    assert result.output.strip() == ("vitui: error: writing tfevents needs the tensorboard package: "
                                     "pip install 'vitui[tensorboard]'")


def test_a_bad_format_is_one_line(run, tmp_path):
    result = export(run, "parquet", tmp_path)
    assert result.exit_code == 2 and "bad --to 'parquet'" in result.output


def test_a_resumed_run_exports_each_step_once_from_the_attempt_that_counts(tmp_path):
    # Logged to step 100, crashed; its last checkpoint was at step 60, so the next attempt logged 70.. again. Then
    # it crashed at 150 and went back to 140 (resumes go back to the lowest step a later resume names).
    def losses(steps, scale):
        return [Metric(step=s, epoch=s / 10, split="train", values={"loss": scale / s}, t=T0 + s) for s in steps]
    events = [*losses(range(10, 101, 10), 1.0), Resumed(step=60, epoch=6.0, count=1, t=T0 + 200),
              *losses(range(70, 151, 10), 2.0), Resumed(step=140, epoch=14.0, count=2, t=T0 + 300),
              *losses(range(150, 201, 10), 3.0)]
    run = write_run(tmp_path / "runs", "20250101-120000-mlp-mnist", resolve("mlp-mnist"), events, "completed")
    assert export(run, "csv", tmp_path / "out").exit_code == 0
    rows = list(csv.DictReader((tmp_path / "out" / f"{run.name}.csv").open()))
    assert [int(r["step"]) for r in rows] == list(range(10, 201, 10))
    scales = [round(float(r["value"]) * int(r["step"])) for r in rows]
    assert scales == [1] * 6 + [2] * 8 + [3] * 6  # 10-60 the first attempt, 70-140 the second, 150-200 the third
    assert export(run, "tfevents", tmp_path / "tb").exit_code == 0
    accumulator = EventAccumulator(str(tmp_path / "tb" / run.name), size_guidance={"scalars": 0})
    accumulator.Reload()
    assert [s.step for s in accumulator.Scalars("train/loss")] == list(range(10, 201, 10))
