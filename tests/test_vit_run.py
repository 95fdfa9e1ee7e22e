"""A tiny ViT run end to end through the real CLI and worker: attention events in the log, model figures in the summary."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from conftest import run_vitui
from vitui.cli import app

pytestmark = pytest.mark.slow  # real workers in subprocesses


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory) -> Path:
    """Three classes of 16x16 PNGs, each tinted by its class colour, so even a tiny model can learn them."""

    root = tmp_path_factory.mktemp("tiny") / "images"
    rng = np.random.default_rng(0)
    for c, name in enumerate(["red", "green", "blue"]):
        (root / name).mkdir(parents=True)
        for i in range(16):
            img = rng.integers(0, 90, (16, 16, 3), dtype=np.uint8)
            img[..., c] += 150
            Image.fromarray(img).save(root / name / f"{i}.png")
    return root


def read_log(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]


def test_tiny_vit_run_logs_attention(tiny_folder, tmp_path):
    result = run_vitui("run", "vit-cifar10", "--no-tui", "--runs-dir", "runs", "--data-dir", "data",
                       "--set", f"dataset=imagefolder:{tiny_folder}",
                       "--set", "epochs=2", "--set", "batch_size=12", "--set", "dim=16", "--set", "depth=2",
                       "--set", "heads=2", "--set", "warmup_epochs=0", "--set", "val_fraction=0.25",
                       "--set", "attention_every=2", "--set", "attention_probes=3", "--set", "log_every=1", cwd=tmp_path)
    assert result.returncode == 0, result.stderr + result.stdout
    run_dir = next((tmp_path / "runs").iterdir())
    events = read_log(run_dir)
    attention = [e for e in events if e["kind"] == "attention"]
    # 36 training images / 12 = 3 steps per epoch, 6 steps: probes at steps 2, 4, 6 (the last doubles as the final one).
    assert [e["step"] for e in attention] == [2, 4, 6]
    first = attention[0]
    assert first["grid"] == 4 and len(first["labels"]) == 3 and len(set(first["labels"])) == 3
    assert np.asarray(first["maps"]).shape == (3, 2, 2, 4, 4)
    assert np.asarray(first["rollout"]).shape == (3, 4, 4)
    assert any(e["kind"] == "misclassified" for e in events) or any(
        e["kind"] == "evaluation" and e["accuracy"] == 1.0 for e in events)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["model"]["params"] > 0 and summary["model"]["macs"] > 0
    assert summary["metrics"]["img/s"] > 0

    shown = CliRunner().invoke(app, ["attention", str(run_dir), "--layer", "1", "--head", "2"])
    assert shown.exit_code == 0, shown.output
    assert "attention at step 6 (logged at steps 2, 4, 6)" in shown.output and "layer 1/2, head 2/2" in shown.output
    compared = CliRunner().invoke(app, ["runs", "compare", str(run_dir)], env={"COLUMNS": "120"})
    assert compared.exit_code == 0 and "vit" in compared.output
