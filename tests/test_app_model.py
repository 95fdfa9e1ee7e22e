"""Tests of the app's domain logic without Textual: run model, comparison, launcher form."""

import io
import signal

import pytest
from rich.console import Console

from app_fakes import T0, cnn_script, mlp_script, write_run
from vitui import comparison, forms
from vitui.core import stops
from vitui.core.errors import ConfigError
from vitui.core.events import Log, Metric, Progress, Status
from vitui.core.experiments import resolve
from vitui.core.runfolder import load_run
from vitui.render.formats import format_point
from vitui.render.reports import comparison_table
from vitui.runstate import LIVE_CHARTS, RunState, empty_reason, live_charts, load_run_state
from vitui.widgets.progress import status_renderable


def test_model_builds_series_progress_and_figures():
    model = RunState("r")
    model.apply(mlp_script(iterations=300))
    assert model.series["train/loss"].count == 30
    assert model.series["epoch/train_acc"].count == 6
    assert model.progress.step == 300
    assert model.step_rate() == pytest.approx(20.0)  # 10 iterations per 0.5 s of event time
    assert model.elapsed() == pytest.approx(16.0)
    assert model.throughput() == (20.0, "iter/s")
    assert model.evaluation is not None and model.latest["test"]["test_acc"] == 0.9312
    loss = next(spec for spec in LIVE_CHARTS if spec.id == "loss")
    faint, smooth = model.traces(loss, 40, "step", 0.6)
    assert faint.faint and not smooth.faint and smooth.label == "train loss"
    assert model.traces(loss, 40, "step", 0.0)[0].y == faint.y  # unsmoothed: the raw envelope itself


def test_eta_from_progress_rate():
    model = RunState("r")
    model.apply([Status(state="running", t=T0),
                 Progress(step=100, total_steps=1000, epoch=1, total_epochs=10, t=T0 + 10),
                 Progress(step=200, total_steps=1000, epoch=1, total_epochs=10, t=T0 + 20)])
    assert model.eta() == pytest.approx(80.0)
    model.apply([Status(state="completed", t=T0 + 30)])
    assert model.eta() is None


def test_crash_keeps_the_last_error_line():
    model = RunState("r")
    model.apply([Status(state="running", t=T0),
                 Log(level="error", message="Traceback (most recent call last):\n  File x\nMemoryError: out of memory\n")])
    model.finish("failed", "MemoryError: out of memory")
    assert model.state == "failed" and model.last_error == "MemoryError: out of memory"
    model.finish("completed")  # a final state from the log is never overwritten
    assert model.state == "failed"


def test_logs_are_bounded():
    model = RunState("r")
    model.apply([Log(level="info", message=str(i)) for i in range(5000)])
    assert len(model.logs) == 1000 and model.logs[-1][1].message == "4999"


@pytest.fixture
def two_cnn_runs(tmp_path):
    a = write_run(tmp_path, "20250101-120000-cnn-cifar10", resolve("cnn-cifar10"), cnn_script(batchnorm=False), "completed")
    b = write_run(tmp_path, "20250101-130000-cnn-bn-cifar10", resolve("cnn-bn-cifar10"), cnn_script(batchnorm=True),
                  "completed")
    return [load_run(a), load_run(b)]


def test_comparison_of_cnn_and_cnn_bn(two_cnn_runs):
    infos = two_cnn_runs
    models = [load_run_state(i.path) for i in infos]
    labels = comparison.run_labels(infos)
    assert labels == ["cnn-cifar10", "cnn-bn-cifar10"]
    differences = dict(comparison.config_differences([i.config for i in infos]))
    assert differences["model"] == ["cnn", "cnn-bn"] and "lr" not in differences
    rows = {row.name: row for row in comparison.final_figures(infos, models)}
    assert rows["best val acc"].best == 1 and rows["lowest val loss"].best == 1
    assert rows["mean img/s"].best == 0  # the plain CNN is faster per image
    line = comparison.verdict(labels, models)
    assert line.startswith("cnn-bn-cifar10 wins on best val acc")
    assert "cnn-cifar10 at epoch 12" in line


def test_run_labels_tell_apart_runs_of_one_experiment(tmp_path):
    a = write_run(tmp_path, "20250101-120000-mlp-mnist", resolve("mlp-mnist"), [], "completed")
    b = write_run(tmp_path, "20250101-130500-mlp-mnist", resolve("mlp-mnist"), [], "completed")
    assert comparison.run_labels([load_run(a), load_run(b)]) == ["mlp-mnist 12:00:00", "mlp-mnist 13:05:00"]


def test_form_fields_key_settings_first():
    config = resolve("cnn-bn-cifar10")
    names = [spec.name for spec in forms.form_fields(config)]
    assert names[:7] == ["epochs", "batch_size", "optimizer", "lr", "device", "gpus", "seed"]
    assert "model" not in names and "dataset" not in names
    optimizer = next(s for s in forms.form_fields(config) if s.name == "optimizer")
    assert optimizer.kind == "choice" and "adamw" in optimizer.choices


def test_field_errors_are_one_line():
    config = resolve("cnn-bn-cifar10")
    assert forms.field_error(config, "lr", "0.01") is None
    assert forms.field_error(config, "epochs", "two") == "bad value for epochs: 'two' is not a whole number"
    assert "outside" in forms.field_error(config, "dropout_fc", "1.5")


def test_build_config_switches_model_and_data_set():
    config = forms.build_config("cnn-cifar10", "cnn-bn", "fashion-mnist", {"epochs": "2"})
    assert (config.train.model, config.train.dataset, config.train.epochs) == ("cnn-bn", "fashion-mnist", 2)
    base = forms.build_config("cnn-cifar10", "mlp-numpy", "mnist", {})
    assert forms.keep_edits(base, {"epochs": "2", "lr": "0.1"}) == {"lr": "0.1"}
    with pytest.raises(ConfigError):
        forms.build_config("cnn-cifar10", "cnn", "svhn", {})
    assert forms.dataset_choices("cnn", "cifar10")[-1] == "imagefolder"
    assert forms.split_dataset("imagefolder:/data/x.tar.gz") == ("imagefolder", "/data/x.tar.gz")




def status_lines(model) -> str:

    console = Console(width=78, record=True, file=io.StringIO())
    console.print(status_renderable(model))
    return console.export_text()


def test_character_models_have_no_accuracy_chart():
    assert [s.id for s in live_charts(resolve("rnn-dinos").to_dict())] == ["loss", "lr", "speed"]
    assert [s.id for s in live_charts(resolve("mlp-mnist").to_dict())] == ["loss", "accuracy", "lr", "speed"]


def test_accuracy_is_charted_in_percent_like_the_status_line():
    model = RunState("r", resolve("mlp-mnist").to_dict())
    model.apply(mlp_script(iterations=300))
    accuracy = next(spec for spec in LIVE_CHARTS if spec.id == "accuracy")
    (trace,) = model.traces(accuracy, 40, "step", 0.0)
    assert max(trace.y) == pytest.approx(model.series["epoch/train_acc"].max()[0] * 100)
    assert accuracy.unit == "%" and f"train_acc {max(trace.y):.2f}%" in status_lines(model)


def test_an_empty_chart_says_why_in_the_runs_own_settings():
    loss, accuracy, lr = (next(s for s in LIVE_CHARTS if s.id == i) for i in ("loss", "accuracy", "lr"))
    image = RunState("r", resolve("cnn-cifar10", {"epochs": "3", "log_every": "50"}).to_dict())
    assert empty_reason(loss, image) == "no training-loss readings yet: one every 50 steps (log_every)"
    image.apply([Status(state="running", t=T0), Progress(step=0, total_steps=144, epoch=1, total_epochs=3, t=T0)])
    assert empty_reason(loss, image) == "no training-loss readings yet: log_every 50 > 48 steps per epoch"
    assert empty_reason(accuracy, image) == "no accuracy readings yet: one at the end of each epoch"
    # The image trainer also logs its learning rate at the end of each epoch.
    assert empty_reason(lr, image) == ("no learning-rate readings yet: one at the end of each epoch "
                                       "(log_every 50 > 48 steps per epoch)")
    short = RunState("r", resolve("cnn-cifar10", {"epochs": "3", "log_every": "200"}).to_dict())
    short.apply([Status(state="running", t=T0), Progress(step=144, total_steps=144, epoch=3, total_epochs=3, t=T0),
                 Metric(step=144, epoch=3, split="epoch", values={"train_loss": 2.1, "train_acc": 0.2, "lr": 0.1}, t=T0),
                 Status(state="completed", t=T0 + 9)])
    assert empty_reason(loss, short) == "no training-loss readings: the run ended at step 144, before the first at step 200"
    mlp = RunState("r", resolve("mlp-mnist").to_dict())
    assert empty_reason(accuracy, mlp) == "no accuracy readings yet: one every 100 iterations (eval_every)"


def test_the_counter_moves_with_evaluations_that_come_before_the_first_progress():
    """log_every longer than eval_every: epochs (evaluations) are done, so "waiting for the first step" is wrong."""
    model = RunState("r", resolve("mlp-mnist", {"log_every": "1000"}).to_dict())
    model.apply([e for e in mlp_script(iterations=300, log_every=10) if e.kind == "metric" and e.split == "epoch"])
    text = status_lines(model)
    assert "waiting for the first step" not in text and "iteration 300/2,000" in text


def test_a_stopped_run_says_who_stopped_it():
    model = RunState("r", resolve("mlp-mnist").to_dict())
    model.apply([Status(state="running", t=T0), Status(state="stopped", detail="stopped by SIGTERM", t=T0 + 5)])
    lines = status_lines(model).splitlines()
    assert lines[0].startswith("■ stopped") and lines[2].startswith("stopped by SIGTERM  elapsed 0m05s")


def test_stop_words():
    assert stops.by_signal(signal.SIGTERM) == "stopped by SIGTERM"
    assert stops.describe_end("stopped", "stopped from the runs browser") == "stopped from the runs browser"
    assert stops.describe_end("stopped", "interrupted (Ctrl-C)") == "stopped: interrupted (Ctrl-C)"  # older logs
    assert stops.describe_end("completed", "") == "completed"


def test_epochs_are_whole_and_iteration_runs_say_iteration():
    assert format_point(resolve("cnn-cifar10").to_dict(), 480, 12.0) == "epoch 12"
    assert format_point(resolve("rnn-dinos").to_dict(), 6000, 3.4242) == "iteration 6,000"
    assert format_point(resolve("mlp-mnist").to_dict(), 300, 300) == "iteration 300"


def test_comparisons_never_print_a_loss_as_a_percent(tmp_path):
    chars = {"name": "val_loss", "value": 1.9144, "step": 4000, "epoch": 2.83, "time": 2.0}
    a = write_run(tmp_path, "20250101-120000-rnn-dinos", resolve("rnn-dinos"), [], "completed", {"best": chars})
    image = {"name": "val_acc", "value": 0.7812, "step": 480, "epoch": 12, "time": 182.0}
    b = write_run(tmp_path, "20250101-130000-cnn-cifar10", resolve("cnn-cifar10"), [], "completed", {"best": image})
    console = Console(width=80, record=True, file=io.StringIO())
    console.print(comparison_table([load_run(a), load_run(b)]))
    lines = console.export_text().splitlines()
    assert max(len(line.rstrip()) for line in lines) <= 80
    chars = " ".join(next(lines[i:i + 2] for i, line in enumerate(lines) if "rnn-numpy" in line)).split()
    image = " ".join(next(lines[i:i + 2] for i, line in enumerate(lines) if "cnn " in line)).split()
    assert "1.9144" in chars and "val_loss" in chars and not any("%" in word for word in chars)
    assert "78.12%" in image and "val_acc" in image
    assert "iteration 4,000" in " ".join(chars) and "0m02s" in chars
    assert "epoch 12" in " ".join(image) and "3m02s" in image


def test_iteration_runs_are_compared_by_iteration(tmp_path):
    a = write_run(tmp_path, "20250101-120000-mlp-mnist", resolve("mlp-mnist"), mlp_script(iterations=300), "completed")
    b = write_run(tmp_path, "20250101-130000-mlp-mnist", resolve("mlp-mnist", {"lr": "0.1"}),
                  [e for e in mlp_script(iterations=200)], "completed")
    infos = [load_run(a), load_run(b)]
    models = [load_run_state(i.path) for i in infos]
    rows = {row.name: row for row in comparison.final_figures(infos, models)}
    assert rows["  reached at"].values == ["iteration 300", "iteration 200"]
    line = comparison.verdict(comparison.run_labels(infos), models)
    assert "at iteration" in line and "epoch" not in line
