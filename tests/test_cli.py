"""The command line: instant help without torch, and one clear line with exit 2 for bad input."""

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from app_fakes import write_run
from conftest import REPO, require, run_vitui, shared_data
from vitui.cli import app
from vitui.core.experiments import resolve


@pytest.mark.slow
def test_cli_import_leaves_torch_unimported():
    code = "import sys, vitui.cli; assert not [m for m in sys.modules if m.split('.')[0] in ('torch', 'textual', 'numpy')], sorted(sys.modules)"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


@pytest.mark.slow
@pytest.mark.parametrize("args", [["--help"], ["run", "--help"], ["runs", "--help"]])
def test_help(args):
    result = run_vitui(*args)
    assert result.returncode == 0 and "Usage" in result.stdout


@pytest.mark.slow
@pytest.mark.parametrize("args, message", [
    (["run", "resnet-imagenet", "--no-tui"], "unknown experiment 'resnet-imagenet'; known experiments:"),
    (["run", "mlp-mnist", "--no-tui", "--set", "lrr=1"], "unknown setting 'lrr'"),
    (["run", "mlp-mnist", "--no-tui", "--set", "lr=fast"], "bad value for lr: 'fast' is not a number"),
    (["run", "mlp-mnist", "--no-tui", "--set", "lr"], "write it as key=value"),
    (["run", "mlp-mnist", "--no-tui", "--device", "tpu"], "bad value for device"),
    (["run", "cnn-cifar10", "--no-tui", "--set", "dataset=imagefolder:/nowhere"], "/nowhere does not exist"),
    (["runs", "show", "no-such-run"], "no run 'no-such-run'"),
])
def test_usage_errors_exit_2_with_one_line(tmp_path, args, message):
    result = run_vitui(*args, "--runs-dir", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.strip().startswith("vitui: error:") and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr + result.stdout


@pytest.mark.slow
def test_missing_data_set_names_it_and_says_where_it_looked(tmp_path):
    result = run_vitui("run", "mlp-mnist", "--no-tui", "--runs-dir", str(tmp_path / "runs"), "--data-dir",
                       str(tmp_path / "empty"))
    assert result.returncode == 2
    assert "data set mnist not found" in result.stderr and str(tmp_path / "empty") in result.stderr
    assert "--data-dir" in result.stderr and "Traceback" not in result.stderr
    listing = run_vitui("runs", "list", "--runs-dir", str(tmp_path / "runs"))
    assert "failed" in listing.stdout


def test_runs_list_keeps_names_whole_at_80_columns(tmp_path):
    """Five runs of one experiment: whole names, and the setting that differs, at 80 columns; narrower, columns go."""

    def listing(columns: int) -> str:
        result = CliRunner().invoke(app, ["runs", "list", "--runs-dir", str(tmp_path)], env={"COLUMNS": str(columns)})
        assert result.exit_code == 0, result.output
        return result.output

    names = []
    for i, lr in enumerate((0.01, 0.005, 0.02, 0.05, 0.1)):
        config = resolve("rnn-dinos", {"iterations": 2000, "lr": lr})
        names.append(write_run(tmp_path, f"20250101-12{i:02d}00-rnn-dinos", config, [], "completed",
                               {"best": {"name": "val_loss", "value": 2.0 + i, "epoch": 1}}).name)
    tar = tmp_path / "data" / "some" / "long" / "path" / "cifar10-jpeg-train.tar.gz"
    tar.parent.mkdir(parents=True)
    tar.touch()  # the config checks that it exists; listing runs never opens it
    folder = f"imagefolder:{tar}"
    names.append(write_run(tmp_path, "20250101-130000-cnn-bn-cifar10-2", resolve("cnn-bn-cifar10", {"dataset": folder}),
                           [], "stopped").name)
    lines = listing(80).splitlines()
    assert max(len(line.rstrip()) for line in lines) <= 80
    assert [line.split()[0] for line in lines if line.startswith("2025")] == names  # whole, oldest first
    assert lines[0].split() == ["run", "status", "time", "best", "settings"]
    row = next(line for line in lines if line.startswith(names[3]))
    assert row.split()[1:5] == ["completed", "10m00s", "val_loss", "5.0000"] and "lr=0.05" in row
    wide = listing(200)
    assert "dataset=folder:cifar10-jpeg-train.tar.gz" in wide and "/long/path/" not in wide  # the file names it
    narrow = listing(52).splitlines()
    assert narrow[0].split() == ["run", "status", "time"] and max(len(line.rstrip()) for line in narrow) <= 52
    assert [line.split()[0] for line in narrow if line.startswith("2025")] == names


@pytest.mark.slow
def test_runs_list_and_show(tmp_path, mnist_small):
    assert "no runs" in run_vitui("runs", "list", "--runs-dir", str(tmp_path)).stderr  # stdout stays for programs
    run_vitui("run", "mlp-mnist", "--no-tui", "--runs-dir", str(tmp_path), "--data-dir", str(mnist_small),
              "--set", "iterations=20", "--set", "eval_every=10", "--set", "per_class=20")
    listing = run_vitui("runs", "list", "--runs-dir", str(tmp_path))
    assert "mlp-mnist" in listing.stdout and "completed" in listing.stdout
    shown = run_vitui("runs", "show", "mlp-mnist", "--runs-dir", str(tmp_path))
    assert shown.returncode == 0
    for word in ("completed", "per_class", "test_acc", "precision", "confusion matrix"):
        assert word in shown.stdout


@pytest.mark.slow
def test_runs_compare_never_prints_a_loss_as_a_percent(tmp_path, mnist_small):
    require(shared_data() / "dinos.txt")
    run_vitui("run", "mlp-mnist", "--no-tui", "--runs-dir", str(tmp_path), "--data-dir", str(mnist_small),
              "--set", "iterations=20", "--set", "eval_every=10", "--set", "per_class=20")
    run_vitui("run", "rnn-dinos", "--no-tui", "--runs-dir", str(tmp_path), "--data-dir", str(shared_data()),
              "--set", "iterations=400", "--set", "eval_every=200", "--set", "log_every=100")
    result = run_vitui("runs", "compare", "mlp-mnist", "rnn-dinos", "--runs-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.split("settings that differ")[0].splitlines()  # the figures, not the settings below
    rows = {model: " ".join(lines[i:i + 2]) for i, line in enumerate(lines) for model in ("mlp-numpy", "rnn-numpy")
            if model in line}  # a row is two lines: the figure over its name, the iteration over the time
    assert "train_acc" in rows["mlp-numpy"] and "%" in rows["mlp-numpy"] and "iteration 20" in rows["mlp-numpy"]
    assert "val_loss" in rows["rnn-numpy"] and "%" not in rows["rnn-numpy"] and "iteration" in rows["rnn-numpy"]
