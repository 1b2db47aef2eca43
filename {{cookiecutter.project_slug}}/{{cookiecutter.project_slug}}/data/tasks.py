"""What a dataset can be asked to predict: the tasks for multitask heads (datasets.py declares which
dataset has which).

Plain Python (no torch import) so that the command line can check `--tasks` instantly; the label
functions map a tensor of class labels [N] to the task's labels [N].
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Task:
    """One prediction target derived from the dataset's class label."""

    name: str
    num_classes: int  # 2 means a binary head: one logit, σ(b) = p
    from_label: Callable
    help: str = ""
    labels: tuple[str, ...] = ()  # class names; empty: the dataset's own (DATASET_CLASSES)
    kind: str = "classification"  # or "regression": one output, a number (num_classes 1)


KINDS = ("classification", "regression")  # objectives.TASK_LOSSES and metrics.METRICS have one entry each


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
        if kind not in (*KINDS, "auto"):
            raise ValueError(
                f"--task-types: unknown task type {kind!r} for {name!r} (choose from {', '.join(KINDS)}, auto)"
            )
    return {n: k for n, k in chosen.items() if k != "auto"}


def _same(y):
    return y


def _parity(y):
    return y % 2


def _is_zero(y):
    return (y == 0).long()


def _footwear(y):
    return ((y == 5) | (y == 7) | (y == 9)).long()  # sandal, sneaker, ankle boot


def _vehicle(y):
    return ((y == 0) | (y == 1) | (y == 8) | (y == 9)).long()  # airplane, automobile, ship, truck


DIGIT_TASKS = (
    Task("digit", 10, _same, "which digit (10 classes)"),
    Task("parity", 2, _parity, "odd (1) or even (0)", ("even", "odd")),
    Task("zero", 2, _is_zero, "is it a 0: the imbalanced binary case (about 10% positives)", ("no", "yes")),
)

FASHION_TASKS = (
    Task("item", 10, _same, "which article of clothing (10 classes)"),
    Task("footwear", 2, _footwear, "sandal, sneaker or ankle boot (30%)", ("no", "yes")),
)
CIFAR_TASKS = (
    Task("class", 10, _same, "which of the 10 classes"),
    Task("vehicle", 2, _vehicle, "vehicle (airplane, automobile, ship, truck) or animal", ("animal", "vehicle")),
)
# num_classes 0: as many classes as the folder has class folders.
FOLDER_TASKS = (Task("class", 0, _same, "which class folder"),)

same, parity = _same, _parity  # for your own declarations in datasets.py


# The class names of each dataset's own label (torchvision's `classes`; CIFAR-10's batches.meta).
# Image folders name their classes by their folders (memory.py).
DATASET_CLASSES: dict[str, tuple[str, ...]] = {
    "digits": tuple(str(d) for d in range(10)),
    "mnist": tuple(str(d) for d in range(10)),
    "fashion-mnist": (
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ),
    "cifar10": ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
}


def class_names(task: Task, dataset_classes: tuple[str, ...] | list[str]) -> list[str]:
    """The task's class names: its own labels, else the dataset's (for tasks that predict the label itself)."""
    return list(task.labels or dataset_classes)
