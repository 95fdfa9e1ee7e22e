"""Provides the seed's evaluation figures: accuracy, per-class precision / recall / F1, confusion matrix."""

from __future__ import annotations

import numpy as np

from vitui.core.events import Evaluation


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """Rows are true classes, columns predicted ones."""
    return np.bincount(y_true * num_classes + y_pred, minlength=num_classes ** 2).reshape(num_classes, num_classes)


def evaluation(split: str, y_true: np.ndarray, y_pred: np.ndarray, loss: float, class_names: list[str]) -> Evaluation:
    y_true, y_pred = np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)
    cm = confusion_matrix(y_true, y_pred, len(class_names))
    tp = np.diag(cm).astype(float)
    predicted, actual = cm.sum(axis=0), cm.sum(axis=1)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, actual, out=np.zeros_like(tp), where=actual > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    return Evaluation(split=split, accuracy=float((y_true == y_pred).mean()) if len(y_true) else 0.0,
                      loss=float(loss), class_names=list(class_names), precision=precision.tolist(),
                      recall=recall.tolist(), f1=f1.tolist(), support=actual.astype(int).tolist(),
                      confusion=cm.astype(int).tolist())


class BestTracker:
    """Keeps the best value of one metric and when it was reached (for summaries and best checkpoints)."""

    def __init__(self, name: str, mode: str = "max"):
        self.name, self.mode = name, mode
        self.value: float | None = None
        self.step = self.epoch = 0
        self.time = 0.0

    def update(self, value: float, *, step: int, epoch: float, elapsed: float) -> bool:
        better = self.value is None or (value > self.value if self.mode == "max" else value < self.value)
        if better:
            self.value, self.step, self.epoch, self.time = float(value), step, epoch, elapsed
        return better

    def to_dict(self) -> dict:
        return {"name": self.name, "value": self.value, "step": self.step, "epoch": self.epoch, "time": self.time}

    def restore(self, saved: dict) -> None:
        """Take up the best so far from to_dict()'s record (a resumed run)."""
        self.value, self.step, self.epoch, self.time = saved["value"], saved["step"], saved["epoch"], saved["time"]
