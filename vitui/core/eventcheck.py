"""Provides the checks an event read back from a log must pass before anything draws it: each field of the type
its dataclass declares, and pictures and maps of consistent shapes.

A log line is untrusted: valid JSON of the wrong shape (a string for a step, a ragged attention map) would
otherwise reach a chart or a picture and raise there, far from the line that caused it. A line that fails is
skipped like a torn one. Scalar floats written as null (NaN or infinity in the worker) come back as NaN.
"""

from __future__ import annotations

import math
from typing import Any, Callable

Check = Callable[[Any], Any]  # returns the value (None turned into NaN where a float is due), or raises ValueError


class BadEvent(ValueError):
    """A log line that parses as JSON but is not a well-formed event."""


# Checked by exact type, not isinstance: True is not a step, and type() is the fastest test there is (a 1M-line
# log runs these five million times).
NUMBER_TYPES = (int, float)


def _number(value: Any) -> bool:
    return type(value) in NUMBER_TYPES


def _check_int(value: Any) -> Any:
    if type(value) is int:
        return value
    if type(value) is float and value.is_integer():  # 3.0: a count a trainer computed in floats
        return int(value)
    raise BadEvent(f"expected a whole number, got {type(value).__name__}")


def _check_float(value: Any) -> Any:
    if type(value) in NUMBER_TYPES:
        return value
    if value is None:
        return math.nan  # the worker writes NaN and infinity as null
    raise BadEvent(f"expected a number, got {type(value).__name__}")


def _check_time(value: Any) -> Any:
    if type(value) in NUMBER_TYPES and math.isfinite(value):
        return value
    raise BadEvent("expected a time in seconds")


def _check_str(value: Any) -> Any:
    if type(value) is str:
        return value
    raise BadEvent(f"expected text, got {type(value).__name__}")


def _check_bool(value: Any) -> Any:
    if type(value) is bool:
        return value
    raise BadEvent(f"expected true or false, got {type(value).__name__}")


def _check_figures(value: Any) -> Any:
    """A metric's values: names to numbers, null for a non-finite one (kept as None: the charts skip it)."""
    if type(value) is not dict:
        raise BadEvent("expected names mapped to numbers")
    for v in value.values():
        if type(v) not in NUMBER_TYPES and v is not None:
            raise BadEvent("expected names mapped to numbers")
    return value


def _check_object(value: Any) -> Any:
    """A JSON object whose keys the event's shape check looks at (a system sample's GPUs)."""
    if type(value) is dict:
        return value
    raise BadEvent(f"expected an object, got {type(value).__name__}")


LEAVES: dict[str, Check] = {"int": _check_int, "float": _check_float, "str": _check_str, "bool": _check_bool,
                            "dict[str,Any]": _check_object}


def _list_of(inner: Check) -> Check:
    def check(value: Any) -> Any:
        if type(value) is not list:
            raise BadEvent(f"expected a list, got {type(value).__name__}")
        return [inner(v) for v in value]
    return check


def field_check(annotation: str, name: str) -> Check:
    """The check for a dataclass field from its annotation ("int", "list[list[float]]", "dict[str, float]")."""
    if name == "t":
        return _check_time
    if annotation.replace(" ", "") == "dict[str,float]":
        return _check_figures
    depth = 0
    while annotation.startswith("list[") and annotation.endswith("]"):
        annotation, depth = annotation[5:-1], depth + 1
    check = LEAVES.get(annotation.replace(" ", ""))
    if check is None:
        raise TypeError(f"no check for the event field type {annotation!r}")  # a new event type needs one here
    for _ in range(depth):
        check = _list_of(check)
    return check


# --------------------------------------------------------------------------- shapes of pictures and tables

def _picture(image: list, what: str) -> None:
    """H x W x C bytes with C = 1 or 3, the same in every pixel."""
    if not image or not image[0] or not image[0][0] or len(image[0][0]) not in (1, 3):
        raise BadEvent(f"{what}: not an H x W x 1 or 3 picture")
    width, channels = len(image[0]), len(image[0][0])
    for row in image:
        if len(row) != width or any(len(px) != channels or not all(0 <= c <= 255 for c in px) for px in row):
            raise BadEvent(f"{what}: ragged picture or values outside 0..255")


def _square(matrix: list, side: int, what: str) -> None:
    if len(matrix) != side or any(len(row) != side for row in matrix):
        raise BadEvent(f"{what}: not {side} x {side}")


def _classes(indices: list[int], class_names: list[str], what: str) -> None:
    if not class_names or any(not 0 <= i < len(class_names) for i in indices):
        raise BadEvent(f"{what}: a class index outside the class names")


def _same_length(data: dict[str, Any], *names: str) -> None:
    lengths = {len(data[n]) for n in names}
    if len(lengths) != 1:
        raise BadEvent(f"{', '.join(names)} differ in length")


def _attention(d: dict[str, Any]) -> None:
    _same_length(d, "labels", "predictions", "images", "maps", "rollout")
    if d["grid"] < 1 or not d["maps"] or not d["maps"][0] or not d["maps"][0][0]:
        raise BadEvent("attention: no maps")
    _classes(d["labels"] + d["predictions"], d["class_names"], "attention")
    layers, heads = len(d["maps"][0]), len(d["maps"][0][0])
    for probe, (image, maps, rollout) in enumerate(zip(d["images"], d["maps"], d["rollout"])):
        _picture(image, f"attention probe {probe + 1}")
        _square(rollout, d["grid"], "attention rollout")
        if len(maps) != layers or any(len(layer) != heads for layer in maps):
            raise BadEvent("attention: probes differ in layers or heads")
        for layer in maps:
            for head in layer:
                _square(head, d["grid"], "attention map")


def _misclassified(d: dict[str, Any]) -> None:
    _same_length(d, "images", "labels", "predictions")
    _classes(d["labels"] + d["predictions"], d["class_names"], "misclassified")
    for i, image in enumerate(d["images"]):
        _picture(image, f"misclassified image {i + 1}")


def _evaluation(d: dict[str, Any]) -> None:
    _same_length(d, "class_names", "precision", "recall", "f1", "support", "confusion")
    _square(d["confusion"], len(d["class_names"]), "confusion matrix")


def _samples(d: dict[str, Any]) -> None:
    _same_length(d, "texts", "novel")


GPU_FIGURES = ("util", "mem_used", "mem_total", "power", "temp")


def _system(d: dict[str, Any]) -> None:
    """Each GPU of a sample: a whole-number index, a name (text) and figures that are numbers or null."""
    for gpu in d["gpus"]:
        if type(gpu.get("index")) is not int or not (gpu.get("name") is None or type(gpu["name"]) is str):
            raise BadEvent("system: a GPU without a whole-number index or a text name")
        if any(not (gpu.get(k) is None or _number(gpu[k])) for k in GPU_FIGURES):
            raise BadEvent("system: a GPU figure that is not a number")


def _ranks(d: dict[str, Any]) -> None:
    _same_length(d, "img_per_s", "busy_s")
    if d["world_size"] < 1 or len(d["img_per_s"]) != d["world_size"]:
        raise BadEvent("ranks: not one figure per rank")


# Event kind -> the shape check run after the field checks.
SHAPES: dict[str, Callable[[dict[str, Any]], None]] = {
    "attention": _attention, "misclassified": _misclassified, "evaluation": _evaluation, "samples": _samples,
    "system": _system, "ranks": _ranks,
}
