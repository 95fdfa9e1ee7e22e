"""GPU benchmark of the image trainer: CNN-BN and ViT images/s, share of the GPU's bf16 peak, and the
validation accuracy each reaches in a fixed time budget, all through the real vitui worker.

One command, about 8-10 minutes on one H100/H200 with the defaults:

    cp /path/to/cifar10-jpeg-train.tar.gz .devdata/       # the CIFAR-10 train split as an image folder tar
    PYTHONPATH=. python benchmarks/gpu_benchmark.py --json .devdata/gpu-benchmark.json
    PYTHONPATH=. python benchmarks/gpu_benchmark.py --smoke   # the same steps on CPU in ~2 minutes, figures meaningless

Per model: (1) a throughput run of a few epochs with the experiment's recipe (bf16 autocast, data and
augmentation on the device); images/s is the median over epochs after the first (which pays for
warm-up), counting training only. FLOP/s = images/s x 6 x MACs per image (forward 2 x MACs, backward
about twice the forward), compared with --peak-tflops (dense bf16: H100 SXM 989, H200 989, H100 PCIe
756). (2) a budget run: as many epochs as fit in --budget seconds at the measured epoch time
(evaluation included), with the full warm-up + cosine schedule, so it finishes rather than stopping
mid-schedule; reported: best validation accuracy and when it was reached. Runs are kept in
.devdata/gpu-bench-runs/ (e.g. `vitui attention RUN --runs-dir .devdata/gpu-bench-runs`).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import REPO, epoch_metrics, run_vitui  # noqa: E402
from vitui.core.experiments import resolve  # noqa: E402


def train(experiment: str, settings: dict, runs_dir: Path, data_dir: Path) -> tuple[list[dict], dict, Path]:
    """One headless vitui run; its epoch figures, summary and folder."""
    sets = [f"--set={k}={v}" for k, v in settings.items()]
    wall, run_dir = run_vitui([experiment, *sets, "--data-dir", str(data_dir)], runs_dir)
    epochs = epoch_metrics(run_dir)
    print(f"    {len(epochs)} epochs in {wall:.0f}s: last " + "  ".join(f"{k} {v:.4g}" for k, v in epochs[-1].items()),
          flush=True)
    return epochs, json.loads((run_dir / "summary.json").read_text()), run_dir

EXPERIMENTS = {"cnn-bn": "cnn-bn-cifar10", "vit": "vit-cifar10"}
SMOKE_MODELS = {"cnn-bn": {"width": 8, "dense": 32}, "vit": {"dim": 32, "depth": 2, "heads": 2}}


def main() -> None:
    parser = argparse.ArgumentParser(description="CNN-BN and ViT on CIFAR-10 on a CUDA GPU with the vitui trainer")
    parser.add_argument("--data", type=Path, default=REPO / ".devdata" / "cifar10-jpeg-train.tar.gz",
                        help="CIFAR-10 train split: image-folder .tar.gz or folder [default: .devdata/cifar10-jpeg-train.tar.gz]")
    parser.add_argument("--budget", type=float, default=150.0, help="seconds of training per model for the accuracy run")
    parser.add_argument("--throughput-epochs", type=int, default=4, help="epochs of the throughput run")
    parser.add_argument("--peak-tflops", type=float, default=989.0, help="the GPU's dense bf16 peak in TFLOP/s")
    parser.add_argument("--models", default="cnn-bn,vit", help="comma-separated: cnn-bn, vit")
    parser.add_argument("--compile", action="store_true", help="train with torch.compile (compiling takes a minute)")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    parser.add_argument("--seed-epochs", type=int, default=25,
                        help="first train the seed's comparison, cnn-cifar10 against cnn-bn-cifar10, for this many "
                             "epochs with the experiments' own settings (0 = skip)")
    parser.add_argument("--smoke", action="store_true", help="tiny models on CPU, 1 epoch, 20 s budget: checks the script")
    args = parser.parse_args()

    import torch

    device = "cpu" if args.smoke else "cuda"
    if device == "cuda" and not torch.cuda.is_available():
        sys.exit("gpu_benchmark: no CUDA GPU visible to PyTorch; run it on a GPU machine, or --smoke on CPU")
    if not args.data.exists():
        sys.exit(f"gpu_benchmark: {args.data} not found; copy the CIFAR-10 image-folder tar there "
                 f"(e.g. cp /work/shared/data/cifar10-jpeg-train.tar.gz {REPO / '.devdata'}/) or pass --data")
    name = torch.cuda.get_device_name() if device == "cuda" else "CPU (smoke run: figures are meaningless)"
    budget = 20.0 if args.smoke else args.budget
    data_dir, runs_dir = REPO / ".devdata" / "cache", REPO / ".devdata" / "gpu-bench-runs"
    dataset = f"imagefolder:{args.data.resolve()}"

    started = time.monotonic()
    from runners.data import load_dataset

    load_dataset(dataset, data_dir)  # decode once here, so no run's time includes it
    runs_dir.mkdir(parents=True, exist_ok=True)
    print(f"{name}, torch {torch.__version__}; data ready in {time.monotonic() - started:.0f}s", flush=True)

    seed_rows = []
    seed_epochs = min(args.seed_epochs, 1) if args.smoke else args.seed_epochs
    for experiment in ("cnn-cifar10", "cnn-bn-cifar10") if seed_epochs else ():
        print(f"{experiment}: the seed's recipe, {seed_epochs} epochs", flush=True)
        settings = {"dataset": dataset, "device": device, "epochs": seed_epochs}
        if args.smoke:
            settings.update(SMOKE_MODELS["cnn-bn"], val_fraction=0.9)
        epochs, summary, run_dir = train(experiment, settings, runs_dir, data_dir)
        seed_rows.append({"experiment": experiment, "epochs": len(epochs), "final_val_acc": epochs[-1]["val_acc"],
                          "best_val_acc": summary["best"]["value"], "best_epoch": summary["best"]["epoch"],
                          "epoch_time": statistics.median(e["epoch_time"] for e in epochs),
                          "img_per_s": statistics.median(e["img/s"] for e in epochs), "run": run_dir.name})
    if seed_rows:
        print(f"\nthe seed's comparison ({seed_epochs} epochs, held-out 10 % of the train split)")
        print(f"{'experiment':<16}{'final val':>10}{'best val':>10}{'at epoch':>9}{'s/epoch':>9}{'img/s':>9}")
        for r in seed_rows:
            print(f"{r['experiment']:<16}{r['final_val_acc'] * 100:>9.2f}%{r['best_val_acc'] * 100:>9.2f}%"
                  f"{r['best_epoch']:>9g}{r['epoch_time']:>9.1f}{r['img_per_s']:>9,.0f}", flush=True)

    results = []
    for model in args.models.split(","):
        experiment = EXPERIMENTS[model]
        base = {"dataset": dataset, "device": device, "compile": args.compile, "misclassified": 0}
        if args.smoke:
            base.update(SMOKE_MODELS[model], val_fraction=0.9)
        print(f"{model}: throughput run", flush=True)
        epochs = 1 if args.smoke else args.throughput_epochs
        fast_epochs, fast_summary, _ = train(experiment, {**base, "epochs": epochs, "attention_probes": 0}, runs_dir, data_dir)
        steady = fast_epochs[1:] or fast_epochs
        rate = statistics.median(e["img/s"] for e in steady)
        epoch_time = statistics.median(e["epoch_time"] for e in steady)
        macs = fast_summary["model"]["macs"]
        tflops = rate * 6 * macs / 1e12

        fit = max(1, int(budget // epoch_time))
        warmup = min(resolve(experiment).train.warmup_epochs, fit / 10)  # the recipe's, at most 10 % of the run
        print(f"{model}: budget run, {fit} epochs of ~{epoch_time:.1f}s", flush=True)
        _, summary, run_dir = train(experiment, {**base, "epochs": fit, "warmup_epochs": warmup}, runs_dir, data_dir)
        best = summary["best"]
        results.append({
            "model": model, "params": fast_summary["model"]["params"], "macs": macs, "img_per_s": rate,
            "tflops": tflops, "peak_share": tflops / args.peak_tflops if device == "cuda" else None,
            "epoch_time": epoch_time, "budget_s": budget, "budget_epochs": fit, "best_val_acc": best["value"],
            "best_epoch": best["epoch"], "best_time_s": best["time"], "run": run_dir.name,
            "train_time_s": summary["metrics"].get("time"),
        })

    print(f"\n{name}; bf16 peak assumed {args.peak_tflops:g} TFLOP/s; budget {budget:g} s per model"
          f"{'; torch.compile' if args.compile else ''}")
    print(f"{'model':<8}{'params':>10}{'MACs/img':>10}{'img/s':>10}{'TFLOP/s':>9}{'% peak':>8}{'epochs':>8}"
          f"{'val acc':>9}{'at epoch':>9}{'at time':>9}")
    for r in results:
        share = "-" if r["peak_share"] is None else f"{r['peak_share'] * 100:.1f}"
        print(f"{r['model']:<8}{r['params'] / 1e6:>9.2f}M{r['macs'] / 1e6:>9.1f}M{r['img_per_s']:>10,.0f}"
              f"{r['tflops']:>9.1f}{share:>8}{r['budget_epochs']:>8}{r['best_val_acc'] * 100:>8.2f}%"
              f"{r['best_epoch']:>9g}{r['best_time_s']:>8.0f}s")
    print(f"total {time.monotonic() - started:.0f}s")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"device": name, "torch": torch.__version__, "peak_tflops": args.peak_tflops,
                                         "compile": args.compile, "seed_comparison": seed_rows, "results": results},
                                        indent=2))


if __name__ == "__main__":
    main()
