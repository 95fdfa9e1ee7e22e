"""Scaling of the image trainer over ranks (DistributedDataParallel through `vitui run --gpus N`): images/s with one
rank and with N, each rank taking the same batch (weak scaling, as one adds GPUs to train faster), and the efficiency
img/s(N) / (N x img/s(1)). Every figure comes from a real headless vitui run.

    PYTHONPATH=. python benchmarks/bench_scaling.py --ranks 1,2 --json OUT/scaling.json            # GPUs (NCCL)
    PYTHONPATH=. python benchmarks/bench_scaling.py --device cpu --smoke                            # CPU, gloo

images/s is the median of the epochs after the first (training steps only); the straggler ratio is the last
logging interval's (the slowest rank's busy time over the fastest's). On CPU the ranks share the machine's cores,
so the efficiency says nothing of GPUs: the CPU run only checks that the benchmark runs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import REPO, epoch_metrics, run_vitui, shared_data  # noqa: E402

SMOKE_MODEL = {"width": 8, "dense": 32, "threads": 1, "log_every": 1}


def scaling(experiment: str, dataset: str, device: str, ranks: list[int], rank_batch: int, epochs: int,
            runs_dir: Path, data_dir: Path, settings: dict | None = None) -> dict:
    """One run per rank count; its images/s, per-rank images/s and straggler, and the efficiency of each count."""
    rows = []
    for n in ranks:
        sets = {"dataset": dataset, "device": device, "epochs": epochs, "batch_size": rank_batch * n,
                "misclassified": 0, "attention_probes": 0, **(settings or {})}
        args = [experiment, "--gpus", str(n), *(f"--set={k}={v}" for k, v in sets.items()), "--data-dir", str(data_dir)]
        wall, run_dir = run_vitui(args, runs_dir)
        measured = epoch_metrics(run_dir)
        steady = measured[1:] or measured
        summary = json.loads((run_dir / "summary.json").read_text())
        ranks_seen = summary.get("distributed") or {}
        rows.append({"ranks": n, "batch_size": rank_batch * n,
                     "img_per_s": statistics.median(e["img/s"] for e in steady),
                     "img_per_s_rank": ranks_seen.get("img_per_s_rank"), "straggler": ranks_seen.get("straggler"),
                     "wall_s": wall, "run": run_dir.name})
        print(f"  {n} rank{'s' if n > 1 else ''}: {rows[-1]['img_per_s']:,.0f} img/s ({wall:.0f}s)", flush=True)
    single = next((r["img_per_s"] for r in rows if r["ranks"] == 1), None)
    for row in rows:
        row["efficiency"] = row["img_per_s"] / (row["ranks"] * single) if single else None
    return {"experiment": experiment, "device": device, "rank_batch": rank_batch, "rows": rows}


def print_scaling(result: dict) -> None:
    print(f"\nscaling of {result['experiment']} on {result['device']}, {result['rank_batch']} images per rank per step")
    print(f"{'ranks':>6}{'batch':>8}{'img/s':>10}{'per rank':>22}{'straggler':>11}{'efficiency':>12}")
    for r in result["rows"]:
        each = " ".join(f"{v:,.0f}" for v in r["img_per_s_rank"] or []) or "-"
        straggler = f"{r['straggler']:.2f}" if r["straggler"] else "-"
        efficiency = f"{r['efficiency'] * 100:.0f}%" if r["efficiency"] is not None else "-"
        print(f"{r['ranks']:>6}{r['batch_size']:>8}{r['img_per_s']:>10,.0f}{each:>22}{straggler:>11}{efficiency:>12}")


def usable_ranks(device: str, wanted: list[int]) -> list[int]:
    """The rank counts this machine can run: on CUDA, no more than its GPUs (saying which it leaves out)."""
    if device != "cuda":
        return wanted
    import torch

    count = torch.cuda.device_count()
    kept = [n for n in wanted if n <= count]
    if kept != wanted:
        left_out = ", ".join(str(n) for n in wanted if n > count)
        print(f"scaling: {count} GPU{'s' if count != 1 else ''} here, so no run on {left_out} ranks: that figure needs "
              f"a machine with more", flush=True)
    return kept


def main() -> None:
    parser = argparse.ArgumentParser(description="images/s of the image trainer on 1 and N ranks (DDP)")
    parser.add_argument("--experiment", default="cnn-bn-cifar10")
    parser.add_argument("--data", type=Path, default=REPO / ".devdata" / "cifar10-jpeg-train.tar.gz",
                        help="an image-folder .tar.gz or folder [default: .devdata/cifar10-jpeg-train.tar.gz]")
    parser.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    parser.add_argument("--ranks", default="1,2", help="comma-separated rank counts")
    parser.add_argument("--rank-batch", type=int, default=512, help="images per rank per step")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--smoke", action="store_true",
                        help="tiny model, 2 epochs, batch 16 per rank: checks the script")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args()
    data = args.data
    if args.smoke and not data.exists():
        data = shared_data() / "cifar10-jpeg-train.tar.gz"
    if not data.exists():
        sys.exit(f"bench_scaling: {data} not found; pass --data")
    ranks = usable_ranks(args.device, [int(n) for n in args.ranks.split(",")])
    runs_dir, data_dir = REPO / ".devdata" / "scaling-runs", REPO / ".devdata" / "cache"
    runs_dir.mkdir(parents=True, exist_ok=True)
    settings = {**SMOKE_MODEL, "val_fraction": 0.9} if args.smoke else {}
    result = scaling(args.experiment, f"imagefolder:{data.resolve()}", args.device, ranks,
                     16 if args.smoke else args.rank_batch, 2 if args.smoke else args.epochs, runs_dir, data_dir,
                     settings)
    print_scaling(result)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
