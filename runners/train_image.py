"""Provides the training loop for PyTorch image classifiers (CNN, CNN + BatchNorm, airbench, ViT) on any image data set.

Read top to bottom: setup, data (on the device as uint8), model and optimiser, where to start (afresh or
from last.pt), compiling, the loop (log every N steps, evaluate every epoch, keep the best checkpoint and
last.pt), finish (test figures, per-class table, the
images it got wrong). Losses stay on the device between logging intervals: reading a number from a GPU
waits for it, so the loop reads only every `log_every` steps. The step itself (augmentation to optimizer
update) and the evaluation are in runners/image_step.py, compiled with torch.compile on CUDA.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import torch

from runners import data as datasets
from runners import rngstate
from runners.attention_probe import make_probe
from runners.augment import normalise
from runners.context import RunContext, StopRequested
from runners.devices import autocast_dtype, set_threads, tune_backends
from runners.distributed import RankGroup
from runners.image_step import Evaluator, TrainStep, compile_ahead, compile_mode, describe, synchronize
from runners.lookahead import Lookahead
from runners.metrics import BestTracker, evaluation
from runners.mixing import BatchMixer
from runners.models import load_builder
from runners.modelstats import model_stats
from runners.optim import make_optimizer, set_lr
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
    if cfg.schedule == "linear":
        return 1.0 - progress
    return 0.5 * (1.0 + math.cos(math.pi * progress))


# --------------------------------------------------------------------------- the loop

def train(config: RunConfig, ctx: RunContext) -> dict[str, Any]:
    cfg: ImageConfig = config.train  # type: ignore[assignment]
    started = time.monotonic()

    # ---- setup
    group = ctx.group or RankGroup()  # this process's rank among several (DistributedDataParallel), or a group of one
    device = group.pick_device(cfg.device)
    threads = set_threads(cfg.threads)
    tune_backends(device)
    torch.manual_seed(cfg.seed)
    gen = torch.Generator(device=device)  # the order of the images: the same on every rank
    gen.manual_seed(cfg.seed)
    amp = autocast_dtype(device, cfg.amp, MODELS[cfg.model].cpu_bf16)
    mode = compile_mode(cfg, device, distributed=group.distributed)

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
             f"{splits.test_name}; {height}x{width}x{channels}, {len(classes)} classes; device {device}: "
             f"{describe(mode, amp, threads, device)}")

    # ---- model and optimiser
    # channels_last: the layout convolutions are fastest in on CUDA and on CPU (CNN-BN on one CPU thread: 1.35x in
    # float32, 1.45x under bf16; docs/results.md)
    model = load_builder(cfg.model)(config.model_args, channels, len(classes), height).to(device)
    model = model.to(memory_format=torch.channels_last)
    if hasattr(model, "init_from_data"):  # e.g. airbench's whitening filters, from the patch covariance
        model.init_from_data(normalise(train_x[:5000], mean, std))
    stats = model_stats(model, normalise(train_x[:1], mean, std))
    ctx.info(f"model {cfg.model}: {stats['params']:,} parameters, {stats['macs']:,} multiply-adds per image")
    params = model.optimizer_groups() if hasattr(model, "optimizer_groups") else \
        [p for p in model.parameters() if p.requires_grad]
    # A compiled optimizer holds the learning rate as a tensor (no recompiling as it changes) and runs fused;
    # on CUDA the fused kernel pays eagerly too.
    optimizer = make_optimizer(cfg, params, fused=bool(mode) or device.type == "cuda",
                               lr_device=device if mode else None)
    # Every step takes a full batch (the last partial one is dropped; the shuffle differs each epoch), so the
    # compiled step sees one shape and, on several ranks, every rank takes the same number of equal steps.
    batch_size = min(cfg.batch_size, n_train)
    if batch_size < cfg.batch_size:
        group.images_per_epoch(n_train, cfg.batch_size)  # on several ranks a batch is never cut: refused, saying why
        ctx.warn(f"batch_size {cfg.batch_size} is more than the {n_train} training images: using {batch_size}")
    rank_batch = group.rank_batch(batch_size)  # this rank's share of each batch (the batch splits evenly)
    steps_per_epoch = n_train // batch_size
    total_steps = steps_per_epoch * cfg.epochs
    step_model = group.wrap(model)  # DistributedDataParallel on several ranks; `model` stays bare for checkpoints
    if group.distributed:
        torch.manual_seed(group.seed(cfg.seed))  # augmentation and dropout per rank (the weights came from rank 0)
    step_fn = TrainStep(step_model, optimizer, cfg, images=train_x, labels=train_y, mean=mean, std=std,
                        num_classes=len(classes), autocast=amp, mode=mode, generator=gen, seed=group.seed(cfg.seed))
    evaluate = Evaluator(model, mean=mean, std=std, autocast=amp, flip_test=cfg.flip_test,
                         batch_size=cfg.eval_batch_size, mode=mode)
    best = BestTracker("val_acc" if len(val_x) else "train_acc")
    summary: dict[str, Any] = {"model": stats}
    probe = (make_probe(splits, cfg.attention_probes, classes, lambda x: normalise(x, mean, std), device)
             if MODELS[cfg.model].attention and group.is_main else None)
    test_x = val_x if splits.test_name == "val" else torch.from_numpy(splits.test_x).to(device)
    test_y = val_y if splits.test_name == "val" else torch.from_numpy(splits.test_y).to(device)
    lookahead = Lookahead(model, cfg.lookahead) if cfg.lookahead else None
    seen = steps_per_epoch * batch_size  # images per epoch

    # ---- where to start: at the beginning, or where last.pt left off (the same batch of the same epoch)
    step, epoch, done, first_epoch, resumed = 0, 0, 0, 1, None
    train_s = 0.0  # seconds of training steps so far: no compiling, and no evaluation between epochs
    if ctx.resumed is not None:
        resumed = restore(ctx.resumed, model, optimizer, gen, step_fn.mixer, lookahead, best, summary)
        step, epoch, train_s = int(ctx.resumed["step"]), resumed["epoch"], resumed["train_s"]
        started -= resumed["elapsed"]
        first_epoch = epoch
        if "order" not in resumed:  # saved once the epoch was over: the next one starts afresh
            first_epoch, resumed = epoch + 1, None

    # Compiling comes after the restore: the warm-up puts back whatever state it finds (fresh or resumed), so the
    # compiled graphs point at the very tensors training goes on with.
    summary["compile_s"] = None
    if mode:
        summary["compile_s"] = compile_ahead(step_fn, evaluate, torch.arange(rank_batch, device=device),
                                             (val_x, val_y), (test_x, test_y))
        ctx.info(f"compiled the training step and the evaluation in {summary['compile_s']:.1f}s (mode {mode})")

    def checkpoint(name: str, epoch_fraction: float, **training: Any) -> None:
        ctx.checkpoint(name, model=model.state_dict(), optimizer=optimizer.state_dict(), step=step,
                       epoch=epoch_fraction, **training)

    def save_last(done: int, **tallies: Any) -> None:
        """last.pt with everything a resumed run needs: every random state, lookahead's slow weights, the place in
        the epoch (with the epoch's tallies while it is in progress, its evaluation included). The schedule is a
        function of the step, which the checkpoint holds."""
        mixer = step_fn.mixer.rng.bit_generator.state if step_fn.mixer is not None else None
        checkpoint("last", epoch - 1 + done / seen, rng=rngstate.capture(), generator=gen.get_state(), mixer=mixer,
                   lookahead=lookahead.slow if lookahead else None,
                   training={"epoch": epoch, "done": done, "best": best.to_dict(), "summary": summary,
                             "elapsed": time.monotonic() - started, "train_s": train_s, **tallies})

    def tallies() -> dict[str, Any]:
        """The epoch in progress: its order of images, its Mixup / CutMix draws and its running totals."""
        return {"order": order, "mix_plan": mix_plan, "sums": step_fn.sums, "interval": interval,
                "epoch_elapsed": time.monotonic() - epoch_start}

    # The totals before the first logging interval: a view can count epochs and steps per epoch from the start.
    ctx.emit(Progress(step=step, total_steps=total_steps, epoch=min(first_epoch, cfg.epochs), total_epochs=cfg.epochs))

    # ---- loop
    epoch_end = time.monotonic()  # epoch_time runs from one epoch's end to the next: checkpoints and all count
    try:
        for epoch in range(first_epoch, cfg.epochs + 1):
            epoch_start, over = time.monotonic(), False
            if resumed is None:
                step_fn.sums.zero_()
                interval, first = 0, 0
                order = torch.randperm(n_train, device=device, generator=gen)
                mix_plan = step_fn.mix_plan(steps_per_epoch)
            else:  # the epoch last.pt cut: its order and draws, from the batch after the last one done, with its tallies
                order, first, interval = resumed["order"].to(device), resumed["done"] // batch_size, resumed["interval"]
                mix_plan = None if resumed["mix_plan"] is None else resumed["mix_plan"].to(device)
                step_fn.sums.copy_(resumed["sums"])
                epoch_start -= resumed["epoch_elapsed"]
                epoch_end, resumed = epoch_start, None
            done = first * batch_size
            for i in range(first, steps_per_epoch):
                factor = lr_factor(cfg, step, steps_per_epoch)
                set_lr(optimizer, factor)
                idx = group.shard(order[i * batch_size:(i + 1) * batch_size])  # this rank's part of the batch
                group.step_started(len(idx))
                step_fn(idx, epoch, None if mix_plan is None else mix_plan[i])
                step += 1
                interval += 1
                done += batch_size
                if lookahead:
                    lookahead.after_step(step, total_steps)
                logging = step % cfg.log_every == 0
                if logging:
                    interval_loss = group.total(step_fn.sums[0])[0] / group.world_size / interval  # mean over ranks
                    ctx.check_loss(interval_loss, step)
                    ctx.emit(Metric(step=step, epoch=epoch - 1 + done / seen, split="train",
                                    values={"loss": interval_loss, "lr": cfg.lr * factor}))
                    ctx.emit(Progress(step=step, total_steps=total_steps, epoch=epoch, total_epochs=cfg.epochs))
                    if ranks := group.pace(step, batch_size):
                        ctx.emit(ranks)
                    step_fn.sums[0].zero_()
                    interval = 0
                if probe and cfg.attention_every and step % cfg.attention_every == 0:
                    ctx.emit(probe(model, step))
                if logging:
                    if ctx.checkpoint_due():
                        save_last(done, **tallies())
                    ctx.check_stop()
            synchronize(device)
            train_time = time.monotonic() - epoch_start
            train_s += train_time
            epoch_loss, epoch_correct = group.total(step_fn.sums[1], step_fn.sums[2])  # over every rank's share
            if ranks := group.pace(step, batch_size):  # also here: an epoch may end before a logging point comes
                ctx.emit(ranks)
            values = {"train_loss": epoch_loss / seen, "train_acc": epoch_correct / seen}
            ctx.check_loss(values["train_loss"], step)
            if len(val_x):
                values["val_loss"], values["val_acc"], _ = evaluate(val_x, val_y)
            values["lr"] = cfg.lr * lr_factor(cfg, step - 1, steps_per_epoch)
            values["img/s"] = seen / train_time  # every rank's images
            values["train_time"] = train_s
            now = time.monotonic()
            values["epoch_time"], epoch_end = now - epoch_end, now
            ctx.emit(Metric(step=step, epoch=epoch, split="epoch", values=values))
            ctx.emit(Progress(step=step, total_steps=total_steps, epoch=epoch, total_epochs=cfg.epochs))
            if best.update(values[best.name], step=step, epoch=epoch, elapsed=now - started):
                checkpoint("best", epoch)
            summary.update(metrics=values, best=best.to_dict(), epochs_done=epoch, train_s=train_s)
            if ctx.checkpoint_due() or epoch == cfg.epochs:
                save_last(seen)
            ctx.summary(summary)
            over = True
            ctx.check_stop()
    except StopRequested:
        save_last(done, **({} if over else tallies()))
        raise

    # ---- finish: figures on the test split (validation when the source has none), what it got wrong
    if lookahead:
        lookahead.finish()  # the model keeps the slow weights
    test_loss, test_acc, pred = evaluate(test_x, test_y)
    ctx.emit(evaluation(splits.test_name, splits.test_y, pred.cpu().numpy(), test_loss, classes))
    if probe and not (cfg.attention_every and step % cfg.attention_every == 0):  # else the loop just logged it
        ctx.emit(probe(model, step))
    if cfg.misclassified and group.is_main:
        ctx.emit(misclassified(test_x, test_y, pred, classes, cfg.misclassified, step))
    metrics = {**summary.get("metrics", {}), f"{splits.test_name}_loss": test_loss, f"{splits.test_name}_acc": test_acc,
               "time": time.monotonic() - started}
    ctx.emit(Metric(step=step, epoch=epoch, split="test", values=metrics))
    compiled = f", {summary['compile_s']:.1f}s compiling" if summary["compile_s"] is not None else ""
    ctx.info(f"finished {epoch} epochs in {metrics['time']:.1f}s ({train_s:.1f}s training{compiled}): "
             f"{splits.test_name} accuracy {test_acc * 100:.2f}%")
    summary.update(metrics=metrics)
    return summary


def restore(saved: dict[str, Any], model: torch.nn.Module, optimizer: torch.optim.Optimizer, gen: torch.Generator,
            mixer: BatchMixer | None, lookahead: Lookahead | None, best: BestTracker,
            summary: dict[str, Any]) -> dict[str, Any]:
    """Load last.pt into the training state (weights, optimizer, every random state, lookahead's slow weights, best so
    far); returns its record of where it was taken (epoch, images done in it, that epoch's order, draws and tallies)."""
    model.load_state_dict(saved["model"])
    learning_rates = [group["lr"] for group in optimizer.param_groups]
    optimizer.load_state_dict(saved["optimizer"])
    for group, lr in zip(optimizer.param_groups, learning_rates):
        group["lr"] = lr  # the tensor on the device the optimizer was built with (the loop sets its value each step)
    rngstate.restore(saved["rng"])
    gen.set_state(saved["generator"])
    if mixer is not None and saved.get("mixer") is not None:
        mixer.rng.bit_generator.state = saved["mixer"]
    if lookahead is not None:
        lookahead.load(saved["lookahead"])
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
