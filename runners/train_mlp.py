"""Provides the training loop of the from-scratch NumPy MLP: full-batch gradient descent, the seed's setup."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from runners import data as datasets
from runners.context import RunContext, StopRequested
from runners.metrics import BestTracker, evaluation
from runners.models import load_builder
from vitui.core.experiments import RunConfig
from vitui.core.events import Metric, Progress


def take_per_class(x: np.ndarray, y: np.ndarray, per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The first `per_class` images of each class after a seeded shuffle (the seed used 1,000 per digit)."""
    if per_class <= 0:
        return x, y
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(y))
    keep = np.concatenate([order[y[order] == c][:per_class] for c in np.unique(y)])
    keep.sort()
    return x[keep], y[keep]


def train(config: RunConfig, ctx: RunContext) -> dict[str, Any]:
    cfg, args = config.train, config.model_args
    started = time.monotonic()

    # ---- data: flatten, scale pixels to [0, 1]
    source = datasets.load_dataset(cfg.dataset, ctx.data_dir)
    splits = datasets.split(source, cfg.val_fraction, cfg.seed)
    train_x, train_y = take_per_class(splits.train_x, splits.train_y, cfg.per_class, cfg.seed)
    dtype = np.dtype(cfg.dtype)

    def flat(images: np.ndarray) -> np.ndarray:
        return images.reshape(len(images), int(np.prod(images.shape[1:]))).astype(dtype) / dtype.type(255)

    X, Xval, Xtest = flat(train_x), flat(splits.val_x), flat(splits.test_x)
    classes = source.class_names
    ctx.info(f"{source.name}: {len(X)} training images ({cfg.per_class or 'all'} per class), "
             f"{len(Xval)} validation, {len(Xtest)} {splits.test_name}; {X.shape[1]} inputs, {len(classes)} classes")

    # ---- model
    model = load_builder(cfg.model)(args, X.shape[1], len(classes), seed=cfg.seed, dtype=cfg.dtype)
    best = BestTracker("val_acc" if len(Xval) else "train_acc")

    # ---- loop: log every N iterations, evaluate every M, save the whole state every checkpoint_every seconds
    loss_sum, loss_count, interval_start = 0.0, 0, time.monotonic()
    iteration = 0
    if ctx.resumed is not None:  # go on from last.pt: the same weights, tallies and best so far
        iteration, loss_sum, loss_count, elapsed = restore(ctx.resumed, model, best)
        started -= elapsed
        interval_start -= ctx.resumed["training"]["interval_elapsed"]  # iter/s counts the time before the stop too
        ctx.emit(Progress(step=iteration, total_steps=cfg.iterations, epoch=iteration, total_epochs=cfg.iterations,
                          unit="iteration"))

    def save_last() -> None:
        ctx.checkpoint("last", model=model.params, step=iteration, epoch=iteration,
                       training={"loss_sum": loss_sum, "loss_count": loss_count, "best": best.to_dict(),
                                 "elapsed": time.monotonic() - started,
                                 "interval_elapsed": time.monotonic() - interval_start})

    try:
        for iteration in range(iteration + 1, cfg.iterations + 1):
            loss, grads, logits = model.loss_and_grads(X, train_y, cfg.l2)
            model.step(grads, cfg.lr)
            loss_sum += loss
            loss_count += 1
            logging = iteration % cfg.log_every == 0 or iteration == cfg.iterations
            if logging:
                ctx.check_loss(loss_sum / loss_count, iteration)
                ctx.emit(Metric(step=iteration, epoch=iteration, split="train", values={"loss": loss_sum / loss_count}))
                ctx.emit(Progress(step=iteration, total_steps=cfg.iterations, epoch=iteration,
                                  total_epochs=cfg.iterations, unit="iteration"))
                loss_sum, loss_count = 0.0, 0
            if iteration % cfg.eval_every == 0 or iteration == cfg.iterations:
                ctx.check_loss(loss, iteration)
                now = time.monotonic()
                values = {"train_loss": loss, "train_acc": float((logits.argmax(axis=1) == train_y).mean())}
                if len(Xval):
                    values["val_loss"], values["val_acc"], _ = model.loss_and_accuracy(Xval, splits.val_y)
                values["lr"] = cfg.lr
                values["iter/s"] = cfg.eval_every / max(now - interval_start, 1e-9)
                interval_start = now
                if best.update(values[best.name], step=iteration, epoch=iteration, elapsed=now - started):
                    ctx.checkpoint("best", model=model.params, step=iteration, epoch=iteration)
                ctx.emit(Metric(step=iteration, epoch=iteration, split="epoch", values=values))
                ctx.summary({"metrics": values, "best": best.to_dict()})
            if logging:
                if ctx.checkpoint_due():
                    save_last()
                ctx.check_stop()

    except StopRequested:
        save_last()
        raise

    # ---- finish: final checkpoint, figures on the test split, per-class table
    save_last()
    train_loss, train_acc, _ = model.loss_and_accuracy(X, train_y)
    test_loss, test_acc, pred = model.loss_and_accuracy(Xtest, splits.test_y)
    result = evaluation(splits.test_name, splits.test_y, pred, test_loss, classes)
    ctx.emit(result)
    metrics = {"train_loss": train_loss, "train_acc": train_acc, f"{splits.test_name}_loss": test_loss,
               f"{splits.test_name}_acc": test_acc, "time": time.monotonic() - started}
    ctx.emit(Metric(step=iteration, epoch=iteration, split="test", values=metrics))
    ctx.info(f"finished {iteration} iterations in {metrics['time']:.1f}s: train accuracy {train_acc * 100:.2f}%, "
             f"{splits.test_name} accuracy {test_acc * 100:.2f}%")
    return {"metrics": metrics, "best": best.to_dict(), "iterations": iteration}


def restore(saved: dict[str, Any], model: Any, best: BestTracker) -> tuple[int, float, int, float]:
    """Load last.pt's weights into the model (in place, keeping its dtype) and the best so far; returns the
    iteration it was taken at, the loss tally of the logging interval it cut, and the training time before it."""
    for name, value in saved["model"].items():
        model.params[name][...] = value.numpy()
    training = saved["training"]
    best.restore(training["best"])
    return int(saved["step"]), float(training["loss_sum"]), int(training["loss_count"]), float(training["elapsed"])
