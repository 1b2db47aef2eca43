"""The targets of a table: each task column is classification (its distinct values become classes) or
regression (a number), inferred from the column or set with --task-types; the checks a regression
target needs; the split when the primary task is a number; and the training split's statistics the
regression heads standardize with (and the prior of their output bias).

Columns are lists of strings (a CSV file) or NumPy arrays (an embedded table): no pandas dependency.
"""

import numpy as np

from ..errors import DataError
from .tasks import TASK_KINDS, Classification, Regression

F32 = float(np.finfo(np.float32).max)  # a larger value (1e39) is finite in float64 and inf for the network
FEW = 20  # whole numbers with at most this many distinct values are classes (grades, counts of a few kinds)


def as_numbers(values) -> np.ndarray | None:
    """The column as float64 (NaN and inf kept), or None when a value is text or empty."""
    if isinstance(values, np.ndarray) and values.dtype.kind in "fiub":
        return values.astype(np.float64)
    try:
        return np.array([float(v) for v in values], dtype=np.float64)
    except (TypeError, ValueError):
        return None


def infer_kind(values) -> str:
    """classification for text, or whole numbers with few distinct values; regression otherwise."""
    numbers = as_numbers(values)
    if numbers is None or not np.isfinite(numbers).all():
        return Classification.name if numbers is None else Regression.name
    whole = bool(np.all(numbers == np.round(numbers)))
    return Classification.name if whole and len(np.unique(numbers)) <= FEW else Regression.name


def regression_values(name: str, values, prefix: str) -> np.ndarray:
    """A regression target as float64, after the checks: numbers only, all finite, not constant."""
    numbers = as_numbers(values)
    if numbers is None:
        bad = next(i for i, v in enumerate(values) if as_numbers([v]) is None)
        raise DataError(
            f"{prefix} regression target column {name!r} holds text or an empty cell ({values[bad]!r} on line "
            f"{bad + 2}); a regression target must be numbers (or make it classification with --task-types)"
        )
    finite = np.abs(numbers) <= F32  # False for NaN, inf, and past float32
    if not finite.all():
        bad = int(np.flatnonzero(~finite)[0])
        raise DataError(
            f"{prefix} regression target column {name!r} has a missing or infinite value (in float32: {numbers[bad]} "
            f"on line {bad + 2}); remove or fill those rows"
        )
    if numbers.std() == 0:
        raise DataError(f"{prefix} regression target column {name!r} is constant ({numbers[0]:g}); nothing to learn")
    return numbers


def random_split(n: int, val_fraction: float, test_fraction: float, seed: int):
    """Indices (train, val, test) of n rows by a seeded shuffle (a numeric primary target has no classes
    to stratify by); validation keeps at least one row."""
    order = np.random.default_rng(seed).permutation(n)
    n_val = max(1, round(val_fraction * n))
    n_test = min(round(test_fraction * n), n - n_val - 1)
    return tuple(np.sort(p) for p in (order[n_val + n_test :], order[:n_val], order[n_val : n_val + n_test]))


def target_statistics(y: np.ndarray, kinds: list[str]) -> tuple[list[float], list[float]]:
    """Per task, the mean and (population) std of the rows y [N, T] given (the training split's): the
    regression heads learn (y − mean) / std. Classification tasks get (0, 1): nothing to scale."""
    numeric = [TASK_KINDS[k].numeric for k in kinds]
    mean = [float(y[:, t].astype(np.float64).mean()) if n else 0.0 for t, n in enumerate(numeric)]
    std = [float(y[:, t].astype(np.float64).std()) if n else 1.0 for t, n in enumerate(numeric)]
    return mean, [s if s > 0 else 1.0 for s in std]


def output_statistics(y: np.ndarray, kinds: list[str], classes: list[int], mean, std) -> list[list[float]]:
    """Per task, what --output-bias prior matches: class frequencies of the rows y [N, T], or for a
    regression head the rows' standardized mean [(mean(y) − μ) / σ] (0 on the training split itself)."""
    stats = []
    for t, (kind, c) in enumerate(zip(kinds, classes)):
        column = y[:, t].astype(np.float64)
        if TASK_KINDS[kind].numeric:
            stats.append([float((column.mean() - mean[t]) / std[t])])
        else:
            counts = np.bincount(column.astype(np.int64), minlength=c).astype(np.float64)
            stats.append((counts / counts.sum()).tolist())
    return stats
