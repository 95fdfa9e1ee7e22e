"""Provides the learners behind the character trainer: the course's NumPy RNN recipe and batched LSTM / GRU.

A learner owns a model and its update rule and answers the loop's few questions: take a step, how
much loss since the last reading, the loss on some names, sample names, a copy of the state, and (to resume)
the rest of its training state and the restoring of all of it.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np
import torch  # the NumPy RNN needs it too: its checkpoints are .pt files

from runners.checkpoint import load_checkpoint
from runners.devices import pick_device
from runners.models import char_rnn, load_builder, rnn_numpy
from runners.optim import make_optimizer
from runners.names_data import NamesData
from vitui.core.errors import ConfigError
from vitui.core.experiments import RunConfig
from vitui.core.settings import CharConfig

SMOOTHING = 0.999  # the course's smooth(): loss = 0.999 * loss + 0.001 * this name's loss


def course_initial_loss(vocab_size: int, samples: int) -> float:
    """The course starts its smoothed loss at -log(1/vocab) * (names it samples): chance level."""
    return -math.log(1.0 / vocab_size) * samples


class NumpyRNNLearner:
    """The course's recipe: one name per SGD step, every gradient clipped, hidden state carried across names."""

    def __init__(self, data: NamesData, cfg: CharConfig, args: Any):
        if cfg.optimizer != "sgd" or cfg.weight_decay:
            raise ConfigError("rnn-numpy trains with the course's plain SGD: set optimizer=sgd and weight_decay=0 "
                              "(adam, adamw and weight decay are for lstm and gru)")
        self.cfg, self.args = cfg, args
        self.model = rnn_numpy.VanillaRNN(len(data.vocab), args.hidden, seed=cfg.seed, init_scale=args.init_scale)
        self.examples = [rnn_numpy.name_example(data.encode(n), 0) for n in data.train]
        # The course shuffles the names once, then walks through them in order, round and round.
        self.order = np.random.default_rng(cfg.seed).permutation(len(self.examples)).tolist()
        self.h = self.model.initial_state()
        self.smooth = course_initial_loss(len(data.vocab), cfg.samples)
        self.names_seen = 0
        self.names_per_step = 1
        self.loss_sum, self.chars = 0.0, 0

    def step(self) -> None:
        inputs, targets = self.examples[self.order[self.names_seen % len(self.order)]]
        h0 = self.h if self.args.carry_state else self.model.initial_state()
        loss, grads, self.h = self.model.loss_and_grads(inputs, targets, h0)
        rnn_numpy.clip_(grads, self.cfg.clip)
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
        return self.model.nll([rnn_numpy.name_example(n, 0) for n in names])

    def sample(self, n: int, temperature: float, seed: int) -> list[list[int]]:
        return rnn_numpy.sample(self.model.params, n, temperature=temperature, rng=np.random.default_rng(seed),
                               max_len=self.cfg.max_len)

    def state(self) -> dict[str, Any]:
        """A copy of the weights (training goes on changing the originals)."""
        return {"model": {k: torch.from_numpy(v.copy()) for k, v in self.model.params.items()}, "optimizer": None}

    def training_state(self) -> dict[str, Any]:
        """What a resumed run needs beyond the weights: the carried hidden state, the place in the names, the tallies.
        (No random numbers: the order of names is fixed by the seed, and sampling draws from its own seeds.)"""
        return {"h": self.h, "names_seen": self.names_seen, "smooth": self.smooth, "loss_sum": self.loss_sum,
                "chars": self.chars}

    def restore(self, saved: dict[str, Any]) -> None:
        """Take up a last.pt: weights in place (keeping their dtype), then the training state."""
        for name, value in saved["model"].items():
            self.model.params[name][...] = value.numpy()
        training = saved["learner"]
        self.h = training["h"].numpy().copy()
        self.names_seen, self.smooth = int(training["names_seen"]), float(training["smooth"])
        self.loss_sum, self.chars = float(training["loss_sum"]), int(training["chars"])

    @staticmethod
    def sample_saved(ckpt: dict[str, Any], config: RunConfig, vocab_size: int, n: int, temperature: float,
                     seed: int) -> list[list[int]]:
        """Names from a checkpoint of this learner's model (`vitui sample`)."""
        params = {k: v.numpy() for k, v in ckpt["model"].items()}
        return rnn_numpy.sample(params, n, temperature=temperature, rng=np.random.default_rng(seed),
                                max_len=config.train.max_len)


class TorchLearner:
    """Batches of names on the device; losses stay there until a logging interval reads them."""

    def __init__(self, data: NamesData, cfg: CharConfig, args: Any):
        self.cfg = cfg
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        self.device = pick_device(cfg.device)
        torch.manual_seed(cfg.seed)
        self.model = char_rnn.CharRNN(cell=cfg.model, vocab_size=len(data.vocab), embedding=args.embedding,
                                      hidden=args.hidden, layers=args.layers, dropout=args.dropout).to(self.device)
        self.optimizer = make_optimizer(cfg, self.model.parameters())
        encoded = [data.encode(n) for n in data.train]
        inputs, targets = char_rnn.encode_batch(encoded)
        self.inputs, self.targets = inputs.to(self.device), targets.to(self.device)
        self.lengths = torch.tensor([len(n) + 1 for n in encoded])  # characters scored per name (CPU)
        self.batch = self.names_per_step = min(cfg.batch_size, len(encoded))
        self.generator = torch.Generator().manual_seed(cfg.seed)
        self.order_cpu = self.order = None
        self.cursor = len(encoded)  # forces a fresh permutation on the first step
        self.names_seen = 0
        self.decay = SMOOTHING ** self.batch  # the course's per-name smoothing, applied to a batch of names
        self.smooth = torch.tensor(course_initial_loss(len(data.vocab), cfg.samples), device=self.device)
        self.loss_sum = torch.zeros((), device=self.device)
        self.chars = 0

    def step(self) -> None:
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
        total, chars = 0.0, 0
        self.model.eval()
        with torch.no_grad():
            for start in range(0, len(names), chunk):
                part = names[start:start + chunk]
                inputs, targets = char_rnn.encode_batch(part)
                _, loss = self.model(inputs.to(self.device), targets.to(self.device))
                total += float(loss)
                chars += sum(len(n) + 1 for n in part)
        self.model.train()
        return total, chars

    def sample(self, n: int, temperature: float, seed: int) -> list[list[int]]:
        return char_rnn.sample(self.model, n, temperature=temperature, seed=seed, max_len=self.cfg.max_len)

    def state(self) -> dict[str, Any]:
        """A copy of the weights and optimizer state (training goes on changing the originals)."""
        return {"model": {k: v.detach().clone() for k, v in self.model.state_dict().items()},
                "optimizer": copy.deepcopy(self.optimizer.state_dict())}

    def training_state(self) -> dict[str, Any]:
        """What a resumed run needs beyond weights and optimizer: the shuffling generator and this pass's order and
        place in it, the tallies. (Dropout's random numbers are the process's: the loop saves those.)"""
        return {"generator": self.generator.get_state(), "order": self.order_cpu, "cursor": self.cursor,
                "names_seen": self.names_seen, "smooth": self.smooth, "loss_sum": self.loss_sum, "chars": self.chars}

    def restore(self, saved: dict[str, Any]) -> None:
        """Take up a last.pt: weights, optimizer, then the training state."""
        self.model.load_state_dict(saved["model"])
        self.optimizer.load_state_dict(saved["optimizer"])
        training = saved["learner"]
        self.generator.set_state(training["generator"])
        self.order_cpu = training["order"]
        self.order = None if self.order_cpu is None else self.order_cpu.to(self.device)
        self.cursor, self.names_seen = int(training["cursor"]), int(training["names_seen"])
        self.chars = int(training["chars"])
        self.smooth = training["smooth"].to(self.device)
        self.loss_sum = training["loss_sum"].to(self.device)

    @staticmethod
    def sample_saved(ckpt: dict[str, Any], config: RunConfig, vocab_size: int, n: int, temperature: float,
                     seed: int) -> list[list[int]]:
        """Names from a checkpoint of this learner's model (`vitui sample`)."""
        args = config.model_args
        model = char_rnn.CharRNN(cell=config.train.model, vocab_size=vocab_size, embedding=args.embedding,
                                 hidden=args.hidden, layers=args.layers, dropout=args.dropout)
        model.load_state_dict(ckpt["model"])
        return char_rnn.sample(model, n, temperature=temperature, seed=seed, max_len=config.train.max_len)


# --------------------------------------------------------------------------- sampling a finished run

def sample_checkpoint(path, n: int, temperature: float, seed: int) -> tuple[list[str], list[bool]]:
    """Names drawn from a saved model, each flagged novel (not in the run's training names)."""
    ckpt = load_checkpoint(path)
    config = RunConfig.from_dict(ckpt["config"])
    vocab, known = list(ckpt["vocab"]), set(ckpt["train_names"])
    learner = load_builder(config.train.model)
    drawn = learner.sample_saved(ckpt, config, len(vocab), n, temperature, seed)
    names = ["".join(vocab[i] for i in name) for name in drawn]
    return names, [name not in known for name in names]
