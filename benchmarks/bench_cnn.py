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
the ratio measures what vitui's loop costs, not what its settings gain.

    python benchmarks/bench_cnn.py [--rounds 2] [--epochs 2] [--device cpu] [--amp off|bf16] [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from benchmarks._common import epoch_metrics, run_vitui, shared_data, temp_runs  # noqa: E402
from runners.data import load_dataset, split  # noqa: E402
from runners.models.cnn import CNN  # noqa: E402


def plain_epoch_rate(x: np.ndarray, y: np.ndarray, device: str, epochs: int, amp: str, batch: int = 128) -> float:
    """A hand-written loop: tensors on the device, shuffle, crop/flip, normalise, Adam. Returns best img/s."""
    torch.manual_seed(0)
    xs, ys = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)
    mean = xs.reshape(-1, 3).float().mean(0)
    std = xs.reshape(-1, 3).float().std(0)
    model = CNN(in_channels=3, num_classes=10, image_size=32, batchnorm=True).to(device)
    model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    best = 0.0
    n = len(xs)
    for _ in range(epochs):
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
        loss.item()  # wait for the device before stopping the clock
        best = max(best, n / (time.perf_counter() - start))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=2, help="epochs per side and round; the best (warm) one counts")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--amp", default="off", choices=("off", "bf16"), help="both sides in float32 or bf16 autocast")
    parser.add_argument("--archive", type=Path, default=shared_data() / "cifar10-jpeg-train.tar.gz")
    parser.add_argument("--data-dir", type=Path, default=Path.home() / ".cache" / "vitui")
    parser.add_argument("--plain-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    dataset = f"imagefolder:{args.archive}"
    source = load_dataset(dataset, args.data_dir)  # decodes once and fills the cache both sides use
    parts = split(source, 0.1, seed=0)
    if args.plain_child:  # one plain-loop measurement in this fresh process
        print(plain_epoch_rate(parts.train_x, parts.train_y, args.device, args.epochs, args.amp))
        return
    print(f"data: {len(parts.train_x)} training images, batch 128, device {args.device}, amp {args.amp}, "
          f"torch threads {torch.get_num_threads()}")
    plain, ours = [], []
    runs = temp_runs()
    for round_ in range(1, args.rounds + 1):
        child = subprocess.run([sys.executable, __file__, "--plain-child", "--epochs", str(args.epochs), "--device",
                                args.device, "--amp", args.amp, "--archive", str(args.archive), "--data-dir",
                                str(args.data_dir)],
                               capture_output=True, text=True, env={**os.environ, "VITUI_OFFLINE": "1"}, check=True)
        plain.append(float(child.stdout.strip().splitlines()[-1]))
        _, run_dir = run_vitui(["cnn-bn-cifar10", "--data-dir", str(args.data_dir), "--set", f"dataset={dataset}",
                                "--set", f"epochs={args.epochs}", "--set", "batch_size=128", "--set", "optimizer=adam",
                                "--set", "misclassified=0", "--set", f"amp={args.amp}", "--device", args.device,
                                "--seed", "0"], runs)
        ours.append(max(row["img/s"] for row in epoch_metrics(run_dir)))
        print(f"round {round_}: plain {plain[-1]:8.1f} img/s   vitui {ours[-1]:8.1f} img/s")
    best_plain, best_ours = max(plain), max(ours)
    print(f"{'':12}{'img/s':>10}")
    print(f"{'plain loop':12}{best_plain:10.1f}")
    print(f"{'vitui':12}{best_ours:10.1f}")
    print(f"ratio vitui / plain: {best_ours / best_plain:.3f}  (target >= 0.98)")


if __name__ == "__main__":
    main()
