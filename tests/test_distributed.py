"""Training on several ranks (DistributedDataParallel, gloo on CPU): the sharding and the group of one, a rank that
writes nothing, naming the rank that died; and real runs: two processes follow the one-process loss curve, only rank 0
writes the run folder (under `--gpus 2` and under torchrun), Ctrl-C stops every rank with status stopped, and a rank
killed with SIGKILL fails the run within the timeout instead of hanging."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import torch

from conftest import REPO, run_vitui
from runners.context import RunContext
from runners.distributed import RankGroup
from runners.supervisor import describe_failure, root_cause
from runners.worker import _lost_contact
from torch.distributed.elastic.multiprocessing.errors import ProcessFailure
from vitui.core import runfolder
from vitui.core.errors import ConfigError
from vitui.core.events import Log, Status
from vitui.core.experiments import resolve

TINY = ["--set", "width=4", "--set", "dense=16", "--set", "threads=1", "--set", "misclassified=0", "--set",
        "system_every=1"]


def test_each_rank_takes_its_own_part_of_the_same_global_batch():
    batch = torch.arange(8)
    assert [RankGroup(r, 2).shard(batch).tolist() for r in (0, 1)] == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert RankGroup(1, 2).images_per_epoch(50, 8) == 48  # whole global batches only: both ranks take 6 steps
    assert RankGroup(0, 2).rank_batch(8) == 4
    with pytest.raises(ConfigError, match="batch_size 9 is not a multiple of gpus 2"):
        RankGroup(0, 2).rank_batch(9)
    with pytest.raises(ConfigError, match="more than the 5 training images"):
        RankGroup(0, 2).images_per_epoch(5, 8)
    assert len({RankGroup(r, 4).seed(7) for r in range(4)}) == 4 and RankGroup(0, 4).seed(7) == 7


def test_a_group_of_one_changes_nothing():
    alone = RankGroup()
    batch = torch.arange(10)
    assert alone.shard(batch) is batch and alone.images_per_epoch(10, 4) == 10  # the last partial batch stays
    assert alone.wrap(model := torch.nn.Linear(2, 2)) is model and alone.pace(5, 4) is None
    assert alone.total(torch.tensor(3.0), torch.tensor(2)) == [3.0, 2.0]
    assert alone.agree_on_stop("stopped by SIGTERM") == "stopped by SIGTERM" and alone.summary() == {}


def test_a_rank_other_than_0_writes_nothing(tmp_path):
    run_dir = runfolder.create_run_dir(tmp_path, "cnn-cifar10", resolve("cnn-cifar10").to_dict())
    before = sorted(p.name for p in run_dir.iterdir())
    ctx = RunContext(run_dir, None, None, None, writes=False, group=RankGroup(1, 2))
    ctx.emit(Log(level="info", message="hello"))
    ctx.checkpoint("last", model={"w": torch.ones(2)}, step=1, epoch=0.1)
    ctx.summary({"metrics": {"loss": 1.0}})
    ctx.wait_for_checkpoints()
    ctx.close()
    assert sorted(p.name for p in run_dir.iterdir()) == before == ["config.json", "status.json"]


def test_the_supervisor_names_the_rank_that_died_first():
    killed = ProcessFailure(local_rank=1, pid=11, exitcode=-9, error_file="<N/A>")
    lost = ProcessFailure(local_rank=0, pid=10, exitcode=1, error_file="<N/A>")
    assert root_cause({0: lost, 1: killed}, rank0_lost_contact=True) == (1, killed)
    assert root_cause({0: lost, 1: killed}, rank0_lost_contact=False) == (1, killed)  # a signal comes first
    assert root_cause({0: lost}, rank0_lost_contact=False) == (0, lost)
    assert describe_failure(killed) == "died: killed by SIGKILL"
    assert describe_failure(lost) == "exited with status 1"
    assert _lost_contact(RuntimeError("[gloo/transport/tcp/pair.cc:545] Read error: Connection reset by peer"))
    assert not _lost_contact(RuntimeError("CUDA out of memory")) and not _lost_contact(ValueError("gloo"))


# --------------------------------------------------------------------------- real runs

def _train_losses(run_dir: Path) -> list[tuple[int, float]]:
    return [(e.step, e.values["loss"]) for e in runfolder.read_events(run_dir)
            if getattr(e, "split", None) == "train"]


def _only_run(runs_dir: Path) -> Path:
    runs = [p for p in runs_dir.iterdir() if p.is_dir()]
    assert len(runs) == 1, runs  # one folder: rank 0's
    return runs[0]


@pytest.mark.slow
def test_two_ranks_follow_the_one_process_loss_curve(tmp_path, cifar_small):
    """The same global batch of 40 as one process of 40 or two of 20: the same images each step, gradients averaged
    over the ranks. No augmentation and no dropout, which draw their numbers per rank."""
    common = ["cnn-cifar10", "--no-tui", "--device", "cpu", "--set", f"dataset=imagefolder:{cifar_small}", "--set",
              "epochs=2", "--set", "batch_size=40", "--set", "log_every=1", "--set", "augment=none", "--set",
              "dropout_conv=0", "--set", "dropout_fc=0", *TINY]
    alone = run_vitui("run", *common, "--runs-dir", str(tmp_path / "one"))
    assert alone.returncode == 0, alone.stderr
    pair = run_vitui("run", *common, "--gpus", "2", "--runs-dir", str(tmp_path / "two"))
    assert pair.returncode == 0, pair.stderr
    one, two = _train_losses(_only_run(tmp_path / "one")), _train_losses(run := _only_run(tmp_path / "two"))
    assert [s for s, _ in one] == [s for s, _ in two] == list(range(1, 19))  # 360 images / 40: 9 steps an epoch
    assert two[-1][1] < two[0][1]  # it learns
    gaps = [abs(b - a) / a for (_, a), (_, b) in zip(one, two)]
    assert max(gaps) < 1e-3, gaps  # float sums in another order: measured 1e-6 or less
    summary = json.loads((run / runfolder.SUMMARY).read_text())["distributed"]
    assert (summary["world_size"], summary["backend"], summary["rank_batch"]) == (2, "gloo", 20)
    env = json.loads((run / runfolder.ENV).read_text())
    assert env["world_size"] == 2 and env["command"][-4:-2] == ["--gpus", "2"] and {"python", "torch", "git"} <= set(env)
    assert "2 ranks (gloo)  batch 40 = 2 × 20" in pair.stdout


@pytest.mark.slow
def test_under_torchrun_only_rank_0_writes_the_run_folder(tmp_path, cifar_small):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "-m", "vitui", "run", "cnn-bn-cifar10",
         "--no-tui", "--device", "cpu", "--runs-dir", str(tmp_path), "--set", f"dataset=imagefolder:{cifar_small}",
         "--set", "epochs=1", "--set", "batch_size=40", "--set", "log_every=3", *TINY],
        env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    run = _only_run(tmp_path)
    assert sorted(p.name for p in run.iterdir()) == ["checkpoints", "config.json", "env.json", "events.jsonl", "lock",
                                                     "status.json", "summary.json"]
    events = list(runfolder.read_events(run))
    assert [e.state for e in events if isinstance(e, Status)] == ["running", "completed"]  # one writer, once
    assert [s for s, _ in _train_losses(run)] == [3, 6, 9]  # each step logged once
    assert {e.kind for e in events} >= {"ranks", "system", "evaluation"}
    config, recorded = json.loads((run / runfolder.CONFIG).read_text()), json.loads((run / runfolder.ENV).read_text())
    assert config["gpus"] == 2 and recorded["world_size"] == 2
    assert "torch.distributed.run" in recorded["command"]  # the command the user typed: torchrun's
    assert done.stdout.count("run completed") == 1  # rank 0 alone prints


def _start(runs_dir: Path, cifar_small: Path) -> tuple[subprocess.Popen, list[psutil.Process]]:
    """`vitui run --gpus 2 --no-tui` in a session of its own (as in a terminal), once its first epoch is done: the
    process and its two ranks."""
    process = subprocess.Popen(
        [sys.executable, "-m", "vitui", "run", "cnn-cifar10", "--gpus", "2", "--no-tui", "--device", "cpu",
         "--runs-dir", str(runs_dir), "--set", f"dataset=imagefolder:{cifar_small}", "--set", "epochs=200", "--set",
         "batch_size=40", "--set", "log_every=1", *TINY],
        env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True)
    lines = []
    while not any(line.startswith("epoch 1/") for line in lines):
        line = process.stdout.readline()
        assert line or process.poll() is None, "".join(lines)
        lines.append(line)
    supervisor = psutil.Process(process.pid).children()
    ranks = [p for s in supervisor for p in s.children() if "spawn_main" in " ".join(p.cmdline())]
    assert len(ranks) == 2, ranks
    return process, sorted(ranks, key=lambda p: p.create_time())


def _ends(process: subprocess.Popen, ranks: list[psutil.Process], within: float) -> tuple[str, float]:
    started = time.monotonic()
    out, _ = process.communicate(timeout=within)
    took = time.monotonic() - started
    gone, alive = psutil.wait_procs(ranks, timeout=5)
    assert not alive, alive
    return out, took


@pytest.mark.slow
def test_ctrl_c_to_the_launcher_stops_every_rank_with_status_stopped(tmp_path, cifar_small):
    process, ranks = _start(tmp_path, cifar_small)
    os.killpg(process.pid, signal.SIGINT)  # a Ctrl-C in its terminal reaches the whole process group
    out, took = _ends(process, ranks, within=60)
    assert process.returncode == 130, out[-2000:]
    status = runfolder.load_run(_only_run(tmp_path)).status
    assert (status["state"], status["detail"]) == ("stopped", "stopped by SIGINT")
    assert (_only_run(tmp_path) / "checkpoints" / "last.pt").is_file()


@pytest.mark.slow
def test_a_rank_killed_with_sigkill_fails_the_run_within_the_timeout(tmp_path, cifar_small):
    process, ranks = _start(tmp_path, cifar_small)
    ranks[1].kill()
    out, took = _ends(process, ranks, within=60)  # the elastic agent's limit: SIGTERM, then SIGKILL after 30 s
    assert process.returncode == 1, out[-2000:]
    status = runfolder.load_run(_only_run(tmp_path)).status
    assert (status["state"], status["detail"]) == ("failed", "rank 1 died: killed by SIGKILL")
    assert "run failed: rank 1 died: killed by SIGKILL" in out
