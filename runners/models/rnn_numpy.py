"""Provides a vanilla character RNN in NumPy with hand-written backpropagation through time (the course's model).

    h_t = tanh(W_xh x_t + W_hh h_{t-1} + b_h)      x_t one-hot (all zeros for the first step)
    y_t = W_hy h_t + b_y,  p_t = softmax(y_t)       loss = -sum_t log p_t[target_t]

Vectors are rows here (h_t is H[t]), so the products read h @ W.T. A one-hot x_t times W_xh is just
column x_t of W_xh, so inputs are character indices and -1 stands for the all-zero first input.
"""

from __future__ import annotations

import numpy as np

START = -1  # the all-zero input that begins every name (the course's `None`)


def softmax_rows(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def name_example(encoded: list[int], newline: int) -> tuple[np.ndarray, np.ndarray]:
    """Inputs [START, c1, .., cn] and targets [c1, .., cn, newline] for one encoded name."""
    inputs = np.array([START, *encoded], dtype=np.int64)
    targets = np.array([*encoded, newline], dtype=np.int64)
    return inputs, targets


def clip_(grads: dict[str, np.ndarray], limit: float) -> None:
    """Clip every gradient element to [-limit, limit] in place (the course's remedy for exploding gradients)."""
    if limit > 0:
        for g in grads.values():
            np.clip(g, -limit, limit, out=g)


class VanillaRNN:
    """The parameters and the forward / backward passes; training loops own the update rule."""

    def __init__(self, vocab_size: int, hidden: int, *, seed: int = 0, init_scale: float = 0.01):
        rng = np.random.default_rng(seed)
        self.vocab_size, self.hidden = vocab_size, hidden
        self.params = {
            "Wxh": rng.standard_normal((hidden, vocab_size)) * init_scale,
            "Whh": rng.standard_normal((hidden, hidden)) * init_scale,
            "Why": rng.standard_normal((vocab_size, hidden)) * init_scale,
            "bh": np.zeros(hidden),
            "by": np.zeros(vocab_size),
        }

    def initial_state(self) -> np.ndarray:
        return np.zeros(self.hidden)

    def loss_and_grads(self, inputs: np.ndarray, targets: np.ndarray,
                       h0: np.ndarray) -> tuple[float, dict[str, np.ndarray], np.ndarray]:
        """Summed cross-entropy of one name, the gradient of every parameter, and the last hidden state."""
        p = self.params
        Wxh, Whh, Why = p["Wxh"], p["Whh"], p["Why"]
        T = len(targets)

        # ---- forward: the input term of every step at once, then the recurrence
        x_in = np.where(inputs[:, None] >= 0, Wxh.T[inputs], 0.0) + p["bh"]  # (T, hidden)
        H = np.empty((T + 1, self.hidden))  # H[0] = h0, H[t + 1] = h_t
        H[0] = h0
        WhhT = Whh.T
        for t in range(T):
            H[t + 1] = np.tanh(x_in[t] + H[t] @ WhhT)
        probs = softmax_rows(H[1:] @ Why.T + p["by"])  # (T, vocab)
        steps = np.arange(T)
        loss = float(-np.log(probs[steps, targets]).sum())

        # ---- backward through time
        dlogits = probs
        dlogits[steps, targets] -= 1.0
        dh_out = dlogits @ Why  # what each h_t receives from its own output
        dtanh = 1.0 - H[1:] ** 2
        draw = np.empty((T, self.hidden))  # gradient at the pre-activation of step t
        dnext = np.zeros(self.hidden)  # what h_t receives from step t + 1
        for t in range(T - 1, -1, -1):
            draw[t] = dtanh[t] * (dh_out[t] + dnext)
            dnext = draw[t] @ Whh
        dWxh = np.zeros_like(Wxh)
        seen = inputs >= 0
        np.add.at(dWxh.T, inputs[seen], draw[seen])
        grads = {
            "Wxh": dWxh,
            "Whh": draw.T @ H[:-1],
            "Why": dlogits.T @ H[1:],
            "bh": draw.sum(axis=0),
            "by": dlogits.sum(axis=0),
        }
        return loss, grads, H[T]

    def sgd_step(self, grads: dict[str, np.ndarray], lr: float) -> None:
        for name, g in grads.items():
            self.params[name] -= lr * g

    def nll(self, examples: list[tuple[np.ndarray, np.ndarray]]) -> tuple[float, int]:
        """Summed cross-entropy and character count over names, each from a zero state, all names in one batch."""
        if not examples:
            return 0.0, 0
        p = self.params
        n, T = len(examples), max(len(t) for _, t in examples)
        inputs = np.full((n, T), START, dtype=np.int64)
        targets = np.full((n, T), -1, dtype=np.int64)
        for i, (x, y) in enumerate(examples):
            inputs[i, :len(x)], targets[i, :len(y)] = x, y
        h = np.zeros((n, self.hidden))
        total = 0.0
        for t in range(T):
            x = inputs[:, t]
            h = np.tanh(np.where(x[:, None] >= 0, p["Wxh"].T[x], 0.0) + h @ p["Whh"].T + p["bh"])
            live = targets[:, t] >= 0  # padding after a name's end never feeds back into the name
            if live.any():
                probs = softmax_rows(h[live] @ p["Why"].T + p["by"])
                total -= float(np.log(probs[np.arange(live.sum()), targets[live, t]]).sum())
        return total, int((targets >= 0).sum())


def sample(params: dict[str, np.ndarray], n: int, *, temperature: float, rng: np.random.Generator,
           max_len: int, newline: int = 0) -> list[list[int]]:
    """Draw n names (index lists, newline excluded) at a temperature, all n side by side."""
    Wxh, Whh, Why, bh, by = (params[k] for k in ("Wxh", "Whh", "Why", "bh", "by"))
    h = np.zeros((n, Whh.shape[0]))
    drawn = np.full((n, max_len), newline)
    done = np.zeros(n, dtype=bool)
    for t in range(max_len):
        x_in = bh if t == 0 else Wxh.T[drawn[:, t - 1]] + bh  # the first input is all zeros
        h = np.tanh(x_in + h @ Whh.T)
        probs = softmax_rows((h @ Why.T + by) / temperature)
        # Inverse-CDF draw: one uniform number per name keeps the stream reproducible under the seed.
        u = rng.random(n)[:, None]
        drawn[:, t] = np.minimum((probs.cumsum(axis=1) < u).sum(axis=1), probs.shape[1] - 1)
        done |= drawn[:, t] == newline
        if done.all():
            break
    names = []
    for row in drawn.tolist():
        end = row.index(newline) if newline in row else max_len
        names.append(row[:end])
    return names
