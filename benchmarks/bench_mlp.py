"""Benchmark: wall time of `vitui run mlp-mnist --no-tui` (seed setup) against a plain NumPy loop.

The seed setup: 10,000 MNIST training images (1,000 per digit), 64 hidden ReLU units, softmax,
full-batch gradient descent at lr 0.2 for 2,000 iterations, evaluated on the 10,000 test images.
The plain loop is the textbook version (float64, one-hot labels, loss and accuracy every iteration).
vitui's time is the whole command: process start, data loading, training, evaluation, checkpoints.
Target: vitui under 45 s on a 2-core machine with >= 93.5 % test accuracy.

    python benchmarks/bench_mlp.py [--skip-plain]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from benchmarks._common import run_vitui, shared_data, temp_runs  # noqa: E402
from runners.data import read_idx  # noqa: E402


def plain_numpy(iterations: int = 2000, hidden: int = 64, lr: float = 0.2) -> tuple[float, float]:
    mnist = shared_data() / "mnist"
    x = read_idx(mnist / "train-images-idx3-ubyte.gz").reshape(60000, -1) / 255.0
    y = read_idx(mnist / "train-labels-idx1-ubyte.gz").astype(int)
    xt = read_idx(mnist / "t10k-images-idx3-ubyte.gz").reshape(10000, -1) / 255.0
    yt = read_idx(mnist / "t10k-labels-idx1-ubyte.gz").astype(int)
    rng = np.random.default_rng(0)
    keep = np.concatenate([np.flatnonzero(y == d)[:1000] for d in range(10)])
    X, Y = x[keep], np.eye(10)[y[keep]]
    W1 = rng.standard_normal((784, hidden)) * np.sqrt(2 / 784)
    b1 = np.zeros(hidden)
    W2 = rng.standard_normal((hidden, 10)) * np.sqrt(1 / hidden)
    b2 = np.zeros(10)
    start = time.perf_counter()
    for _ in range(iterations):
        Z1 = X @ W1 + b1
        A1 = np.maximum(Z1, 0)
        Z2 = A1 @ W2 + b2
        E = np.exp(Z2 - Z2.max(1, keepdims=True))
        P = E / E.sum(1, keepdims=True)
        loss = -np.mean(np.sum(Y * np.log(P + 1e-12), axis=1))  # noqa: F841 - what a learner tracks
        accuracy = np.mean(P.argmax(1) == Y.argmax(1))  # noqa: F841
        dZ2 = (P - Y) / len(X)
        dW2, db2 = A1.T @ dZ2, dZ2.sum(0)
        dZ1 = (dZ2 @ W2.T) * (Z1 > 0)
        dW1, db1 = X.T @ dZ1, dZ1.sum(0)
        W1 -= lr * dW1
        b1 -= lr * db1
        W2 -= lr * dW2
        b2 -= lr * db2
    elapsed = time.perf_counter() - start
    test_acc = float(np.mean((np.maximum(xt @ W1 + b1, 0) @ W2 + b2).argmax(1) == yt))
    return elapsed, test_acc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-plain", action="store_true", help="only time vitui")
    args = parser.parse_args()
    wall, run_dir = run_vitui(["mlp-mnist", "--data-dir", str(shared_data())], temp_runs())
    summary = json.loads((run_dir / "summary.json").read_text())["metrics"]
    print(f"vitui run mlp-mnist: {wall:.1f} s wall (training {summary['time']:.1f} s), "
          f"train accuracy {summary['train_acc'] * 100:.2f} %, test accuracy {summary['test_acc'] * 100:.2f} %")
    if not args.skip_plain:
        plain, acc = plain_numpy()
        print(f"plain NumPy loop:    {plain:.1f} s (training loop only), test accuracy {acc * 100:.2f} %")
        print(f"ratio plain / vitui wall time: {plain / wall:.2f}x  (target: vitui < 45 s)")


if __name__ == "__main__":
    main()
