"""Provides batched character-level LSTM and GRU models in PyTorch, and their sampling function.

Contract (as in makemore): forward(idx, targets) -> (logits, loss). Index 0 is the newline: it
starts every name as input and ends it as target; targets of -1 are padding and carry no loss.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

START = 0  # the newline doubles as the start token
PAD = -1


def encode_batch(names: list[list[int]], length: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs [newline, c1, .., cn, pad..] and targets [c1, .., cn, newline, -1..], both (N, T)."""
    T = length or (max(len(n) for n in names) + 1)
    inputs = torch.full((len(names), T), START, dtype=torch.long)
    targets = torch.full((len(names), T), PAD, dtype=torch.long)
    for i, name in enumerate(names):
        inputs[i, 1:len(name) + 1] = torch.tensor(name, dtype=torch.long)
        targets[i, :len(name)] = torch.tensor(name, dtype=torch.long)
        targets[i, len(name)] = START
    return inputs, targets


class CharRNN(nn.Module):
    """Embedding -> LSTM or GRU -> dropout -> linear read-out over the vocabulary."""

    def __init__(self, *, cell: str, vocab_size: int, embedding: int, hidden: int, layers: int, dropout: float):
        super().__init__()
        recurrent = {"lstm": nn.LSTM, "gru": nn.GRU}[cell]
        self.embed = nn.Embedding(vocab_size, embedding)
        # PyTorch applies this dropout between stacked layers only; one layer needs none there.
        self.rnn = recurrent(embedding, hidden, num_layers=layers, batch_first=True,
                             dropout=dropout if layers > 1 else 0.0)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(hidden, vocab_size)

    def step(self, idx: torch.Tensor, state=None):
        """Logits (N, T, vocab) for inputs (N, T), continuing from `state`; returns the new state too."""
        out, state = self.rnn(self.embed(idx), state)
        return self.head(self.drop(out)), state

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None):
        logits, _ = self.step(idx)
        if targets is None:
            return logits, None
        # Summed loss: callers divide by their character count (kept on the device, no sync).
        loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1),
                               ignore_index=PAD, reduction="sum")
        return logits, loss


@torch.no_grad()
def sample(model: CharRNN, n: int, *, temperature: float, seed: int, max_len: int) -> list[list[int]]:
    """Draw n names (index lists, newline excluded) at a temperature, all n side by side.

    Draws happen on the CPU with a seeded generator, so a seed gives the same names on any device.
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    generator = torch.Generator().manual_seed(seed)
    idx = torch.full((n, 1), START, dtype=torch.long, device=device)
    state = None
    names: list[list[int]] = [[] for _ in range(n)]
    done = [False] * n
    for _ in range(max_len):
        logits, state = model.step(idx, state)
        probs = F.softmax(logits[:, -1].float().cpu() / temperature, dim=-1)
        nxt = torch.multinomial(probs, 1, generator=generator)
        for i, ch in enumerate(nxt[:, 0].tolist()):
            if done[i]:
                continue
            if ch == START:
                done[i] = True
            else:
                names[i].append(ch)
        if all(done):
            break
        idx = nxt.to(device)
    model.train(was_training)
    return names
