"""Benchmark: the live screen's frame time and memory with 1,000 against 1,000,000 metric points.

Each size runs in a fresh process: events go through the same RunState.apply the app's follower thread
uses, then the live screen (headless, 120x40) redraws every chart from scratch a few times. A frame is
Textual's full-screen render (compositor render_update) with every chart's plot rebuilt; its time does
not depend on run length because charts draw reduced series (about one point per column).

    PYTHONPATH=. python benchmarks/bench_live_screen.py            # both sizes, ratio, verdict
    PYTHONPATH=. python benchmarks/bench_live_screen.py --size 80x24
    PYTHONPATH=. python benchmarks/bench_live_screen.py --points N # one size, one JSON line
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SIZE = (120, 40)  # larger than the 80x24 minimum: bigger charts draw more points
FRAMES = 15


def rss_mib() -> float:
    """Resident memory of this process now (not the peak)."""
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def events(points: int, steps_per_epoch: int = 1000):
    """`points` training-loss readings (with lr), an epoch summary every `steps_per_epoch`, progress every 10."""
    from vitui.core.events import Metric, Progress

    t0 = 1_700_000_000.0
    epochs = max(1, points // steps_per_epoch)
    for step in range(1, points + 1):
        t = t0 + step * 0.01
        loss = 2.3 * math.exp(-step / (points / 5)) + 0.3 + 0.05 * math.sin(step / 17) + (3.0 if step == points // 3 else 0)
        yield Metric(step=step, epoch=step / steps_per_epoch, split="train", values={"loss": loss, "lr": 1e-3}, t=t)
        if step % 10 == 0:
            yield Progress(step=step, total_steps=points, epoch=math.ceil(step / steps_per_epoch), total_epochs=epochs, t=t)
        if step % steps_per_epoch == 0:
            acc = 0.9 - 0.8 * math.exp(-step / (points / 4))
            yield Metric(step=step, epoch=step // steps_per_epoch, split="epoch", t=t, values={
                "train_loss": loss, "train_acc": acc, "val_loss": loss + 0.1, "val_acc": acc - 0.02, "lr": 1e-3,
                "img/s": 2500.0})


class StillSource:
    """A source with nothing more to say: the benchmark fills the model itself."""

    owned = False

    def __init__(self, run_dir: Path):
        self.run_dir = run_dir


def measure(points: int) -> dict:
    from vitui.app import RunSession, make_app
    from vitui.runstate import RunState
    from vitui.screens.run import LiveRunScreen
    from vitui.widgets.charts import MetricChart

    rss_start = rss_mib()
    model = RunState("bench")
    started = time.perf_counter()
    batch = []
    for event in events(points):
        batch.append(event)
        if len(batch) == 10_000:  # the follower applies what one poll returns, at most 10,000 events
            model.apply(batch)
            batch = []
    model.apply(batch)
    ingest_s = time.perf_counter() - started

    result: dict = {"points": points, "ingest_s": ingest_s, "buckets": max(len(s) for s in model.series.values())}

    async def run() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            app = make_app(Path(tmp))
            async with app.run_test(size=SIZE) as pilot:
                await pilot.pause()
                screen = LiveRunScreen(RunSession(StillSource(Path(tmp) / "bench"), model))
                app.push_screen(screen)
                await pilot.pause(0.2)
                charts = list(screen.query(MetricChart))
                times, cpu = [], []
                for _ in range(FRAMES):
                    for chart in charts:
                        chart._cache_key = None  # as if new data arrived: every plot is rebuilt
                        chart.refresh()
                    t0, c0 = time.perf_counter(), time.process_time()
                    screen._compositor.render_update(full=True, screen_stack=app._background_screens)
                    for chart in charts:  # render_update may defer a widget: make sure each plot was drawn
                        chart.render()
                    times.append(time.perf_counter() - t0)
                    cpu.append(time.process_time() - c0)
                    await pilot.pause()
                result["frame_ms"] = statistics.median(times) * 1000
                result["frame_max_ms"] = max(times) * 1000
                # CPU time of this process: what the frame costs, less noise from other loads on the machine.
                result["frame_cpu_ms"] = statistics.median(cpu) * 1000
                result["chart_points"] = sum(len(t.x) for c in charts for t in c.source.traces(SIZE[0] // 2, c.axis, c.smoothing))
                result["rss_mib"] = rss_mib()

    asyncio.run(run())
    result["rss_start_mib"] = rss_start
    return result


def main() -> None:
    global SIZE
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, help="measure one size in this process and print JSON")
    parser.add_argument("--size", default=f"{SIZE[0]}x{SIZE[1]}", help="terminal size WIDTHxHEIGHT")
    args = parser.parse_args()
    SIZE = tuple(int(n) for n in args.size.lower().split("x"))  # type: ignore[assignment]
    if args.points:
        print(json.dumps(measure(args.points)))
        return
    rows = []
    for points in (1_000, 1_000_000):
        out = subprocess.run([sys.executable, __file__, "--points", str(points), "--size", args.size], check=True,
                             capture_output=True,
                             text=True, env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)})
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"live screen at {SIZE[0]}x{SIZE[1]}, median of {FRAMES} full redraws (every chart rebuilt)")
    print(f"{'points':>10} {'ingest s':>9} {'frame ms':>9} {'cpu ms':>7} {'worst ms':>9} {'drawn pts':>10} "
          f"{'buckets':>8} {'RSS MiB':>8}")
    for r in rows:
        print(f"{r['points']:>10,} {r['ingest_s']:>9.2f} {r['frame_ms']:>9.1f} {r['frame_cpu_ms']:>7.1f} {r['frame_max_ms']:>9.1f} "
              f"{r['chart_points']:>10,} {r['buckets']:>8} {r['rss_mib']:>8.1f}")
    small, big = rows
    ratio = big["frame_ms"] / small["frame_ms"]
    cpu_ratio = big["frame_cpu_ms"] / small["frame_cpu_ms"]
    print(f"frame time 1M / 1K: {ratio:.2f}x wall, {cpu_ratio:.2f}x cpu (target within 2x); "
          f"one frame {big['frame_ms']:.1f} ms (target < 50 ms)")
    print(f"memory 1M - 1K: {big['rss_mib'] - small['rss_mib']:+.1f} MiB")
    ok = ratio <= 2.0 and big["frame_ms"] < 50
    print("PASS" if ok else "FAIL")


if __name__ == "__main__":
    main()
