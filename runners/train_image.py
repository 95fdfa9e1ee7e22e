"""Provides the training loop for PyTorch image classifiers (CNN, CNN + BatchNorm, ViT) on any image data set.

Read top to bottom: setup, data (on the device as uint8), model and optimiser, the loop (log every N
steps, evaluate every epoch, keep the best checkpoint), finish (test figures, per-class table, the
images it got wrong). Losses stay on the device between logging intervals: reading a number from a GPU
waits for it, so the loop reads only every `log_every` steps.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from runners import data as datasets
from runners import rngstate
from runners.attention_probe import make_probe
from runners.augment import normalise, random_crop_flip
from runners.context import RunContext, StopRequested
from runners.distributed import RankGroup
from runners.metrics import BestTracker, evaluation
from runners.mixing import BatchMixer, make_mixer
from runners.models import load_builder
from runners.modelstats import model_stats
from runners.optim import make_optimizer
from vitui.core.experiments import RunConfig
from vitui.core.models import MODELS
from vitui.core.settings import ImageConfig
from vitui.core.events import Metric, Misclassified, Progress


# --------------------------------------------------------------------------- setup helpers

def lr_factor(cfg: ImageConfig, step: int, steps_per_epoch: int) -> float:
    """Multiplier of the peak learning rate at `step`: linear warm-up, then the chosen schedule."""
    warmup = cfg.warmup_epochs * steps_per_epoch
    if step < warmup:
        return (step + 1) / warmup
    if cfg.schedule == "constant":
        return 1.0
    if cfg.schedule == "step":
        return cfg.step_gamma ** (step // (cfg.step_epochs * steps_per_epoch))
    total = cfg.epochs * steps_per_epoch
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return 0.5 * (1.0 + math.cos(math.pi * progress))


def weight_penalty(model: torch.nn.Module, l1: float, l2: float) -> torch.Tensor:
    """L1 / L2 on weight matrices and kernels (not biases or norm scales)."""
    weights = [p for p in model.parameters() if p.dim() > 1]
    total = torch.zeros((), device=weights[0].device)
    if l1:
        total = total + l1 * sum(w.abs().sum() for w in weights)
    if l2:
        total = total + l2 * sum(w.pow(2).sum() for w in weights)
    return total


def autocast(device: torch.device, amp: str) -> Any:
    enabled = amp == "bf16" or (amp == "auto" and device.type == "cuda")
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=enabled)


@torch.no_grad()
def evaluate(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, mean: torch.Tensor, std: torch.Tensor,
             batch_size: int, amp: Any) -> tuple[float, float, torch.Tensor]:
    """Loss, accuracy and predictions over a split (uint8 NHWC on the device)."""
    model.eval()
    loss_sum = torch.zeros((), device=x.device)
    preds = []
    for start in range(0, len(x), batch_size):
        xb, yb = x[start:start + batch_size], y[start:start + batch_size]
        with amp:
            logits = model(normalise(xb, mean, std))
        loss_sum += F.cross_entropy(logits.float(), yb, reduction="sum")
        preds.append(logits.argmax(1))
    model.train()
    if not preds:
        return float("nan"), float("nan"), torch.empty(0, dtype=torch.long)
    pred = torch.cat(preds)
    return (loss_sum / len(x)).item(), (pred == y).float().mean().item(), pred


# --------------------------------------------------------------------------- the loop

def train(config: RunConfig, ctx: RunContext) -> dict[str, Any]:
    cfg: ImageConfig = config.train  # type: ignore[assignment]
    started = time.monotonic()

    # ---- setup
    group = ctx.group or RankGroup()  # this process's rank among several (DistributedDataParallel), or a group of one
    device = group.pick_device(cfg.device)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    gen = torch.Generator(device=device)  # the order of the images: the same on every rank
    gen.manual_seed(cfg.seed)
    # Augmentation draws its own numbers on each rank (on rank 0, or alone, from the same generator as the order).
    aug = gen if not group.distributed else torch.Generator(device=device).manual_seed(group.seed(cfg.seed))
    amp = autocast(device, cfg.amp)

    # ---- data: uint8 NHWC tensors on the device, standardised per batch
    source = datasets.load_dataset(cfg.dataset, ctx.data_dir)
    splits = datasets.split(source, cfg.val_fraction, cfg.seed)
    train_x = torch.from_numpy(splits.train_x).to(device)
    train_y = torch.from_numpy(splits.train_y).to(device)
    val_x, val_y = torch.from_numpy(splits.val_x).to(device), torch.from_numpy(splits.val_y).to(device)
    pixels = train_x.reshape(-1, train_x.shape[-1]).float()
    mean, std = pixels.mean(0), pixels.std(0).clamp_min(1.0)
    del pixels
    n_train, (height, width, channels) = len(train_x), source.shape
    classes = source.class_names
    ctx.info(f"{source.name}: {n_train} training images, {len(val_x)} validation, {len(splits.test_y)} "
             f"{splits.test_name}; {height}x{width}x{channels}, {len(classes)} classes; device {device}")

    # ---- model and optimiser
    model = load_builder(cfg.model)(config.model_args, channels, len(classes), height).to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    stats = model_stats(model, normalise(train_x[:1], mean, std))
    ctx.info(f"model {cfg.model}: {stats['params']:,} parameters, {stats['macs']:,} multiply-adds per image")
    step_model = group.wrap(model)  # DistributedDataParallel on several ranks; `model` stays bare for checkpoints
    step_model = torch.compile(step_model) if cfg.compile else step_model
    if group.distributed:
        torch.manual_seed(group.seed(cfg.seed))  # dropout per rank (the weights came from rank 0)
    optimizer = make_optimizer(cfg, model.parameters())
    group.rank_batch(cfg.batch_size)  # checks that the batch splits evenly over the ranks
    n_epoch = group.images_per_epoch(n_train, cfg.batch_size)  # images per epoch: on several ranks, whole batches only
    steps_per_epoch = math.ceil(n_epoch / cfg.batch_size)
    total_steps = steps_per_epoch * cfg.epochs
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(cfg, s, steps_per_epoch))
    penalised = bool(cfg.l1 or cfg.l2)
    best = BestTracker("val_acc" if len(val_x) else "train_acc")
    summary: dict[str, Any] = {"model": stats}
    mix = make_mixer(cfg.mixup, cfg.cutmix, len(classes), group.seed(cfg.seed), aug)
    probe = (make_probe(splits, cfg.attention_probes, classes, lambda x: normalise(x, mean, std), device)
             if MODELS[cfg.model].attention and group.is_main else None)

    # ---- where to start: at the beginning, or where last.pt left off (the same batch of the same epoch)
    step, epoch, done, first_epoch, resumed = 0, 0, 0, 1, None
    if ctx.resumed is not None:
        resumed = restore(ctx.resumed, model, optimizer, scheduler, gen, mix, best, summary)
        step, epoch = int(ctx.resumed["step"]), resumed["epoch"]
        started -= resumed["elapsed"]
        first_epoch = epoch
        if "order" not in resumed:  # saved once the epoch was over: the next one starts afresh
            first_epoch, resumed = epoch + 1, None

    def checkpoint(name: str, epoch_fraction: float, **training: Any) -> None:
        ctx.checkpoint(name, model=model.state_dict(), optimizer=optimizer.state_dict(), step=step,
                       epoch=epoch_fraction, **training)

    def save_last(done: int, **tallies: Any) -> None:
        """last.pt with everything a resumed run needs: the schedule, every random state, the place in the epoch
        (with the epoch's tallies while it is in progress, its evaluation included)."""
        mixer = mix.rng.bit_generator.state if isinstance(mix, BatchMixer) else None
        checkpoint("last", epoch - 1 + done / n_epoch, scheduler=scheduler.state_dict(), rng=rngstate.capture(),
                   generator=gen.get_state(), mixer=mixer,
                   training={"epoch": epoch, "done": done, "best": best.to_dict(), "summary": summary,
                             "elapsed": time.monotonic() - started, **tallies})

    def tallies() -> dict[str, Any]:
        """The epoch in progress: its order of images and its running totals."""
        return {"order": order, "epoch_loss": epoch_loss, "epoch_correct": epoch_correct, "loss_sum": loss_sum,
                "interval": interval, "epoch_elapsed": time.monotonic() - epoch_start}

    # The totals before the first logging interval: a view can count epochs and steps per epoch from the start.
    ctx.emit(Progress(step=step, total_steps=total_steps, epoch=min(first_epoch, cfg.epochs), total_epochs=cfg.epochs))

    # ---- loop
    epoch_end = time.monotonic()  # epoch_time runs from one epoch's end to the next: checkpoints and all count
    try:
        for epoch in range(first_epoch, cfg.epochs + 1):
            epoch_start, over = time.monotonic(), False
            loss_sum = torch.zeros((), device=device)  # per logging interval
            epoch_loss = torch.zeros((), device=device)
            epoch_correct = torch.zeros((), device=device, dtype=torch.long)
            interval = 0
            if resumed is None:
                order, first = torch.randperm(n_train, device=device, generator=gen), 0
            else:  # the epoch last.pt cut: its order, from the batch after the last one done, with its tallies
                order, first = resumed["order"].to(device), resumed["done"]
                epoch_loss, epoch_correct = resumed["epoch_loss"].to(device), resumed["epoch_correct"].to(device)
                loss_sum, interval = resumed["loss_sum"].to(device), resumed["interval"]
                epoch_start -= resumed["epoch_elapsed"]
                epoch_end, resumed = epoch_start, None
            done = first
            for start in range(first, n_epoch, cfg.batch_size):
                idx = group.shard(order[start:start + cfg.batch_size])  # this rank's part of the global batch
                group.step_started(len(idx))
                xb, yb = train_x[idx], train_y[idx]
                if cfg.augment == "flip-crop":
                    xb = random_crop_flip(xb, generator=aug)
                with amp:
                    inputs, targets = mix(normalise(xb, mean, std), yb)
                    logits = step_model(inputs)
                    loss = F.cross_entropy(logits, targets, label_smoothing=cfg.label_smoothing)
                    if penalised:
                        loss = loss + weight_penalty(model, cfg.l1, cfg.l2)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if cfg.grad_clip:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
                optimizer.step()
                scheduler.step()
                step += 1
                interval += 1
                done = min(n_epoch, start + cfg.batch_size)
                detached = loss.detach()
                loss_sum += detached
                epoch_loss += detached * len(yb)
                epoch_correct += (logits.argmax(1) == yb).sum()
                logging = step % cfg.log_every == 0
                if logging:
                    interval_loss = group.total(loss_sum)[0] / group.world_size / interval  # the mean over ranks
                    ctx.check_loss(interval_loss, step)
                    ctx.emit(Metric(step=step, epoch=epoch - 1 + done / n_epoch, split="train",
                                    values={"loss": interval_loss, "lr": scheduler.get_last_lr()[0]}))
                    if ranks := group.pace(step, cfg.batch_size):
                        ctx.emit(ranks)
                    ctx.emit(Progress(step=step, total_steps=total_steps, epoch=epoch, total_epochs=cfg.epochs))
                    loss_sum.zero_()
                    interval = 0
                if probe and cfg.attention_every and step % cfg.attention_every == 0:
                    ctx.emit(probe(model, step))
                if logging:
                    if ctx.checkpoint_due():
                        save_last(done, **tallies())
                    ctx.check_stop()
            train_time = time.monotonic() - epoch_start
            loss_total, correct_total = group.total(epoch_loss, epoch_correct)  # over every rank's share
            values = {"train_loss": loss_total / n_epoch, "train_acc": correct_total / n_epoch}
            ctx.check_loss(values["train_loss"], step)
            if len(val_x):
                values["val_loss"], values["val_acc"], _ = evaluate(model, val_x, val_y, mean, std,
                                                                    cfg.eval_batch_size, amp)
            values["lr"] = scheduler.get_last_lr()[0]
            values["img/s"] = n_epoch / train_time  # every rank's images
            now = time.monotonic()
            values["epoch_time"], epoch_end = now - epoch_end, now
            ctx.emit(Metric(step=step, epoch=epoch, split="epoch", values=values))
            ctx.emit(Progress(step=step, total_steps=total_steps, epoch=epoch, total_epochs=cfg.epochs))
            if best.update(values[best.name], step=step, epoch=epoch, elapsed=now - started):
                checkpoint("best", epoch)
            summary.update(metrics=values, best=best.to_dict(), epochs_done=epoch)
            if ctx.checkpoint_due() or epoch == cfg.epochs:
                save_last(n_epoch)
            ctx.summary(summary)
            over = True
            ctx.check_stop()
    except StopRequested:
        save_last(done, **({} if over else tallies()))
        raise

    # ---- finish: figures on the test split (validation when the source has none), what it got wrong
    test_x = val_x if splits.test_name == "val" else torch.from_numpy(splits.test_x).to(device)
    test_y = val_y if splits.test_name == "val" else torch.from_numpy(splits.test_y).to(device)
    test_loss, test_acc, pred = evaluate(model, test_x, test_y, mean, std, cfg.eval_batch_size, amp)
    ctx.emit(evaluation(splits.test_name, splits.test_y, pred.cpu().numpy(), test_loss, classes))
    if probe and not (cfg.attention_every and step % cfg.attention_every == 0):  # else the loop just logged it
        ctx.emit(probe(model, step))
    if cfg.misclassified and group.is_main:
        ctx.emit(misclassified(test_x, test_y, pred, classes, cfg.misclassified, step))
    metrics = {**summary.get("metrics", {}), f"{splits.test_name}_loss": test_loss, f"{splits.test_name}_acc": test_acc,
               "time": time.monotonic() - started}
    ctx.emit(Metric(step=step, epoch=epoch, split="test", values=metrics))
    ctx.info(f"finished {epoch} epochs in {metrics['time']:.1f}s: {splits.test_name} accuracy {test_acc * 100:.2f}%")
    summary.update(metrics=metrics)
    return summary


def restore(saved: dict[str, Any], model: torch.nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any,
            gen: torch.Generator, mix: Any, best: BestTracker, summary: dict[str, Any]) -> dict[str, Any]:
    """Load last.pt into the training state (weights, optimizer, schedule, every random state, best so far); returns
    its record of where it was taken (epoch, images done in it, that epoch's order and tallies)."""
    model.load_state_dict(saved["model"])
    optimizer.load_state_dict(saved["optimizer"])  # before the schedule, which goes on from the optimizer's lr
    scheduler.load_state_dict(saved["scheduler"])
    rngstate.restore(saved["rng"])
    gen.set_state(saved["generator"])
    if saved.get("mixer") is not None:
        mix.rng.bit_generator.state = saved["mixer"]
    training = saved["training"]
    best.restore(training["best"])
    summary.update(training["summary"])
    return training


def misclassified(x: torch.Tensor, y: torch.Tensor, pred: torch.Tensor, classes: list[str], limit: int,
                  step: int) -> Misclassified:
    wrong = torch.nonzero(pred != y).flatten()[:limit].cpu()
    images = x[wrong.to(x.device)].cpu().numpy().astype(np.uint8)
    return Misclassified(step=step, class_names=list(classes), images=images.tolist(),
                         labels=y[wrong.to(y.device)].cpu().tolist(), predictions=pred[wrong.to(pred.device)].cpu().tolist())
