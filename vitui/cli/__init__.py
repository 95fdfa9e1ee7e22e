"""Provides the `vitui` command line: run experiments headless, list and inspect runs.

Nothing heavy is imported at module level: `vitui --help` must answer instantly, so torch, the training code
and the app load only inside the commands that need them. Each module below registers its commands on `app`.
"""

from __future__ import annotations

import sys

from vitui.cli.base import app

# Importing a module registers its commands; `vitui --help` lists them in this order.
from vitui.cli import train  # noqa: E402, F401, I001
from vitui.cli import runs  # noqa: E402, F401
from vitui.cli import manage  # noqa: E402, F401
from vitui.cli import export  # noqa: E402, F401
from vitui.cli import look  # noqa: E402, F401
from vitui.cli import studies  # noqa: E402, F401

__all__ = ["app", "main"]


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
