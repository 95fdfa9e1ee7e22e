"""Benchmark: vitui's character trainer against plain loops of the same models, in one command.

rnn-dinos: iterations/s of the real `vitui run` worker (events, run log, held-out evaluation, samples,
checkpoints: everything as configured) against a bare NumPy loop of the same VanillaRNN with the same
clipping and SGD update. lstm-dinos / gru-dinos: characters/s against a bare PyTorch loop with the same
model, optimizer, batches (same shuffling seed, so the same characters) and thread count.

Both sides do the same work as configured: the plain loops also take the held-out loss every
`eval_every` steps and draw `samples` names every `sample_every` steps, with the models' own functions
(the course's loop samples every 2,000 iterations too), so the ratio measures what vitui adds.
Both sides are timed over the same steps (from the first logging interval to the last step), in
alternating rounds; the best round of each side counts. Two clocks: wall time, and the CPU time
of the process that trains (the worker's from /proc, the plain loop's own), which other processes
sharing the cores barely move. On a busy machine read the CPU ratio; on a GPU the wall ratio.

    PYTHONPATH=. python benchmarks/bench_chars.py --data-dir DIR_WITH_DINOS_TXT [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from runners.names_data import load_names  # noqa: E402
from vitui.core.experiments import RunConfig, resolve  # noqa: E402
from vitui.core.settings import parse_overrides  # noqa: E402
from vitui.core.events import Progress, Status  # noqa: E402
from vitui.launch import start_run  # noqa: E402


CLOCK_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a live process, all its threads (the queue feeder too)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICK


def vitui_rate(experiment: str, overrides: dict[str, str], data_dir: Path,
               runs_dir: Path) -> tuple[int, int, float, float]:
    """Run the experiment in a real worker; return (first step, last step, wall s, worker CPU s between them)."""
    config = resolve(experiment, overrides)
    handle = start_run(config, runs_dir, data_dir)
    progress: list[Progress] = []
    cpu: list[float] = []
    final = None
    while final is None:
        for event in handle.poll(timeout=0.01):
            if isinstance(event, Progress):
                progress.append(event)
                if event.step == config.train.log_every or event.step == config.train.iterations:
                    cpu.append(cpu_seconds(handle.process.pid))  # read as the event arrives: ms late at most
            elif isinstance(event, Status) and event.state in ("completed", "failed", "stopped"):
                final = event
        if not handle.alive and final is None:
            final = Status(state=handle.reap())
    handle.reap()
    if final.state != "completed" or len(progress) < 2:
        raise SystemExit(f"{experiment}: the vitui run ended {final.state}: {final.detail}")
    first, last = progress[0], progress[-1]
    return first.step, last.step, last.t - first.t, cpu[-1] - cpu[0]


def plain_numpy_rnn(config: RunConfig, data, first: int) -> tuple[float, float, int]:
    """The same model and update as rnn-dinos, with nothing else: (wall s, CPU s) for steps first+1 .. iterations."""
    from runners.models.rnn_numpy import VanillaRNN, name_example, sample

    c, a = config.train, config.model_args
    model = VanillaRNN(len(data.vocab), a.hidden, seed=c.seed, init_scale=a.init_scale)
    examples = [name_example(data.encode(n), 0) for n in data.train]
    held_out = [name_example(data.encode(n), 0) for n in data.val]
    rng = np.random.default_rng(c.seed)
    order = np.random.default_rng(c.seed).permutation(len(examples)).tolist()
    h = model.initial_state()
    start = start_cpu = 0.0
    for step in range(1, c.iterations + 1):
        inputs, targets = examples[order[(step - 1) % len(order)]]
        _, grads, h = model.loss_and_grads(inputs, targets, h)
        for g in grads.values():
            np.clip(g, -c.clip, c.clip, out=g)
        for name, g in grads.items():
            model.params[name] -= c.lr * g
        if step % c.eval_every == 0:
            model.nll(held_out)
        if step % c.sample_every == 0:
            sample(model.params, c.samples, temperature=c.temperature, rng=rng, max_len=c.max_len)
        if step == first:
            start, start_cpu = time.perf_counter(), time.process_time()
    return time.perf_counter() - start, time.process_time() - start_cpu, 0


def plain_torch(config: RunConfig, data, first: int) -> tuple[float, float, int]:
    """The same model, optimizer and batches as lstm/gru-dinos: (wall s, CPU s, characters) for steps first+1 .. end."""
    import torch

    from runners.models.char_rnn import CharRNN, encode_batch, sample
    from runners.char_learners import make_optimizer
    from runners.devices import pick_device

    c, a = config.train, config.model_args
    torch.set_num_threads(c.threads or torch.get_num_threads())
    device = pick_device(c.device)
    torch.manual_seed(c.seed)
    model = CharRNN(cell=c.model, vocab_size=len(data.vocab), embedding=a.embedding, hidden=a.hidden,
                    layers=a.layers, dropout=a.dropout).to(device)
    opt = make_optimizer(model, c)
    encoded = [data.encode(n) for n in data.train]
    inputs, targets = (t.to(device) for t in encode_batch(encoded))
    lengths = torch.tensor([len(n) + 1 for n in encoded])
    val_inputs, val_targets = (t.to(device) for t in encode_batch([data.encode(n) for n in data.val]))
    batch = min(c.batch_size, len(encoded))
    gen = torch.Generator().manual_seed(c.seed)
    cursor, order_cpu, order = len(encoded), None, None
    start = start_cpu = 0.0
    chars = 0
    for step in range(1, c.iterations + 1):
        if cursor + batch > len(encoded):
            order_cpu = torch.randperm(len(encoded), generator=gen)
            order, cursor = order_cpu.to(device), 0
        idx = order[cursor:cursor + batch]
        n = int(lengths[order_cpu[cursor:cursor + batch]].sum())
        cursor += batch
        _, loss_sum = model(inputs[idx], targets[idx])
        opt.zero_grad(set_to_none=True)
        (loss_sum / n).backward()
        torch.nn.utils.clip_grad_value_(model.parameters(), c.clip)
        opt.step()
        if step % c.eval_every == 0:
            model.eval()
            with torch.no_grad():
                model(val_inputs, val_targets)[1].item()
            model.train()
        if step % c.sample_every == 0:
            sample(model, c.samples, temperature=c.temperature, seed=c.seed + step, max_len=c.max_len)
        if step > first:
            chars += n
        if step == first:
            if device.type == "cuda":
                torch.cuda.synchronize()
            start, start_cpu = time.perf_counter(), time.process_time()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start, time.process_time() - start_cpu, chars


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=None, help="folder holding dinos.txt")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rnn-iterations", type=int, default=35_000)
    parser.add_argument("--torch-iterations", type=int, default=400)
    parser.add_argument("--models", default="rnn,lstm,gru")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a setting on both sides, e.g. --set eval_every=35000")
    args = parser.parse_args()

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for short in args.models.split(","):
            experiment = f"{short}-dinos"
            iterations = args.rnn_iterations if short == "rnn" else args.torch_iterations
            overrides = {**parse_overrides(args.set), "iterations": str(iterations)}
            if short != "rnn":
                overrides["device"] = args.device
            config = resolve(experiment, overrides)
            data = load_names(config.train.dataset, args.data_dir, config.train.val_fraction, config.train.seed)
            best = {"vitui wall": 0.0, "plain wall": 0.0, "vitui cpu": 0.0, "plain cpu": 0.0}
            plain = plain_numpy_rnn if short == "rnn" else plain_torch
            first = config.train.log_every  # vitui's first Progress event: both sides are timed from there
            for round_ in range(args.rounds):
                if round_ % 2:  # alternate which side goes first, so neither always runs on a warmer machine
                    plain_wall, plain_cpu, chars = plain(config, data, first)
                    _, last, wall, cpu = vitui_rate(experiment, overrides, args.data_dir, Path(tmp))
                else:
                    _, last, wall, cpu = vitui_rate(experiment, overrides, args.data_dir, Path(tmp))
                    plain_wall, plain_cpu, chars = plain(config, data, first)
                # rnn: iterations; lstm/gru: characters (same batches on both sides, so the same count)
                work = last - first if short == "rnn" else chars
                for key, seconds in (("vitui wall", wall), ("plain wall", plain_wall),
                                     ("vitui cpu", cpu), ("plain cpu", plain_cpu)):
                    best[key] = max(best[key], work / max(seconds, 1e-9))
            unit = "iter/s" if short == "rnn" else "chars/s"
            rows.append((experiment, unit, best))
            print(format_row(experiment, unit, best), flush=True)
    print("\nbest of %d rounds; target ratio >= 0.98" % args.rounds)
    for experiment, unit, best in rows:
        print(format_row(experiment, unit, best))


def format_row(experiment: str, unit: str, best: dict[str, float]) -> str:
    return (f"{experiment:<11} {unit:<8} wall: vitui {best['vitui wall']:>9,.0f} plain {best['plain wall']:>9,.0f} "
            f"ratio {best['vitui wall'] / best['plain wall']:.3f} | CPU time: vitui {best['vitui cpu']:>9,.0f} "
            f"plain {best['plain cpu']:>9,.0f} ratio {best['vitui cpu'] / best['plain cpu']:.3f}")


if __name__ == "__main__":
    main()
