"""Provides the ranks of a distributed run (DistributedDataParallel) as the training loop sees them: joining the process
group a launcher set up (torchrun, or torch's elastic launcher behind `vitui run --gpus N`), each rank's device, its
shard of every batch and its own seeds, sums across ranks at logging points, agreeing on a stop, and how fast each rank
went. A run in one process is a group of one, where all of this does nothing.
"""

from __future__ import annotations

import os
import time
from typing import Any

import torch
import torch.distributed as dist
from torch.distributed.algorithms.ddp_comm_hooks import default_hooks
from torch.nn.parallel import DistributedDataParallel

from runners.devices import pick_device
from vitui.core.errors import ConfigError
from vitui.core.events import Ranks
from vitui.core.ranks import launched_rank


class PaceTimer:
    """Per rank: the images it trained on, the wall time from the interval's first step to the logging point (so the
    evaluation and checkpoints before it do not count), and its busy time: from the start of each step until its last
    gradient bucket is ready to be shared (what the step costs this rank before it waits on the others). On a GPU the
    marks are CUDA events, read only at logging points, so timing never waits for the GPU."""

    def __init__(self, device: torch.device):
        self.cuda = device.type == "cuda"
        self._start: Any = None
        self._marks: list[tuple[Any, Any]] = []  # CUDA (start, ready) event pairs of the interval
        self.reset()

    def reset(self) -> None:
        self.busy, self.images, self.since = 0.0, 0, None
        self._marks.clear()

    def _now(self) -> Any:
        if not self.cuda:
            return time.perf_counter()
        mark = torch.cuda.Event(enable_timing=True)
        mark.record()
        return mark

    def step_started(self, images: int) -> None:
        self.images += images
        if self.since is None:
            self.since = time.perf_counter()
        self._start = self._now()

    def grads_ready(self) -> None:
        if self._start is None:
            return
        if self.cuda:
            self._marks.append((self._start, self._now()))
        else:
            self.busy += time.perf_counter() - self._start
        self._start = None

    def read(self) -> tuple[float, int, float]:
        """(busy seconds, images, wall seconds) since the last read; starts the next interval."""
        busy = self.busy
        for start, ready in self._marks:
            ready.synchronize()
            busy += start.elapsed_time(ready) / 1000.0
        figures = busy, self.images, time.perf_counter() - self.since if self.since is not None else 0.0
        self.reset()
        return figures


def _timed_allreduce(timer, bucket):  # type: ignore[no-untyped-def]
    """DDP's own all-reduce (a PaceTimer and a dist.GradBucket in, a Future out), marking when this rank's last bucket
    of gradients is ready. Not annotated: DDP compares the annotation with dist.GradBucket, and postponed annotations
    are strings."""
    if bucket.is_last():
        timer.grads_ready()
    return default_hooks.allreduce_hook(None, bucket)  # type: ignore[arg-type]


class RankGroup:
    """This process's place among the ranks of a run, and the few collective operations the loop needs."""

    def __init__(self, rank: int = 0, world_size: int = 1, local_rank: int = 0, backend: str = "",
                 device: torch.device | None = None):
        self.rank, self.world_size, self.local_rank, self.backend = rank, world_size, local_rank, backend
        self.device = device  # None in a group of one: the loop picks its device from the settings
        self.timer: PaceTimer | None = None
        self.latest: Ranks | None = None  # rank 0: the newest pace figures, for summary.json

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    # ---- device and seeds
    def pick_device(self, name: str) -> torch.device:
        return self.device if self.device is not None else pick_device(name)

    def seed(self, seed: int) -> int:
        """The seed of this rank's own randomness (augmentation, dropout, Mixup): the run's seed on rank 0, another on
        each other rank. The data order and the weights come from the run's seed on every rank."""
        return seed + 1_000_003 * self.rank

    # ---- data: every rank draws the same order and takes its own part of each global batch
    def rank_batch(self, global_batch: int) -> int:
        if global_batch % self.world_size:
            fits = global_batch // self.world_size * self.world_size or self.world_size
            raise ConfigError(f"batch_size {global_batch} is not a multiple of gpus {self.world_size}: each rank takes "
                              f"an equal share; use e.g. --set batch_size={fits}")
        return global_batch // self.world_size

    def images_per_epoch(self, n: int, global_batch: int) -> int:
        """The images an epoch trains on: all n alone, else those of whole global batches only, so every rank takes
        the same number of steps (a partial batch could not be split evenly)."""
        if not self.distributed:
            return n
        if n < global_batch:
            raise ConfigError(f"batch_size {global_batch} is more than the {n} training images: on several ranks every "
                              f"batch is whole; use a smaller batch_size")
        return n // global_batch * global_batch

    def shard(self, batch: torch.Tensor) -> torch.Tensor:
        """This rank's share of one global batch of indices."""
        if not self.distributed:
            return batch
        size = len(batch) // self.world_size
        return batch[self.rank * size:(self.rank + 1) * size]

    # ---- the model
    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        """DistributedDataParallel around the model (the loop keeps the bare model for checkpoints and probes), its
        gradient all-reduce timed for the straggler figure."""
        if not self.distributed:
            return model
        self.timer = PaceTimer(next(model.parameters()).device)
        wrapped = DistributedDataParallel(model, device_ids=[self.device] if self.backend == "nccl" else None)
        wrapped.register_comm_hook(self.timer, _timed_allreduce)
        return wrapped

    def step_started(self, images: int) -> None:
        if self.timer is not None:
            self.timer.step_started(images)

    # ---- figures across ranks, at logging points only
    def total(self, *values: torch.Tensor) -> list[float]:
        """Each value summed over the ranks, as Python numbers (one collective for all of them)."""
        stacked = torch.stack([v.detach().to(torch.float64).reshape(()) for v in values])
        if self.distributed:
            dist.all_reduce(stacked)
        return stacked.tolist()

    def pace(self, step: int, global_batch: int) -> Ranks | None:
        """Every rank's images/s and busy time over the interval since the last call (None in a group of one)."""
        if self.timer is None:
            return None
        busy, images, wall = self.timer.read()
        mine = torch.tensor([busy, images, wall], dtype=torch.float64, device=self.device)
        everyone = [torch.zeros_like(mine) for _ in range(self.world_size)]
        dist.all_gather(everyone, mine)
        rows = [t.tolist() for t in everyone]
        self.latest = Ranks(step=step, backend=self.backend, world_size=self.world_size, batch_size=global_batch,
                            img_per_s=[n / w if w > 0 else 0.0 for _, n, w in rows], busy_s=[b for b, _, _ in rows])
        return self.latest

    def summary(self) -> dict[str, Any]:
        """The distributed figures for summary.json ({} in a group of one)."""
        if not self.distributed:
            return {}
        out: dict[str, Any] = {"world_size": self.world_size, "backend": self.backend}
        latest = self.latest
        if latest is not None:
            out.update(batch_size=latest.batch_size, rank_batch=latest.rank_batch, img_per_s=sum(latest.img_per_s),
                       img_per_s_rank=latest.img_per_s, straggler=latest.straggler)
        return out

    # ---- stops and the run folder
    def agree_on_stop(self, reason: str) -> str:
        """The stop every rank takes at this logging point: "" when none asked, else the first reason in rank order
        (rank 0 reads the app's and the run folder's requests; every rank gets its own signals)."""
        if not self.distributed:
            return reason
        flag = torch.tensor([1 if reason else 0], device=self.device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        if not flag.item():
            return ""
        reasons: list[Any] = [None] * self.world_size
        dist.all_gather_object(reasons, reason)
        return next(r for r in reasons if r)

    def share(self, value: Any) -> Any:
        """Rank 0's value, on every rank (under torchrun rank 0 creates the run folder and tells the others)."""
        if not self.distributed:
            return value
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def leave(self) -> None:
        if dist.is_initialized():
            dist.destroy_process_group()


def join(device_name: str) -> RankGroup:
    """The group of this process: a group of one, or, in a process a launcher started as a rank, its place in the
    process group it joins now (NCCL on GPUs, gloo on CPUs) with its own device."""
    launched = launched_rank()
    if launched is None or launched[1] == 1:
        return RankGroup()
    rank, world = launched
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", str(world)))
    device = pick_device(device_name)
    if device.type == "cuda":
        count = torch.cuda.device_count()
        if local_world > count:
            raise ConfigError(f"{local_world} ranks on this machine but {count} GPU{'s' if count != 1 else ''}: "
                              f"use --gpus {count} or fewer, or --device cpu")
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
        backend = "nccl"
    elif device.type == "cpu":
        backend = "gloo"
        # CPU ranks share the cores; the threads setting, when given, overrides this in the loop.
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // local_world))
    else:
        raise ConfigError(f"training on several ranks needs cuda or cpu, not {device.type}; use --device cuda or cpu")
    dist.init_process_group(backend, rank=rank, world_size=world, device_id=device if backend == "nccl" else None)
    return RankGroup(rank, world, local_rank, backend, device)
