"""Provides a two-layer network in plain NumPy: ReLU hidden layer, softmax output, hand-written backprop.

Shapes: X (N, D) inputs, W1 (D, H), W2 (H, K); labels are class indices (N,). The forward pass keeps
what backprop needs; buffers are reused between steps so full-batch training allocates almost nothing.
"""

from __future__ import annotations

import numpy as np


class TwoLayerMLP:
    def __init__(self, n_in: int, n_hidden: int, n_out: int, *, seed: int = 0, dtype: str = "float32"):
        rng = np.random.default_rng(seed)
        self.dtype = np.dtype(dtype)
        # He initialisation keeps ReLU activations at a steady scale; the output layer uses 1/fan_in.
        self.params = {
            "W1": (rng.standard_normal((n_in, n_hidden)) * np.sqrt(2.0 / n_in)).astype(self.dtype),
            "b1": np.zeros(n_hidden, dtype=self.dtype),
            "W2": (rng.standard_normal((n_hidden, n_out)) * np.sqrt(1.0 / n_hidden)).astype(self.dtype),
            "b2": np.zeros(n_out, dtype=self.dtype),
        }

    def logits(self, X: np.ndarray) -> np.ndarray:
        p = self.params
        hidden = X @ p["W1"]
        hidden += p["b1"]
        np.maximum(hidden, 0, out=hidden)
        out = hidden @ p["W2"]
        out += p["b2"]
        return out

    def loss_and_grads(self, X: np.ndarray, y: np.ndarray, l2: float = 0.0) -> tuple[float, dict[str, np.ndarray], np.ndarray]:
        """Mean cross-entropy over the batch, its gradients, and the logits (for accuracy at no extra cost)."""
        p = self.params
        n = X.shape[0]
        # forward
        z1 = X @ p["W1"]
        z1 += p["b1"]
        a1 = np.maximum(z1, 0)
        logits = a1 @ p["W2"]
        logits += p["b2"]
        # softmax with the max subtracted for stability; log-probabilities of the true classes give the loss
        shifted = logits - logits.max(axis=1, keepdims=True)
        exp = np.exp(shifted)
        total = exp.sum(axis=1, keepdims=True)
        rows = np.arange(n)
        loss = float(np.mean(np.log(total[:, 0]) - shifted[rows, y]))
        # backward: d(loss)/d(logits) = (softmax - onehot) / n
        dlogits = exp / total
        dlogits[rows, y] -= 1.0
        dlogits /= n
        grads = {"W2": a1.T @ dlogits, "b2": dlogits.sum(axis=0)}
        da1 = dlogits @ p["W2"].T
        da1 *= z1 > 0  # ReLU passes gradient only where it was active
        grads["W1"] = X.T @ da1
        grads["b1"] = da1.sum(axis=0)
        if l2:
            loss += 0.5 * l2 * float(np.sum(p["W1"] ** 2) + np.sum(p["W2"] ** 2))
            grads["W1"] += l2 * p["W1"]
            grads["W2"] += l2 * p["W2"]
        return loss, grads, logits

    def step(self, grads: dict[str, np.ndarray], lr: float) -> None:
        for name, grad in grads.items():
            self.params[name] -= self.dtype.type(lr) * grad

    def loss_and_accuracy(self, X: np.ndarray, y: np.ndarray, batch: int = 10_000) -> tuple[float, float, np.ndarray]:
        """Loss, accuracy and predictions over a data set, in batches to bound memory."""
        losses, preds = [], []
        for start in range(0, len(X), batch):
            logits = self.logits(X[start:start + batch])
            shifted = logits - logits.max(axis=1, keepdims=True)
            logp = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
            losses.append(-logp[np.arange(len(logits)), y[start:start + batch]])
            preds.append(logits.argmax(axis=1))
        pred = np.concatenate(preds)
        return float(np.concatenate(losses).mean()), float((pred == y).mean()), pred


def build(args, n_in: int, n_out: int, *, seed: int = 0, dtype: str = "float32") -> TwoLayerMLP:
    """The constructor the MLP trainer calls: settings from MLPArgs, sizes from the data."""
    return TwoLayerMLP(n_in, args.hidden, n_out, seed=seed, dtype=dtype)
