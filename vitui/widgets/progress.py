"""Provides RunStatusBar: a run's state, progress bar, step / epoch counters, throughput, ETA and latest figures, and a
distributed run's ranks."""

from __future__ import annotations

from rich.console import Group
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from vitui.render.formats import format_ranks, format_value, plain, safe_text
from vitui.runstate import RunState
from vitui.render.formats import format_duration
from vitui.core.stops import describe_end

STATE_LOOK = {"created": ("…", "dim"), "running": ("▶", "bold cyan"), "completed": ("✔", "bold green"),
              "stopped": ("■", "bold yellow"), "failed": ("✖", "bold red")}
HEADLINE_KEYS = ("val_acc", "train_acc", "val_loss")


def status_renderable(run: RunState, stopping: bool = False) -> Group:
    """Three lines: who and what state; the progress bar and counters; speed, time and latest figures. A distributed
    run has a fourth: its ranks, the global and per-rank batch, images/s in total and per rank, the straggler ratio."""
    with run.lock:
        config, p = run.config, run.current_progress()
        symbol, style = STATE_LOOK.get(run.state, ("?", ""))
        state = "stopping…" if stopping and run.running else run.state
        # Names and settings come from the run folder: untrusted text, plain.
        head = Text.assemble((f"{symbol} {state}", style), "  ", (plain(config.get("experiment", "")), "bold"), "  ",
                             (plain(f"{config.get('model', '')} · {config.get('dataset', '')}"), ""), "  ",
                             (plain(run.name), "dim"))

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
            bar.add_row(ProgressBar(total=None if run.running else 1, completed=0),
                        "waiting for the first step" if run.running else "no steps recorded")

        # Most useful first: the line is cut with an ellipsis on narrow terminals.
        facts: list[str] = []
        eta = run.eta()
        if eta is not None:
            facts.append(f"ETA {format_duration(eta)}")
        elapsed = run.elapsed()
        if elapsed is not None:
            facts.append(f"elapsed {format_duration(elapsed)}")
        epoch = run.latest.get("epoch") or {}
        facts += [format_value(k, epoch[k]) for k in HEADLINE_KEYS if k in epoch]
        latest_train = (run.latest.get("train") or {}).get("loss")
        if latest_train is not None:
            facts.append(format_value("loss", latest_train))
        speed = run.throughput()
        if speed is not None:
            facts.append(f"{speed[0]:,.0f} {speed[1]}")
        rate = run.step_rate()
        # Steps per second is live while img/s comes once an epoch; for iteration units they say the same.
        if rate is not None and p is not None and (p.unit == "step" or speed is None):
            facts.append(f"{rate:,.1f} {p.unit}s/s")
        line = Text("  ".join(facts), style="dim" if not run.running else "")
        if run.state == "failed":
            line = safe_text(f"failed: {run.last_error or run.detail or 'no error recorded'}", style="red")
        elif run.state == "stopped" and run.detail:
            line = safe_text("  ".join([describe_end(run.state, run.detail), *facts]), style="yellow")
        lines = [head, line]
        ranks = run.ranks
        if ranks is not None and ranks.world_size > 1:
            lines.append(safe_text(format_ranks(ranks.world_size, ranks.backend, ranks.batch_size, ranks.img_per_s,
                                                ranks.straggler), style="" if run.running else "dim"))
        for text in lines:
            text.no_wrap, text.overflow = True, "ellipsis"
        return Group(head, bar, *lines[1:])


class RunStatusBar(Static):
    """The three status lines at the top of a run screen."""

    DEFAULT_CSS = """
    RunStatusBar { height: auto; padding: 0 1; }
    """

    def show(self, run: RunState, stopping: bool = False) -> None:
        self.update(status_renderable(run, stopping))
