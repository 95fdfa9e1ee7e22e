"""The run folder against the file system: names that would leave --runs-dir or configs/, read-only, unwritable or
full runs folders (before a run and during one), writes cut short by a full disk, temporary files, and a scheduler
that sends SIGTERM twice."""

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app_fakes import T0
from conftest import REPO
from test_interrupts import start_long_run
from tmpfs import tmpfs
from runners.checkpoint import write_checkpoint
from vitui.cli import app as cli_app
from vitui.core import runfolder
from vitui.core.errors import ConfigError, RunFolderError
from vitui.core.events import Log, Metric
from vitui.core.experiments import resolve

NAMES_THAT_LEAVE = ["x/../../escaped-run", "../../x", "..", ".", "a/b", "a\\b", ".hidden", "tab\there", "x" * 101]


def fill(folder: Path) -> None:
    """Fill the file system holding `folder` to the last byte."""
    with open(folder / "filler", "wb", buffering=0) as fh:
        for size in (1 << 16, 1):  # big writes, then single bytes for what is left
            try:
                while True:
                    fh.write(b"\0" * size)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC


def config():
    return resolve("mlp-mnist", {"iterations": 20}).to_dict()


def no_temporaries(folder: Path) -> bool:
    return not [p for p in folder.rglob("*") if p.name.endswith(runfolder.TMP_SUFFIX)]


# --------------------------------------------------------------------------- names

@pytest.mark.parametrize("name", NAMES_THAT_LEAVE)
def test_an_experiment_name_that_is_not_a_plain_name_is_refused(tmp_path, name):
    with pytest.raises(ConfigError, match="bad experiment name"):
        resolve(name)
    with pytest.raises(ConfigError, match="bad experiment name"):
        resolve("mlp-mnist", {"experiment": name})  # --set experiment=... names the run folder
    with pytest.raises(RunFolderError, match="bad experiment name"):
        runfolder.create_run_dir(tmp_path / "runs", name, config())
    assert not (tmp_path / "runs").exists()


def test_the_cli_refuses_names_that_leave_runs_dir_or_configs(tmp_path, monkeypatch):
    configs = tmp_path / "configs"
    shutil.copytree(REPO / "configs", configs)
    monkeypatch.setenv("VITUI_CONFIGS", str(configs))
    (tmp_path / "outside.toml").write_text('model = "mlp"\ndataset = "mnist"\n')  # must never be loaded
    runs = tmp_path / "deep" / "runs"
    for args in (["x/../../escaped-run"], ["../outside"], ["mlp-mnist", "--set", "experiment=../../escaped-run"]):
        result = CliRunner().invoke(cli_app, ["run", *args, "--no-tui", "--runs-dir", str(runs)])
        assert result.exit_code == 2 and result.output.startswith("vitui: error: bad experiment name"), result.output
        assert len(result.output.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["configs", "outside.toml"]  # nothing made anywhere


# --------------------------------------------------------------------------- a runs folder that cannot take a run

def test_a_runs_folder_that_is_a_file_is_refused_in_one_line(tmp_path):
    (tmp_path / "runs").write_text("not a folder")
    result = CliRunner().invoke(cli_app, ["run", "mlp-mnist", "--no-tui", "--runs-dir", str(tmp_path / "runs")])
    assert result.exit_code == 2 and "is not a folder" in result.output and len(result.output.splitlines()) == 1


def test_a_read_only_runs_folder_is_refused_before_anything_is_written(tmp_path):
    with tmpfs(tmp_path / "ro", "1m", "ro"):
        for runs, why in ((tmp_path / "ro", "cannot write in the runs folder"),
                          (tmp_path / "ro" / "runs", "Read-only file system")):
            result = CliRunner().invoke(cli_app, ["run", "mlp-mnist", "--no-tui", "--runs-dir", str(runs)])
            assert result.exit_code == 2 and why in result.output, result.output
            assert result.output.startswith("vitui: error: ") and len(result.output.splitlines()) == 1
            with pytest.raises(RunFolderError, match="pass --runs-dir"):
                runfolder.create_run_dir(runs, "mlp-mnist", config())
        assert not list((tmp_path / "ro").iterdir())


def test_a_full_runs_folder_is_refused_before_anything_is_written(tmp_path):
    disk = tmp_path / "disk"
    with tmpfs(disk, "2m"):
        (disk / "runs").mkdir()
        fill(disk)
        result = CliRunner().invoke(cli_app, ["run", "mlp-mnist", "--no-tui", "--runs-dir", str(disk / "runs")])
        assert result.exit_code == 2 and "is on a full disk" in result.output, result.output
        assert not list((disk / "runs").iterdir())


def test_a_run_folder_whose_config_cannot_be_written_is_removed(tmp_path, monkeypatch):
    def disk_full(path, data):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(runfolder, "write_json_atomic", disk_full)
    with pytest.raises(RunFolderError, match=r"cannot write a run folder .*\(No space left on device\)"):
        runfolder.create_run_dir(tmp_path, "mlp-mnist", config())
    assert not list(tmp_path.iterdir())


# --------------------------------------------------------------------------- writes a full disk cuts short

def test_an_event_line_cut_short_is_undone(tmp_path, monkeypatch):
    """os.write takes part of a line (the disk filled), then refuses the rest: the log keeps its whole lines only."""
    log = runfolder.EventLog(tmp_path)
    log.write(Metric(step=1, epoch=1, split="train", values={"loss": 1.0}, t=T0))
    real_write = os.write

    def short_write(fd, data):
        if len(data) > 40:
            return real_write(fd, data[:40])  # a fragment reaches the file
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", short_write)
    with pytest.raises(OSError, match="No space left on device") as caught:
        log.write(Log(level="info", message="x" * 200, t=T0))
    monkeypatch.undo()
    assert caught.value.filename == str(tmp_path / runfolder.EVENTS)
    log.write(Metric(step=2, epoch=2, split="train", values={"loss": 0.5}, t=T0))  # room again: it goes on
    log.close()
    lines = (tmp_path / runfolder.EVENTS).read_bytes().split(b"\n")
    assert lines[-1] == b"" and [json.loads(line)["step"] for line in lines[:-1]] == [1, 2]


def test_on_a_full_disk_the_log_status_and_checkpoint_writes_fail_cleanly(tmp_path):
    disk = tmp_path / "disk"
    with tmpfs(disk, "1m"):
        run_dir = runfolder.create_run_dir(disk, "mlp-mnist", config())
        log = runfolder.EventLog(run_dir)
        log.write(Metric(step=1, epoch=1, split="train", values={"loss": 1.0}, t=T0))
        write_checkpoint(run_dir / runfolder.CHECKPOINTS, "last", {"model": {"w": [1.0]}, "step": 1})
        fill(disk)
        with pytest.raises(OSError, match="No space left on device"):  # a line longer than what is left of its page
            log.write(Log(level="info", message="x" * 10_000, t=T0))
        log.close()
        lines = (run_dir / runfolder.EVENTS).read_bytes().split(b"\n")
        assert lines[-1] == b"" and len(lines) == 2  # the first line, whole; no fragment
        with pytest.raises(OSError, match="No space left on device") as caught:
            runfolder.write_json_atomic(run_dir / runfolder.SUMMARY, {"metrics": {f"k{i}": i for i in range(2000)}})
        assert caught.value.filename == str(run_dir / runfolder.SUMMARY)
        import torch

        with pytest.raises(OSError, match="No space left on device") as caught:
            write_checkpoint(run_dir / runfolder.CHECKPOINTS, "last", {"model": {"w": torch.zeros(100_000)}, "step": 2})
        assert caught.value.filename == str(run_dir / runfolder.CHECKPOINTS / "last.pt")
        assert torch.load(run_dir / runfolder.CHECKPOINTS / "last.pt", weights_only=True)["step"] == 1  # the old one
        # No room for a new status file: the old one is overwritten in place, so the run still says how it ended.
        runfolder.write_status(run_dir, "failed", "No space left on device: events.jsonl")
        assert runfolder.load_run(run_dir).status["state"] == "failed"
        assert no_temporaries(run_dir)


def test_a_killed_writers_temporary_files_are_removed(tmp_path):
    (tmp_path / runfolder.CHECKPOINTS).mkdir()
    leftovers = [tmp_path / ".status.json.abc123.tmp", tmp_path / runfolder.CHECKPOINTS / ".last.pt.x1y2.tmp"]
    for path in leftovers:
        path.write_text("half")
    (tmp_path / "keep.tmp").write_text("not ours")
    runfolder.remove_temporaries(tmp_path)
    assert not any(p.exists() for p in leftovers) and (tmp_path / "keep.tmp").exists()


# --------------------------------------------------------------------------- real runs

@pytest.mark.slow
def test_a_second_sigterm_waits_for_the_workers_save(tmp_path, mnist_small):
    """A scheduler that repeats SIGTERM: the parent keeps waiting while the worker saves, then exits 130."""
    proc, run_dir = start_long_run(tmp_path, mnist_small)
    os.kill(proc.pid, signal.SIGTERM)
    os.kill(proc.pid, signal.SIGTERM)
    time.sleep(0.05)
    os.kill(proc.pid, signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "already stopping: waiting for the worker to save its checkpoint" in err
    run = runfolder.load_run(run_dir)
    assert run.state == "stopped" and run.status["detail"] == "stopped by SIGTERM"
    assert (run_dir / runfolder.CHECKPOINTS / "last.pt").is_file()


@pytest.mark.slow
def test_a_disk_that_fills_during_a_run_ends_it_as_failed_with_the_log_whole(tmp_path, mnist_small):
    disk = tmp_path / "disk"
    with tmpfs(disk, "3m"):
        proc, run_dir = start_long_run(disk / "runs", mnist_small)
        fill(disk)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 1, err
        assert "Traceback" not in err and "During handling" not in err
        assert "No space left on device" in err
        run = runfolder.load_run(run_dir)
        assert run.status["state"] == "failed" and "No space left on device" in run.status["detail"]
        assert f"run failed: {run.status['detail']}" in out
        lines = (run_dir / runfolder.EVENTS).read_bytes().split(b"\n")
        assert lines[-1] == b"" and all(json.loads(line) for line in lines[:-1])
        assert no_temporaries(run_dir)


@pytest.mark.slow
def test_a_runs_folder_another_user_owns_is_refused_in_one_line(tmp_path):
    """As user nobody, a runs folder of root's: one line, exit 2, nothing written (root ignores permissions, so the
    test takes a second user)."""
    if os.geteuid() != 0:
        pytest.skip("needs root to act as a second user")
    base = Path(tempfile.mkdtemp(dir="/tmp", prefix="vitui-second-user-"))
    try:
        base.chmod(0o755)
        (base / "runs").mkdir(mode=0o755)
        code = f"""
import os, sys
from typer.testing import CliRunner
from vitui.cli import app
import vitui.cli.train, vitui.core.experiments, vitui.core.runfolder, vitui.render.formats
runner = CliRunner()
runner.invoke(app, ["run", "--help"])  # load what the command loads, while the interpreter's files are readable
os.setgroups([]); os.setgid(65534); os.setuid(65534)
for runs in ({str(base / 'runs')!r}, {str(base / 'runs' / 'sub')!r}):
    result = runner.invoke(app, ["run", "mlp-mnist", "--no-tui", "--runs-dir", runs])
    print(result.exit_code, result.output.strip())
"""
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        lines = result.stdout.strip().splitlines()
        assert len(lines) == 2, result.stdout
        assert lines[0].startswith("2 vitui: error: cannot write in the runs folder") and "not yours" in lines[0]
        assert lines[1].startswith("2 vitui: error: cannot create the runs folder") and "Permission denied" in lines[1]
        assert not list((base / "runs").iterdir())
    finally:
        shutil.rmtree(base, ignore_errors=True)
