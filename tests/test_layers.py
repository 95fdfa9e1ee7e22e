"""The layering holds: the contract (vitui.core) and the worker (runners) know nothing of the UI, the contract
loads neither the worker nor torch, the app's screens and widgets load no torch, and a new model is one file
plus one row in the model table."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from vitui.core.models import MODELS, ModelSpec

ROOT = Path(__file__).resolve().parent.parent


def imported_modules(folder: Path) -> dict[str, set[str]]:
    """Every module each .py file under `folder` imports, at the top or inside a function."""
    found = {}
    for path in folder.rglob("*.py"):
        names = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module)
        found[str(path.relative_to(ROOT))] = names
    return found


def offenders(folder: str, banned) -> list[str]:
    return [f"{file} imports {name}" for file, names in imported_modules(ROOT / folder).items()
            for name in sorted(names) if banned(name)]


def test_the_worker_imports_only_the_contract_of_vitui():
    assert offenders("runners", lambda m: m.startswith("vitui") and not m.startswith("vitui.core")) == []
    assert offenders("runners", lambda m: m.split(".")[0] in ("textual", "textual_plotext", "rich", "plotext")) == []


def test_the_contract_imports_neither_the_ui_nor_the_worker_nor_torch():
    banned = ("runners", "torch", "torchvision", "textual", "textual_plotext", "rich", "plotext", "typer")
    assert offenders("vitui/core", lambda m: m.split(".")[0] in banned) == []
    assert offenders("vitui/core", lambda m: m.startswith("vitui.") and not m.startswith("vitui.core")) == []


def test_screens_widgets_and_rendering_import_no_torch_or_worker():
    for folder in ("vitui/screens", "vitui/widgets", "vitui/render"):
        assert offenders(folder, lambda m: m.split(".")[0] in ("torch", "torchvision", "runners")) == []


@pytest.mark.slow
def test_loading_the_app_and_the_cli_loads_no_torch():
    code = ("import sys, json, vitui.cli, vitui.app, vitui.core.models, vitui.core.experiments\n"
            "from vitui.screens import browser, compare, launcher, run\n"
            "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'runners'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True).stdout
    assert json.loads(out) == []


@pytest.mark.slow
def test_a_new_model_is_one_file_and_one_table_row(monkeypatch, cifar_small, tmp_path):
    """The toy model in tests/toy_model.py, one row in MODELS, and every part of vitui knows it."""
    from toy_model import ToyArgs

    monkeypatch.setitem(MODELS, "toy", ModelSpec("toy", "image", ToyArgs, "toy_model:build"))

    from runners.context import RunContext
    from runners.worker import _train
    from vitui import forms
    from vitui.core import runfolder
    from vitui.core.experiments import RunConfig, resolve

    config = resolve("cnn-cifar10", {"model": "toy", "hidden": "4", "dataset": f"imagefolder:{cifar_small}",
                                     "epochs": "1", "batch_size": "100", "threads": "1", "misclassified": "0"})
    assert (config.task, config.model_args) == ("image", ToyArgs(hidden=4))
    assert "imagefolder" in forms.dataset_choices("toy", "")  # the launcher offers it the image data sets
    assert RunConfig.from_dict(config.to_dict()) == config  # a run folder's config.json reads back
    run_dir = runfolder.create_run_dir(tmp_path, "toy", config.to_dict())
    ctx = RunContext(run_dir, None, None, None)
    summary = _train(config, ctx)  # what the worker does, in this process
    ctx.wait_for_checkpoints()  # as the worker does before it records the end: they are written in the background
    assert 0.0 <= summary["metrics"]["val_acc"] <= 1.0
    assert (run_dir / "checkpoints" / "last.pt").is_file()
