"""Provides what the benchmark scripts share: where the real data is, and running vitui as a user does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def shared_data() -> Path:
    return Path(os.environ.get("VITUI_SHARED_DATA", REPO.parent / "shared" / "data"))


def run_vitui(args: list[str], runs_dir: Path) -> tuple[float, Path]:
    """Run `python -m vitui run ... --no-tui` and return its wall time and run folder."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "VITUI_OFFLINE": "1"}
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "vitui", "run", *args, "--no-tui", "--runs-dir", str(runs_dir)],
                            env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"vitui run failed ({result.returncode}):\n{result.stderr[-2000:]}")
    [run_dir] = sorted(p for p in runs_dir.iterdir() if p.is_dir())[-1:]
    return wall, run_dir


def epoch_metrics(run_dir: Path) -> list[dict]:
    rows = []
    for line in (run_dir / "events.jsonl").read_text().splitlines():
        event = json.loads(line)
        if event["kind"] == "metric" and event["split"] == "epoch":
            rows.append(event["values"])
    return rows


def temp_runs() -> Path:
    return Path(tempfile.mkdtemp(prefix="vitui-bench-"))
