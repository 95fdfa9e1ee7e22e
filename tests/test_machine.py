"""The worker's view of the machine: the sampler emits system events (CPU, memory, no GPU part without NVML), the
visible GPUs follow CUDA_VISIBLE_DEVICES, and env.json describes the Python, torch, host, command and git checkout."""

from __future__ import annotations

import subprocess
import time

from conftest import REPO
from runners import environment, system
from vitui.core.events import System


def test_the_sampler_emits_samples_of_this_machine_and_one_more_when_stopped():
    got: list[System] = []
    sampler = system.SystemSampler(got.append, every=0.05)
    sampler.start()
    time.sleep(0.3)
    sampler.stop()
    count = len(got)
    time.sleep(0.1)
    assert len(got) == count >= 3  # nothing after stop()
    sample = got[-1]
    assert 0.0 <= sample.cpu_percent <= 100.0 and 0 < sample.ram_used <= sample.ram_total and sample.rss > 10**6
    assert sample.gpus == []  # this machine has no GPU: no error, no GPU figures


def test_an_interval_of_0_samples_nothing():
    got: list[System] = []
    sampler = system.SystemSampler(got.append, every=0)
    sampler.start()
    sampler.stop()
    assert got == []


def test_the_visible_gpus_follow_cuda_visible_devices(monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert system._visible_indices(4) == [0, 1, 2, 3]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,0")
    assert system._visible_indices(4) == [2, 0]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-8f3e,1,x,3")
    assert system._visible_indices(4) == ["GPU-8f3e", 1]  # CUDA stops at the first entry it cannot read
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert system._visible_indices(4) == []


def test_env_describes_python_torch_host_command_and_git(tmp_path):
    env = environment.describe(3, ["vitui", "run", "cnn-cifar10", "--gpus", "3"])
    assert env["world_size"] == 3 and env["command"] == ["vitui", "run", "cnn-cifar10", "--gpus", "3"]
    assert env["python"].count(".") == 2 and env["torch"] and env["host"] and env["gpus"] == []
    if (REPO / ".git").exists():  # the tests run in a checkout (a worktree's .git is a file)
        assert set(env["git"]) == {"commit", "dirty"} and len(env["git"]["commit"]) == 40
    assert environment.git_state(tmp_path) is None  # not a checkout
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "a.txt").write_text("one")
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "add", "a.txt"], check=True)
    subprocess.run([*git, "commit", "-qm", "a"], check=True)
    (tmp_path / "runs").mkdir()  # untracked: not a change of the code
    assert environment.git_state(tmp_path)["dirty"] is False
    (tmp_path / "a.txt").write_text("two")
    assert environment.git_state(tmp_path)["dirty"] is True
