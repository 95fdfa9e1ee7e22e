"""Provides `python -m vitui`, the same as the `vitui` command."""

from vitui.cli import main

main()
