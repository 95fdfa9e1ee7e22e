"""ViT training speed on CPU: vitui with attention probes off, with probes on, and a plain PyTorch loop.

All three train the same ViT with the same batch, optimiser, schedule and on-device augmentation on
the same real CIFAR-10 images (a class-balanced subset of the train split, so a round takes about a
minute on 2 cores). vitui runs in its real worker process; the plain loop runs in this process. Each
figure is the training images/s of the last epoch (evaluation excluded). On a machine shared with
other work single timings swing by tens of %, so: one thread per process (two threads stall each
other when the cores are oversubscribed), the modes alternate over rounds, and the best round of each
mode is compared (the least disturbed one, as timeit does); medians are printed beside it.

A second, steadier figure for the probes: in this one process, `attention-every` training steps and
then one probe (explicit attention pass on 4 images, the event built and written as a JSON line),
alternated; the probe's time over the steps' time is its cost, from timings seconds apart.

    PYTHONPATH=. python benchmarks/bench_vit.py [--per-class 400] [--rounds 5] [--attention-every 10] [--threads 1]

Pass: probes on / off >= 0.98 and vitui (probes off) / plain >= 0.98.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from benchmarks._common import epoch_metrics, run_vitui, shared_data  # noqa: E402
MODEL = {"dim": 64, "depth": 4, "heads": 4, "patch": 4, "mlp_ratio": 2.0, "dropout": 0.0, "drop_path": 0.1}
TRAIN = {"batch_size": 128, "epochs": 2, "warmup_epochs": 0.5, "val_fraction": 0.1, "misclassified": 0,
         "log_every": 50, "seed": 0}


def write_subset(source: str, per_class: int, folder: Path) -> str:
    """A real subset of the data set as an image folder (PNG, lossless): the first `per_class` images of each class."""
    from PIL import Image

    from runners.data import load_dataset

    data = load_dataset(source)
    for c, name in enumerate(data.class_names):
        (folder / name).mkdir(parents=True, exist_ok=True)
        for i, index in enumerate(np.flatnonzero(data.train_y == c)[:per_class]):
            Image.fromarray(data.train_x[index]).save(folder / name / f"{i:05d}.png")
    return f"imagefolder:{folder}"


def plain_loop(dataset: str, data_dir: Path, threads: int) -> float:
    """The same training written as a plain PyTorch loop; returns the last epoch's images/s."""
    import torch
    import torch.nn.functional as F

    from runners.augment import normalise, random_crop_flip
    from runners.data import load_dataset, split
    from runners.models import load_builder
    from vitui.core.models import ViTArgs

    cfg = TRAIN
    torch.set_num_threads(threads)
    torch.manual_seed(cfg["seed"])
    data = load_dataset(dataset, data_dir)
    parts = split(data, cfg["val_fraction"], cfg["seed"])
    x, y = torch.from_numpy(parts.train_x), torch.from_numpy(parts.train_y)
    pixels = x.reshape(-1, 3).float()
    mean, std = pixels.mean(0), pixels.std(0)
    model = load_builder("vit")(ViTArgs(**MODEL), 3, len(data.class_names), 32)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.05)
    steps_per_epoch = math.ceil(len(x) / cfg["batch_size"])
    warmup, total = cfg["warmup_epochs"] * steps_per_epoch, cfg["epochs"] * steps_per_epoch
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: (s + 1) / warmup if s < warmup else 0.5 * (1 + math.cos(math.pi * (s - warmup) / (total - warmup))))
    rate = 0.0
    for epoch in range(cfg["epochs"]):
        start = time.perf_counter()
        order = torch.randperm(len(x))
        for step, first in enumerate(range(0, len(x), cfg["batch_size"])):
            idx = order[first:first + cfg["batch_size"]]
            xb = normalise(random_crop_flip(x[idx]), mean, std)
            loss = F.cross_entropy(model(xb), y[idx], label_smoothing=0.1)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            if step % cfg["log_every"] == 0:
                loss.item()  # a plain loop prints its loss now and then too
        rate = len(x) / (time.perf_counter() - start)
    return rate


def probe_cost(dataset: str, data_dir: Path, every: int, threads: int, cycles: int = 8) -> tuple[float, float]:
    """(median probe seconds, median share of the `every` steps before it) measured in this process."""
    import torch
    import torch.nn.functional as F

    from runners.attention_probe import AttentionProbe, choose_probes
    from runners.augment import normalise, random_crop_flip
    from runners.data import load_dataset, split
    from runners.models import load_builder
    from vitui.core.models import ViTArgs
    from vitui.core.runfolder import EventLog

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    data = load_dataset(dataset, data_dir)
    parts = split(data, TRAIN["val_fraction"], 0)
    x, y = torch.from_numpy(parts.train_x), torch.from_numpy(parts.train_y)
    mean, std = x.reshape(-1, 3).float().mean(0), x.reshape(-1, 3).float().std(0)
    model = load_builder("vit")(ViTArgs(**MODEL), 3, 10, 32)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.05)
    chosen = torch.from_numpy(choose_probes(parts.val_y, 4))
    probe = AttentionProbe(torch.from_numpy(parts.val_x)[chosen], torch.from_numpy(parts.val_y)[chosen],
                           data.class_names, lambda b: normalise(b, mean, std))
    shares, probe_times = [], []
    with tempfile.TemporaryDirectory() as tmp:
        log = EventLog(Path(tmp))
        for _ in range(cycles):
            start = time.perf_counter()
            for _ in range(every):
                idx = torch.randint(0, len(x), (TRAIN["batch_size"],))
                loss = F.cross_entropy(model(normalise(random_crop_flip(x[idx]), mean, std)), y[idx], label_smoothing=0.1)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            steps = time.perf_counter() - start
            start = time.perf_counter()
            log.write(probe(model, 0))
            probe_times.append(time.perf_counter() - start)
            shares.append(probe_times[-1] / steps)
        log.close()
    return statistics.median(probe_times), statistics.median(shares)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(shared_data() / "cifar10-jpeg-train.tar.gz"),
                        help="CIFAR-10 train split as an image folder (.tar.gz or folder)")
    parser.add_argument("--per-class", type=int, default=400, help="training images per class in the subset")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of the three modes (best kept)")
    parser.add_argument("--attention-every", type=int, default=10, help="steps between probes when on")
    parser.add_argument("--threads", type=int, default=1, help="torch threads in each process")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="vitui-bench-vit-") as tmp:
        tmp_path = Path(tmp)
        dataset = write_subset(f"imagefolder:{args.data}", args.per_class, tmp_path / "cifar10-subset")
        data_dir, runs_dir = tmp_path / "data", tmp_path / "runs"
        runs_dir.mkdir()
        common = {"dataset": dataset, "threads": args.threads, **TRAIN, **MODEL}
        modes = {"vitui, probes off": {"attention_probes": 0},
                 "vitui, probes on": {"attention_every": args.attention_every, "attention_probes": 4}}
        rates: dict[str, list[float]] = {name: [] for name in (*modes, "plain PyTorch loop")}
        probes_logged = 0
        for r in range(args.rounds):
            for name, extra in modes.items():
                sets = [f"--set={k}={v}" for k, v in {**common, **extra}.items()]
                _, run_dir = run_vitui(["vit-cifar10", *sets, "--data-dir", str(data_dir)], runs_dir)
                rates[name].append(epoch_metrics(run_dir)[-1]["img/s"])
                if extra.get("attention_probes"):
                    events = [json.loads(line) for line in (run_dir / "events.jsonl").open()]
                    probes_logged = sum(1 for e in events if e["kind"] == "attention")
            rates["plain PyTorch loop"].append(plain_loop(dataset, data_dir, args.threads))
            print(f"round {r + 1}: " + "  ".join(f"{k} {v[-1]:.1f}" for k, v in rates.items()), flush=True)

        probe_s, probe_share = probe_cost(dataset, data_dir, args.attention_every, args.threads)

    best = {name: max(values) for name, values in rates.items()}
    median = {name: statistics.median(values) for name, values in rates.items()}
    print(f"\nViT dim {MODEL['dim']} depth {MODEL['depth']} heads {MODEL['heads']} patch {MODEL['patch']}, batch "
          f"{TRAIN['batch_size']}, {args.per_class * 10 * 0.9:.0f} CIFAR-10 training images, CPU, {args.threads} "
          f"thread(s), {args.rounds} rounds")
    print(f"{'mode':<24}{'best img/s':>11}{'median':>9}   rounds")
    for name, value in best.items():
        print(f"{name:<24}{value:>11.1f}{median[name]:>9.1f}   " + " ".join(f"{v:.1f}" for v in rates[name]))
    on_off = best["vitui, probes on"] / best["vitui, probes off"]
    vs_plain = best["vitui, probes off"] / best["plain PyTorch loop"]
    print(f"probes on / off        {on_off:.3f}   (target >= 0.98; {probes_logged} probe events per run, every "
          f"{args.attention_every} steps; medians {median['vitui, probes on'] / median['vitui, probes off']:.3f})")
    print(f"probe in-process       {probe_s * 1000:.1f} ms per probe = {probe_share * 100:.2f} % of the "
          f"{args.attention_every} steps before it (target <= 2 %)")
    print(f"vitui / plain loop     {vs_plain:.3f}   (target >= 0.98; medians "
          f"{median['vitui, probes off'] / median['plain PyTorch loop']:.3f})")


if __name__ == "__main__":
    main()
