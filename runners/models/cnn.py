"""Provides the seed's CIFAR-10 CNN: two conv blocks and a dense head, with or without BatchNorm.

[Conv w, ReLU, Conv w, ReLU, MaxPool 2, Dropout] -> the same with 2w filters -> Flatten -> Dense + ReLU
-> Dropout -> Dense(classes). The first conv of a block keeps the size ('same'), the second shrinks it
by 2 ('valid'), as in the Keras example the seed followed. With BatchNorm it sits after every conv and
the dense layer, before the ReLU; the layer before a BatchNorm needs no bias.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


def conv_bn_relu(c_in: int, c_out: int, padding: int, batchnorm: bool) -> list[nn.Module]:
    layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, 3, padding=padding, bias=not batchnorm)]
    if batchnorm:
        layers.append(nn.BatchNorm2d(c_out))
    layers.append(nn.ReLU(inplace=True))
    return layers


class ConvBlock(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, *, batchnorm: bool, dropout: float):
        super().__init__(*conv_bn_relu(c_in, c_out, 1, batchnorm), *conv_bn_relu(c_out, c_out, 0, batchnorm),
                         nn.MaxPool2d(2), nn.Dropout(dropout))


class CNN(nn.Module):
    def __init__(self, *, in_channels: int, num_classes: int, image_size: int, width: int = 32, dense: int = 512,
                 batchnorm: bool = False, dropout_conv: float = 0.25, dropout_fc: float = 0.5):
        super().__init__()
        self.features = nn.Sequential(
            ConvBlock(in_channels, width, batchnorm=batchnorm, dropout=dropout_conv),
            ConvBlock(width, 2 * width, batchnorm=batchnorm, dropout=dropout_conv),
        )
        side = image_size
        for _ in range(2):  # each block: 'valid' conv takes 2 pixels, pooling halves
            side = (side - 2) // 2
        if side < 1:
            raise ValueError(f"images of {image_size}x{image_size} are too small for two conv blocks (need >= 10)")
        head: list[nn.Module] = [nn.Flatten(), nn.Linear(2 * width * side * side, dense, bias=not batchnorm)]
        if batchnorm:
            head.append(nn.BatchNorm1d(dense))
        head += [nn.ReLU(inplace=True), nn.Dropout(dropout_fc), nn.Linear(dense, num_classes)]
        self.classifier = nn.Sequential(*head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def build(args: Any, in_channels: int, num_classes: int, image_size: int, *, batchnorm: bool = False) -> CNN:
    """The image-model constructor the trainer calls: settings from CNNArgs, shape from the data."""
    return CNN(in_channels=in_channels, num_classes=num_classes, image_size=image_size, width=args.width,
               dense=args.dense, batchnorm=batchnorm, dropout_conv=args.dropout_conv, dropout_fc=args.dropout_fc)


def build_batchnorm(args: Any, in_channels: int, num_classes: int, image_size: int) -> CNN:
    return build(args, in_channels, num_classes, image_size, batchnorm=True)
