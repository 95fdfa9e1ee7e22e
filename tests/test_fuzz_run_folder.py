"""Fuzz the run-folder reader: random bytes and random JSON (and real events and files with one field replaced at
random) in every file of a run folder; load_run, list_runs, read_events, EventTail, the app's RunState loading and
the printed reports must take them all without an exception escaping."""

import io
import json
import random

from rich.console import Console

from app_fakes import T0, cnn_script
from vitui.core import runfolder
from vitui.core.events import Attention, Evaluation, Log, Misclassified, Samples, Status
from vitui.core.experiments import resolve
from vitui.render.reports import comparison_table, show_run
from vitui.render.runs import row_texts, runs_table
from vitui.runstate import load_run_state

KEYS = ["kind", "t", "step", "epoch", "split", "values", "state", "detail", "time", "started", "ended", "heartbeat",
        "host", "best", "name", "value", "metrics", "model", "experiment", "task", "dataset", "log_every", "note",
        "tags", "archived", "grid", "maps", "images", "labels", "class_names", "rollout", "predictions", "texts",
        "novel", "confusion", "level", "message", "total_steps", "total_epochs", "unit"]
WORDS = ["metric", "progress", "status", "log", "evaluation", "samples", "attention", "misclassified", "running",
         "created", "completed", "failed", "stopped", "train", "epoch", "val", "[/]", "\x1b[31m", "", "vm"]


def random_json(rng: random.Random, depth: int = 0):
    choice = rng.randrange(9 if depth < 4 else 6)
    if choice == 0:
        return None
    if choice == 1:
        return rng.choice([True, False])
    if choice == 2:
        return rng.choice([0, 1, -1, 7, 2**70, rng.randrange(-10**6, 10**6)])
    if choice == 3:
        return rng.choice([0.5, -1e308, 1e-300, rng.uniform(-1e9, 1e9)])
    if choice in (4, 5):
        return rng.choice(WORDS)
    if choice == 6:
        return [random_json(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {rng.choice(KEYS): random_json(rng, depth + 1) for _ in range(rng.randrange(6))}


def real_events() -> list[dict]:
    image = [[[10, 20, 30]] * 2] * 2
    extra = [Status(state="running", t=T0), Log(level="info", message="hello", t=T0),
             Samples(step=1, temperature=1.0, texts=["rex"], novel=[True], novelty=1.0, t=T0),
             Attention(step=1, grid=2, labels=[0], predictions=[1], class_names=["a", "b"], images=[image],
                       maps=[[[[[0.1, 0.2], [0.3, 0.4]]]]], rollout=[[[0.1, 0.2], [0.3, 0.4]]], t=T0),
             Misclassified(step=1, class_names=["a", "b"], images=[image], labels=[0], predictions=[1], t=T0),
             Evaluation(split="val", accuracy=0.5, loss=1.0, class_names=["a", "b"], precision=[0.5, 0.5],
                        recall=[0.5, 0.5], f1=[0.5, 0.5], support=[1, 1], confusion=[[1, 0], [0, 1]], t=T0)]
    return [e.to_dict() for e in cnn_script(batchnorm=False)[:30] + extra]


def mutate(rng: random.Random, value):
    """A real value with one field, somewhere inside it, replaced by random JSON."""
    if isinstance(value, dict) and value:
        key = rng.choice(list(value))
        return {**value, key: mutate(rng, value[key]) if rng.random() < 0.5 else random_json(rng)}
    if isinstance(value, list) and value:
        i = rng.randrange(len(value))
        return value[:i] + [mutate(rng, value[i]) if rng.random() < 0.5 else random_json(rng)] + value[i + 1:]
    return random_json(rng)


def content(rng: random.Random, real) -> bytes:
    kind = rng.randrange(4)
    if kind == 0:
        return rng.randbytes(rng.randrange(64))
    if kind == 1:
        return json.dumps(random_json(rng)).encode()
    if kind == 2:
        return json.dumps(mutate(rng, real)).encode()
    return json.dumps(real).encode()


def event_lines(rng: random.Random, events: list[dict]) -> bytes:
    lines = []
    for event in rng.sample(events, rng.randrange(1, len(events))):
        lines.append(content(rng, event).replace(b"\n", b" "))
    text = b"\n".join(lines) + b"\n"
    return text[: rng.randrange(len(text) + 1)] if rng.random() < 0.3 else text  # sometimes torn


def test_random_run_folders_never_raise(tmp_path):
    rng = random.Random(20250101)
    events = real_events()
    config = resolve("cnn-cifar10").to_dict()
    status = {"state": "completed", "detail": "", "time": T0, "host": "vm", "started": T0, "ended": T0 + 60}
    summary = {"metrics": {"val_acc": 0.5}, "best": {"name": "val_acc", "value": 0.5, "step": 3, "epoch": 1, "time": 9.0},
               "model": {"params": 10, "macs": 20}}
    notes = {"note": "a note", "tags": ["best"], "archived": False}
    console = Console(file=io.StringIO(), width=80)
    for i in range(300):
        run_dir = tmp_path / f"20250101-{i:06d}-fuzz"
        run_dir.mkdir()
        for name, real in ((runfolder.CONFIG, config), (runfolder.STATUS, status), (runfolder.SUMMARY, summary),
                           (runfolder.NOTES, notes)):
            if rng.random() < 0.9:
                (run_dir / name).write_bytes(content(rng, real))
        (run_dir / runfolder.EVENTS).write_bytes(event_lines(rng, events))
        run = runfolder.load_run(run_dir)
        _ = (run.state, run.state_label, run.duration, run.crashed, run.tags, run.note)
        list(runfolder.read_events(run_dir))
        runfolder.EventTail(run_dir).poll()
        runfolder.last_event_time(run_dir)
        load_run_state(run_dir)
        show_run(console, run_dir)
    runs = runfolder.list_runs(tmp_path)
    assert len(runs) == sum(1 for p in tmp_path.iterdir() if (p / runfolder.CONFIG).exists())
    row_texts(runs)
    console.print(runs_table(runs, 80))
    console.print(comparison_table(runs[:20]))
