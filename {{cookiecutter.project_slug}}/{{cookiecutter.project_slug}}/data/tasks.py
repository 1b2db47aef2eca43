"""What a dataset can be asked to predict: THE place for a kind of task (TASK_KINDS: its loss, metrics,
monitored metric, output-bias prior, target units and predictions, one entry per kind) and `Task`, one
target (datasets.py declares each dataset's). Plain Python at import (torch loads inside the methods
that compute) so that the command line checks `--tasks` and `--task-types` instantly."""

import math
from collections.abc import Callable
from dataclasses import dataclass


def accuracy(num_classes: int):
    from torchmetrics.classification import BinaryAccuracy, MulticlassAccuracy

    return BinaryAccuracy() if num_classes == 2 else MulticlassAccuracy(num_classes, average="micro")


class TaskKind:
    """A kind of task: all that differs between kinds, one subclass each, registered in TASK_KINDS (`--task-types`
    offers its name). Training, testing, prediction and export ask a task's kind:
    loss(outputs [B, k], target [B], mean, std, **flags) → (loss, prediction, target): the head's loss and what its
    metrics read. target: a class index, or a number in the target's units; mean, std: the task's training statistics
    (classes: 0, 1); flags: the values of the flags named in `flags`.
    predict(outputs, mean, std): what predict.py reports, class probabilities [B, C] or values [B, 1]."""

    name: str
    metrics: dict[str, Callable]  # name → constructor(number of classes): <split>/<name> per epoch
    monitor: str  # the metric (val/<monitor>) a run whose primary task is of this kind follows, ...
    mode: str  # ... maximized (max) or minimized (min)
    numeric = False  # targets are numbers (standardized with the training split's μ, σ), not class indices
    flags: tuple[str, ...] = ()  # the flags its loss takes as keywords

    def bias(self, statistics: list[float]) -> list[float]:
        """The output bias under --output-bias prior, from the task's DataModule.label_frequencies."""
        return list(statistics)

    def units(self, outputs, mean, std):
        """Outputs [B, k] as export.py writes them: logits stay logits; a number is z·σ + μ."""
        return outputs

    def confusion(self, num_classes: int):
        """The test split's confusion matrix (a torchmetrics Metric), for a kind that has one."""


class Classification(TaskKind):
    """C classes: C logits under softmax, or for a binary task one logit b with σ(b) = P(label = 1)."""

    name, monitor, mode = "classification", "acc", "max"
    metrics = {"acc": accuracy}

    def loss(self, logits, target, mean, std):
        """Cross-entropy over C logits, or binary cross-entropy on one logit; the metrics read the logits."""
        import torch.nn.functional as F

        target = target.long()
        if logits.shape[1] == 1:
            logits = logits.squeeze(1)
            return F.binary_cross_entropy_with_logits(logits, target.float()), logits, target
        return F.cross_entropy(logits, target), logits, target

    def predict(self, logits, mean, std):
        """Softmax, or for a binary head's one logit b the two probabilities (1 − σ(b), σ(b))."""
        import torch

        if logits.shape[1] > 1:
            return torch.softmax(logits.float(), dim=1)
        p = torch.sigmoid(logits.float())
        return torch.cat([1 - p, p], dim=1)

    def bias(self, frequencies: list[float]) -> list[float]:
        """The bias that reproduces the class frequencies p when the weights are zero: b_c = log p_c
        (softmax(log p) = p); one logit b = logit(p) = log(p / (1 − p)), so σ(b) = p (the checklist's 75%)."""
        p = [min(max(f, 1e-6), 1 - 1e-6) for f in frequencies]
        return [math.log(p[1] / (1 - p[1]))] if len(p) == 2 else [math.log(q) for q in p]

    def confusion(self, num_classes: int):
        from torchmetrics.classification import BinaryConfusionMatrix, MulticlassConfusionMatrix

        return BinaryConfusionMatrix() if num_classes == 2 else MulticlassConfusionMatrix(num_classes)


{%- if cookiecutter.tables %}


def torchmetric(name: str, **options) -> Callable:
    """A metric constructor (given the number of classes) of torchmetrics.<name>(**options)."""
    import importlib

    return lambda num_classes: getattr(importlib.import_module("torchmetrics"), name)(**options)


class Regression(TaskKind):
    """A number: one output z that learns the standardized target (y − μ)/σ of the training split's μ, σ;
    metrics and predictions are back in the target's own units, z·σ + μ."""

    name, monitor, mode, numeric = "regression", "rmse", "min", True
    metrics = {
        "rmse": torchmetric("MeanSquaredError", squared=False),
        "mae": torchmetric("MeanAbsoluteError"),
        "r2": torchmetric("R2Score"),
    }
    flags = ("regression_loss", "huber_delta")

    def loss(self, outputs, target, mean, std, regression_loss="mse", huber_delta=1.0):
        """--regression-loss mse, huber (--huber-delta δ, in standard deviations) or l1, on the
        standardized target; the metrics read values [B] in the target's units."""
        import torch.nn.functional as F

        z = outputs.squeeze(1)
        standardized = ((target.float() - mean) / std).to(z.dtype)
        if regression_loss == "huber":
            loss = F.huber_loss(z, standardized, delta=huber_delta)
        else:
            loss = (F.l1_loss if regression_loss == "l1" else F.mse_loss)(z, standardized)
        return loss, self.units(outputs.detach(), mean, std)[:, 0], target.float()

    def units(self, outputs, mean, std):
        return outputs.float() * std + mean

    predict = units  # a value [B, 1] in the target's units


TASK_KINDS: dict[str, TaskKind] = {kind.name: kind for kind in (Classification(), Regression())}
{%- else %}


TASK_KINDS: dict[str, TaskKind] = {kind.name: kind for kind in (Classification(),)}
{%- endif %}
DEFAULT_KIND = Classification.name  # of a Task declared without one, and of checkpoints saved before kinds


def kinds_of(hparams: dict) -> list[TaskKind]:
    """Each task's kind from a module's (or checkpoint's) hyperparameters (none saved: classification)."""
    return [TASK_KINDS[k] for k in hparams.get("task_kinds") or [DEFAULT_KIND] * len(hparams["task_classes"])]


@dataclass(frozen=True)
class Task:
    """One prediction target derived from the dataset's class label."""

    name: str
    num_classes: int  # 2 means a binary head: one logit, σ(b) = p; a number (Regression): 1
    from_label: Callable  # class labels [N] → the task's labels [N]
    help: str = ""
    labels: tuple[str, ...] = ()  # class names; empty: the dataset's own (Dataset.classes)
    kind: str = DEFAULT_KIND  # a key of TASK_KINDS


def same(y):
    return y  # the task predicts the dataset's class label itself


{%- if cookiecutter.tables %}


def parse_task_types(entries: list[str], tasks: list[str]) -> dict[str, str]:
    """--task-types: a list aligned with --tasks (`auto,regression`) or COLUMN:TYPE pairs
    (`price:regression`); returns {task: kind} for the tasks it sets (auto: inferred from the data).
    Raises ValueError with the line to show."""
    if not entries:
        return {}
    pairs = [e.partition(":") for e in entries]
    named = [bool(sep) for _, sep, _ in pairs]
    if any(named) and not all(named):
        raise ValueError("--task-types: give either one type per task (aligned with --tasks) or COLUMN:TYPE pairs")
    if all(named):
        chosen = {name.strip(): kind.strip() for name, _, kind in pairs}
        unknown = [n for n in chosen if n not in tasks]
        if unknown:
            raise ValueError(f"--task-types: {unknown[0]!r} is not one of the tasks ({', '.join(tasks) or 'none'})")
    else:
        if len(entries) != len(tasks):
            raise ValueError(
                f"--task-types needs one type per task: {len(tasks)} tasks ({','.join(tasks)}), {len(entries)} types"
            )
        chosen = {t: e.strip() for t, e in zip(tasks, entries)}
    for name, kind in chosen.items():
        if kind not in (*TASK_KINDS, "auto"):
            raise ValueError(
                f"--task-types: unknown task type {kind!r} for {name!r} (choose from {', '.join(TASK_KINDS)}, auto)"
            )
    return {n: k for n, k in chosen.items() if k != "auto"}
{%- endif %}
