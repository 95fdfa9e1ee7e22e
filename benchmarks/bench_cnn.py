"""Benchmark: headless `vitui run cnn-bn-cifar10` images/s against a plain PyTorch loop, same model, batch, data.

Both train the seed's CNN + BatchNorm with Adam at batch 128 on the CIFAR-10 train split (image folder,
10 % held out) with the same on-device crop/flip augmentation; the plain loop is what one would write by
hand in a notebook. Each side runs in a fresh process of its own (a process that has trained for minutes
runs faster than a new one, so a plain loop inside this long-lived script would be favoured), and they
take turns (plain, vitui, plain, vitui, ...) so a busy machine slows both alike;
the best epoch of each counts: with two epochs each side is timed warm (the first epoch of a fresh
process pays for allocator growth and kernel set-up). Target: vitui >= 0.98 of the plain loop.

--amp bf16 runs both sides under bf16 autocast (vitui's default for the CNNs on a CPU with bf16
instructions), --amp off both in float32; either way both keep the model channels-last, as vitui does, so
the ratio measures what vitui's loop costs, not what its settings gain. --threads gives both sides the same
number of PyTorch threads (default 1: on a shared machine more threads measure the neighbours, not the loop).

--clock cpu times both sides by the training thread's CPU seconds instead of the wall clock, for a machine
other jobs share: there a side's wall-clock rate says more about the neighbours' load in its minutes than
about its own work (rounds of the same side differed by 2x on the 2-core development machine). Each side
reads the thread's clock every 10 steps; an epoch's rate is the images between its first and last reading
over the CPU seconds between them. vitui's side then runs the real worker code (runners.worker.worker_main)
in a fresh process of its own with a context that reads the clock at each logging point, as the headless
CLI's worker would run it.

    python benchmarks/bench_cnn.py [--rounds 2] [--epochs 2] [--device cpu] [--amp off|bf16] [--threads 1]
                                   [--clock wall|cpu] [--archive TAR] [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from benchmarks._common import epoch_metrics, run_vitui, shared_data, temp_runs  # noqa: E402
from runners import worker  # noqa: E402
from runners.context import RunContext  # noqa: E402
from runners.data import load_dataset, split  # noqa: E402
from runners.models.cnn import CNN  # noqa: E402
from vitui.core import runfolder  # noqa: E402
from vitui.core.events import Metric  # noqa: E402
from vitui.core.experiments import resolve  # noqa: E402

CPU_EVERY = 10  # steps between readings of the thread's CPU clock (--clock cpu); vitui's log_every then


def window_rates(readings: list[tuple[int, int, float]], batch: int) -> list[float]:
    """(epoch, step, CPU seconds) readings -> images per CPU second of each epoch, between its first and last reading."""
    rates = []
    for epoch in sorted({e for e, _, _ in readings}):
        marks = [(s, t) for e, s, t in readings if e == epoch]
        (s0, t0), (s1, t1) = marks[0], marks[-1]
        if s1 > s0:
            rates.append((s1 - s0) * batch / (t1 - t0))
    if not rates:
        sys.exit(f"bench_cnn: --clock cpu needs epochs of more than {2 * CPU_EVERY} steps; use a larger --archive")
    return rates


def plain_epoch_rate(x: np.ndarray, y: np.ndarray, device: str, epochs: int, amp: str, clock: str,
                     batch: int = 128) -> float:
    """A hand-written loop: tensors on the device, shuffle, crop/flip, normalise, Adam. Returns the best epoch's img/s
    (by the wall clock, or per CPU second of this thread)."""
    torch.manual_seed(0)
    xs, ys = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)
    mean = xs.reshape(-1, 3).float().mean(0)
    std = xs.reshape(-1, 3).float().std(0)
    model = CNN(in_channels=3, num_classes=10, image_size=32, batchnorm=True).to(device)
    model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    best = 0.0
    n = len(xs)
    readings: list[tuple[int, int, float]] = []
    step = 0
    for epoch in range(epochs):
        start = time.perf_counter()
        perm = torch.randperm(n, device=device)
        for i in range(0, n, batch):
            idx = perm[i:i + batch]
            xb, yb = xs[idx], ys[idx]
            b = len(idx)
            padded = F.pad(xb, (0, 0, 4, 4, 4, 4))
            dy = torch.randint(0, 9, (b, 1), device=device)
            dx = torch.randint(0, 9, (b, 1), device=device)
            rows = torch.arange(32, device=device) + dy
            cols = torch.arange(32, device=device) + dx
            cols = torch.where(torch.rand(b, 1, device=device) < 0.5, cols.flip(1), cols)
            xb = padded[torch.arange(b, device=device)[:, None, None], rows[:, :, None], cols[:, None, :]]
            inputs = ((xb.float() - mean) / std).permute(0, 3, 1, 2)
            with torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=amp == "bf16"):
                logits = model(inputs)
            loss = F.cross_entropy(logits.float(), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            if step % CPU_EVERY == 0:
                readings.append((epoch, step, time.thread_time()))
        loss.item()  # wait for the device before stopping the clock
        best = max(best, n / (time.perf_counter() - start))
    return max(window_rates(readings, batch)) if clock == "cpu" else best


class CpuClock(RunContext):
    """The worker's context, also reading the training thread's CPU clock at each logging point (--clock cpu)."""

    readings: list[tuple[int, int, float]] = []

    def emit(self, event) -> None:
        if isinstance(event, Metric) and event.split == "train":
            CpuClock.readings.append((int(event.epoch - 1e-9), event.step, time.thread_time()))
        super().emit(event)


def vitui_cpu_rate(args: argparse.Namespace, dataset: str) -> float:
    """vitui's worker in this process on a run folder of its own; the best epoch's img/s per CPU second."""
    overrides = {"dataset": dataset, "epochs": str(args.epochs), "batch_size": "128", "optimizer": "adam",
                 "misclassified": "0", "amp": args.amp, "threads": str(args.threads), "device": args.device,
                 "seed": "0", "log_every": str(CPU_EVERY)}
    config = resolve("cnn-bn-cifar10", overrides)
    run_dir = runfolder.create_run_dir(temp_runs(), "cnn-bn-cifar10", config.to_dict())
    worker.RunContext = CpuClock  # type: ignore[misc]
    if worker.worker_main(str(run_dir), str(args.data_dir), None, None) != 0:
        sys.exit(f"vitui's worker failed: {runfolder.load_run(run_dir).status}")
    return max(window_rates(CpuClock.readings, 128))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=2, help="epochs per side and round; the best (warm) one counts")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--amp", default="off", choices=("off", "bf16"), help="both sides in float32 or bf16 autocast")
    parser.add_argument("--threads", type=int, default=1, help="PyTorch threads of each side")
    parser.add_argument("--clock", default="wall", choices=("wall", "cpu"),
                        help="time by the wall clock, or by the training thread's CPU seconds (a shared machine)")
    parser.add_argument("--archive", type=Path, default=shared_data() / "cifar10-jpeg-train.tar.gz")
    parser.add_argument("--data-dir", type=Path, default=Path.home() / ".cache" / "vitui")
    parser.add_argument("--plain-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--vitui-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    dataset = f"imagefolder:{args.archive}"
    source = load_dataset(dataset, args.data_dir)  # decodes once and fills the cache both sides use
    parts = split(source, 0.1, seed=0)
    torch.set_num_threads(args.threads)
    if args.plain_child:  # one plain-loop measurement in this fresh process
        print(plain_epoch_rate(parts.train_x, parts.train_y, args.device, args.epochs, args.amp, args.clock))
        return
    if args.vitui_child:  # one vitui measurement by the CPU clock in this fresh process
        print(vitui_cpu_rate(args, dataset))
        return
    unit = "img/s" if args.clock == "wall" else "img per CPU s"
    print(f"data: {len(parts.train_x)} training images, batch 128, device {args.device}, amp {args.amp}, "
          f"torch threads {torch.get_num_threads()}, clock {args.clock}")
    plain, ours = [], []
    runs = temp_runs()

    def child(role: str) -> float:
        out = subprocess.run([sys.executable, __file__, role, "--epochs", str(args.epochs), "--device", args.device,
                              "--amp", args.amp, "--threads", str(args.threads), "--clock", args.clock, "--archive",
                              str(args.archive), "--data-dir", str(args.data_dir)],
                             capture_output=True, text=True, env={**os.environ, "VITUI_OFFLINE": "1"}, check=True)
        return float(out.stdout.strip().splitlines()[-1])

    for round_ in range(1, args.rounds + 1):
        plain.append(child("--plain-child"))
        if args.clock == "cpu":
            ours.append(child("--vitui-child"))
        else:
            _, run_dir = run_vitui(["cnn-bn-cifar10", "--data-dir", str(args.data_dir), "--set", f"dataset={dataset}",
                                    "--set", f"epochs={args.epochs}", "--set", "batch_size=128", "--set",
                                    "optimizer=adam", "--set", "misclassified=0", "--set", f"amp={args.amp}", "--set",
                                    f"threads={args.threads}", "--device", args.device, "--seed", "0"], runs)
            ours.append(max(row["img/s"] for row in epoch_metrics(run_dir)))
        print(f"round {round_}: plain {plain[-1]:8.1f} {unit}   vitui {ours[-1]:8.1f} {unit}", flush=True)
    # The best round is the one least slowed by other jobs; the medians show how much the rounds swung.
    best_plain, best_ours = max(plain), max(ours)
    median_plain, median_ours = statistics.median(plain), statistics.median(ours)
    print(f"{unit:>24}")
    print(f"{'':12}{'best':>12}{'median':>10}")
    print(f"{'plain loop':12}{best_plain:12.1f}{median_plain:10.1f}")
    print(f"{'vitui':12}{best_ours:12.1f}{median_ours:10.1f}")
    print(f"ratio vitui / plain: {best_ours / best_plain:.3f} (medians {median_ours / median_plain:.3f})  "
          f"(target >= 0.98)")


if __name__ == "__main__":
    main()
