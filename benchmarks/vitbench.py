"""Provides what the ViT benchmarks share: run a real vitui worker to completion and collect its figures."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run from anywhere: `python benchmarks/bench_vit.py`

from vitui import runstore  # noqa: E402
from vitui.config import resolve  # noqa: E402
from vitui.events import Log, Metric  # noqa: E402
from vitui.launch import start_run  # noqa: E402


def run_vitui(experiment: str, overrides: dict[str, Any], runs_dir: Path, data_dir: Path | None,
              quiet: bool = False) -> dict[str, Any]:
    """Train one run in a worker process, as `vitui run --no-tui` does; return its epoch metrics and summary."""
    config = resolve(experiment, {k: str(v) for k, v in overrides.items()})
    started = time.monotonic()
    handle = start_run(config, runs_dir, data_dir)
    epochs: list[dict[str, float]] = []
    while True:
        for event in handle.poll(timeout=0.5):
            if isinstance(event, Metric) and event.split == "epoch":
                epochs.append(event.values)
                if not quiet:
                    print(f"    epoch {len(epochs)}: " + "  ".join(f"{k} {v:.4g}" for k, v in event.values.items()),
                          flush=True)
            elif isinstance(event, Log) and event.level == "error":
                print(event.message, file=sys.stderr)
        if not handle.alive:
            for event in handle.poll():
                if isinstance(event, Metric) and event.split == "epoch":
                    epochs.append(event.values)
            break
    state = handle.reap()
    if state != "completed":
        raise SystemExit(f"run {handle.run_dir} ended {state}: {runstore.load_run(handle.run_dir).status.get('detail')}")
    return {"run_dir": handle.run_dir, "epochs": epochs, "wall": time.monotonic() - started,
            "summary": runstore.load_run(handle.run_dir).summary}
