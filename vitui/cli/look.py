"""Provides the commands that look inside a run: attention maps, misclassified images and sampled names."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import typer

from vitui.cli.base import RUNS_DIR_OPTION, app, fail, locate_run
from vitui.cli.output import JSON_OPTION, print_json


@app.command()
def attention(
    run_name: str = typer.Argument(..., metavar="RUN", help="run folder, name, or a unique part of it"),
    layer: Optional[str] = typer.Option(None, "--layer", help="layer 1..depth, rollout (all layers combined) or "
                                        "pooling (a sequence-pooling ViT's pooling weights) [default: pooling where "
                                        "the model has it, else rollout]"),
    head: str = typer.Option("mean", "--head", help="head 1..heads, or mean (average of the heads)"),
    step: Optional[int] = typer.Option(None, "--step", help="the map logged at this step or the last before it [default: newest]"),
    probe: Optional[int] = typer.Option(None, "--probe", help="only this probe image, 1..probes [default: all]"),
    runs_dir: Optional[Path] = RUNS_DIR_OPTION,
) -> None:
    """Print a ViT run's attention maps: each probe image, the heatmap and the two overlaid."""
    from rich.console import Console
    from rich.text import Text

    from vitui.core.events import Attention
    from vitui.core.runfolder import read_events
    from vitui.render.formats import plain
    from vitui.render.pictures import attention_report, map_count, map_positions, pick_by_step

    path = locate_run(run_name, runs_dir)
    events = [e for e in read_events(path) if isinstance(e, Attention)]
    if not events:
        raise fail(f"run {path.name} has no attention maps yet: only ViT runs log them (model vit), "
                   f"every attention_every steps and at the end")
    event = pick_by_step(events, step)
    layers, heads = map_count(event)
    named = {"rollout": layers, **({"pooling": layers + 1} if event.pooling else {})}
    if layer is None:
        layer_index = map_positions(event) - 1
    elif layer.strip().lower() in named:
        layer_index = named[layer.strip().lower()]
    else:
        layer_index = _choice_index("--layer", layer, " or ".join(named), layers)
    head_index = _choice_index("--head", head, "mean", heads)
    if probe is not None and not 1 <= probe <= len(event.labels):
        raise fail(f"bad --probe {probe}: this run has probes 1..{len(event.labels)}")
    steps = ", ".join(str(e.step) for e in events)
    console = Console()
    console.print(Text.assemble((plain(path.name), "bold"), f"  attention at step {event.step} (logged at steps {steps})"),
                  highlight=False)
    console.print(attention_report(event, layer=layer_index, head=head_index,
                                   probes=None if probe is None else [probe - 1]))


def _choice_index(option: str, value: str, whole: str, count: int) -> Optional[int]:
    """'3' -> 2 (0-based); the word for 'all of them' (rollout, mean) -> None; anything else is a usage error."""
    if value.strip().lower() == whole:
        return None
    try:
        number = int(value)
    except ValueError:
        number = 0
    if not 1 <= number <= count:
        raise fail(f"bad {option} {value!r}: use 1..{count} or {whole}")
    return number - 1


@app.command()
def misclassified(
    run_name: str = typer.Argument(..., metavar="RUN", help="run folder, name, or a unique part of it"),
    runs_dir: Optional[Path] = RUNS_DIR_OPTION,
) -> None:
    """Show the validation images an image run got wrong, with true and predicted labels."""
    from rich.console import Console

    from vitui.core.events import Misclassified
    from vitui.core.runfolder import read_events
    from vitui.render.pictures import MisclassifiedGrid

    path = locate_run(run_name, runs_dir)
    found = [e for e in read_events(path) if isinstance(e, Misclassified)]
    if not found:
        raise fail(f"run {path.name} has no misclassified images: image runs log them when they finish "
                   f"(misclassified > 0)")
    Console().print(MisclassifiedGrid(found[-1]))


@app.command()
def sample(run_name: str = typer.Argument(..., metavar="RUN", help="run folder, name, or a unique part of it"),
           n: int = typer.Option(20, "--n", min=1, max=10_000, help="how many names"),
           temperature: float = typer.Option(0.8, "--temperature", min=0.05, max=10.0,
                                             help="< 1 safer names, > 1 wilder"),
           seed: Optional[int] = typer.Option(None, "--seed", min=0, help="seed for reproducible names [default: random]"),
           checkpoint: str = typer.Option("best", "--checkpoint", help="best or last"),
           runs_dir: Optional[Path] = RUNS_DIR_OPTION, as_json: bool = JSON_OPTION) -> None:
    """Sample names from a character model's checkpoint, marking those not in its training list."""
    from vitui.core.runfolder import CHECKPOINTS, load_run

    path = locate_run(run_name, runs_dir)
    if checkpoint not in ("best", "last"):
        raise fail(f"bad --checkpoint {checkpoint!r}; choose best or last")
    if load_run(path).config.get("task") != "chars":
        raise fail(f"run {path.name} is not a character model; sampling needs a run of rnn-, lstm- or gru-dinos")
    files = [path / CHECKPOINTS / f"{name}.pt" for name in (checkpoint, "last", "best")]
    found = next((f for f in files if f.is_file()), None)
    if found is None:
        raise fail(f"run {path.name} has no checkpoint yet (looked in {path / CHECKPOINTS})")
    if seed is None:
        seed = int.from_bytes(os.urandom(4), "little")
    from runners.char_learners import sample_checkpoint

    from vitui.render.formats import plain

    names, novel = sample_checkpoint(found, n, temperature, seed)
    if as_json:
        print_json({"run": path.name, "checkpoint": found.stem, "temperature": temperature, "seed": seed,
                    "names": [{"name": name, "novel": is_new} for name, is_new in zip(names, novel)],
                    "novel": sum(novel)})
        return
    names = [plain(name) for name in names]  # drawn from the checkpoint's vocabulary: untrusted text
    width = max((len(name) for name in names), default=0)
    for name, is_new in zip(names, novel):
        typer.echo(f"{name:<{width}}  {'novel' if is_new else 'in training set'}")
    typer.echo(f"{sum(novel)}/{len(names)} novel  ({plain(found.parent.parent.name)}, {found.stem} checkpoint, "
               f"temperature {temperature:g}, seed {seed})")
