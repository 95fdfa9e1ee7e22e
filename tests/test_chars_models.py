"""Tests of the character models: NumPy RNN gradients and clipping, sampling of both families."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from runners.char_learners import NumpyRNNLearner
from runners.models import rnn_numpy
from runners.models.char_rnn import CharRNN, encode_batch, sample
from runners.models.rnn_numpy import VanillaRNN, name_example
from runners.names_data import NamesData
from runners.train_chars import live_temperature
from vitui.core.models import RNNArgs
from vitui.core.settings import CharConfig

VOCAB = 27


def numeric_grads(model: VanillaRNN, inputs, targets, h0, eps: float = 1e-6) -> dict[str, np.ndarray]:
    out = {}
    for name, p in model.params.items():
        g = np.zeros_like(p)
        for i in np.ndindex(p.shape):
            old = p[i]
            p[i] = old + eps
            plus = model.loss_and_grads(inputs, targets, h0)[0]
            p[i] = old - eps
            minus = model.loss_and_grads(inputs, targets, h0)[0]
            p[i] = old
            g[i] = (plus - minus) / (2 * eps)
        out[name] = g
    return out


@pytest.mark.parametrize("carried", [False, True])
def test_rnn_gradients_match_finite_differences(carried):
    # Large weights so tanh saturates a little and every path of the BPTT matters.
    model = VanillaRNN(VOCAB, 8, seed=3, init_scale=0.5)
    inputs, targets = name_example([4, 9, 14, 15], newline=0)  # "dino"
    h0 = np.random.default_rng(1).standard_normal(8) * 0.5 if carried else model.initial_state()
    _, grads, _ = model.loss_and_grads(inputs, targets, h0)
    expected = numeric_grads(model, inputs, targets, h0)
    for name in model.params:
        err = np.abs(grads[name] - expected[name]).max() / max(np.abs(expected[name]).max(), 1e-8)
        assert err < 1e-6, f"{name}: relative error {err:.2e}"


def test_rnn_loss_is_the_summed_cross_entropy_of_the_name():
    model = VanillaRNN(VOCAB, 5, seed=0, init_scale=0.0)  # all-zero weights: uniform predictions
    inputs, targets = name_example([1, 2, 3], newline=0)
    loss, _, _ = model.loss_and_grads(inputs, targets, model.initial_state())
    assert loss == pytest.approx(4 * np.log(VOCAB))
    total, chars = model.nll([(inputs, targets), name_example([5], 0)])
    assert chars == 6 and total == pytest.approx(6 * np.log(VOCAB))


def test_clipping_bounds_every_gradient():
    model = VanillaRNN(VOCAB, 16, seed=0, init_scale=3.0)  # exploding gradients
    inputs, targets = name_example(list(range(1, 20)), newline=0)
    _, grads, _ = model.loss_and_grads(inputs, targets, model.initial_state())
    assert max(np.abs(g).max() for g in grads.values()) > 5  # the test would prove nothing otherwise
    rnn_numpy.clip_(grads, 5.0)
    for name, g in grads.items():
        assert np.abs(g).max() <= 5.0, name


def test_training_step_applies_the_clip(monkeypatch, tmp_path):
    data = NamesData("test", ["\n", *"abcdefghijklmnopqrstuvwxyz"], ["tyrannosaurus", "velociraptor"], [])
    learner = NumpyRNNLearner(data, CharConfig(model="rnn-numpy", clip=0.25), RNNArgs(init_scale=3.0))
    seen = []
    monkeypatch.setattr(learner.model, "sgd_step", lambda grads, lr: seen.append(grads))
    for _ in range(4):
        learner.step()
    assert len(seen) == 4
    assert all(np.abs(g).max() <= 0.25 for grads in seen for g in grads.values())


def test_numpy_sampling_is_reproducible_and_stays_in_the_vocabulary():
    model = VanillaRNN(VOCAB, 12, seed=0, init_scale=0.5)

    def draw(seed, temperature=1.0):
        return rnn_numpy.sample(model.params, 12, temperature=temperature, rng=np.random.default_rng(seed), max_len=30)

    first = draw(7)
    assert first == draw(7)
    assert first != draw(8)
    for name in first + draw(9, temperature=2.5):
        assert len(name) <= 30
        assert all(1 <= i < VOCAB for i in name)  # letters only: the newline ends a name, never sits in it


def test_torch_sampling_is_reproducible_and_stays_in_the_vocabulary():
    torch.manual_seed(0)
    for cell in ("lstm", "gru"):
        model = CharRNN(cell=cell, vocab_size=VOCAB, embedding=8, hidden=16, layers=2, dropout=0.2)
        first = sample(model, 10, temperature=1.0, seed=5, max_len=25)
        assert first == sample(model, 10, temperature=1.0, seed=5, max_len=25)
        assert first != sample(model, 10, temperature=1.0, seed=6, max_len=25)
        assert model.training  # sampling switches dropout off and back
        for name in first:
            assert len(name) <= 25 and all(1 <= i < VOCAB for i in name)


def test_torch_model_loss_counts_only_real_characters():
    inputs, targets = encode_batch([[1, 2, 3], [4]])
    assert inputs.tolist() == [[0, 1, 2, 3], [0, 4, 0, 0]]
    assert targets.tolist() == [[1, 2, 3, 0], [4, 0, -1, -1]]
    model = CharRNN(cell="gru", vocab_size=VOCAB, embedding=4, hidden=8, layers=1, dropout=0.0)
    torch.nn.init.zeros_(model.head.weight)
    torch.nn.init.zeros_(model.head.bias)
    logits, loss = model(inputs, targets)
    assert logits.shape == (2, 4, VOCAB)
    assert loss.item() == pytest.approx(6 * np.log(VOCAB), rel=1e-5)


def test_a_bad_live_temperature_is_reported_once_and_dropped():
    class FakeContext:  # a test fake: only the two things live_temperature touches
        def __init__(self, settings):
            self.settings, self.warnings = settings, []

        def warn(self, message):
            self.warnings.append(message)

    cfg = CharConfig(model="lstm", temperature=0.9)
    assert live_temperature(FakeContext({}), cfg) == 0.9
    assert live_temperature(FakeContext({"temperature": 0.5}), cfg) == 0.5
    ctx = FakeContext({"temperature": -1})
    assert live_temperature(ctx, cfg) == 0.9 and live_temperature(ctx, cfg) == 0.9
    assert len(ctx.warnings) == 1 and "temperature" in ctx.warnings[0]
