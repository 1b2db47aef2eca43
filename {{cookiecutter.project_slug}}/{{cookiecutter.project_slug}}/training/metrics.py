"""THE place to add a metric: one entry of METRICS, a torchmetrics constructor per task (given its
number of classes). Each is computed per split and epoch and logged as `<split>/<name>` for the
primary task (and `<split>/<task>/<name>` with several tasks); the epoch lines print it for train and
val. The monitored metric (monitor.py) must be one of them."""

from __future__ import annotations

from collections.abc import Callable

import torchmetrics


def accuracy(num_classes: int) -> torchmetrics.Metric:
    if num_classes == 2:
        return torchmetrics.classification.BinaryAccuracy()
    return torchmetrics.classification.MulticlassAccuracy(num_classes, average="micro")


METRICS: dict[str, Callable[[int], torchmetrics.Metric]] = {
    "acc": accuracy,
}


def confusion_matrix(num_classes: int) -> torchmetrics.Metric:
    """The test set's confusion matrix of the primary task (plots/confusion_matrix.png, results.json)."""
    if num_classes == 2:
        return torchmetrics.classification.BinaryConfusionMatrix()
    return torchmetrics.classification.MulticlassConfusionMatrix(num_classes)


def epoch_line_keys() -> tuple[str, ...]:
    """What the per-epoch line prints: each metric on train and val, and the validation loss."""
    return (*(f"train/{m}" for m in METRICS), "val/loss", *(f"val/{m}" for m in METRICS))
