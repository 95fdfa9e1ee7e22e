"""Provides the image trainer's training step and evaluation, compiled whole by torch.compile where that pays.

One step is: gather the batch, augment it (shifts and flips, RandAugment), standardise, Mixup / CutMix, the
forward pass and the loss under autocast, the running sums of loss and accuracy, the backward pass, gradient
clipping and the optimizer's update. On a GPU a step of eager PyTorch is hundreds of small kernel launches, each
costing the host ~40 us whatever its size, so the GPU waits on Python. Compiled (compile=auto turns it on for
CUDA), the augmentation, forward and loss become one graph, the backward pass another and the update a third,
their element-wise work fused into few kernels; with mode reduce-overhead each graph is also recorded as a CUDA
graph and replayed with a single launch. The same functions run eagerly on a CPU.

What keeps the compiled graphs from being compiled again: every batch has the same shape (the trainer drops the
last partial batch), the learning rate is a tensor filled in place, randomness is drawn inside the graph or
arrives as tensors, and the running sums live on the device and are read only at logging points.
"""

from __future__ import annotations

import time
from typing import Callable

import torch
import torch.nn.functional as F

from runners import rngstate
from runners.augment import alternating_flips, normalise, random_crop_flip
from runners.mixing import make_mixer
from runners.randaugment import rand_augment
from vitui.core.settings import ImageConfig

WARMUP_STEPS = 3  # compiling traces on the first call; CUDA graphs record on the second and replay from the third
CUDA_GRAPH_MODES = ("reduce-overhead", "max-autotune")
# Evaluation sees a few large batches: CUDA graphs save nothing there, and outputs kept across calls would be
# overwritten by the next replay.
EVAL_MODES = {"reduce-overhead": "default", "max-autotune": "max-autotune-no-cudagraphs"}


def compile_mode(cfg: ImageConfig, device: torch.device, distributed: bool = False) -> str | None:
    """The torch.compile mode of this run, or None to run eagerly. compile=auto compiles on CUDA only: on a CPU
    the compiler's minutes rarely pay back, and the kernels it replaces there cost little to launch. On several
    ranks no CUDA graphs: DistributedDataParallel's gradient all-reduce runs outside any graph."""
    if cfg.compile == "off" or cfg.compile == "auto" and device.type != "cuda":
        return None
    mode = cfg.compile_mode if cfg.compile_mode != "auto" else "reduce-overhead" if device.type == "cuda" else "default"
    return EVAL_MODES.get(mode, mode) if distributed else mode


def weight_penalty(model: torch.nn.Module, l1: float, l2: float) -> torch.Tensor:
    """L1 / L2 on weight matrices and kernels (not biases or norm scales)."""
    weights = [p for p in model.parameters() if p.dim() > 1 and p.requires_grad]
    total = torch.zeros((), device=weights[0].device)
    if l1:
        total = total + l1 * sum(w.abs().sum() for w in weights)
    if l2:
        total = total + l2 * sum(w.pow(2).sum() for w in weights)
    return total


def synchronize(device: torch.device) -> None:
    """Wait for the device to finish its queued work (so a clock read after it measures the work)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class TrainStep:
    """Calling it trains one step on the images at `idx`; `sums` keeps [loss over the logging interval, loss x
    images over the epoch, correct predictions over the epoch] on the device."""

    def __init__(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer, cfg: ImageConfig, *,
                 images: torch.Tensor, labels: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, num_classes: int,
                 autocast: torch.dtype | None, mode: str | None, generator: torch.Generator, seed: int | None = None):
        self.model, self.optimizer, self.cfg = model, optimizer, cfg
        self.images, self.labels, self.mean, self.std = images, labels, mean, std
        self.device = images.device
        self.autocast = autocast
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.sums = torch.zeros(3, device=self.device)
        # seed: this rank's own (runners.distributed.RankGroup.seed), so that ranks mix their shares differently
        self.mixer = make_mixer(cfg.mixup, cfg.cutmix, num_classes, cfg.seed if seed is None else seed)
        self.flip_bits = (alternating_flips(len(images), generator, self.device)
                          if cfg.augment == "translate-flip" else None)
        self.cuda_graphs = mode in CUDA_GRAPH_MODES and self.device.type == "cuda"
        self.forward_loss: Callable[..., torch.Tensor] = self._forward_loss
        self.update: Callable[[], None] = self._update
        if mode:
            # dynamic=False: one graph per shape; shapes never change in training, so nothing is traced twice.
            # fullgraph for one model; DistributedDataParallel splits the graph at its gradient buckets by design.
            whole = not isinstance(model, torch.nn.parallel.DistributedDataParallel)
            self.forward_loss = torch.compile(self._forward_loss, mode=mode, fullgraph=whole, dynamic=False)
            self.update = torch.compile(self._update, mode=mode, dynamic=False)
        if self.cuda_graphs:
            torch._dynamo.mark_static_address(self.sums)  # updated inside the graph: keep it at one address

    # ---- what runs eagerly, around the compiled parts
    def mix_plan(self, steps: int) -> torch.Tensor | None:
        """An epoch's Mixup / CutMix draws, one row per step (None when mixing is off)."""
        if self.mixer is None:
            return None
        height, width = self.images.shape[1:3]
        return self.mixer.plan(steps, height, width, self.device)

    def flips(self, idx: torch.Tensor, epoch: int) -> torch.Tensor | None:
        """Which images of the batch to mirror, for alternating flips (None: the augmentation draws its own)."""
        if self.flip_bits is None:
            return None
        return self.flip_bits[idx] ^ (epoch % 2 == 0)

    def __call__(self, idx: torch.Tensor, epoch: int, mix: torch.Tensor | None) -> None:
        if self.cuda_graphs:
            torch.compiler.cudagraph_mark_step_begin()
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.forward_loss(self.images[idx], self.labels[idx], self.flips(idx, epoch), mix)
        loss.backward()
        self.update()

    # ---- the compiled parts
    def _forward_loss(self, xb: torch.Tensor, yb: torch.Tensor, flips: torch.Tensor | None,
                      mix: torch.Tensor | None) -> torch.Tensor:
        cfg = self.cfg
        if cfg.augment != "none":
            xb = random_crop_flip(xb, flips, pad=2 if cfg.augment == "translate-flip" else 4,
                                  reflect=cfg.augment == "translate-flip")
        if cfg.randaugment:
            xb = rand_augment(xb.float(), cfg.randaugment, cfg.randaugment_magnitude)
        inputs, targets = normalise(xb, self.mean, self.std), yb
        if mix is not None:
            inputs, targets = self.mixer.mix(inputs, yb, mix)
        with torch.autocast(self.device.type, dtype=self.autocast or torch.bfloat16, enabled=self.autocast is not None):
            logits = self.model(inputs)
        loss = F.cross_entropy(logits.float(), targets, label_smoothing=cfg.label_smoothing)
        if cfg.l1 or cfg.l2:
            loss = loss + weight_penalty(self.model, cfg.l1, cfg.l2)
        detached = loss.detach()
        correct = (logits.argmax(1) == yb).sum().float()
        self.sums.add_(torch.stack([detached, detached * len(yb), correct]))
        return loss

    def _update(self) -> None:
        if self.cfg.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.params, self.cfg.grad_clip)
        self.optimizer.step()

    # ---- compiling ahead of training
    def warm_up(self, idx: torch.Tensor) -> None:
        """Compile and record the step on a real batch, then put back the weights, BatchNorm statistics, optimizer
        state, running sums and random states: training then goes on exactly as it would have (from the start or
        from a resumed checkpoint), with the compiling done and timed apart."""
        saved = {k: v.clone() for k, v in self.model.state_dict().items()}
        saved_optimizer = {p: {k: v.clone() for k, v in s.items() if isinstance(v, torch.Tensor)}
                           for p, s in self.optimizer.state.items()}
        saved_sums = self.sums.clone()
        random_states = rngstate.capture()
        mixer_state = self.mixer.rng.bit_generator.state if self.mixer is not None else None
        mix = self.mix_plan(1)
        for _ in range(WARMUP_STEPS):
            self(idx, 1, None if mix is None else mix[0])
        self.model.load_state_dict(saved)  # copies in place: the compiled graphs keep pointing at the same tensors
        for param, state in self.optimizer.state.items():
            for key, value in state.items():
                if not isinstance(value, torch.Tensor):
                    continue
                if param in saved_optimizer:
                    value.copy_(saved_optimizer[param][key])
                else:
                    value.zero_()  # a zero step count and zero moments are a fresh optimizer's, to the bit
        self.optimizer.zero_grad(set_to_none=True)
        self.sums.copy_(saved_sums)
        rngstate.restore(random_states)
        if self.mixer is not None:
            self.mixer.rng.bit_generator.state = mixer_state
        synchronize(self.device)


class Evaluator:
    """Loss, accuracy and predictions of the model over a split of uint8 images, in large batches under autocast
    (bf16 on CUDA), compiled when training is; flip_test averages the logits of each image and its mirror image."""

    def __init__(self, model: torch.nn.Module, *, mean: torch.Tensor, std: torch.Tensor, autocast: torch.dtype | None,
                 flip_test: bool, batch_size: int, mode: str | None):
        self.model, self.mean, self.std = model, mean, std
        self.autocast, self.flip_test, self.batch_size = autocast, flip_test, batch_size
        self.batch_loss: Callable[..., tuple[torch.Tensor, torch.Tensor]] = self._batch_loss
        if mode:
            self.batch_loss = torch.compile(self._batch_loss, mode=EVAL_MODES.get(mode, mode), dynamic=False)

    def _batch_loss(self, xb: torch.Tensor, yb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = normalise(xb, self.mean, self.std)
        device_type = x.device.type
        with torch.autocast(device_type, dtype=self.autocast or torch.bfloat16, enabled=self.autocast is not None):
            logits = self.model(x).float()
            if self.flip_test:
                logits = (logits + self.model(x.flip(-1)).float()) / 2
        return F.cross_entropy(logits, yb, reduction="sum"), logits.argmax(1)

    @torch.no_grad()
    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float, torch.Tensor]:
        self.model.eval()
        loss_sum = torch.zeros((), device=x.device)
        preds = []
        for start in range(0, len(x), self.batch_size):
            loss, pred = self.batch_loss(x[start:start + self.batch_size], y[start:start + self.batch_size])
            loss_sum += loss
            preds.append(pred)
        self.model.train()
        if not preds:
            return float("nan"), float("nan"), torch.empty(0, dtype=torch.long)
        pred = torch.cat(preds)
        return (loss_sum / len(x)).item(), (pred == y).float().mean().item(), pred

    @torch.no_grad()
    def warm_up(self, *splits: tuple[torch.Tensor, torch.Tensor]) -> None:
        """Compile for each batch shape the splits will bring (a full batch, the last partial one); evaluating
        changes nothing, so this leaves the model as it was."""
        seen = set()
        for x, y in splits:
            for size in {min(len(x), self.batch_size), len(x) % self.batch_size} - {0} - seen:
                seen.add(size)
                self(x[:size], y[:size])


def compile_ahead(step: TrainStep, evaluator: Evaluator, first_batch: torch.Tensor,
                  *splits: tuple[torch.Tensor, torch.Tensor]) -> float:
    """Compile the training step and the evaluation before training starts; the seconds it took."""
    started = time.monotonic()
    step.warm_up(first_batch)
    evaluator.warm_up(*splits)
    synchronize(first_batch.device)
    return time.monotonic() - started


def describe(mode: str | None, autocast: torch.dtype | None, threads: int, device: torch.device) -> str:
    """One log line on how the run computes: compiled or not, autocast, threads on a CPU."""
    parts = [f"compiled ({mode})" if mode else "eager (not compiled)",
             "bf16 autocast" if autocast is not None else "float32"]
    if device.type == "cpu":
        parts.append(f"{threads} thread{'s' if threads != 1 else ''}")
    return ", ".join(parts)

