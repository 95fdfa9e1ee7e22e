"""Provides RunStatusBar: a run's state, progress bar, step / epoch counters, throughput, ETA and latest figures."""

from __future__ import annotations

from rich.console import Group
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from vitui.headless import format_value
from vitui.runmodel import RunModel
from vitui.runviews import format_duration
from vitui.stops import describe_end

STATE_LOOK = {"created": ("…", "dim"), "running": ("▶", "bold cyan"), "completed": ("✔", "bold green"),
              "stopped": ("■", "bold yellow"), "failed": ("✖", "bold red")}
HEADLINE_KEYS = ("val_acc", "train_acc", "val_loss")


def status_renderable(model: RunModel, stopping: bool = False) -> Group:
    """Three lines: who and what state; the progress bar and counters; speed, time and latest figures."""
    with model.lock:
        config, p = model.config, model.current_progress()
        symbol, style = STATE_LOOK.get(model.state, ("?", ""))
        state = "stopping…" if stopping and model.running else model.state
        head = Text.assemble((f"{symbol} {state}", style), "  ", (str(config.get("experiment", "")), "bold"), "  ",
                             (f"{config.get('model', '')} · {config.get('dataset', '')}", ""), "  ", (model.name, "dim"))

        bar = Table.grid(expand=True, padding=(0, 1))
        bar.add_column(ratio=1)
        bar.add_column(no_wrap=True)
        if p is not None and p.total_steps:
            done = min(p.step, p.total_steps)
            if p.unit == "step":
                count = f"epoch {p.epoch}/{p.total_epochs}  step {done:,}/{p.total_steps:,}"
            else:
                count = f"{p.unit} {done:,}/{p.total_steps:,}"
            bar.add_row(ProgressBar(total=p.total_steps, completed=done, complete_style="cyan", finished_style="green"),
                        f"{done / p.total_steps:4.0%}  {count}")
        else:
            bar.add_row(ProgressBar(total=None if model.running else 1, completed=0),
                        "waiting for the first step" if model.running else "no steps recorded")

        # Most useful first: the line is cut with an ellipsis on narrow terminals.
        facts: list[str] = []
        eta = model.eta()
        if eta is not None:
            facts.append(f"ETA {format_duration(eta)}")
        elapsed = model.elapsed()
        if elapsed is not None:
            facts.append(f"elapsed {format_duration(elapsed)}")
        epoch = model.latest.get("epoch") or {}
        facts += [format_value(k, epoch[k]) for k in HEADLINE_KEYS if k in epoch]
        latest_train = (model.latest.get("train") or {}).get("loss")
        if latest_train is not None:
            facts.append(format_value("loss", latest_train))
        speed = model.throughput()
        if speed is not None:
            facts.append(f"{speed[0]:,.0f} {speed[1]}")
        rate = model.step_rate()
        # Steps per second is live while img/s comes once an epoch; for iteration units they say the same.
        if rate is not None and p is not None and (p.unit == "step" or speed is None):
            facts.append(f"{rate:,.1f} {p.unit}s/s")
        line = Text("  ".join(facts), style="dim" if not model.running else "")
        if model.state == "failed":
            line = Text(f"failed: {model.last_error or model.detail or 'no error recorded'}", style="red")
        elif model.state == "stopped" and model.detail:
            line = Text("  ".join([describe_end(model.state, model.detail), *facts]), style="yellow")
        for text in (head, line):
            text.no_wrap, text.overflow = True, "ellipsis"
        return Group(head, bar, line)


class RunStatusBar(Static):
    """The three status lines at the top of a run screen."""

    DEFAULT_CSS = """
    RunStatusBar { height: 3; padding: 0 1; }
    """

    def show(self, model: RunModel, stopping: bool = False) -> None:
        self.update(status_renderable(model, stopping))
