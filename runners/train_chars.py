"""Provides the training loop of the character models: the NumPy RNN (one name per step) or an LSTM / GRU (batches).

One loop serves both families through their learners (runners.char_learners). Metrics: training loss per character (nats), the course's smoothed per-name
loss, held-out loss per character and perplexity, characters/s; every `sample_every` steps a
Samples event with names drawn at the live temperature.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from runners import rngstate
from runners.models import load_builder
from runners.metrics import BestTracker
from runners.names_data import load_names
from runners.context import Diverged, RunContext, StopRequested
from vitui.core.errors import ConfigError
from vitui.core.experiments import RunConfig
from vitui.core.settings import CharConfig, check_value, field_info
from vitui.core.events import Metric, Progress, Samples

# Checkpoints and summary.json are fsynced; at ~100 us per RNN step, writing them at every evaluation
# would cost more than everything else the loop does. A new best is kept in memory and written at
# most this often, and always when the run ends or stops.
SAVE_EVERY_S = 10.0


def sample_seed(seed: int, step: int) -> int:
    """A seed per sampling point, so samples are reproducible and never disturb training's randomness."""
    return int(np.random.SeedSequence([seed, step]).generate_state(1)[0])


class Saver:
    """Writes best.pt / last.pt and summary.json, throttled to one round of disk writes per SAVE_EVERY_S."""

    def __init__(self, ctx: RunContext, extra: dict[str, Any]):
        self.ctx, self.extra = ctx, extra
        self.best: dict[str, Any] | None = None  # snapshot not yet on disk
        self.summary: dict[str, Any] | None = None
        self.last_write = time.monotonic()  # a short run writes once, at its end

    def new_best(self, learner, step: int, epoch: float) -> None:
        self.best = {**learner.state(), "step": step, "epoch": epoch}

    def new_summary(self, summary: dict[str, Any]) -> None:
        self.summary = summary

    def maybe_flush(self) -> None:
        if time.monotonic() - self.last_write >= SAVE_EVERY_S:
            self.flush()

    def flush(self) -> None:
        if self.best is not None:
            self.ctx.checkpoint("best", **self.best, **self.extra)
            self.best = None
        if self.summary is not None:
            self.ctx.summary(self.summary)
            self.summary = None
        self.last_write = time.monotonic()

    def last(self, learner, step: int, epoch: float, loop: dict[str, Any]) -> None:
        """last.pt with the whole training state, which a resumed run goes on from; best.pt and the summary are
        written first, so that the three agree."""
        self.flush()
        self.ctx.checkpoint("last", **learner.state(), step=step, epoch=epoch, learner=learner.training_state(),
                            loop=loop, rng=rngstate.capture(), **self.extra)


# --------------------------------------------------------------------------- the loop

def train(config: RunConfig, ctx: RunContext) -> dict[str, Any]:
    cfg: CharConfig = config.train
    started = time.monotonic()

    # ---- data
    data = load_names(cfg.dataset, ctx.data_dir, cfg.val_fraction, cfg.seed, warn=ctx.warn)
    known = set(data.train)
    train_encoded = [data.encode(n) for n in data.train]
    val_encoded = [data.encode(n) for n in data.val]
    ctx.info(f"{cfg.dataset}: {len(data.train)} training names, {len(data.val)} held out, "
             f"vocabulary of {len(data.vocab)} symbols")

    # ---- model
    learner = load_builder(cfg.model)(data, cfg, config.model_args)
    best = BestTracker("val_loss" if val_encoded else "train_loss", mode="min")
    saver = Saver(ctx, {"vocab": data.vocab, "train_names": data.train})

    def emit_samples(step: int) -> None:
        temperature = live_temperature(ctx, cfg)
        names = [data.decode(n) for n in learner.sample(cfg.samples, temperature, sample_seed(cfg.seed, step))]
        novel = [n not in known for n in names]
        ctx.emit(Samples(step=step, temperature=temperature, texts=names, novel=novel,
                         novelty=sum(novel) / len(novel)))

    # ---- loop: log every N steps, evaluate every M (keep the best), sample every K, save every checkpoint_every s
    step = 0
    log_loss, log_chars = 0.0, 0
    eval_loss, eval_chars, eval_start, eval_step = 0.0, 0, time.monotonic(), 0
    values: dict[str, float] = {}
    if ctx.resumed is not None:  # go on from last.pt: weights, optimizer, every random state, tallies, best so far
        learner.restore(ctx.resumed)
        rngstate.restore(ctx.resumed["rng"])
        step, loop = int(ctx.resumed["step"]), ctx.resumed["loop"]
        log_loss, log_chars = loop["log_loss"], loop["log_chars"]
        eval_loss, eval_chars = loop["eval_loss"], loop["eval_chars"]
        eval_step, values = loop["eval_step"], loop["values"]
        eval_start -= loop["eval_elapsed"]  # the speed of the interval the stop cut counts its time before the stop
        best.restore(loop["best"])
        started -= loop["elapsed"]
        ctx.emit(Progress(step=step, total_steps=cfg.iterations, epoch=int(learner.names_seen / len(data.train)),
                          total_epochs=math.ceil(cfg.iterations * learner.names_per_step / len(data.train)),
                          unit="iteration"))

    def save_last() -> None:
        loop = {"log_loss": log_loss, "log_chars": log_chars, "eval_loss": eval_loss, "eval_chars": eval_chars,
                "eval_step": eval_step, "eval_elapsed": time.monotonic() - eval_start, "values": values,
                "best": best.to_dict(), "elapsed": time.monotonic() - started}
        saver.last(learner, step, learner.names_seen / len(data.train), loop)

    # The next step that logs, evaluates or samples; steps before it only train.
    due = next_due(step, cfg) if step else 1
    try:
        for step in range(step + 1, cfg.iterations + 1):
            learner.step()
            if step < due:
                continue  # the common case, kept to one comparison: an RNN step takes only ~0.1 ms
            due = next_due(step, cfg)
            last = step == cfg.iterations
            logging = step % cfg.log_every == 0 or last
            evaluating = step % cfg.eval_every == 0 or last
            if logging or evaluating:
                loss_sum, chars = learner.read_interval()
                log_loss, log_chars = log_loss + loss_sum, log_chars + chars
                eval_loss, eval_chars = eval_loss + loss_sum, eval_chars + chars
            epoch = learner.names_seen / len(data.train)
            # The smoothed loss averages every step's: once a step's loss is NaN or infinite, so is it. Checked at each
            # of these steps, before sampling from weights that would be NaN too.
            ctx.check_loss(learner.smooth_loss(), step)
            if logging:
                ctx.emit(Metric(step=step, epoch=epoch, split="train",
                                values={"loss": log_loss / max(log_chars, 1), "smooth_loss": learner.smooth_loss()}))
                ctx.emit(Progress(step=step, total_steps=cfg.iterations, epoch=int(epoch),
                                  total_epochs=math.ceil(cfg.iterations * learner.names_per_step / len(data.train)),
                                  unit="iteration"))
                log_loss, log_chars = 0.0, 0
            if evaluating:
                now = time.monotonic()
                values = {"train_loss": eval_loss / max(eval_chars, 1), "smooth_loss": learner.smooth_loss()}
                if val_encoded:
                    val_nll, val_chars = learner.nll(val_encoded)
                    values["val_loss"] = val_nll / val_chars
                    values["val_ppl"] = math.exp(values["val_loss"])
                values["lr"] = cfg.lr
                values["chars/s"] = eval_chars / max(now - eval_start, 1e-9)
                values["iter/s"] = (step - eval_step) / max(now - eval_start, 1e-9)
                if best.update(values[best.name], step=step, epoch=epoch, elapsed=now - started):
                    saver.new_best(learner, step, epoch)
                ctx.emit(Metric(step=step, epoch=epoch, split="epoch", values=values))
                saver.new_summary({"metrics": values, "best": best.to_dict()})
                saver.maybe_flush()
                eval_loss, eval_chars, eval_step = 0.0, 0, step
            if step == 1 or step % cfg.sample_every == 0 or last:
                emit_samples(step)
            if evaluating:
                eval_start = time.monotonic()  # the next interval's speed leaves out evaluation and sampling
            if (logging or evaluating) and ctx.checkpoint_due():
                save_last()
            if logging:
                ctx.check_stop()
    except StopRequested:
        save_last()
        raise
    except Diverged:
        saver.flush()  # the best checkpoint and summary held back were taken while the loss was finite
        raise

    # ---- finish: last checkpoint, loss per character on all training and held-out names
    save_last()
    train_nll, train_chars = learner.nll(train_encoded)
    metrics = {"train_loss": train_nll / train_chars, "smooth_loss": learner.smooth_loss()}
    if val_encoded:
        metrics["val_loss"] = values["val_loss"]
        metrics["val_ppl"] = values["val_ppl"]
        metrics["best_val_loss"] = best.value  # the best checkpoint's: recurrent nets overfit 1,400 names fast
    metrics["time"] = time.monotonic() - started
    ctx.emit(Metric(step=step, epoch=learner.names_seen / len(data.train), split="test", values=metrics))
    ctx.info(f"finished {step} iterations in {metrics['time']:.1f}s: train loss {metrics['train_loss']:.4f} nats/char"
             + (f", held-out {metrics['val_loss']:.4f} (best {best.value:.4f} at iteration {best.step})"
                if val_encoded else "")
             + f", smoothed per-name loss {metrics['smooth_loss']:.2f}")
    return {"metrics": metrics, "best": best.to_dict(), "iterations": step}


def next_due(step: int, cfg: CharConfig) -> int:
    """The step after `step` that logs, evaluates or samples (or the last one)."""
    return min(cfg.iterations, *(step // k * k + k for k in (cfg.log_every, cfg.eval_every, cfg.sample_every)))


def live_temperature(ctx: RunContext, cfg: CharConfig) -> float:
    """The temperature the app last sent, checked like any setting; a bad value is reported once and dropped."""
    value = ctx.settings.get("temperature", cfg.temperature)
    try:
        return float(check_value(field_info(CharConfig, "temperature"), value))
    except ConfigError as exc:
        ctx.warn(f"{exc}; keeping temperature {cfg.temperature:g}")
        ctx.settings.pop("temperature", None)
        return cfg.temperature
