"""THE place to add a metric: one entry of METRICS under the kind of task it measures (data/tasks.KINDS),
a torchmetrics constructor per task (given its number of classes). Each is computed per split and epoch
and logged as `<split>/<name>` for the primary task (and `<split>/<task>/<name>` with several tasks);
the epoch lines print the primary task's for train and val. Regression metrics read the predictions
and targets in the target's own units. The monitored metric (monitor.py) must be one of them."""

from __future__ import annotations

from collections.abc import Callable

import torchmetrics


def accuracy(num_classes: int) -> torchmetrics.Metric:
    if num_classes == 2:
        return torchmetrics.classification.BinaryAccuracy()
    return torchmetrics.classification.MulticlassAccuracy(num_classes, average="micro")


METRICS: dict[str, dict[str, Callable[[int], torchmetrics.Metric]]] = {
    "classification": {"acc": accuracy},
    "regression": {
        "rmse": lambda _: torchmetrics.MeanSquaredError(squared=False),
        "mae": lambda _: torchmetrics.MeanAbsoluteError(),
        "r2": lambda _: torchmetrics.R2Score(),
    },
}


def confusion_matrix(num_classes: int) -> torchmetrics.Metric:
    """The test set's confusion matrix of the primary task (plots/confusion_matrix.png, results.json)."""
    if num_classes == 2:
        return torchmetrics.classification.BinaryConfusionMatrix()
    return torchmetrics.classification.MulticlassConfusionMatrix(num_classes)


def epoch_line_keys(kind: str = "classification") -> tuple[str, ...]:
    """What the per-epoch line prints: the primary task's metrics on train and val, and the validation loss."""
    names = METRICS[kind]
    return (*(f"train/{m}" for m in names), "val/loss", *(f"val/{m}" for m in names))
