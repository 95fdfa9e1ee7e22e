"""Provides the models, one module per family; which one a run trains comes from the model table (vitui.core.models).

load_builder() turns a row's "module:function" into the function itself, importing the model's module (and
torch) only here, in the worker.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any, Callable

from vitui.core.models import MODELS


def load_builder(model: str) -> Callable[..., Any]:
    """What the task's loop calls to make `model`: an image model's network, a character model's learner."""
    module, _, name = MODELS[model].build.partition(":")
    return getattr(import_module(module), name)
