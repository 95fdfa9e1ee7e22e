"""Provides an airbench94-style network (Jordan 2024, "94% on CIFAR-10 in 3.29 seconds on a single GPU").

Written here from the paper's description: a first 2x2 convolution whose filters whiten the image's 2x2 patches
(set from the patch covariance of training images and frozen; only its bias learns), then three conv groups of
64, 256 and 256 filters, each [conv 3x3, max-pool 2, BatchNorm, GELU, conv 3x3, BatchNorm, GELU], a global
max-pool and a linear head whose logits are scaled down by 9. The BatchNorms learn a shift but no scale, and
their running statistics follow each batch closely (momentum 0.4). Every 3x3 conv starts as the identity on as
many channels as it has inputs. The biases learn 64x faster than the weights (`optimizer_groups`).

The rest of the method is the trainer's and the experiment's (configs/airbench-cifar10.toml): Nesterov SGD,
label smoothing 0.2, 2-pixel reflected shifts with alternating flips, lookahead, flip test-time augmentation.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

WHITEN_EPS = 5e-4  # added to the patch covariance's eigenvalues: directions with almost no variance are not blown up


# --------------------------------------------------------------------------- the whitening layer

def patch_covariance(images: torch.Tensor, size: int) -> torch.Tensor:
    """(N, C, H, W) standardised images -> (C*size*size, C*size*size) second moment of all their size x size patches
    (the images are centred, so it is their covariance)."""
    c = images.shape[1]
    patches = images.unfold(2, size, 1).unfold(3, size, 1)  # (N, C, H', W', size, size)
    flat = patches.permute(0, 2, 3, 1, 4, 5).reshape(-1, c * size * size).double()
    return flat.T @ flat / len(flat)


def whitening_filters(covariance: torch.Tensor, channels: int, size: int, eps: float = WHITEN_EPS) -> torch.Tensor:
    """Filters that project a patch onto each eigenvector of the covariance, scaled to unit variance, and the same
    negated (so a ReLU-like activation after them keeps both signs): (2 * C*size*size, C, size, size)."""
    eigenvalues, eigenvectors = torch.linalg.eigh(covariance)
    filters = (eigenvectors.T / torch.sqrt(eigenvalues + eps)[:, None]).reshape(-1, channels, size, size)
    return torch.cat([filters, -filters]).float()


# --------------------------------------------------------------------------- blocks

def conv3x3(c_in: int, c_out: int) -> nn.Conv2d:
    conv = nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)  # a BatchNorm follows: no bias
    nn.init.dirac_(conv.weight[:c_in])  # the first c_in filters pass their input through: deep nets start shallow
    return conv


def batchnorm(channels: int, momentum: float) -> nn.BatchNorm2d:
    norm = nn.BatchNorm2d(channels, momentum=momentum, eps=1e-12)
    norm.weight.requires_grad_(False)  # a shift but no learned scale: the next BatchNorm would undo it
    return norm


class ConvGroup(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, momentum: float):
        super().__init__(conv3x3(c_in, c_out), nn.MaxPool2d(2), batchnorm(c_out, momentum), nn.GELU(),
                         conv3x3(c_out, c_out), batchnorm(c_out, momentum), nn.GELU())


# --------------------------------------------------------------------------- the model

class Airbench(nn.Module):
    def __init__(self, *, in_channels: int, num_classes: int, image_size: int, widths: tuple[int, int, int] = (64, 256, 256),
                 bn_momentum: float = 0.4, logit_scale: float = 1 / 9, bias_lr: float = 64.0):
        super().__init__()
        if image_size < 9:
            raise ValueError(f"images of {image_size}x{image_size} are too small for the whitening conv and three "
                             f"pooling groups (need >= 9)")
        patch_dims = in_channels * 2 * 2
        self.whiten = nn.Conv2d(in_channels, 2 * patch_dims, 2, bias=True)
        self.whiten.weight.requires_grad_(False)  # set from the data by init_from_data, then fixed
        self.groups = nn.Sequential(ConvGroup(2 * patch_dims, widths[0], bn_momentum),
                                    ConvGroup(widths[0], widths[1], bn_momentum),
                                    ConvGroup(widths[1], widths[2], bn_momentum))
        self.pool = nn.AdaptiveMaxPool2d(1)
        self.head = nn.Linear(widths[2], num_classes, bias=False)
        self.logit_scale = logit_scale
        self.bias_lr = bias_lr

    @torch.no_grad()
    def init_from_data(self, images: torch.Tensor) -> None:
        """Set the whitening filters from standardised training images (N, C, H, W); a few thousand are plenty."""
        size = self.whiten.kernel_size[0]
        covariance = patch_covariance(images.float(), size)
        self.whiten.weight.copy_(whitening_filters(covariance, images.shape[1], size).to(self.whiten.weight.device))

    def optimizer_groups(self) -> list[dict[str, Any]]:
        """The biases (whitening and BatchNorm shifts) at bias_lr x the learning rate, the weights at 1x."""
        trainable = [(n, p) for n, p in self.named_parameters() if p.requires_grad]
        biases = [p for n, p in trainable if n.endswith("bias")]
        weights = [p for n, p in trainable if not n.endswith("bias")]
        return [{"params": weights}, {"params": biases, "lr_scale": self.bias_lr}]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = nn.functional.gelu(self.whiten(x))
        x = self.pool(self.groups(x)).flatten(1)
        return self.head(x) * self.logit_scale


def build(args: Any, in_channels: int, num_classes: int, image_size: int) -> Airbench:
    """The image-model constructor the trainer calls: settings from AirbenchArgs, shape from the data."""
    return Airbench(in_channels=in_channels, num_classes=num_classes, image_size=image_size,
                    widths=(args.width1, args.width2, args.width3), bn_momentum=args.bn_momentum,
                    logit_scale=args.logit_scale, bias_lr=args.bias_lr)
