"""End-to-end tests of the character experiments: real `vitui run` workers, their logs, checkpoints and `vitui sample`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conftest import shared_data
from runners.char_learners import sample_checkpoint
from vitui.core import runfolder, stops
from vitui.core.errors import ConfigError
from vitui.core.experiments import RunConfig, resolve
from vitui.core.models import CharRNNArgs
from vitui.launch import start_run
from vitui.sources import TailSource

ROOT = Path(__file__).resolve().parents[1]
COURSE_FILE = shared_data() / "dinos.txt"
pytestmark = pytest.mark.skipif(not COURSE_FILE.is_file(), reason="the course's dinos.txt is not on this machine")

TINY = {
    "rnn-dinos": ["iterations=120", "sample_every=50", "eval_every=60", "log_every=20"],
    "lstm-dinos": ["iterations=12", "sample_every=5", "eval_every=6", "log_every=3", "hidden=16", "batch_size=16"],
    "gru-dinos": ["iterations=12", "sample_every=5", "eval_every=6", "log_every=3", "hidden=16", "layers=2"],
}


@pytest.fixture
def data_dir(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    shutil.copy(COURSE_FILE, folder / "dinos.txt")
    return folder


def vitui(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "VITUI_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "vitui", *args], capture_output=True, text=True, env=env,
                          timeout=timeout, cwd=ROOT)


@pytest.mark.slow
@pytest.mark.parametrize("experiment", sorted(TINY))
def test_tiny_run_writes_samples_metrics_and_checkpoints(experiment, data_dir, tmp_path):
    sets = [arg for s in TINY[experiment] for arg in ("--set", s)]
    result = vitui("run", experiment, "--no-tui", *sets, "--data-dir", str(data_dir), "--runs-dir", str(tmp_path / "runs"))
    assert result.returncode == 0, result.stderr
    (run_dir,) = (tmp_path / "runs").iterdir()
    events = list(runfolder.read_events(run_dir))
    samples = [e for e in events if e.kind == "samples"]
    iterations = int(TINY[experiment][0].split("=")[1])
    every = int(TINY[experiment][1].split("=")[1])
    assert [s.step for s in samples] == sorted({1, *range(every, iterations + 1, every), iterations})
    assert samples[-1].step == iterations
    for s in samples:
        assert len(s.texts) == len(s.novel) == 7
        assert s.novelty == pytest.approx(sum(s.novel) / 7)
        assert all(set(t) <= set("abcdefghijklmnopqrstuvwxyz") for t in s.texts)
    epochs = [e for e in events if e.kind == "metric" and e.split == "epoch"]
    assert epochs and {"train_loss", "smooth_loss", "val_loss", "val_ppl", "chars/s"} <= set(epochs[-1].values)
    assert any(e.kind == "metric" and e.split == "test" for e in events)
    assert json.loads((run_dir / "status.json").read_text())["state"] == "completed"

    ckpt = torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)
    assert ckpt["step"] == iterations and len(ckpt["vocab"]) == 27 and ckpt["train_names"]

    names, novel = sample_checkpoint(run_dir / "checkpoints" / "best.pt", 5, 0.7, seed=3)
    assert len(names) == 5 and names == sample_checkpoint(run_dir / "checkpoints" / "best.pt", 5, 0.7, seed=3)[0]
    if experiment == "rnn-dinos":  # the command itself, once (each call imports torch: seconds)
        sampled = vitui("sample", str(run_dir), "--n", "5", "--seed", "3", "--temperature", "0.7")
        assert sampled.returncode == 0, sampled.stderr
        lines = sampled.stdout.splitlines()
        assert [line.rsplit("  ", 1)[0].strip() for line in lines[:5]] == names
        assert [line.endswith("  novel") for line in lines[:5]] == novel
        assert lines[-1].startswith(f"{sum(novel)}/5 novel")


@pytest.mark.slow
def test_empty_names_file_is_a_usage_error(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n")
    result = vitui("run", "rnn-dinos", "--no-tui", "--set", f"dataset=names:{empty}", "--runs-dir", str(tmp_path / "runs"))
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "has no names" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.slow
def test_wrong_dataset_for_a_character_model_is_refused_before_a_run_starts(tmp_path):
    result = vitui("run", "lstm-dinos", "--no-tui", "--set", "dataset=mnist", "--runs-dir", str(tmp_path / "runs"))
    assert result.returncode == 2 and "dinos or names:PATH" in result.stderr
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow
def test_sample_refuses_a_run_that_is_not_a_character_model(tmp_path):
    run_dir = runfolder.create_run_dir(tmp_path, "mlp-mnist", {"task": "mlp", "model": "mlp-numpy"})
    result = vitui("sample", str(run_dir))
    assert result.returncode == 2 and "not a character model" in result.stderr


def test_character_settings_resolve_and_validate():
    config = resolve("rnn-dinos")
    assert config.task == "chars" and config.train.iterations == 35_000 and config.model_args.hidden == 50
    assert config.train.lr == 0.01 and config.train.sample_every == 2000 and config.train.val_fraction == 0.1
    assert RunConfig.from_dict(config.to_dict()) == config
    lstm = resolve("rnn-dinos", {"model": "lstm", "hidden": "32"})
    assert lstm.task == "chars" and isinstance(lstm.model_args, CharRNNArgs) and lstm.model_args.hidden == 32
    with pytest.raises(ConfigError, match="temperature"):
        resolve("gru-dinos", {"temperature": "0"})


@pytest.mark.slow
def test_temperature_changes_live_and_stop_saves_the_last_checkpoint(data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("VITUI_OFFLINE", "1")
    config = resolve("rnn-dinos", {"sample_every": "50", "log_every": "10", "eval_every": "100"})
    handle = start_run(config, tmp_path / "runs", data_dir)
    # Queued before the worker's first control poll (at its first logging interval, step 10).
    handle.send({"action": "set", "values": {"temperature": 0.5}})
    samples = []
    while handle.alive:
        for event in handle.poll(timeout=0.2):
            if event.kind == "samples":
                samples.append(event)
                if len(samples) == 4:
                    handle.stop()
    assert handle.reap() == "stopped"
    assert [(s.step, s.temperature) for s in samples[:4]] == [(1, 1.0), (50, 0.5), (100, 0.5), (150, 0.5)]

    ckpt = torch.load(handle.run_dir / "checkpoints" / "last.pt", weights_only=True)
    assert 150 <= ckpt["step"] < 35_000
    assert (handle.run_dir / "checkpoints" / "best.pt").is_file()


@pytest.mark.slow
def test_a_run_started_elsewhere_takes_temperature_and_stop_through_its_folder(data_dir, tmp_path, monkeypatch):
    """A vitui that did not start the run (browser, watch) reaches its worker through control.jsonl."""

    monkeypatch.setenv("VITUI_OFFLINE", "1")
    config = resolve("rnn-dinos", {"sample_every": "50", "log_every": "10", "eval_every": "100"})
    handle = start_run(config, tmp_path / "runs", data_dir)
    handle.detach()  # the queue's reader is not the one asking below
    watcher = TailSource(handle.run_dir)
    watcher.send({"action": "set", "values": {"temperature": 0.5}})
    samples = []
    while watcher.alive:
        for event in watcher.poll(0.2):
            if event.kind == "samples":
                samples.append(event)
                if len(samples) == 4:
                    watcher.stop(stops.FROM_WATCH)
    state, detail = watcher.finish()
    handle.process.join(10)
    assert (state, detail) == ("stopped", "stopped from vitui watch")
    assert [s.temperature for s in samples[1:4]] == [0.5, 0.5, 0.5]
    assert runfolder.load_run(handle.run_dir).status["state"] == "stopped"
