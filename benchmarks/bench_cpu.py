"""Benchmark: CPU training steps of the CNN + BatchNorm and the ViT by threads, bf16 autocast and memory format.

What it is for: choosing the CPU defaults (threads, bf16 autocast for conv models, channels_last) from
measurements rather than guesses. Each configuration trains the real model for `--steps` steps at batch 128
on random images (the pixels do not change the arithmetic) in a fresh process, after 3 warm-up steps, and
reports images/s. `--load N` starts N busy processes beside it, to see what a shared machine does to each
thread count (other jobs on the cores make OpenMP's waiting threads spin and stall each other).

--rounds N measures every configuration N times, taking turns, and reports the best round and the median: on
a shared machine the best is the one least slowed by other jobs.

    python benchmarks/bench_cpu.py [--models cnn-bn,vit] [--threads 1,2] [--amp off,bf16]
                                   [--formats contiguous,channels_last] [--steps 20] [--rounds 1] [--load 0]
"""

from __future__ import annotations

import argparse
import itertools
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def busy() -> None:
    while True:
        pass


def measure(model_name: str, threads: int, amp: str, channels_last: bool, steps: int, batch: int) -> float:
    """Images/s of `steps` training steps (after 3 warm-up steps) in this process."""
    import torch
    import torch.nn.functional as F

    from runners.models import load_builder
    from vitui.core.models import MODELS

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    args = MODELS[model_name].args()
    model = load_builder(model_name)(args, 3, 10, 32)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.randn(batch, 3, 32, 32).contiguous(memory_format=fmt)
    y = torch.randint(0, 10, (batch,))

    def step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp == "bf16"):
            loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(3):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return steps * batch / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="cnn-bn,vit")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--amp", default="off,bf16")
    parser.add_argument("--formats", default="contiguous,channels_last")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--load", type=int, default=0, help="busy processes running beside the measurement")
    parser.add_argument("--rounds", type=int, default=1, help="measurements of each configuration, taking turns")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:  # one measurement in this fresh process
        model, threads, amp, fmt = args.child.split(":")
        print(measure(model, int(threads), amp, fmt == "channels_last", args.steps, args.batch))
        return

    import torch

    print(f"cores {os.cpu_count()}, load average {os.getloadavg()[0]:.2f}, bf16 in hardware "
          f"{torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()}, busy neighbours {args.load}")
    loaders = [multiprocessing.Process(target=busy, daemon=True) for _ in range(args.load)]
    for p in loaders:
        p.start()
    configs = list(itertools.product(args.models.split(","), args.threads.split(","), args.amp.split(","),
                                     args.formats.split(",")))
    rates: dict[tuple[str, ...], list[float]] = {config: [] for config in configs}
    try:
        for round_ in range(1, args.rounds + 1):
            for config in configs:
                model, threads, amp, fmt = config
                env = {**os.environ, "OMP_NUM_THREADS": threads}
                out = subprocess.run([sys.executable, __file__, "--child", ":".join(config),
                                      "--steps", str(args.steps), "--batch", str(args.batch)],
                                     env=env, capture_output=True, text=True, check=True)
                rates[config].append(float(out.stdout.strip().splitlines()[-1]))
                print(f"round {round_}  {model:8}{threads:>4} threads  amp {amp:5} {fmt:15}"
                      f"{rates[config][-1]:9.1f} img/s", flush=True)
    finally:
        for p in loaders:
            p.terminate()
    rows = [{"model": model, "threads": int(threads), "amp": amp, "format": fmt, "img_per_s": max(found),
             "median_img_per_s": statistics.median(found), "rounds": len(found)}
            for (model, threads, amp, fmt), found in rates.items()]
    for row in rows:
        print(f"{row['model']:8}{row['threads']:>4} threads  amp {row['amp']:5} {row['format']:15}"
              f"best {row['img_per_s']:9.1f}  median {row['median_img_per_s']:9.1f} img/s")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
