"""A tiny real `vitui run ... --no-tui` of each image experiment produces a complete, valid run folder."""

import json

import pytest
import torch

from conftest import run_vitui
from vitui.core import runfolder
from vitui.core.events import Evaluation, Metric, Misclassified, Progress, Status

pytestmark = pytest.mark.slow  # real workers in subprocesses


def check_run_folder(runs_dir, *, test_split):
    [run] = runfolder.list_runs(runs_dir)
    assert run.state == "completed"
    events = list(runfolder.read_events(run.path))
    lines = (run.path / runfolder.EVENTS).read_text().splitlines()
    assert len(events) == len(lines) and all(json.loads(line) for line in lines)
    assert isinstance(events[0], Status) and events[0].state == "running"
    assert isinstance(events[-1], Status) and events[-1].state == "completed"
    assert any(isinstance(e, Metric) and e.split == "train" for e in events)
    assert any(isinstance(e, Progress) for e in events)
    evaluation = next(e for e in events if isinstance(e, Evaluation))
    assert evaluation.split == test_split and len(evaluation.confusion) == len(evaluation.class_names)
    assert sum(map(sum, evaluation.confusion)) == sum(evaluation.support)
    for name in ("last", "best"):
        state = torch.load(run.path / "checkpoints" / f"{name}.pt", weights_only=True)
        assert {"model", "optimizer", "step", "config"} <= set(state)
        assert state["config"]["experiment"] == run.config["experiment"]
    assert run.summary["best"]["value"] is not None
    return run, events


def test_mlp_mnist(tmp_path, mnist_small):
    result = run_vitui("run", "mlp-mnist", "--no-tui", "--runs-dir", str(tmp_path / "runs"), "--data-dir",
                       str(mnist_small), "--set", "iterations=60", "--set", "eval_every=20", "--set", "per_class=50",
                       "--set", "val_fraction=0.1")
    assert result.returncode == 0, result.stderr
    assert "iteration 60/60" in result.stdout and "test accuracy" in result.stdout
    run, events = check_run_folder(tmp_path / "runs", test_split="test")
    assert run.config["per_class"] == 50
    epochs = [e for e in events if isinstance(e, Metric) and e.split == "epoch"]
    assert [e.step for e in epochs] == [20, 40, 60] and "val_acc" in epochs[-1].values


@pytest.mark.parametrize("experiment", ["cnn-cifar10", "cnn-bn-cifar10"])
def test_cnn_on_an_image_folder(tmp_path, cifar_small, experiment):
    result = run_vitui("run", experiment, "--no-tui", "--runs-dir", str(tmp_path / "runs"), "--data-dir",
                       str(tmp_path / "data"), "--set", f"dataset=imagefolder:{cifar_small}", "--set", "epochs=2",
                       "--set", "batch_size=64", "--set", "log_every=2", "--set", "val_fraction=0.2", "--seed", "3")
    assert result.returncode == 0, result.stderr
    assert "epoch 2/2" in result.stdout and "val_acc" in result.stdout
    run, events = check_run_folder(tmp_path / "runs", test_split="val")
    assert run.config["seed"] == 3
    wrong = next(e for e in events if isinstance(e, Misclassified))
    assert len(wrong.images) == len(wrong.labels) and all(t != p for t, p in zip(wrong.labels, wrong.predictions))
    assert len(wrong.images[0]) == 32 and len(wrong.images[0][0][0]) == 3


def test_cnn_on_mnist_shapes_come_from_the_data(tmp_path, mnist_small):
    result = run_vitui("run", "cnn-cifar10", "--no-tui", "--runs-dir", str(tmp_path / "runs"), "--data-dir",
                       str(mnist_small), "--set", "dataset=mnist", "--set", "epochs=1", "--set", "batch_size=100",
                       "--set", "log_every=3", "--set", "optimizer=momentum", "--set", "schedule=step",
                       "--set", "l2=1e-4", "--set", "grad_clip=1.0")
    assert result.returncode == 0, result.stderr
    check_run_folder(tmp_path / "runs", test_split="test")
