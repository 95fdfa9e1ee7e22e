"""Provides the training loop of the character models: the NumPy RNN (one name per step) or an LSTM / GRU (batches).

One loop serves both families through a small learner object each (step, read losses, evaluate,
sample, checkpoint). Metrics: training loss per character (nats), the course's smoothed per-name
loss, held-out loss per character and perplexity, characters/s; every `sample_every` steps a
Samples event with names drawn at the live temperature.
"""

from __future__ import annotations

import copy
import math
import time
from typing import Any

import numpy as np

from runners.checkpoint import load_checkpoint, save_checkpoint
from runners.metrics import BestTracker
from runners.names_data import NamesData, load_names
from runners.worker import RunContext, StopRequested
from vitui import runstore
from vitui.config import CharConfig, ConfigError, RunConfig, check_value, field_info
from vitui.events import Metric, Progress, Samples

SMOOTHING = 0.999  # the course's smooth(): loss = 0.999 * loss + 0.001 * this name's loss
# Checkpoints and summary.json are fsynced; at ~100 us per RNN step, writing them at every evaluation
# would cost more than everything else the loop does. A new best is kept in memory and written at
# most this often, and always when the run ends or stops.
SAVE_EVERY_S = 10.0


def course_initial_loss(vocab_size: int, samples: int) -> float:
    """The course starts its smoothed loss at -log(1/vocab) * (names it samples): chance level."""
    return -math.log(1.0 / vocab_size) * samples


def sample_seed(seed: int, step: int) -> int:
    """A seed per sampling point, so samples are reproducible and never disturb training's randomness."""
    return int(np.random.SeedSequence([seed, step]).generate_state(1)[0])


# --------------------------------------------------------------------------- learners

class NumpyRNNLearner:
    """The course's recipe: one name per SGD step, every gradient clipped, hidden state carried across names."""

    def __init__(self, data: NamesData, cfg: CharConfig, args: Any):
        import torch  # noqa: F401 - checkpoints need it: a 1-2 s import belongs in setup, not mid-loop

        from runners.models import rnn_numpy

        if cfg.optimizer != "sgd" or cfg.weight_decay:
            raise ConfigError("rnn-numpy trains with the course's plain SGD: set optimizer=sgd and weight_decay=0 "
                              "(adam, adamw and weight decay are for lstm and gru)")
        self.rnn = rnn_numpy
        self.cfg, self.args = cfg, args
        self.model = rnn_numpy.VanillaRNN(len(data.vocab), args.hidden, seed=cfg.seed, init_scale=args.init_scale)
        self.examples = [rnn_numpy.name_example(data.encode(n), 0) for n in data.train]
        # The course shuffles the names once, then walks through them in order, round and round.
        self.order = np.random.default_rng(cfg.seed).permutation(len(self.examples)).tolist()
        self.h = self.model.initial_state()
        self.smooth = course_initial_loss(len(data.vocab), cfg.samples)
        self.names_seen = 0
        self.loss_sum, self.chars = 0.0, 0

    def step(self) -> None:
        inputs, targets = self.examples[self.order[self.names_seen % len(self.order)]]
        h0 = self.h if self.args.carry_state else self.model.initial_state()
        loss, grads, self.h = self.model.loss_and_grads(inputs, targets, h0)
        self.rnn.clip_(grads, self.cfg.clip)
        self.model.sgd_step(grads, self.cfg.lr)
        self.names_seen += 1
        self.loss_sum += loss
        self.chars += len(targets)
        self.smooth = SMOOTHING * self.smooth + (1.0 - SMOOTHING) * loss

    def read_interval(self) -> tuple[float, int]:
        out = (self.loss_sum, self.chars)
        self.loss_sum, self.chars = 0.0, 0
        return out

    def smooth_loss(self) -> float:
        return self.smooth

    def nll(self, names: list[list[int]]) -> tuple[float, int]:
        return self.model.nll([self.rnn.name_example(n, 0) for n in names])

    def sample(self, n: int, temperature: float, seed: int) -> list[list[int]]:
        return self.rnn.sample(self.model.params, n, temperature=temperature, rng=np.random.default_rng(seed),
                               max_len=self.cfg.max_len)

    def state(self) -> dict[str, Any]:
        """A copy of the weights (training goes on changing the originals)."""
        import torch

        return {"model": {k: torch.from_numpy(v.copy()) for k, v in self.model.params.items()}, "optimizer": None}


class TorchLearner:
    """Batches of names on the device; losses stay there until a logging interval reads them."""

    def __init__(self, data: NamesData, cfg: CharConfig, args: Any, cell: str):
        import torch

        from runners.models import char_rnn

        self.torch, self.char_rnn, self.cfg = torch, char_rnn, cfg
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        self.device = pick_device(cfg.device)
        torch.manual_seed(cfg.seed)
        self.model = char_rnn.CharRNN(cell=cell, vocab_size=len(data.vocab), embedding=args.embedding,
                                      hidden=args.hidden, layers=args.layers, dropout=args.dropout).to(self.device)
        self.optimizer = make_optimizer(self.model, cfg)
        encoded = [data.encode(n) for n in data.train]
        inputs, targets = char_rnn.encode_batch(encoded)
        self.inputs, self.targets = inputs.to(self.device), targets.to(self.device)
        self.lengths = torch.tensor([len(n) + 1 for n in encoded])  # characters scored per name (CPU)
        self.batch = min(cfg.batch_size, len(encoded))
        self.generator = torch.Generator().manual_seed(cfg.seed)
        self.order_cpu = self.order = None
        self.cursor = len(encoded)  # forces a fresh permutation on the first step
        self.names_seen = 0
        self.decay = SMOOTHING ** self.batch  # the course's per-name smoothing, applied to a batch of names
        self.smooth = torch.tensor(course_initial_loss(len(data.vocab), cfg.samples), device=self.device)
        self.loss_sum = torch.zeros((), device=self.device)
        self.chars = 0

    def step(self) -> None:
        torch = self.torch
        if self.cursor + self.batch > len(self.lengths):
            # A fresh shuffle each pass over the names; the last partial batch waits for the next pass.
            self.order_cpu = torch.randperm(len(self.lengths), generator=self.generator)
            self.order = self.order_cpu.to(self.device)
            self.cursor = 0
        idx = self.order[self.cursor:self.cursor + self.batch]
        chars = int(self.lengths[self.order_cpu[self.cursor:self.cursor + self.batch]].sum())
        self.cursor += self.batch
        _, loss_sum = self.model(self.inputs[idx], self.targets[idx])
        self.optimizer.zero_grad(set_to_none=True)
        (loss_sum / chars).backward()
        if self.cfg.clip > 0:
            torch.nn.utils.clip_grad_value_(self.model.parameters(), self.cfg.clip)
        self.optimizer.step()
        loss_sum = loss_sum.detach()
        self.loss_sum += loss_sum
        self.chars += chars
        self.smooth.mul_(self.decay).add_(loss_sum / self.batch, alpha=1.0 - self.decay)
        self.names_seen += self.batch

    def read_interval(self) -> tuple[float, int]:
        out = (float(self.loss_sum), self.chars)
        self.loss_sum.zero_()
        self.chars = 0
        return out

    def smooth_loss(self) -> float:
        return float(self.smooth)

    def nll(self, names: list[list[int]], chunk: int = 1024) -> tuple[float, int]:
        torch = self.torch
        total, chars = 0.0, 0
        self.model.eval()
        with torch.no_grad():
            for start in range(0, len(names), chunk):
                part = names[start:start + chunk]
                inputs, targets = self.char_rnn.encode_batch(part)
                _, loss = self.model(inputs.to(self.device), targets.to(self.device))
                total += float(loss)
                chars += sum(len(n) + 1 for n in part)
        self.model.train()
        return total, chars

    def sample(self, n: int, temperature: float, seed: int) -> list[list[int]]:
        return self.char_rnn.sample(self.model, n, temperature=temperature, seed=seed, max_len=self.cfg.max_len)

    def state(self) -> dict[str, Any]:
        """A copy of the weights and optimizer state (training goes on changing the originals)."""
        return {"model": {k: v.detach().clone() for k, v in self.model.state_dict().items()},
                "optimizer": copy.deepcopy(self.optimizer.state_dict())}


def pick_device(name: str):
    import torch

    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    available = {"cpu": True, "cuda": torch.cuda.is_available(),
                 "mps": bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available()}
    if not available[name]:
        raise ConfigError(f"device {name} is not available on this machine; use --device auto or cpu")
    return torch.device(name)


def make_optimizer(model, cfg: CharConfig):
    import torch

    if cfg.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)


def make_learner(config: RunConfig, data: NamesData):
    if config.train.model == "rnn-numpy":
        return NumpyRNNLearner(data, config.train, config.model_args)
    return TorchLearner(data, config.train, config.model_args, cell=config.train.model)


# --------------------------------------------------------------------------- the loop

class Saver:
    """Writes best.pt / last.pt and summary.json, throttled to one round of disk writes per SAVE_EVERY_S."""

    def __init__(self, ctx: RunContext, config_dict: dict[str, Any], extra: dict[str, Any]):
        self.ctx, self.config_dict, self.extra = ctx, config_dict, extra
        self.best: dict[str, Any] | None = None  # snapshot not yet on disk
        self.summary: dict[str, Any] | None = None
        self.last_write = -math.inf

    def new_best(self, learner, step: int, epoch: float) -> None:
        self.best = {**learner.state(), "step": step, "epoch": epoch}

    def new_summary(self, summary: dict[str, Any]) -> None:
        self.summary = summary

    def maybe_flush(self) -> None:
        if time.monotonic() - self.last_write >= SAVE_EVERY_S:
            self.flush()

    def flush(self) -> None:
        if self.best is not None:
            save_checkpoint(self.ctx.run_dir, "best", **self.best, config=self.config_dict, **self.extra)
            self.best = None
        if self.summary is not None:
            runstore.write_json_atomic(self.ctx.run_dir / runstore.SUMMARY, self.summary)
            self.summary = None
        self.last_write = time.monotonic()

    def last(self, learner, step: int, epoch: float) -> None:
        self.flush()
        save_checkpoint(self.ctx.run_dir, "last", **learner.state(), step=step, epoch=epoch,
                        config=self.config_dict, **self.extra)


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
    learner = make_learner(config, data)
    best = BestTracker("val_loss" if val_encoded else "train_loss", mode="min")
    saver = Saver(ctx, config.to_dict(), {"vocab": data.vocab, "train_names": data.train})

    def emit_samples(step: int) -> None:
        temperature = live_temperature(ctx, cfg)
        names = [data.decode(n) for n in learner.sample(cfg.samples, temperature, sample_seed(cfg.seed, step))]
        novel = [n not in known for n in names]
        ctx.emit(Samples(step=step, temperature=temperature, texts=names, novel=novel,
                         novelty=sum(novel) / len(novel)))

    # ---- loop: log every N steps, evaluate every M (keep the best), sample every K
    step = 0
    log_loss, log_chars = 0.0, 0
    eval_loss, eval_chars, eval_start, eval_step = 0.0, 0, time.monotonic(), 0
    values: dict[str, float] = {}
    try:
        for step in range(1, cfg.iterations + 1):
            learner.step()
            last = step == cfg.iterations
            logging = step % cfg.log_every == 0 or last
            evaluating = step % cfg.eval_every == 0 or last
            if logging or evaluating:
                loss_sum, chars = learner.read_interval()
                log_loss, log_chars = log_loss + loss_sum, log_chars + chars
                eval_loss, eval_chars = eval_loss + loss_sum, eval_chars + chars
            epoch = learner.names_seen / len(data.train)
            if logging:
                ctx.emit(Metric(step=step, epoch=epoch, split="train",
                                values={"loss": log_loss / max(log_chars, 1), "smooth_loss": learner.smooth_loss()}))
                ctx.emit(Progress(step=step, total_steps=cfg.iterations, epoch=int(epoch),
                                  total_epochs=math.ceil(cfg.iterations * _names_per_step(learner) / len(data.train)),
                                  unit="iteration"))
                log_loss, log_chars = 0.0, 0
                ctx.check_stop()
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
    except StopRequested:
        saver.last(learner, step, learner.names_seen / len(data.train))
        raise

    # ---- finish: last checkpoint, loss per character on all training and held-out names
    saver.last(learner, step, learner.names_seen / len(data.train))
    train_nll, train_chars = learner.nll(train_encoded)
    metrics = {"train_loss": train_nll / train_chars, "smooth_loss": learner.smooth_loss()}
    if val_encoded:
        metrics["val_loss"] = values["val_loss"]
        metrics["val_ppl"] = values["val_ppl"]
    metrics["time"] = time.monotonic() - started
    ctx.emit(Metric(step=step, epoch=learner.names_seen / len(data.train), split="test", values=metrics))
    ctx.info(f"finished {step} iterations in {metrics['time']:.1f}s: train loss {metrics['train_loss']:.4f} "
             f"nats/char" + (f", held-out {metrics['val_loss']:.4f} nats/char" if val_encoded else "")
             + f", smoothed per-name loss {metrics['smooth_loss']:.2f}")
    return {"metrics": metrics, "best": best.to_dict(), "iterations": step}


def _names_per_step(learner) -> int:
    return getattr(learner, "batch", 1)


def live_temperature(ctx: RunContext, cfg: CharConfig) -> float:
    """The temperature the app last sent, checked like any setting; a bad value is reported once and dropped."""
    value = ctx.settings.get("temperature", cfg.temperature)
    try:
        return float(check_value(field_info(CharConfig, "temperature"), value))
    except ConfigError as exc:
        ctx.warn(f"{exc}; keeping temperature {cfg.temperature:g}")
        ctx.settings.pop("temperature", None)
        return cfg.temperature


# --------------------------------------------------------------------------- sampling a finished run

def sample_checkpoint(path, n: int, temperature: float, seed: int) -> tuple[list[str], list[bool]]:
    """Names drawn from a saved model, each flagged novel (not in the run's training names)."""
    ckpt = load_checkpoint(path)
    config = RunConfig.from_dict(ckpt["config"])
    vocab, known = list(ckpt["vocab"]), set(ckpt["train_names"])
    if config.train.model == "rnn-numpy":
        from runners.models import rnn_numpy

        params = {k: v.numpy() for k, v in ckpt["model"].items()}
        drawn = rnn_numpy.sample(params, n, temperature=temperature, rng=np.random.default_rng(seed),
                                 max_len=config.train.max_len)
    else:
        from runners.models import char_rnn

        args = config.model_args
        model = char_rnn.CharRNN(cell=config.train.model, vocab_size=len(vocab), embedding=args.embedding,
                                 hidden=args.hidden, layers=args.layers, dropout=args.dropout)
        model.load_state_dict(ckpt["model"])
        drawn = char_rnn.sample(model, n, temperature=temperature, seed=seed, max_len=config.train.max_len)
    names = ["".join(vocab[i] for i in name) for name in drawn]
    return names, [name not in known for name in names]
