"""Runs with the rest of the toolbox (issue 14): --json and --csv outputs parse, notes and tags survive a concurrent
write, delete / restore / purge work and refuse a live run, archived runs leave the default listing."""

import csv
import io
import json
import multiprocessing
import threading
import time

import pytest
from typer.testing import CliRunner

from app_fakes import cnn_script, lock_held, write_run
from conftest import require, run_vitui, shared_data
from vitui.cli import app
from vitui.core import cleanup, notes, runfolder
from vitui.core.experiments import resolve

BEST = {"name": "val_acc", "value": 0.7, "step": 480, "epoch": 12, "time": 300.0}


@pytest.fixture
def runs(tmp_path):
    a = write_run(tmp_path, "20250101-120000-cnn-cifar10", resolve("cnn-cifar10"), cnn_script(batchnorm=False),
                  "completed", {"metrics": {"val_acc": 0.7}, "best": BEST, "model": {"params": 100, "macs": 200}})
    b = write_run(tmp_path, "20250101-130000-rnn-dinos", resolve("rnn-dinos", {"lr": 0.05}), [], "stopped")
    return tmp_path, a, b


def vitui(*args, runs_dir=None):
    """The CLI in this process; stdout and stderr apart (data on one, messages on the other)."""
    extra = ["--runs-dir", str(runs_dir)] if runs_dir is not None else []
    return CliRunner().invoke(app, [*args, *extra], env={"COLUMNS": "120"})


def test_json_outputs_parse(runs):
    runs_dir, a, b = runs
    listed = vitui("runs", "list", "--json", runs_dir=runs_dir)
    assert listed.exit_code == 0 and listed.stderr == ""
    records = json.loads(listed.stdout)
    assert [r["name"] for r in records] == [a.name, b.name]
    assert records[0]["best"] == BEST and records[0]["state"] == "completed" and records[0]["duration_s"] == 600.0
    assert records[1]["settings"] == "lr=0.05" and records[1]["tags"] == [] and records[1]["problem"] is None
    shown = json.loads(vitui("runs", "show", a.name, "--json", runs_dir=runs_dir).stdout)
    assert shown["config"]["model"] == "cnn" and shown["evaluation"]["class_names"][1] == "automobile"
    assert shown["log"] == {"skipped_lines": 0, "problem": None}
    compared = json.loads(vitui("runs", "compare", a.name, b.name, "--json", runs_dir=runs_dir).stdout)
    assert compared[0]["params"] == 100 and compared[0]["best"] == 0.7 and compared[1]["best"] is None
    experiments = json.loads(vitui("experiments", "--json").stdout)
    mlp = next(e for e in experiments if e["name"] == "mlp-mnist")
    assert {"name": "mlp-mnist", "model": "mlp-numpy", "dataset": "mnist"}.items() <= mlp.items()
    settings = json.loads(vitui("settings", "rnn-dinos", "--json").stdout)
    assert settings["task"] == "chars" and {"name": "lr", "value": 0.01} .items() <= next(
        s for s in settings["settings"] if s["name"] == "lr").items()


def test_csv_outputs_parse(runs):
    runs_dir, a, b = runs
    rows = list(csv.DictReader(io.StringIO(vitui("runs", "list", "--csv", runs_dir=runs_dir).stdout)))
    assert [r["name"] for r in rows] == [a.name, b.name] and rows[0]["best_value"] == "0.7"
    rows = list(csv.DictReader(io.StringIO(vitui("runs", "compare", a.name, b.name, "--csv", runs_dir=runs_dir).stdout)))
    assert rows[0]["macs"] == "200" and rows[1]["best"] == ""
    both = vitui("runs", "list", "--csv", "--json", runs_dir=runs_dir)
    assert both.exit_code == 2 and "choose one of --json and --csv" in both.stderr


def test_empty_listing_prints_empty_json_and_says_so_on_stderr(tmp_path):
    result = vitui("runs", "list", "--json", runs_dir=tmp_path)
    assert result.exit_code == 0 and json.loads(result.stdout) == [] and "no runs in" in result.stderr


def test_notes_and_tags(runs):
    runs_dir, a, _ = runs
    assert vitui("runs", "tag", a.name, "+best", "+baseline", runs_dir=runs_dir).stdout.split() == ["best", "baseline"]
    assert vitui("runs", "tag", a.name, "-baseline", "+old", runs_dir=runs_dir).stdout.split() == ["best", "old"]
    assert vitui("runs", "note", a.name, "lr 1e-3 works; try 3e-3", runs_dir=runs_dir).exit_code == 0
    assert vitui("runs", "note", a.name, runs_dir=runs_dir).stdout.strip() == "lr 1e-3 works; try 3e-3"
    record = json.loads(vitui("runs", "list", "--json", runs_dir=runs_dir).stdout)[0]
    assert record["tags"] == ["best", "old"] and record["note"] == "lr 1e-3 works; try 3e-3"
    assert "#best #old" in vitui("runs", "list", runs_dir=runs_dir).stdout
    bad = vitui("runs", "tag", a.name, "+two words", runs_dir=runs_dir)
    assert bad.exit_code == 2 and "bad tag 'two words'" in bad.stderr
    bad = vitui("runs", "note", a.name, "\x1b]0;pwned\x07", runs_dir=runs_dir)
    assert bad.exit_code == 2 and "control characters" in bad.stderr


def tag_many(run_dir, prefix, count):
    for i in range(count):
        notes.change_tags(run_dir, [f"{prefix}{i}"], [])


def test_notes_and_tags_survive_a_concurrent_write(runs):
    _, a, _ = runs
    threads = [threading.Thread(target=tag_many, args=(a, f"t{n}-", 25)) for n in range(4)]
    process = multiprocessing.get_context("fork").Process(target=tag_many, args=(a, "p-", 25))
    process.start()
    for thread in threads:
        thread.start()
    for i in range(25):
        notes.set_note(a, f"note {i}")
    for thread in threads:
        thread.join()
    process.join()
    tags = runfolder.load_run(a).tags
    assert len(tags) == 125 and {f"p-{i}" for i in range(25)} <= set(tags)
    assert runfolder.load_run(a).note == "note 24"


def test_archive_hides_from_the_default_listing(runs):
    runs_dir, a, b = runs
    assert vitui("runs", "archive", a.name, runs_dir=runs_dir).exit_code == 0
    listed = vitui("runs", "list", "--json", runs_dir=runs_dir)
    assert [r["name"] for r in json.loads(listed.stdout)] == [b.name] and "1 archived run not shown" in listed.stderr
    assert len(json.loads(vitui("runs", "list", "--json", "--all", runs_dir=runs_dir).stdout)) == 2
    vitui("runs", "unarchive", a.name, runs_dir=runs_dir)
    assert len(json.loads(vitui("runs", "list", "--json", runs_dir=runs_dir).stdout)) == 2


def test_delete_restore_and_purge(runs):
    runs_dir, a, b = runs
    several = vitui("runs", "delete", "20250101", runs_dir=runs_dir)
    assert several.exit_code == 2 and a.name in several.stderr and b.name in several.stderr and a.exists()
    deleted = vitui("runs", "delete", a.name, runs_dir=runs_dir)
    assert deleted.exit_code == 0 and not a.exists() and (runs_dir / ".trash" / a.name / runfolder.CONFIG).exists()
    assert [r.name for r in runfolder.list_runs(runs_dir)] == [b.name]  # the trash is not a run
    assert a.name in vitui("runs", "restore", runs_dir=runs_dir).stdout
    assert vitui("runs", "restore", "cnn", runs_dir=runs_dir).exit_code == 0 and a.exists()
    assert not (a / cleanup.TRASHED).exists()
    vitui("runs", "delete", a.name, b.name, runs_dir=runs_dir)
    record = runs_dir / ".trash" / a.name / cleanup.TRASHED
    runfolder.write_json_atomic(record, {"time": time.time() - 40 * 86400, "from": str(a)})
    purged = vitui("runs", "purge", "--older-than", "30d", runs_dir=runs_dir)
    assert purged.exit_code == 0 and purged.stdout.split() == ["purged", a.name] and "1 left" in purged.stderr
    assert vitui("runs", "purge", "--older-than", "soon", runs_dir=runs_dir).exit_code == 2
    vitui("runs", "purge", runs_dir=runs_dir)
    assert cleanup.trashed_runs(runs_dir) == []


@pytest.mark.slow
def test_a_live_run_is_refused(runs):
    runs_dir, a, _ = runs
    runfolder.write_status(a, "running", started=time.time())
    with lock_held(a):
        for command in (["runs", "delete", a.name], ["runs", "archive", a.name]):
            result = vitui(*command, runs_dir=runs_dir)
            assert result.exit_code == 2 and "is training" in result.stderr
            assert len(result.stderr.strip().splitlines()) == 1 and a.exists()
    assert vitui("runs", "delete", a.name, runs_dir=runs_dir).exit_code == 0  # crashed now: it may go


@pytest.mark.slow
def test_sample_json_parses_from_a_real_run(tmp_path):
    require(shared_data() / "dinos.txt")
    trained = run_vitui("run", "rnn-dinos", "--no-tui", "--runs-dir", str(tmp_path), "--data-dir", str(shared_data()),
                        "--set", "iterations=200", "--set", "eval_every=100", "--set", "log_every=100")
    assert trained.returncode == 0, trained.stderr
    sampled = run_vitui("sample", "rnn-dinos", "--n", "5", "--seed", "1", "--json", "--runs-dir", str(tmp_path))
    assert sampled.returncode == 0, sampled.stderr
    data = json.loads(sampled.stdout)
    assert len(data["names"]) == 5 and data["seed"] == 1 and data["novel"] == sum(n["novel"] for n in data["names"])
    shown = json.loads(run_vitui("runs", "show", "rnn-dinos", "--json", "--runs-dir", str(tmp_path)).stdout)
    assert shown["state"] == "completed" and shown["summary"]["best"]["name"] == "val_loss"
