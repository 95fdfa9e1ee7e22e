"""Benchmark: what one checkpoint costs the training thread, written there (as before issue 11) or in the background.

The model is the ViT of `vit-cifar10` (width 256, depth 6, patch 4) with its AdamW state after one step: the
checkpoint issue 11 measured at 38 MB. "foreground" is what RunContext.checkpoint did before: torch.save to a
temporary file, fsync, rename, fsync of the event log, all on the training thread. "background" is RunContext.checkpoint
now: a copy of the state on the training thread, the same write on the writer thread. Each is timed over --repeats
checkpoints into a fresh run folder on the disk of --dir; the background figure waits for the previous write first,
so the writer is idle when it is called (as it is every checkpoint_every seconds).

    python benchmarks/bench_checkpoint.py [--repeats 10] [--dir /tmp]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from runners.context import RunContext  # noqa: E402
from runners.models import load_builder  # noqa: E402
from runners.optim import make_optimizer  # noqa: E402
from vitui.core import runfolder  # noqa: E402
from vitui.core.experiments import resolve  # noqa: E402


def vit_state() -> tuple[dict, dict, dict]:
    config = resolve("vit-cifar10", {"threads": "1"})
    model = load_builder("vit")(config.model_args, 3, 10, 32)
    optimizer = make_optimizer(config.train, model.parameters())
    model(torch.randn(2, 3, 32, 32)).sum().backward()
    optimizer.step()  # AdamW's moments now exist: the checkpoint has its full size
    return model.state_dict(), optimizer.state_dict(), config.to_dict()


def write_in_foreground(folder: Path, payload: dict, sync_log) -> None:
    """RunContext.checkpoint before this change (runners/checkpoint.save_checkpoint, then the log's fsync)."""
    tmp, path = folder / ".old.pt.tmp", folder / "old.pt"
    torch.save(payload, tmp)
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    sync_log()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()))
    args = parser.parse_args()
    torch.set_num_threads(1)
    model, optimizer, config = vit_state()
    run_dir = runfolder.create_run_dir(Path(tempfile.mkdtemp(dir=args.dir)), "bench", config)
    (run_dir / runfolder.CHECKPOINTS).mkdir()
    ctx = RunContext(run_dir, None, None, None)

    foreground, background = [], []
    for step in range(args.repeats):
        start = time.perf_counter()
        payload = {"model": model, "optimizer": optimizer, "step": step, "epoch": 0.0, "config": config}
        write_in_foreground(run_dir / runfolder.CHECKPOINTS, payload, ctx.log_file.sync)
        foreground.append(time.perf_counter() - start)

        ctx.wait_for_checkpoints()
        start = time.perf_counter()
        ctx.checkpoint("last", model=model, optimizer=optimizer, step=step, epoch=0.0)
        background.append(time.perf_counter() - start)
    ctx.wait_for_checkpoints()
    size = (run_dir / runfolder.CHECKPOINTS / "last.pt").stat().st_size
    result = {"checkpoint_mb": round(size / 1e6, 1), "repeats": args.repeats,
              "foreground_ms": round(statistics.median(foreground) * 1e3, 1),
              "background_ms": round(statistics.median(background) * 1e3, 1)}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
