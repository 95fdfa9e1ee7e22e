"""Benchmark: the runs folder at scale. Listing 5,000 run folders cold and warm (vitui.core.runcache against the
plain runfolder.list_runs that `vitui runs list` and, before, the browser every 2 s, ran), and opening a run log of
1,000,000 events cold and warm (vitui.logindex), with orjson and with the standard library's json, against the
plain approach vitui used before (json.loads and dataclasses.fields() per line) and against the parser alone.

"Cold" is a fresh cache in this process; the files themselves are in the OS page cache, as on a machine that
wrote them recently. Budgets are what the browser needs to feel instant; the script reports, it does not fail.

    PYTHONPATH=. python benchmarks/bench_runs.py                  # all figures (about a minute)
    PYTHONPATH=. python benchmarks/bench_runs.py --runs 5000 --events 1000000
    PYTHONPATH=. python benchmarks/bench_runs.py --make DIR       # only make 5,000 synthetic run folders in DIR
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import tempfile
import time
from dataclasses import fields
from pathlib import Path

from vitui.core import jsonfile, runfolder
from vitui.core.events import EVENT_TYPES, Metric, Progress, Status
from vitui.core.experiments import experiment_names, resolve
from vitui.core.runcache import RunCache
from vitui.logindex import LogIndex
from vitui.runstate import RunState

BUDGET_LIST_WARM_S = 0.25  # the browser lists every 2 s, in a thread: a warm listing must be a small share of that
BUDGET_LIST_COLD_S = 2.0  # the first listing, while the browser says "Reading ..."
BUDGET_LOG_COLD_S = 10.0  # opening a 1M-event log the first time, behind a progress line (orjson installed)
BUDGET_LOG_WARM_S = 0.1  # reopening it: nothing to read again
T0 = 1_750_000_000.0


def make_runs(folder: Path, count: int) -> None:
    """`count` finished run folders of every experiment, as the worker leaves them (config, status, summary, a
    short log), with one setting changed at random so the settings column has something to say."""
    configs = {name: resolve(name).to_dict() for name in experiment_names()}
    names = sorted(configs)
    for i in range(count):
        experiment = names[i % len(names)]
        config = {**configs[experiment], "lr": [0.1, 0.01, 0.001][i % 3], "seed": i % 5}
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(T0 + i * 60))
        run = folder / f"{stamp}-{experiment}"
        run.mkdir(parents=True)
        state = ("completed", "completed", "completed", "failed", "stopped")[i % 5]
        start = T0 + i * 60
        (run / runfolder.CONFIG).write_text(json.dumps(config, indent=2))
        (run / runfolder.STATUS).write_text(json.dumps({"state": state, "detail": "", "time": start + 50, "host": "vm",
                                                       "pid": 1, "started": start, "ended": start + 50}))
        best = {"name": "val_acc", "value": 0.5 + (i % 40) / 100, "step": 100, "epoch": 3, "time": 40.0}
        (run / runfolder.SUMMARY).write_text(json.dumps({"metrics": {"val_acc": best["value"]}, "best": best}))
        events = [Status(state="running", t=start), Metric(step=100, epoch=3, split="epoch", values={"val_acc": 0.5},
                                                           t=start + 40), Status(state=state, t=start + 50)]
        (run / runfolder.EVENTS).write_text("".join(json.dumps(e.to_dict()) + "\n" for e in events))


def make_log(run: Path, count: int) -> None:
    """A run folder whose log holds `count` events: a training loss every step, progress every 10 steps, an epoch
    summary every 1,000 (a long ViT run logging every step)."""
    run.mkdir(parents=True)
    (run / runfolder.CONFIG).write_text(json.dumps(resolve("vit-cifar10").to_dict()))
    (run / runfolder.STATUS).write_text(json.dumps({"state": "completed", "time": T0, "host": "vm", "started": T0,
                                                   "ended": T0 + count}))
    written, step = 0, 0
    with (run / runfolder.EVENTS).open("w") as fh:
        while written < count:
            step += 1
            t = T0 + step * 0.01
            lines = [Metric(step=step, epoch=step / 1000, split="train", t=t,
                            values={"loss": 2.3 * math.exp(-step / 2e5) + 0.3, "lr": 1e-3})]
            if step % 10 == 0:
                lines.append(Progress(step=step, total_steps=10**6, epoch=step // 1000, total_epochs=1000, t=t))
            if step % 1000 == 0:
                lines.append(Metric(step=step, epoch=step // 1000, split="epoch", t=t, values={
                    "train_loss": 0.5, "train_acc": 0.8, "val_loss": 0.6, "val_acc": 0.78, "lr": 1e-3, "img/s": 2500.0}))
            for event in lines[: count - written]:
                fh.write(json.dumps(event.to_dict(), separators=(",", ":")) + "\n")
                written += 1


def timed(work) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def timed_cpu(work) -> tuple[float, float]:
    """Wall and CPU seconds. The log is read on one thread from the page cache, so its CPU time is what it costs
    on a quiet machine; on a shared one the wall time is that stretched by the other jobs."""
    wall, cpu = time.perf_counter(), time.process_time()
    work()
    return time.perf_counter() - wall, time.process_time() - cpu


def both(seconds: tuple[float, float]) -> str:
    return f"{seconds[0]:.2f} s (CPU {seconds[1]:.2f} s)"


def plain_log_open(run: Path) -> None:
    """How vitui read a log before: json.loads, then dataclasses.fields() for every line, into a RunState."""
    state = RunState(run.name)
    batch = []
    with (run / runfolder.EVENTS).open("rb") as fh:
        for raw in fh:
            data = json.loads(raw)
            cls = EVENT_TYPES[data["kind"]]
            names = {f.name for f in fields(cls)}
            batch.append(cls(**{k: v for k, v in data.items() if k in names}))
            if len(batch) >= 5000:
                state.apply(batch)
                batch = []
    state.apply(batch)


def raw_parse(run: Path) -> None:
    """The parser alone over every line (jsonfile.loads, json or orjson): the floor a cold open is measured against."""
    loads = jsonfile.loads
    with (run / runfolder.EVENTS).open("rb") as fh:
        for raw in fh:
            loads(raw)


def read_checked(run: Path) -> None:
    """Parsing and checking every line into events (runfolder.EventReader), without building the charts."""
    for _ in runfolder.EventReader(run).batches():
        pass


def verdict(seconds: float, budget: float) -> str:
    return f"{'within' if seconds <= budget else 'OVER'} budget {budget:g} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--make", type=Path, help="only make --runs synthetic run folders in this folder")
    args = parser.parse_args()
    if args.make:
        make_runs(args.make, args.runs)
        print(f"made {args.runs:,} run folders in {args.make}")
        return
    work = Path(tempfile.mkdtemp(prefix="vitui-bench-runs-"))
    try:
        print(f"python {sys.version.split()[0]}, orjson {'installed' if jsonfile.orjson else 'not installed'}")
        make_runs(work / "runs", args.runs)
        plain = min(timed(lambda: runfolder.list_runs(work / "runs")) for _ in range(3))
        cache = RunCache()
        cold = timed(lambda: cache.list(work / "runs"))
        warm = min(timed(lambda: cache.list(work / "runs")) for _ in range(3))
        print(f"listing {args.runs:,} runs: plain {plain:.3f} s, cold {cold:.3f} s ({verdict(cold, BUDGET_LIST_COLD_S)}),"
              f" warm {warm:.3f} s ({verdict(warm, BUDGET_LIST_WARM_S)}); warm is {plain / warm:.1f}x faster than plain")
        log = work / "log" / "20250101-000000-vit-cifar10"
        make_log(log, args.events)
        size = (log / runfolder.EVENTS).stat().st_size / 1e6
        base = timed_cpu(lambda: plain_log_open(log))
        print(f"opening a {args.events:,}-event log ({size:,.0f} MB): plain approach {both(base)}")
        for backend in ("json", "orjson"):
            if backend == "orjson" and jsonfile.orjson is None:
                print("  orjson: not installed (pip install 'vitui[fast]')")
                continue
            jsonfile.use_backend(backend)
            parse, checked = timed_cpu(lambda: raw_parse(log)), timed_cpu(lambda: read_checked(log))
            index = LogIndex()
            cold = timed_cpu(lambda: index.read(log))
            warm = timed(lambda: index.read(log))
            budget = f", {verdict(cold[0], BUDGET_LOG_COLD_S)}" if backend == "orjson" else ""
            print(f"  {backend:>6}: parsing alone {both(parse)}, parsed and checked {both(checked)},\n"
                  f"          cold open {both(cold)}: {cold[1] / parse[1]:.1f}x parsing alone, "
                  f"{base[1] / cold[1]:.1f}x faster than the plain approach (CPU){budget}; "
                  f"warm {warm:.4f} s ({verdict(warm, BUDGET_LOG_WARM_S)})")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
