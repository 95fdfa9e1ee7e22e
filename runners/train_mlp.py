"""Provides the training loop of the from-scratch NumPy MLP: full-batch gradient descent (the seed's setup), or
stochastic and mini-batch gradient descent with `batch_size`."""

from __future__ import annotations

import math
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


class Batches:
    """Which training images each step takes: all of them (batch_size 0, or as many as there are), or the next
    `size` of a seeded shuffle, reshuffled after every pass (the last batch of a pass may be smaller)."""

    def __init__(self, n: int, batch_size: int, seed: int):
        self.n = n
        self.size = n if batch_size <= 0 or batch_size >= n else batch_size
        self.full = self.size == n
        self.per_epoch = math.ceil(n / self.size)
        self._rng = np.random.default_rng([seed, 1])  # its own stream: the data split and the weights keep theirs
        self._order = np.arange(n)
        self._position = n  # the first call shuffles

    def next(self) -> np.ndarray | None:
        """The indices of the next batch; None for the whole set (no copy of the images)."""
        if self.full:
            return None
        if self._position >= self.n:
            self._order = self._rng.permutation(self.n)
            self._position = 0
        idx = self._order[self._position:self._position + self.size]
        self._position += len(idx)
        return idx

    def state(self) -> dict[str, Any]:
        """Where the shuffle stands, for last.pt: a resumed run takes the same batches as one never stopped."""
        return {"rng": self._rng.bit_generator.state, "order": self._order, "position": self._position}

    def restore(self, state: dict[str, Any]) -> None:
        self._rng.bit_generator.state = state["rng"]
        self._order = np.asarray(state["order"], dtype=np.int64)
        self._position = int(state["position"])

    def epochs(self, steps: int) -> float:
        """Passes over the training images after `steps` steps: one per step for full batch."""
        whole, rest = divmod(steps, self.per_epoch)
        return float(whole + min(rest * self.size, self.n) / self.n)


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
    batches = Batches(len(X), cfg.batch_size, cfg.seed)
    if not batches.full:
        ctx.info(f"mini-batches of {batches.size}: {batches.per_epoch:,} gradient steps per pass over the images")

    # ---- loop: log every N iterations, evaluate every M, save the whole state every checkpoint_every seconds
    loss_sum, loss_count, interval_start = 0.0, 0, time.monotonic()
    seen_loss, seen_correct, seen_images = 0.0, 0, 0  # mini-batches: training figures over the evaluation interval
    total_epochs = math.ceil(cfg.iterations * batches.size / len(X))
    iteration = 0
    if ctx.resumed is not None:  # go on from last.pt: the same weights, tallies, batch order and best so far
        iteration, elapsed = restore(ctx.resumed, model, best, batches)
        training = ctx.resumed["training"]
        loss_sum, loss_count = float(training["loss_sum"]), int(training["loss_count"])
        seen_loss, seen_correct, seen_images = (float(training.get("seen_loss", 0.0)),
                                                int(training.get("seen_correct", 0)), int(training.get("seen_images", 0)))
        started -= elapsed
        interval_start -= training["interval_elapsed"]  # iter/s counts the time before the stop too
        ctx.emit(Progress(step=iteration, total_steps=cfg.iterations, epoch=int(batches.epochs(iteration)),
                          total_epochs=total_epochs, unit="iteration"))

    def save_last() -> None:
        ctx.checkpoint("last", model=model.params, step=iteration, epoch=batches.epochs(iteration),
                       training={"loss_sum": loss_sum, "loss_count": loss_count, "best": best.to_dict(),
                                 "seen_loss": seen_loss, "seen_correct": seen_correct, "seen_images": seen_images,
                                 "batches": batches.state(), "elapsed": time.monotonic() - started,
                                 "interval_elapsed": time.monotonic() - interval_start})

    try:
        for iteration in range(iteration + 1, cfg.iterations + 1):
            idx = batches.next()
            xb, yb = (X, train_y) if idx is None else (X[idx], train_y[idx])
            loss, grads, logits = model.loss_and_grads(xb, yb, cfg.l2)
            model.step(grads, cfg.lr)
            loss_sum += loss
            loss_count += 1
            seen_loss += loss * len(yb)
            seen_correct += int((logits.argmax(axis=1) == yb).sum())
            seen_images += len(yb)
            epoch = batches.epochs(iteration)
            logging = iteration % cfg.log_every == 0 or iteration == cfg.iterations
            if logging:
                ctx.check_loss(loss_sum / loss_count, iteration)
                ctx.emit(Metric(step=iteration, epoch=epoch, split="train", values={"loss": loss_sum / loss_count}))
                ctx.emit(Progress(step=iteration, total_steps=cfg.iterations, epoch=int(epoch),
                                  total_epochs=total_epochs, unit="iteration"))
                loss_sum, loss_count = 0.0, 0
            if iteration % cfg.eval_every == 0 or iteration == cfg.iterations:
                ctx.check_loss(loss, iteration)
                now = time.monotonic()
                if batches.full:  # the whole training set at this step's weights, as the seed reported it
                    values = {"train_loss": loss, "train_acc": float((logits.argmax(axis=1) == train_y).mean())}
                else:  # the mini-batches since the last evaluation, as the image trainer reports an epoch
                    values = {"train_loss": seen_loss / seen_images, "train_acc": seen_correct / seen_images}
                seen_loss, seen_correct, seen_images = 0.0, 0, 0
                if len(Xval):
                    values["val_loss"], values["val_acc"], _ = model.loss_and_accuracy(Xval, splits.val_y)
                values["lr"] = cfg.lr
                values["iter/s"] = cfg.eval_every / max(now - interval_start, 1e-9)
                interval_start = now
                if best.update(values[best.name], step=iteration, epoch=epoch, elapsed=now - started):
                    ctx.checkpoint("best", model=model.params, step=iteration, epoch=epoch)
                ctx.emit(Metric(step=iteration, epoch=epoch, split="epoch", values=values))
                ctx.summary({"metrics": values, "best": best.to_dict()})
            if logging:
                if ctx.checkpoint_due():
                    save_last()
                ctx.check_stop()

    except StopRequested:
        save_last()
        raise

    # ---- finish: final checkpoint, figures on the test split, per-class table
    epoch = batches.epochs(iteration)
    save_last()
    train_loss, train_acc, _ = model.loss_and_accuracy(X, train_y)
    test_loss, test_acc, pred = model.loss_and_accuracy(Xtest, splits.test_y)
    result = evaluation(splits.test_name, splits.test_y, pred, test_loss, classes)
    ctx.emit(result)
    metrics = {"train_loss": train_loss, "train_acc": train_acc, f"{splits.test_name}_loss": test_loss,
               f"{splits.test_name}_acc": test_acc, "time": time.monotonic() - started}
    ctx.emit(Metric(step=iteration, epoch=epoch, split="test", values=metrics))
    ctx.info(f"finished {iteration} iterations in {metrics['time']:.1f}s: train accuracy {train_acc * 100:.2f}%, "
             f"{splits.test_name} accuracy {test_acc * 100:.2f}%")
    return {"metrics": metrics, "best": best.to_dict(), "iterations": iteration}


def restore(saved: dict[str, Any], model: Any, best: BestTracker, batches: Batches) -> tuple[int, float]:
    """Load last.pt's weights into the model (in place, keeping its dtype), the best so far and where the batches
    were; returns the iteration it was taken at and the training time before it."""
    for name, value in saved["model"].items():
        model.params[name][...] = value.numpy()
    training = saved["training"]
    best.restore(training["best"])
    batches.restore(training["batches"])
    return int(saved["step"]), float(training["elapsed"])
