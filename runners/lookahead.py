"""Provides Lookahead of the weights (Zhang et al. 2019) the way airbench94 (Jordan 2024) uses it.

Every `every` steps a slow copy of the weights moves part of the way towards the fast (trained) weights, and the
fast weights restart from it. The pull grows with training: the slow copy keeps 0.95^every x progress^3 of
itself, so early steps go through almost unchanged and the end of training averages over many steps. When
training ends the model keeps the slow weights. BatchNorm's running statistics are averaged with the weights.
"""

from __future__ import annotations

import torch


class Lookahead:
    def __init__(self, model: torch.nn.Module, every: int):
        self.every = every
        self.fast = [t for t in model.state_dict().values() if t.is_floating_point()]  # the model's own tensors
        self.slow = [t.detach().clone() for t in self.fast]

    def after_step(self, step: int, total_steps: int) -> None:
        if step % self.every == 0:
            self.sync(0.95 ** self.every * (step / total_steps) ** 3)

    @torch.no_grad()
    def sync(self, keep: float) -> None:
        """slow <- keep * slow + (1 - keep) * fast; fast <- slow."""
        torch._foreach_lerp_(self.slow, self.fast, 1 - keep)
        torch._foreach_copy_(self.fast, self.slow)

    @torch.no_grad()
    def load(self, slow: list[torch.Tensor]) -> None:
        """Take the slow weights a checkpoint holds (a resumed run goes on averaging where it left off)."""
        torch._foreach_copy_(self.slow, [t.to(s.device) for t, s in zip(slow, self.slow, strict=True)])

    def finish(self) -> None:
        """The model takes the slow weights."""
        self.sync(1.0)
