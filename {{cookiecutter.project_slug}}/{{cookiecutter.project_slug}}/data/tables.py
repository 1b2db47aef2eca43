"""Tables: `--dataset csv --data-dir FILE.csv --target COLUMN [--features a,b,c]`.

The feature columns become a float tensor [N, F, 1, 1] (one "channel" per column), so every network
reads them and the network's first step, standardization with the training split's per-channel mean
and std, standardizes each column (the checklist: zero mean, unit variance). Each target column (the
`--target`, or the `--tasks` columns: multitask on a table) becomes classes: its distinct values,
numbers or strings, sorted (numerically when all are numbers), with the names kept.

Read with the standard library's csv module and NumPy: no pandas dependency for a flat file.
"""

import csv
from pathlib import Path

import numpy as np
import torch

from ..errors import DataError
from .augment import AugmentOptions
from .build import DataOptions
from .memory import InMemoryDataModule, TensorBatches
from .splits import TEST_FRACTION
from .targets import (
    F32,
    as_numbers,
    infer_kind,
    output_statistics,
    random_split,
    regression_values,
    target_statistics,
)
from .tasks import TASK_KINDS, Task, parse_task_types, same


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if abs(value) <= F32 else None  # not NaN, inf, nor past float32 (1e39)


def read_csv(path: Path, prefix: str = "--dataset csv:") -> list[list[str]]:
    """The non-blank rows of a CSV file (header first): UTF-8 with or without a BOM, the delimiter
    sniffed among , ; and tab. The one reader of tables, for training and for predict.py."""
    if path.exists() and not path.is_file():  # a folder, or a pipe or device: reading it could block
        raise DataError(f"{prefix} {path}: not a regular file (expected a CSV file with a header row)")
    if not path.is_file():
        raise DataError(f"{prefix} {path}: no such file (expected a CSV file with a header row)")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (UnicodeDecodeError, OSError) as e:
        raise DataError(f"{prefix} {path} is not a readable text file ({type(e).__name__})") from None
    if not text.strip():
        raise DataError(f"{prefix} {path} is empty")
    try:
        dialect = csv.Sniffer().sniff(text[:65536], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    try:
        return [r for r in csv.reader(text.splitlines(), dialect) if any(cell.strip() for cell in r)]
    except csv.Error as e:
        raise DataError(f"{prefix} {path} is not a CSV table ({e})") from None


def read_table(path: Path, targets: list[str], features: list[str], task_types: dict | None = None) -> dict:
    """Parse and check the file: features [N, F] float32, targets [N, T] and the names (assemble)."""
    prefix = "--dataset csv:"
    if not path.is_file():
        raise DataError(f"{prefix} --data-dir {path}: no such file (expected a CSV file with a header row)")
    rows = read_csv(path, prefix)
    header = [h.strip() for h in rows[0]]
    if all(_number(h) is not None for h in header):
        raise DataError(
            f"{prefix} {path} has no header row (its first row is numbers: {','.join(header[:4])}…); "
            "add a row of column names"
        )
    duplicated = sorted({h for h in header if header.count(h) > 1})
    if duplicated or "" in header:
        raise DataError(f"{prefix} {path}: column names must be distinct and not empty, got {duplicated or ['']}")
    body = rows[1:]
    if not body:
        raise DataError(f"{prefix} {path} has a header but no rows")
    for i, r in enumerate(body, start=2):
        if len(r) != len(header):
            raise DataError(f"{prefix} {path} line {i} has {len(r)} fields, the header {len(header)}")
    columns = {h: [r[j].strip() for r in body] for j, h in enumerate(header)}
    return assemble(columns, targets, features, task_types or {}, f"{prefix} {path}")


def assemble(columns: dict, targets: list[str], features: list[str], task_types: dict, source: str) -> dict:
    """The table from its columns (lists of strings, or NumPy arrays for an embedded table): features
    [N, F] float32, targets y [N, T] (class indices int64; float64 once a task is regression), the kind
    and class names of each task (regression tasks: no names)."""
    prefix = "--dataset csv:" if source.startswith("--dataset csv:") else f"--dataset {source}:"
    header = list(columns)
    for t in targets:
        if t not in columns:
            raise DataError(f"{source}: --target/--tasks {t!r} is not a column (columns: {', '.join(header)})")
    if features:
        for f in features:
            if f not in columns:
                raise DataError(f"{source}: --features {f!r} is not a column (columns: {', '.join(header)})")
            if f in targets:
                raise DataError(f"{prefix} --features {f!r} is also a target; a column is one or the other")
    else:
        features = [h for h in header if h not in targets and _all_numbers(columns[h])]
        if not features:
            raise DataError(
                f"{source} has no numeric column besides {', '.join(targets)}; name the inputs with --features"
            )
    n = len(columns[header[0]])
    x = np.empty((n, len(features)), dtype=np.float32)
    for j, f in enumerate(features):
        numbers = as_numbers(columns[f])
        if numbers is None or not (np.abs(numbers) <= F32).all():
            i = next(i for i, v in enumerate(columns[f]) if _number(str(v)) is None)
            raise DataError(
                f"{prefix} feature column {f!r} holds text, a missing or a float32-infinite value ({columns[f][i]!r} "
                f"on line {i + 2}); features must be numbers (a text column can be a --target)"
            )
        x[:, j] = numbers
    kinds = [task_types.get(t) or infer_kind(columns[t]) for t in targets]
    labels, class_names = [], []
    for t, kind in zip(targets, kinds):
        if TASK_KINDS[kind].numeric:
            labels.append(regression_values(t, columns[t], prefix))
            class_names.append([])
            continue
        values = [str(v) for v in columns[t]]
        if any(v == "" for v in values):
            raise DataError(f"{prefix} target column {t!r} has an empty cell (line {values.index('') + 2})")
        distinct = set(values)
        numeric = all(_number(v) is not None for v in distinct)
        names = sorted(distinct, key=lambda v: (float(v), v) if numeric else v)
        if len(names) < 2:
            raise DataError(f"{prefix} target column {t!r} has a single value ({names[0]!r}); nothing to learn")
        index = {v: k for k, v in enumerate(names)}
        labels.append([index[v] for v in values])
        class_names.append(names)
    dtype = np.float64 if any(TASK_KINDS[k].numeric for k in kinds) else np.int64
    y = np.array(labels, dtype=dtype).T
    return {"x": x, "y": y, "features": features, "class_names": class_names, "kinds": kinds}


def _all_numbers(values) -> bool:
    numbers = as_numbers(values)
    return numbers is not None and bool(np.isfinite(numbers).all())  # 1e39 too: then refused naming its column


def split_rows(y: np.ndarray, kind: str, val_fraction: float, test_fraction: float, seed: int, target: str):
    """(train, val, test) row indices: stratified by the primary task's classes, or a seeded shuffle
    when it is a regression task."""
    if TASK_KINDS[kind].numeric:
        return random_split(len(y), val_fraction, test_fraction, seed)
    return stratified_split(y.astype(np.int64), val_fraction, test_fraction, seed, target)


def stratified_split(y: np.ndarray, val_fraction: float, test_fraction: float, seed: int, target: str):
    """Indices (train, val, test), each class of the primary target shared out in the same proportions
    (a seeded shuffle per class); every class keeps an example in training and in validation."""
    rng = np.random.default_rng(seed)
    parts: tuple[list, list, list] = ([], [], [])
    for c in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == c))
        if len(members) < 2:
            raise DataError(
                f"--dataset csv: class {c} of --target {target!r} has a single example; the validation "
                "split needs at least 2 per class (add rows or merge the class)"
            )
        n_val = max(1, round(val_fraction * len(members)))
        n_test = min(round(test_fraction * len(members)), len(members) - n_val - 1)
        parts[0].append(members[n_val + n_test :])
        parts[1].append(members[:n_val])
        parts[2].append(members[n_val : n_val + n_test])
    splits = tuple(np.sort(np.concatenate(p)) for p in parts)
    for name, split in zip(("training", "validation", "test"), splits):
        if len(split) == 0:  # a split of no rows: Lightning would test (or train) on nothing
            smallest = int(np.bincount(y).min())
            raise DataError(
                f"--dataset csv: the {name} split would be empty ({len(np.unique(y))} classes of --target "
                f"{target!r}, the smallest with {smallest} rows); add rows, merge classes or raise the fractions"
            )
    return splits


class TableDataModule(InMemoryDataModule):
    """The in-memory DataModule over a table: a CSV file (`--dataset csv`), or the columns a declared
    loader returns (the embedded tables of datasets.py); same batches, loaders and statistics
    interface, plus each task's kind and the regression targets' training statistics."""

    def __init__(self, spec, o: DataOptions, augment: AugmentOptions | None = None, test_fraction=TEST_FRACTION):
        super().__init__(spec, o, None, test_fraction)  # nothing to augment in a table
        self.feature_names = list(o.features or [])  # resolved at setup (default: every other numeric column)
        self.target_names = list(o.tasks or [])
        self.task_types = list(o.task_types or [])

    def prepare_data(self) -> None:
        pass  # a local file or an embedded table: nothing to download or decode ahead

    def read(self) -> dict:
        """The checked table: the declared loader's columns ({name: array}), else the CSV file."""
        types = parse_task_types(self.task_types, self.target_names)
        declared = {t.name: t.kind for t in self.spec.tasks}
        types = {**declared, **types}
        if self.spec.load is not None:
            return assemble(self.spec.load(), self.target_names, self.feature_names, types, self.spec.name)
        return read_table(self.root, self.target_names, self.feature_names, types)

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        try:
            table = self.read()
        except ValueError as e:  # --task-types given to a DataModule built by hand
            raise DataError(str(e)) from None
        self.feature_names, self.class_names, self.kinds = table["features"], table["class_names"], table["kinds"]
        x, y = table["x"], table["y"]
        train, val, test = split_rows(
            y[:, 0], self.kinds[0], self.val_fraction, self.test_fraction, self.seed, self.target_names[0]
        )
        self.tasks = tuple(
            Task(t, len(names) or 1, same, f"column {t}", kind=kind)  # a number (no class names): one output
            for t, names, kind in zip(self.target_names, self.class_names, self.kinds)
        )
        features = torch.from_numpy(x).view(len(x), -1, 1, 1)  # [N, F, 1, 1]: a channel per column
        labels = torch.from_numpy(y.astype(np.float32) if y.dtype == np.float64 else y)
        self.train_set, self.val_set, self.test_set = (
            TensorBatches(features[i], labels[i]) for i in (torch.from_numpy(s) for s in (train, val, test))
        )
        # The training split's per-column mean and (population) std: the network standardizes with them.
        mean, std = x[train].astype(np.float64).mean(axis=0), x[train].astype(np.float64).std(axis=0)
        self.mean = mean.tolist()
        self.std = np.where(std > 0, std, 1.0).tolist()  # a constant column stays 0 after centring
        # The same for the regression targets (training split only): the heads learn (y − μ) / σ.
        self.target_mean, self.target_std = target_statistics(y[train], self.kinds)

    def label_frequencies(self) -> list[list[float]]:
        """Per task, what the output-bias prior matches on the training split: class frequencies, or a
        regression task's standardized mean."""
        y = self.train_set.y.numpy()
        return output_statistics(y, self.kinds, [t.num_classes for t in self.tasks], self.target_mean, self.target_std)
