"""Provides what a process can tell of the launcher that started it as one rank of several: torchrun, and the elastic
launcher behind `vitui run --gpus N`, both put the rank and the world size in its environment."""

from __future__ import annotations

import os


def launched_rank() -> tuple[int, int] | None:
    """(rank, world size) when a launcher started this process as one rank of a distributed run, else None."""
    try:
        return int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    except (KeyError, ValueError):
        return None
