"""GPU benchmark of the time-to-accuracy presets: each one trained once through the real vitui worker on CUDA.

Per preset it reports images/s, TFLOP/s and the share of the GPU's bf16 peak, the seconds spent compiling, the
seconds of training until the validation accuracy first reached the preset's target, and the final accuracy;
all in OUT/gpu-benchmark.json (rewritten after each preset, so a run cut short keeps what it measured), with
each run's config, summary and event log in OUT/runs.tar.gz. One command, under 10 minutes on one H200:

    cp ../shared/data/cifar10-jpeg-train.tar.gz .devdata/    # CIFAR-10's train split as an image-folder tar
    PYTHONPATH=. python benchmarks/gpu_benchmark.py --out OUT
    PYTHONPATH=. python benchmarks/gpu_benchmark.py --smoke --out /tmp/gpu-smoke   # the same steps on CPU, tiny models

The presets, most wanted first (`device=cuda` selects the experiment files' [cuda] tables):

    airbench-cifar10      airbench94-style network and method          target 93 % in 5 s of training
    cnn-bn-seed-recipe    cnn-bn-cifar10 with the seed's batch 128     target 80 % in 5 s of training
    vit-cifar10-fast      ViT, sequence pooling, 200 epochs            target 90 % in 300 s of training
    vit-cifar10           the ViT recipe's GPU table, 3 epochs         images/s only
    cnn-bn-cifar10        the CNN + BatchNorm's GPU table (batch 1024) target 80 % in 5 s of training

Figures: images/s is the median over epochs after the first (training steps only: no evaluation, checkpoints
or compiling; the first epoch counts when it is the only one). TFLOP/s = images/s x 6 x multiply-adds per image
(a forward pass is 2 FLOPs per multiply-add, the backward pass twice that). Seconds to target: the training
seconds (`train_time` of the epoch metrics) at the end of the first epoch whose validation accuracy reached the
target; a preset whose only evaluation on target is the final one (after lookahead, with test-time flips)
counts its whole training time. Accuracy is on the 5,000 images held out of the 50,000 (val_fraction 0.1).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import REPO  # noqa: E402


@dataclass(frozen=True)
class Preset:
    name: str
    experiment: str
    target: float | None  # validation accuracy to reach
    budget_s: float | None  # ...within this many seconds of training
    settings: dict[str, str] = field(default_factory=dict)  # beyond the experiment file (none for the targets)
    smoke: dict[str, str] = field(default_factory=dict)  # the tiny stand-in for --smoke


TINY_CNN = {"width": "8", "dense": "32", "epochs": "2"}
TINY_VIT = {"dim": "32", "depth": "2", "heads": "2", "epochs": "2"}
PRESETS = (
    Preset("airbench-cifar10", "airbench-cifar10", 0.93, 5.0, smoke={"width1": "8", "width2": "16", "width3": "16",
                                                                     "epochs": "2"}),
    # The issue's CNN target keeps the recipe as the seed had it: only compiling (and evaluating in one batch) differ.
    Preset("cnn-bn-seed-recipe", "cnn-bn-cifar10", 0.80, 5.0,
           settings={"batch_size": "128", "lr": "0.001", "warmup_epochs": "0"}, smoke={**TINY_CNN, "compile": "on"}),
    Preset("vit-cifar10-fast", "vit-cifar10-fast", 0.90, 300.0, smoke=TINY_VIT),
    Preset("vit-cifar10", "vit-cifar10", None, None, settings={"epochs": "3", "attention_probes": "0"}, smoke=TINY_VIT),
    Preset("cnn-bn-cifar10", "cnn-bn-cifar10", 0.80, 5.0, smoke=TINY_CNN),
)


def read_run(run_dir: Path) -> tuple[list[dict], dict, dict]:
    """A run's epoch metrics, its final (test split) metrics and its summary; whatever exists of an unfinished run."""
    epochs, final = [], {}
    events = run_dir / "events.jsonl"
    for line in events.read_text().splitlines() if events.exists() else []:
        event = json.loads(line)
        if event["kind"] == "metric" and event["split"] == "epoch":
            epochs.append(event["values"])
        elif event["kind"] == "metric" and event["split"] == "test":
            final = event["values"]
    summary_file = run_dir / "summary.json"
    return epochs, final, json.loads(summary_file.read_text()) if summary_file.exists() else {}


def figures(preset: Preset, run_dir: Path, peak_tflops: float | None) -> dict:
    """The benchmark's row for one run (see the module's docstring for what each figure is)."""
    epochs, final, summary = read_run(run_dir)
    macs = summary.get("model", {}).get("macs")
    steady = epochs[1:] or epochs
    rate = statistics.median(e["img/s"] for e in steady) if steady else None
    tflops = rate * 6 * macs / 1e12 if rate and macs else None
    final_acc = final.get("val_acc", final.get("test_acc"))
    to_target = None
    if preset.target is not None:
        reached = [e for e in epochs if e.get("val_acc", 0) >= preset.target]
        if reached:
            to_target = reached[0]["train_time"]
        elif final_acc is not None and final_acc >= preset.target and epochs:
            to_target = epochs[-1]["train_time"]
    return {
        "preset": preset.name, "experiment": preset.experiment, "completed": bool(final), "epochs": len(epochs),
        "params": summary.get("model", {}).get("params"), "macs_per_image": macs,
        "img_per_s": rate, "tflops": tflops, "peak_share": tflops / peak_tflops if tflops and peak_tflops else None,
        "compile_s": summary.get("compile_s"), "train_s": epochs[-1]["train_time"] if epochs else None,
        "epoch_time_s": statistics.median(e["epoch_time"] for e in steady) if steady else None,
        "target_acc": preset.target, "budget_s": preset.budget_s, "seconds_to_target": to_target,
        "target_met": None if preset.target is None else to_target is not None and to_target <= preset.budget_s,
        "final_val_acc": final_acc, "best_val_acc": max((e.get("val_acc", 0) for e in epochs), default=None),
        "run": run_dir.name,
    }


def train(preset: Preset, settings: dict[str, str], runs_dir: Path, data_dir: Path, timeout: float) -> tuple[Path | None, str]:
    """One headless `vitui run`; its folder and how it ended (its output's tail when it failed)."""
    before = set(runs_dir.iterdir())
    sets = [arg for key, value in settings.items() for arg in ("--set", f"{key}={value}")]
    command = [sys.executable, "-m", "vitui", "run", preset.experiment, *sets, "--no-tui", "--runs-dir", str(runs_dir),
               "--data-dir", str(data_dir)]
    env = {**os.environ, "PYTHONPATH": str(REPO), "VITUI_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        output, _ = process.communicate(timeout=max(1.0, timeout))
        ended = "completed" if process.returncode == 0 else f"failed ({process.returncode}): {output[-3000:]}"
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGTERM)  # a stop request: the run saves and ends; its events so far still count
        output, _ = process.communicate(timeout=60)
        ended = f"stopped at the deadline after {timeout:.0f}s"
    print(output[-1500:], flush=True)
    new = sorted(set(runs_dir.iterdir()) - before)
    return (new[-1] if new else None), ended


def small_copy(archive: Path, per_class: int, out: Path) -> Path:
    """An image-folder tar of the first `per_class` images of each class of `archive` (for --smoke), made once:
    written under a temporary name and renamed, so a copy cut short is never taken for a whole one."""
    if out.exists():
        return out
    taken: dict[str, int] = {}
    partial = out.with_name(out.name + ".tmp")
    with tarfile.open(archive) as source, tarfile.open(partial, "w:gz") as small:
        for member in source:
            label = Path(member.name).parent.name
            if member.isfile() and taken.get(label, 0) < per_class:
                taken[label] = taken.get(label, 0) + 1
                small.addfile(member, source.extractfile(member))
    partial.replace(out)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for gpu-benchmark.json and the runs' logs")
    parser.add_argument("--data", type=Path, default=REPO / ".devdata" / "cifar10-jpeg-train.tar.gz",
                        help="CIFAR-10 train split: image-folder .tar.gz or folder [default: .devdata/cifar10-jpeg-train.tar.gz]")
    parser.add_argument("--presets", default=",".join(p.name for p in PRESETS), help="comma-separated presets")
    parser.add_argument("--peak-tflops", type=float, default=989.0,
                        help="the GPU's dense bf16 peak in TFLOP/s (H100 SXM and H200: 989)")
    parser.add_argument("--deadline", type=float,
                        help="seconds for everything: a run still going then is stopped and counted as far as it got "
                             "[default: 560 on a GPU, to fit a 10-minute call; 3600 for --smoke]")
    parser.add_argument("--smoke", action="store_true",
                        help="tiny models on CPU, 2 epochs, 200 images per class: checks the script end to end")
    args = parser.parse_args()
    started = time.monotonic()
    deadline = args.deadline or (3600.0 if args.smoke else 560.0)

    import torch

    device = "cpu" if args.smoke else "cuda"
    if device == "cuda" and not torch.cuda.is_available():
        sys.exit("gpu_benchmark: no CUDA GPU visible to PyTorch; run it on a GPU machine, or --smoke on CPU")
    if not args.data.exists():
        sys.exit(f"gpu_benchmark: {args.data} not found; copy the CIFAR-10 image-folder tar there "
                 f"(e.g. cp ../shared/data/cifar10-jpeg-train.tar.gz .devdata/) or pass --data")
    chosen = [p for p in PRESETS if p.name in args.presets.split(",")]
    name = torch.cuda.get_device_name() if device == "cuda" else "CPU (smoke run: the figures mean nothing)"
    data_dir, runs_dir = REPO / ".devdata" / "cache", REPO / ".devdata" / "gpu-bench-runs"
    runs_dir.mkdir(parents=True, exist_ok=True)
    args.out.mkdir(parents=True, exist_ok=True)
    data = small_copy(args.data, 200, data_dir.parent / "smoke-cifar10.tar.gz") if args.smoke else args.data
    dataset = f"imagefolder:{data.resolve()}"

    from runners.data import load_dataset

    load_dataset(dataset, data_dir)  # decode once here, so no run's time includes it
    print(f"{name}, torch {torch.__version__}; data ready after {time.monotonic() - started:.0f}s", flush=True)
    report = {"device": name, "torch": torch.__version__, "peak_tflops": None if args.smoke else args.peak_tflops,
              "smoke": args.smoke, "command": " ".join(sys.argv), "results": []}
    for preset in chosen:
        left = deadline - (time.monotonic() - started)
        if left < 30:
            report["results"].append({"preset": preset.name, "ended": "skipped: no time left"})
            continue
        settings = {"dataset": dataset, "device": device, "misclassified": "0", **preset.settings}
        if args.smoke:
            settings.update(preset.smoke, threads="1")
        print(f"== {preset.name} ({left:.0f}s left)", flush=True)
        run_dir, ended = train(preset, settings, runs_dir, data_dir, left)
        row = figures(preset, run_dir, report["peak_tflops"]) if run_dir else {"preset": preset.name}
        row.update(ended=ended, settings={k: v for k, v in settings.items() if k != "dataset"})
        report["results"].append(row)
        if run_dir:
            with tarfile.open(args.out / "runs.tar.gz", "w:gz") as archive:  # every run so far, in one file
                for done in report["results"]:
                    for part in ("config.json", "summary.json", "events.jsonl"):
                        path = runs_dir / done.get("run", "-") / part
                        if path.exists():
                            archive.add(path, f"{done['run']}/{part}")
        (args.out / "gpu-benchmark.json").write_text(json.dumps(report, indent=2))

    peak = "" if args.smoke else f"; bf16 peak {args.peak_tflops:g} TFLOP/s"
    print(f"\n{name}{peak}; {time.monotonic() - started:.0f}s in all")
    print(f"{'preset':<20}{'img/s':>10}{'TFLOP/s':>9}{'% peak':>8}{'compile':>9}{'to target':>11}{'final':>8}  ended")
    for r in report["results"]:
        def fmt(key: str, spec: str, scale: float = 1.0, unit: str = "") -> str:
            return "-" if r.get(key) is None else format(r[key] * scale, spec) + unit
        print(f"{r['preset']:<20}{fmt('img_per_s', ',.0f'):>10}{fmt('tflops', '.1f'):>9}{fmt('peak_share', '.1f', 100):>8}"
              f"{fmt('compile_s', '.0f', unit='s'):>9}{fmt('seconds_to_target', '.1f', unit='s'):>11}"
              f"{fmt('final_val_acc', '.2%'):>8}  {r.get('ended', '')[:60]}")
    print(f"JSON: {args.out / 'gpu-benchmark.json'}")


if __name__ == "__main__":
    main()
