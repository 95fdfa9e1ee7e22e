"""Provides the model table: every model vitui trains, with its task, its settings and what builds it.

Adding a model is one file in runners/models/ (the network) and one entry here: its settings dataclass and a
row naming the task that trains it and the function that builds it ("module:function", imported only inside
the worker, so the app and the CLI never load torch). The config, the worker, the
launcher form and the CLI all read this table.
"""

from __future__ import annotations

from dataclasses import dataclass

from vitui.core.settings import BaseConfig, CharConfig, ImageConfig, MLPConfig, setting


# --------------------------------------------------------------------------- each model's own settings

@dataclass
class MLPArgs:
    hidden: int = setting(64, "hidden units of the two-layer network", min=1, max=100_000)


@dataclass
class CNNArgs:
    dropout_conv: float = setting(0.25, "dropout after each conv block", min=0.0, max=0.95)
    dropout_fc: float = setting(0.5, "dropout before the last dense layer", min=0.0, max=0.95)
    width: int = setting(32, "filters of the first block (the second has twice as many)", min=1, max=1024)
    dense: int = setting(512, "units of the hidden dense layer", min=1, max=65_536)


@dataclass
class ViTArgs:
    """A small Vision Transformer: 4x4 patches of a 32x32 image give 64 tokens plus the class token."""

    dim: int = setting(192, "token width: size of each patch embedding", min=8, max=8192)
    depth: int = setting(6, "encoder blocks", min=1, max=128)
    heads: int = setting(3, "attention heads per block (dim must be a multiple)", min=1, max=128)
    patch: int = setting(4, "patch side in pixels (must divide the image side)", min=1, max=1024)
    mlp_ratio: float = setting(2.0, "MLP hidden width as a multiple of dim", min=0.25, max=16.0)
    dropout: float = setting(0.0, "dropout on embeddings, attention and MLP outputs", min=0.0, max=0.95)
    drop_path: float = setting(0.1, "stochastic depth: drop rate of the last block's branches", min=0.0, max=0.95)
    pool: str = setting("class", "what the head reads: the class token, or sequence pooling (a learned softmax "
                        "weighting of the patch tokens, no class token; Hassani et al. 2021)", choices=("class", "sequence"))


@dataclass
class AirbenchArgs:
    """An airbench94-style network (Jordan 2024): a whitened 2x2 conv, then three conv groups with BatchNorm."""

    width1: int = setting(64, "filters of the first conv group", min=1, max=4096)
    width2: int = setting(256, "filters of the second conv group", min=1, max=4096)
    width3: int = setting(256, "filters of the third conv group", min=1, max=4096)
    bn_momentum: float = setting(0.4, "weight of each batch in BatchNorm's running statistics", min=0.0, max=1.0)
    logit_scale: float = setting(1 / 9, "the logits are multiplied by this (airbench: 1/9)", min=1e-6, max=100.0)
    bias_lr: float = setting(64.0, "learning rate of the biases as a multiple of lr (their weight decay stays)",
                             min=0.0, max=10_000.0)


@dataclass
class RNNArgs:
    hidden: int = setting(50, "hidden units of the vanilla RNN (the course used 50)", min=1, max=4096)
    init_scale: float = setting(0.01, "weights start as normal noise times this (the course's 0.01)", min=0.0, max=10.0)
    carry_state: bool = setting(True, "carry the hidden state from one name into the next, as the course does")


@dataclass
class CharRNNArgs:
    hidden: int = setting(128, "hidden units per recurrent layer", min=1, max=65_536)
    layers: int = setting(1, "stacked recurrent layers", min=1, max=16)
    embedding: int = setting(32, "size of the learned character embedding", min=1, max=65_536)
    dropout: float = setting(0.3, "dropout on the recurrent outputs (and between layers)", min=0.0, max=0.95)



# --------------------------------------------------------------------------- the tables

@dataclass(frozen=True)
class TaskSpec:
    """A kind of training: its settings, its loop (runners/<module>.py, function train) and what data it takes."""

    name: str
    config: type[BaseConfig]
    trainer: str  # the module in runners/ whose train(config, ctx) runs it
    images: bool  # trains on image data sets (any image model on any image data set)


@dataclass(frozen=True)
class ModelSpec:
    """One row of the model table."""

    name: str
    task: str
    args: type  # the model's settings dataclass
    build: str  # "module:function" that makes the model for the task's loop (imported only by the worker)
    attention: bool = False  # logs attention maps (a ViT)
    # bf16 autocast on a CPU with bf16 instructions (AMX, AVX512-BF16): measured 1.9x for CNN-BN, no clear gain for
    # the ViT (docs/results.md).
    cpu_bf16: bool = False


TASKS: dict[str, TaskSpec] = {t.name: t for t in (
    TaskSpec("mlp", MLPConfig, "train_mlp", images=True),
    TaskSpec("image", ImageConfig, "train_image", images=True),
    TaskSpec("chars", CharConfig, "train_chars", images=False),
)}

MODELS: dict[str, ModelSpec] = {m.name: m for m in (
    ModelSpec("mlp-numpy", "mlp", MLPArgs, "runners.models.mlp_numpy:build"),
    ModelSpec("cnn", "image", CNNArgs, "runners.models.cnn:build", cpu_bf16=True),
    ModelSpec("cnn-bn", "image", CNNArgs, "runners.models.cnn:build_batchnorm", cpu_bf16=True),
    ModelSpec("airbench", "image", AirbenchArgs, "runners.models.airbench:build", cpu_bf16=True),
    ModelSpec("vit", "image", ViTArgs, "runners.models.vit:build", attention=True),
    # Character models are built with their learner: the model together with its update rule.
    ModelSpec("rnn-numpy", "chars", RNNArgs, "runners.char_learners:NumpyRNNLearner"),
    ModelSpec("lstm", "chars", CharRNNArgs, "runners.char_learners:TorchLearner"),
    ModelSpec("gru", "chars", CharRNNArgs, "runners.char_learners:TorchLearner"),
)}


def task_of(model: str) -> TaskSpec:
    return TASKS[MODELS[model].task]
