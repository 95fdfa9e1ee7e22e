"""Provides the models, one module per family, and a plain name-to-constructor mapping for image models."""

from __future__ import annotations

from typing import Any, Callable


def _cnn(batchnorm: bool) -> Callable[..., Any]:
    def build(args: Any, in_channels: int, num_classes: int, image_size: int) -> Any:
        from runners.models.cnn import CNN

        return CNN(in_channels=in_channels, num_classes=num_classes, image_size=image_size, width=args.width,
                   dense=args.dense, batchnorm=batchnorm, dropout_conv=args.dropout_conv, dropout_fc=args.dropout_fc)
    return build


def _vit(args: Any, in_channels: int, num_classes: int, image_size: int) -> Any:
    from runners.models.vit import build

    return build(args, in_channels, num_classes, image_size)


# name -> build(model_args, in_channels, num_classes, image_size) -> torch.nn.Module
IMAGE_MODELS: dict[str, Callable[..., Any]] = {
    "cnn": _cnn(batchnorm=False),
    "cnn-bn": _cnn(batchnorm=True),
    "vit": _vit,
}


def build_image_model(name: str, args: Any, in_channels: int, num_classes: int, image_size: int) -> Any:
    return IMAGE_MODELS[name](args, in_channels, num_classes, image_size)
