"""Provides a toy image model for the test that adds a model to vitui: this file plus one row in the model table."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import nn

from vitui.core.settings import setting


@dataclass
class ToyArgs:
    hidden: int = setting(8, "hidden units of the toy network", min=1, max=1024)


def build(args: Any, in_channels: int, num_classes: int, image_size: int) -> nn.Module:
    """One hidden layer over the flattened image."""
    return nn.Sequential(nn.Flatten(), nn.Linear(in_channels * image_size * image_size, args.hidden), nn.ReLU(),
                         nn.Linear(args.hidden, num_classes))
