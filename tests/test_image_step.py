"""Tests of the image trainer's step: the compiled path on CPU, augmentation, mixing, lookahead, optimiser groups,
the learning rate as a tensor, and the presets (each resolves and trains a step)."""

from __future__ import annotations

import dataclasses
import os

import pytest
import torch
from torch import nn

from runners.augment import normalise, random_crop_flip
from runners.devices import autocast_dtype, free_cores, set_threads
from runners.image_step import Evaluator, TrainStep, compile_mode
from runners.lookahead import Lookahead
from runners.mixing import BatchMixer
from runners.models import load_builder
from runners.optim import make_optimizer, set_lr
from runners.randaugment import OPS, colour_op, equalize, rand_augment, warp
from runners.train_image import lr_factor
from vitui.core.experiments import experiment_names, resolve
from vitui.core.models import MODELS, CNNArgs

IMAGE_EXPERIMENTS = [name for name in experiment_names() if resolve(name).task == "image"]


def images(n: int = 8, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 256, (n, 32, 32, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def tiny_step(mode: str | None, **settings) -> TrainStep:
    """A TrainStep for a 4-filter CNN-BN on 64 random CIFAR-sized images."""
    torch.manual_seed(0)
    cfg = dataclasses.replace(resolve("cnn-bn-cifar10", {"device": "cpu"}).train, **settings)
    model = load_builder("cnn-bn")(CNNArgs(width=4, dense=16), 3, 10, 32).to(memory_format=torch.channels_last)
    optimizer = make_optimizer(cfg, model.parameters(), fused=bool(mode), lr_device=torch.device("cpu") if mode else None)
    x = images(64)
    return TrainStep(model, optimizer, cfg, images=x, labels=torch.arange(64) % 10, mean=torch.full((3,), 120.0),
                     std=torch.full((3,), 60.0), num_classes=10, autocast=None, mode=mode,
                     generator=torch.Generator().manual_seed(0))


def weights(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


def optimizer_state(optimizer: torch.optim.Optimizer) -> dict[tuple[int, str], torch.Tensor]:
    return {(i, key): value.clone() for i, state in enumerate(optimizer.state.values()) for key, value in state.items()
            if isinstance(value, torch.Tensor)}


# --------------------------------------------------------------------------- the compiled path


@pytest.mark.slow
def test_compiled_step_on_cpu_trains_and_is_not_compiled_again_as_the_lr_changes():
    step = tiny_step("default", augment="translate-flip", mixup=0.8, cutmix=1.0, grad_clip=1.0)
    before = weights(step.model)
    batch = torch.arange(16)
    step.warm_up(batch)
    # The warm-up compiled and ran three steps, then put everything back: training starts from the first weights.
    after = weights(step.model)
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert all(torch.count_nonzero(v) == 0 for s in step.optimizer.state.values() for v in s.values()
               if isinstance(v, torch.Tensor))
    compiled = torch._dynamo.utils.counters["stats"]["unique_graphs"]
    plan = step.mix_plan(4)
    for i in range(4):
        set_lr(step.optimizer, 1.0 - i / 4)
        step(batch + 16 * (i % 3), 1 + i, plan[i])
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] == compiled  # no graph traced again
    loss_sum, loss_images, correct = step.sums.tolist()
    assert 0 < loss_sum < 4 * 10 and loss_images == pytest.approx(16 * loss_sum, rel=1e-5) and 0 <= correct <= 64
    assert any(not torch.equal(before[k], v) for k, v in step.model.state_dict().items())

    # Warming up a trained (or resumed) step puts back its state as it found it: weights, optimizer moments, the
    # running sums and every random state, so a compiled run draws what an eager one would.
    trained, moments, sums = weights(step.model), optimizer_state(step.optimizer), step.sums.clone()
    random_state, mixer_state = torch.get_rng_state(), step.mixer.rng.bit_generator.state
    step.warm_up(batch)
    assert all(torch.equal(trained[k], v) for k, v in step.model.state_dict().items())
    assert all(torch.equal(moments[k], v) for k, v in optimizer_state(step.optimizer).items())
    assert torch.equal(step.sums, sums) and torch.equal(torch.get_rng_state(), random_state)
    assert step.mixer.rng.bit_generator.state == mixer_state

    evaluate = Evaluator(step.model, mean=step.mean, std=step.std, autocast=None, flip_test=True, batch_size=48,
                         mode="default")
    loss, accuracy, pred = evaluate(step.images, step.labels)
    assert pred.shape == (64,) and 0 <= accuracy <= 1 and loss > 0
    assert step.model.training


def test_eager_step_trains_and_keeps_its_sums():
    step = tiny_step(None)
    before = weights(step.model)
    step(torch.arange(16), 1, None)
    step(torch.arange(16, 32), 1, None)
    loss_sum, loss_images, _ = step.sums.tolist()
    assert loss_images == pytest.approx(16 * loss_sum, rel=1e-5)
    assert any(not torch.equal(before[k], v) for k, v in step.model.state_dict().items())


def test_compile_auto_is_on_for_cuda_only():
    cfg = resolve("cnn-bn-cifar10", {"device": "cpu"}).train
    assert compile_mode(cfg, torch.device("cpu")) is None
    assert compile_mode(cfg, torch.device("cuda")) == "reduce-overhead"
    assert compile_mode(dataclasses.replace(cfg, compile="on"), torch.device("cpu")) == "default"
    assert compile_mode(dataclasses.replace(cfg, compile="on", compile_mode="max-autotune"),
                        torch.device("cpu")) == "max-autotune"


def test_bf16_autocast_for_conv_models_only_on_cpu():
    cpu = torch.device("cpu")
    assert autocast_dtype(torch.device("cuda"), "auto", False) == torch.bfloat16
    assert autocast_dtype(cpu, "auto", model_gains_on_cpu=False) is None  # the ViT
    assert autocast_dtype(cpu, "off", True) is None and autocast_dtype(cpu, "bf16", False) == torch.bfloat16
    assert MODELS["cnn-bn"].cpu_bf16 and MODELS["airbench"].cpu_bf16 and not MODELS["vit"].cpu_bf16


def test_threads_default_to_free_cores_unless_omp_num_threads_says(monkeypatch):
    threads = torch.get_num_threads()
    try:
        assert 1 <= free_cores() <= (os.cpu_count() or 1)
        monkeypatch.setenv("OMP_NUM_THREADS", "1")
        torch.set_num_threads(1)
        assert set_threads(0) == 1  # the environment decides
        monkeypatch.delenv("OMP_NUM_THREADS")
        monkeypatch.setattr(os, "getloadavg", lambda: (float(os.cpu_count() or 1), 0.0, 0.0))
        torch.set_num_threads(os.cpu_count() or 1)
        assert set_threads(0) == 1  # every core busy: one thread
        assert set_threads(2) == 2
    finally:
        torch.set_num_threads(threads)


# --------------------------------------------------------------------------- the presets


@pytest.mark.parametrize("experiment", IMAGE_EXPERIMENTS)
def test_preset_resolves_for_each_device_and_trains_a_step_on_cpu(experiment):
    """Each image experiment's full-size model and recipe (the [cuda] table's too) takes one step on 4 images."""
    cuda = resolve(experiment, {"device": "cuda"})
    assert cuda.train.batch_size >= 1024  # the GPU tables fill the GPU (the issue: batch 1024-2048)
    assert resolve(experiment, {"device": "cuda", "batch_size": "64"}).train.batch_size == 64  # overrides win
    cfg = dataclasses.replace(cuda.train, device="cpu", batch_size=4)
    torch.manual_seed(0)
    model = load_builder(cfg.model)(cuda.model_args, 3, 10, 32)
    x = images(8)
    mean, std = torch.full((3,), 120.0), torch.full((3,), 60.0)
    if hasattr(model, "init_from_data"):
        model.init_from_data(normalise(x, mean, std))
    params = model.optimizer_groups() if hasattr(model, "optimizer_groups") else model.parameters()
    optimizer = make_optimizer(cfg, params)
    step = TrainStep(model, optimizer, cfg, images=x, labels=torch.arange(8) % 10, mean=mean, std=std, num_classes=10,
                     autocast=None, mode=None, generator=torch.Generator().manual_seed(0))
    before = weights(model)
    plan = step.mix_plan(1)
    step(torch.arange(4), 1, None if plan is None else plan[0])
    assert torch.isfinite(step.sums).all() and step.sums[0] > 0
    assert any(not torch.equal(before[k], v) for k, v in model.state_dict().items())


# --------------------------------------------------------------------------- augmentation and mixing


def test_crop_flip_without_shifts_mirrors_exactly_the_chosen_images():
    x = images(4)
    flips = torch.tensor([True, False, True, False])
    out = random_crop_flip(x, flips, pad=0)
    assert torch.equal(out[flips], x[flips].flip(2)) and torch.equal(out[~flips], x[~flips])


def test_reflected_shifts_never_bring_in_black_and_zero_padding_does():
    x = torch.full((64, 8, 8, 1), 200, dtype=torch.uint8)
    assert (random_crop_flip(x, pad=2, reflect=True) == 200).all()
    assert (random_crop_flip(x, pad=2) == 0).any()


def test_rand_augment_keeps_shape_and_range():
    x = images(32).float()
    out = rand_augment(x, 2, 9)
    assert out.shape == x.shape and out.min() >= 0 and out.max() <= 255
    assert not torch.equal(out, x)
    assert len(OPS) == 14


def test_rand_augment_operations_do_what_they_say():
    x = images(2).float()
    pick = torch.tensor([2, 2])  # translate_x
    shifted = warp(x, pick, torch.tensor([0.25 / 0.45, 0.0]))  # a quarter of the side (0.45 at full strength)
    assert torch.equal(shifted[0, :, :24], x[0, :, 8:]) and (shifted[0, :, 24:] == 0).all()
    assert torch.equal(shifted[1], x[1])
    assert torch.equal(colour_op("solarize", x, torch.zeros(2), 1.0), 255 - x)  # threshold 0: every pixel inverted
    flat = equalize(torch.arange(256.0).reshape(1, 16, 16, 1).repeat(1, 1, 1, 3) // 4)  # 64 levels, 4 pixels each
    assert flat.min() == 0 and flat.max() == 255


def test_mixup_and_cutmix_give_soft_targets_that_sum_to_one():
    x = torch.randn(8, 3, 8, 8)
    y = torch.arange(8) % 4
    for mixer in (BatchMixer(mixup=0.8, cutmix=0.0, num_classes=4, seed=0),
                  BatchMixer(mixup=0.0, cutmix=1.0, num_classes=4, seed=0),
                  BatchMixer(mixup=0.8, cutmix=1.0, num_classes=4, seed=0)):
        for row in mixer.plan(6, 8, 8, torch.device("cpu")):
            mixed, targets = mixer.mix(x, y, row)
            assert mixed.shape == x.shape and targets.shape == (8, 4)
            torch.testing.assert_close(targets.sum(1), torch.ones(8))
    cutmix = BatchMixer(mixup=0.0, cutmix=1.0, num_classes=4, seed=0)
    row = torch.tensor([1.0, 0.75, 4.0, 4.0])  # a 4x4 box (sqrt(0.25) of each side) in the middle
    mixed, targets = cutmix.mix(x, y, row)
    own = targets.gather(1, y[:, None]).squeeze(1)
    assert torch.equal(mixed[..., :2, :], x[..., :2, :])  # outside the box: the image's own pixels
    torch.testing.assert_close(own.min(), torch.tensor(0.75))  # 1 - 16/64 of each image is its own


# --------------------------------------------------------------------------- optimiser, schedule, lookahead


def test_groups_scale_the_lr_and_keep_the_decay_per_step():
    cfg = resolve("airbench-cifar10", {"device": "cpu"}).train
    model = load_builder("airbench")(resolve("airbench-cifar10").model_args, 3, 10, 32)
    optimizer = make_optimizer(cfg, model.optimizer_groups(), lr_device=torch.device("cpu"))
    weights_group, biases = optimizer.param_groups
    assert biases["lr"].item() == pytest.approx(64 * cfg.lr) and weights_group["lr"].item() == pytest.approx(cfg.lr)
    assert biases["lr"].item() * biases["weight_decay"] == pytest.approx(cfg.lr * cfg.weight_decay)
    held = biases["lr"]
    set_lr(optimizer, 0.5)
    assert biases["lr"] is held and held.item() == pytest.approx(32 * cfg.lr)  # filled in place
    frozen = {id(p) for p in model.parameters() if not p.requires_grad}
    assert frozen and not frozen & {id(p) for g in optimizer.param_groups for p in g["params"]}


def test_linear_schedule_warms_up_then_falls_to_zero():
    cfg = resolve("airbench-cifar10", {"device": "cpu"}).train
    factors = [lr_factor(cfg, s, 10) for s in range(cfg.epochs * 10)]
    assert factors.index(max(factors)) == 22 and max(factors) == pytest.approx(1.0)
    assert factors[-1] < 0.02 and all(a >= b for a, b in zip(factors[23:], factors[24:]))


def test_lookahead_pulls_slow_weights_and_the_model_ends_on_them():
    model = nn.Linear(2, 1, bias=False)
    nn.init.zeros_(model.weight)
    lookahead = Lookahead(model, every=1)
    with torch.no_grad():
        model.weight.fill_(1.0)
    lookahead.sync(0.75)  # slow: 0.75 * 0 + 0.25 * 1
    assert torch.allclose(model.weight, torch.full((1, 2), 0.25))
    with torch.no_grad():
        model.weight.fill_(2.0)
    lookahead.finish()
    assert torch.allclose(model.weight, torch.full((1, 2), 0.25))
