"""The from-scratch NumPy MLP: gradients against finite differences, and that it learns."""

import numpy as np

from runners.models.mlp_numpy import TwoLayerMLP
from runners.train_mlp import take_per_class


def numeric_grad(model, X, y, name, l2, eps=1e-6):
    param = model.params[name]
    grad = np.zeros_like(param)
    for index in np.ndindex(param.shape):
        old = param[index]
        param[index] = old + eps
        plus, _, _ = model.loss_and_grads(X, y, l2)
        param[index] = old - eps
        minus, _, _ = model.loss_and_grads(X, y, l2)
        param[index] = old
        grad[index] = (plus - minus) / (2 * eps)
    return grad


def test_gradients_match_finite_differences():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((7, 5))
    y = rng.integers(0, 3, 7)
    model = TwoLayerMLP(5, 4, 3, seed=2, dtype="float64")
    for l2 in (0.0, 0.1):
        _, grads, _ = model.loss_and_grads(X, y, l2)
        for name in ("W1", "b1", "W2", "b2"):
            np.testing.assert_allclose(grads[name], numeric_grad(model, X, y, name, l2), rtol=1e-5, atol=1e-8)


def test_loss_falls_and_accuracy_rises_on_separable_data():
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(-1, 0.3, (50, 2)), rng.normal(1, 0.3, (50, 2))]).astype(np.float32)
    y = np.repeat([0, 1], 50)
    model = TwoLayerMLP(2, 8, 2, seed=0)
    first, _, _ = model.loss_and_grads(X, y)
    for _ in range(200):
        loss, grads, _ = model.loss_and_grads(X, y)
        model.step(grads, 0.5)
    assert loss < first / 4
    assert model.loss_and_accuracy(X, y)[1] == 1.0


def test_take_per_class_is_balanced_and_seeded():
    y = np.repeat(np.arange(3), [10, 20, 30])
    x = np.arange(60)
    xa, ya = take_per_class(x, y, 5, seed=3)
    xb, _ = take_per_class(x, y, 5, seed=3)
    assert np.bincount(ya).tolist() == [5, 5, 5]
    assert (xa == xb).all()
