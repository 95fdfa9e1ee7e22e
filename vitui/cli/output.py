"""Provides machine-readable output for the commands: --json and --csv options, data to stdout, messages to stderr."""

from __future__ import annotations

import json
import sys
from typing import Any, Iterable

import typer

from vitui.cli.base import fail

JSON_OPTION = typer.Option(False, "--json", help="print JSON on stdout (schema in docs/formats.md); messages go to stderr")
CSV_OPTION = typer.Option(False, "--csv", help="print CSV on stdout, one row per run; messages go to stderr")


def print_json(data: Any) -> None:
    from vitui.records import plain

    sys.stdout.write(json.dumps(plain(data), indent=2, allow_nan=False, ensure_ascii=False) + "\n")


def print_csv(rows: Iterable[dict[str, Any]], columns: Iterable[str]) -> None:
    from vitui.records import csv_text

    sys.stdout.write(csv_text(rows, columns))


def note(message: str) -> None:
    """A message for the person, not the program reading stdout."""
    typer.echo(message, err=True)


def one_format(as_json: bool, as_csv: bool) -> None:
    if as_json and as_csv:
        raise fail("choose one of --json and --csv")
