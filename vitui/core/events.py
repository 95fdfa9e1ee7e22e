"""Provides the event records that flow from a training worker to the run log, the terminal and the app.

Every record is a small dataclass of plain Python values (no torch, numpy or Textual types), so it
pickles across a multiprocessing queue and turns into one self-contained JSON line in the run log.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

from vitui.core.eventcheck import NUMBER_TYPES, SHAPES, BadEvent, field_check


@dataclass
class Event:
    kind: ClassVar[str] = "event"
    t: float = field(default_factory=time.time, kw_only=True)

    def to_dict(self) -> dict[str, Any]:
        # Shallow on purpose: fields are plain values already, and asdict's deep copy of an attention
        # map or an image list costs ~10 ms per event for nothing.
        return {"kind": self.kind, **{f.name: getattr(self, f.name) for f in fields(self)}}


@dataclass
class Metric(Event):
    """Scalar figures at one point of training: `split` says which data they describe."""

    kind: ClassVar[str] = "metric"
    step: int
    epoch: float
    split: str  # "train" (per logging interval), "epoch" (per epoch summary), "val", "test"
    values: dict[str, float]


@dataclass
class Progress(Event):
    """Where training stands, for progress bars and ETA."""

    kind: ClassVar[str] = "progress"
    step: int
    total_steps: int
    epoch: int
    total_epochs: int
    unit: str = "step"  # what one step is: "step" (a batch), "iteration", ...


@dataclass
class Log(Event):
    """A line of text from the worker: info, warning or error (a traceback for a crash)."""

    kind: ClassVar[str] = "log"
    level: str
    message: str


@dataclass
class Status(Event):
    """A change of run state: running, completed, failed or stopped."""

    kind: ClassVar[str] = "status"
    state: str
    detail: str = ""


@dataclass
class Resumed(Event):
    """The run continues from its last checkpoint: training restarts after `step`, and readings the log holds
    past it (from the attempt that was cut short) are superseded by the new ones."""

    kind: ClassVar[str] = "resumed"
    step: int
    epoch: float
    count: int  # how often the run has been resumed, this time included


@dataclass
class Evaluation(Event):
    """Final classification figures on one split: accuracy, per-class table and confusion matrix."""

    kind: ClassVar[str] = "evaluation"
    split: str
    accuracy: float
    loss: float
    class_names: list[str]
    precision: list[float]
    recall: list[float]
    f1: list[float]
    support: list[int]
    confusion: list[list[int]]  # rows: true class, columns: predicted class


@dataclass
class Samples(Event):
    """Generated text samples (e.g. dinosaur names) at one training step."""

    kind: ClassVar[str] = "samples"
    step: int
    temperature: float
    texts: list[str]
    novel: list[bool]
    novelty: float


@dataclass
class Attention(Event):
    """Class-token attention maps of a ViT for a fixed set of probe images.

    maps[p][l][h] is a grid x grid list of floats for probe p, layer l, head h: the class token's
    attention over the patches (row-major, the class token's attention to itself left out);
    rollout[p] is the attention rollout across layers for probe p, the same shape.
    A ViT with sequence pooling has no class token: its maps are the pooled token's view (each token's
    attention row weighted by its pooling weight), and pooling[p] is the pooling weights over the
    patches, a grid x grid map that sums to 1 (empty for a class-token model).
    Floats are rounded to 4 decimals to keep the log compact.
    Probe images are stored once per event as nested lists of bytes (H x W x C, C = 1 or 3), so
    every event renders on its own.
    """

    kind: ClassVar[str] = "attention"
    step: int
    grid: int
    labels: list[int]
    predictions: list[int]
    class_names: list[str]
    images: list[list[list[list[int]]]]
    maps: list[list[list[list[list[float]]]]]
    rollout: list[list[list[float]]]
    pooling: list[list[list[float]]] = field(default_factory=list)


@dataclass
class Misclassified(Event):
    """A handful of validation images the model got wrong, with true and predicted labels."""

    kind: ClassVar[str] = "misclassified"
    step: int
    class_names: list[str]
    images: list[list[list[list[int]]]]  # each H x W x C bytes (C = 1 or 3)
    labels: list[int]
    predictions: list[int]


@dataclass
class System(Event):
    """A sample of the machine the worker runs on, taken every few seconds (`system_every`): CPU, memory and, where
    NVML sees any, each visible GPU. `gpus` is empty without a GPU or without NVML."""

    kind: ClassVar[str] = "system"
    cpu_percent: float  # all cores together, 0..100
    ram_used: int  # bytes in use on the machine
    ram_total: int
    rss: int  # bytes resident in the worker process itself (rank 0's in a distributed run)
    # One dict per GPU: index, name, util (%), mem_used and mem_total (bytes), power (W), temp (degrees C); a figure
    # the GPU does not report is None.
    gpus: list[dict[str, Any]] = field(default_factory=list)

    def figures(self) -> dict[str, float]:
        """The sample as flat figures: cpu_percent, ram_used, rss, and gpu<i>_util, _mem_used, _power, _temp per GPU
        (the ones it reported)."""
        out = {"cpu_percent": float(self.cpu_percent), "ram_used": float(self.ram_used), "rss": float(self.rss)}
        for gpu in self.gpus:
            for key in ("util", "mem_used", "power", "temp"):
                if isinstance(gpu.get(key), (int, float)):
                    out[f"gpu{gpu.get('index', 0)}_{key}"] = float(gpu[key])
        return out


@dataclass
class Ranks(Event):
    """How the ranks of a distributed run (DistributedDataParallel) kept pace over the last logging interval."""

    kind: ClassVar[str] = "ranks"
    step: int
    backend: str  # "nccl" or "gloo"
    world_size: int
    batch_size: int  # the global batch: every rank's batch together
    img_per_s: list[float]  # per rank: the images it trained on over the interval's wall time
    # Per rank: seconds from the start of each step until its gradients were ready to be shared, summed over the
    # interval; the rest of a step is spent waiting on the slowest rank.
    busy_s: list[float]

    @property
    def rank_batch(self) -> int:
        return self.batch_size // max(1, self.world_size)

    @property
    def straggler(self) -> float | None:
        """The slowest rank's busy time over the fastest's: 1.0 when they keep pace."""
        if not self.busy_s or min(self.busy_s) <= 0:
            return None
        return max(self.busy_s) / min(self.busy_s)


EVENT_TYPES: dict[str, type[Event]] = {
    cls.kind: cls for cls in (Metric, Progress, Log, Status, Resumed, Evaluation, Samples, Attention, Misclassified,
                              System, Ranks)
}


def event_from_dict(data: Any) -> Event:
    """Rebuild an event from its JSON form; unknown keys are ignored so old logs stay readable. Raises ValueError
    (BadEvent) for anything that is not a well-formed event: not an object, an unknown kind, a field of the wrong
    type, pictures or maps of inconsistent shapes."""
    if type(data) is not dict:
        raise BadEvent(f"not a JSON object but {type(data).__name__}")
    kind = data.get("kind")
    if kind == "metric":  # nine lines in ten of a long log: the same checks, spelt out
        metric = _plain_metric(data)
        if metric is not None:
            return metric
    cls = EVENT_TYPES.get(kind) if type(kind) is str else None
    if cls is None:
        raise BadEvent(f"unknown event kind {kind!r}")
    checks = _FIELD_CHECKS.get(kind) or _FIELD_CHECKS.setdefault(kind, _checks_of(cls))
    try:
        event = cls(**{name: check(data[name]) for name, check in checks if name in data})
    except TypeError as exc:  # a required field is missing
        raise BadEvent(f"{kind} event: {exc}") from None
    shape = SHAPES.get(kind)
    if shape is not None:
        shape(vars(event))
    return event


def _plain_metric(data: dict[str, Any]) -> Metric | None:
    """A metric line whose fields all have their plain types, or None to go the general way (which says why not)."""
    step, epoch, split, values, t = (data.get(k) for k in ("step", "epoch", "split", "values", "t"))
    if (type(step) is not int or type(epoch) not in NUMBER_TYPES or type(split) is not str or type(values) is not dict
            or type(t) not in NUMBER_TYPES or not math.isfinite(t)):
        return None
    for value in values.values():
        if type(value) not in NUMBER_TYPES and value is not None:
            return None
    return Metric(step=step, epoch=epoch, split=split, values=values, t=t)


def _checks_of(cls: type[Event]) -> tuple[tuple[str, Any], ...]:
    return tuple((f.name, field_check(str(f.type), f.name)) for f in fields(cls))


_FIELD_CHECKS: dict[str, tuple[tuple[str, Any], ...]] = {kind: _checks_of(cls) for kind, cls in EVENT_TYPES.items()}
